"""Long documents read whole (emotionkit.longdoc): splitting, offsets, aggregation and every surface.

The tiny trained model reads 32 tokens, so a paragraph is already a long document here.
"""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from emotionkit import EmotionClassifier
from emotionkit.cli import main
from emotionkit.longdoc import LongText, aggregate, sentence_spans, split, to_logits, token_counter, word_windows

DOC = ("Thanks for the quick delivery.  The box arrived on Tuesday, as promised, and nothing was broken. "
       "I set the machine up in the kitchen; the manual (12 pages!) was clear.\n\nThen on day three it died. "
       "Support hung up on me twice... I am absolutely furious and I want my money back 😡. Dr. Smith agrees, e.g. my "
       "neighbour too.")
LONGDOCS = Path(__file__).resolve().parents[1] / "data" / "longdocs" / "validation.jsonl"
SHORT = ["i am so happy", "so scared of tomorrow", "what a lovely surprise", "nothing"]


@pytest.fixture(scope="module")
def clf(trained_tiny):
    return EmotionClassifier.load(trained_tiny, engine="torch")


class SpyEngine:
    """Wraps an engine and records every batch it is given."""

    def __init__(self, engine):
        self.engine, self.name, self.batches = engine, engine.name, []

    def logits(self, input_ids, attention_mask):
        self.batches.append(attention_mask.sum(axis=1).tolist())
        return self.engine.logits(input_ids, attention_mask)


def check_spans(text: str, spans, overlap: bool = False) -> None:
    """Spans in order, apart (unless ``overlap``), stripped, covering every non-space character of the text."""
    covered = np.zeros(len(text), bool)
    last = 0
    for start, end, *_ in spans:
        assert (0 if overlap else last) <= start < end <= len(text) and end >= last
        piece = text[start:end]
        assert piece == piece.strip() and piece
        covered[start:end] = True
        last = end
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))


def test_sentence_spans_are_offsets_into_the_original_text():
    spans = sentence_spans(DOC)
    check_spans(DOC, spans)
    sentences = [DOC[a:b] for a, b in spans]
    assert sentences[0] == "Thanks for the quick delivery."
    assert "Then on day three it died." in sentences
    assert "I am absolutely furious and I want my money back 😡." in sentences
    assert not any(s.endswith("Dr.") for s in sentences)  # an abbreviation is not a sentence end
    # Repeated sentences and leading whitespace keep their own offsets.
    text = "  Same here. Same here. Same here.\n"
    assert sentence_spans(text) == [(2, 12), (13, 23), (24, 34)]


def test_pieces_fit_the_window_and_chunks_pack_sentences(clf):
    counts_of = token_counter(clf.tokenizer, clf.normalize_steps)
    budget = clf.max_length - 2
    sentences = split(DOC, counts_of, budget, LongText(pieces="sentences"))
    chunks = split(DOC, counts_of, budget, LongText(pieces="chunks"))
    for pieces in (sentences, chunks):
        check_spans(DOC, pieces)
        assert all(n <= budget for n in counts_of([DOC[a:b] for a, b, _ in pieces]))
    assert len(chunks) < len(sentences)
    assert {kind for *_, kind in chunks} <= {"sentence", "chunk", "window"} and "chunk" in {k for *_, k in chunks}
    # A chunk is whole sentences: its edges are sentence edges.
    starts, ends = {a for a, _ in sentence_spans(DOC)}, {b for _, b in sentence_spans(DOC)}
    assert all(a in starts and b in ends for a, b, kind in chunks if kind != "window")


def test_a_sentence_longer_than_the_window_becomes_overlapping_word_windows(clf):
    counts_of = token_counter(clf.tokenizer, clf.normalize_steps)
    words = [f"word{i}" for i in range(120)]
    text = "Intro here. " + " ".join(words) + ". Outro."
    pieces = split(text, counts_of, 30, LongText(pieces="sentences", stride=10))
    windows = [(a, b) for a, b, kind in pieces if kind == "window"]
    assert len(windows) > 3 and pieces[0][2] == "sentence" and pieces[-1][2] == "sentence"
    check_spans(text, [(a, b) for a, b, _ in pieces], overlap=True)  # every word is read at least once
    for (a1, b1), (a2, b2) in zip(windows, windows[1:], strict=False):
        assert a1 < a2 < b1 < b2  # each window starts inside the one before: they overlap
        assert counts_of([text[a1:a2]])[0] >= 10  # and starts at least a stride later
    for a, b in windows:
        assert counts_of([text[a:b]])[0] <= 30
        assert (a == 0 or text[a - 1] == " ") and (b == len(text) or text[b] in " .")  # whole words only
    # The stride defaults to half the window.
    sentence = sentence_spans(text)[1]
    assert split(text, counts_of, 30, LongText(pieces="sentences"))[1:-1] == [
        (a, b, "window") for a, b in word_windows(text, sentence, counts_of, 30, 15)]


def test_short_texts_are_scored_exactly_as_before(clf):
    split_scores = clf.predict_proba(SHORT, batch_size=3)
    cut = clf.predict_proba(SHORT, batch_size=3, long_text="truncate")
    assert np.array_equal(split_scores, cut)  # bit for bit
    results = clf(SHORT)
    assert all(r.sentences is None and "sentences" not in r.to_dict() and not r.truncated for r in results)


def test_batching_is_unchanged_for_short_texts_and_shared_with_pieces(clf, monkeypatch):
    spy = SpyEngine(clf.engine)
    monkeypatch.setattr(clf, "engine", spy)
    clf.predict_proba(SHORT, batch_size=3)
    lengths = sorted(len(ids) for ids in clf.tokenizer(SHORT)["input_ids"])
    assert spy.batches == [lengths[:3], lengths[3:]]  # length-sorted batches of 3, as before
    spy.batches.clear()
    result = clf([SHORT[0], DOC, SHORT[1]], batch_size=4)[1]
    rows = [n for batch in spy.batches for n in batch]
    assert len(rows) == 2 + len(result.sentences)  # the long text's pieces, not its cut form
    assert rows == sorted(rows) and all(len(b) <= 4 for b in spy.batches)  # one length-sorted stream


def test_a_long_text_follows_the_max_rule_over_its_pieces(clf):
    result = clf(DOC)
    assert result.truncated is False and len(result.sentences) >= 2
    pieces = result.sentences
    assert all(DOC[p["start"] : p["end"]] == p["text"] for p in pieces)
    separately = clf.predict_proba([p["text"] for p in pieces])  # each piece fits the window
    assert not clf.decision.multi_label  # the tiny model is single-label: maxima, divided by their sum
    expected = separately.max(axis=0) / separately.max(axis=0).sum()
    got = np.array([{s["label"]: s["score"] for s in result.scores}[label] for label in clf.labels])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert result.label == clf.labels[int(expected.argmax())]
    for piece, row in zip(pieces, separately, strict=True):
        assert piece["label"] == clf.labels[int(row.argmax())]
        assert piece["score"] == pytest.approx(float(row.max()), abs=1e-5)
    np.testing.assert_allclose(clf.predict_proba([DOC])[0], got, atol=1e-6)  # classify-file reads this
    # Raw scores of a long text: softmax of them gives the document's scores back.
    logits = clf.logits([DOC])
    np.testing.assert_allclose(clf.decision.scores(logits)[0], got, atol=1e-5)


def test_truncation_stays_available(clf, trained_tiny):
    cut = clf(DOC, long_text="truncate")
    assert cut.truncated is True and cut.sentences is None
    truncating = EmotionClassifier.load(trained_tiny, engine="torch", long_text="truncate")
    assert truncating(DOC).truncated is True
    with pytest.raises(ValueError, match="long_text must be one of .*, got 'cut'"):
        clf(DOC, long_text="cut")


def test_aggregation_rules():
    labels = ("joy", "anger", "neutral")
    scores = np.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.1]])
    np.testing.assert_allclose(aggregate(scores, np.array([1, 3]), labels, "max", multi_label=True), [0.9, 0.7, 0.1])
    np.testing.assert_allclose(aggregate(scores, np.array([1, 3]), labels, "mean", multi_label=True), [0.55, 0.4, 0.45])
    np.testing.assert_allclose(aggregate(scores, np.array([1, 3]), labels, "weighted", multi_label=True),
                               [0.375, 0.55, 0.275])
    single = aggregate(np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]), np.array([5, 5]), ("joy", "fear", "anger"))
    np.testing.assert_allclose(single, np.array([0.6, 0.3, 0.7]) / 1.6, rtol=1e-6)
    np.testing.assert_allclose(to_logits(np.array([0.2, 0.5]), multi_label=True), [np.log(0.25), 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="rule must be one of .*, got 'median'"):
        LongText(rule="median")
    with pytest.raises(ValueError, match="pieces must be one of"):
        LongText(pieces="paragraphs")
    with pytest.raises(ValueError, match="stride must be None or an int > 0, got 0"):
        LongText(stride=0)


def test_cli_prints_the_document_with_its_sentences(trained_tiny, tmp_path, capsys):
    doc = tmp_path / "review.txt"
    doc.write_text(DOC, encoding="utf-8")
    assert main(["predict", "--model", str(trained_tiny), "--engine", "torch", "--doc", str(doc), "so happy"]) == 0
    short, long = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # arguments, then --doc files
    assert long["text"] == DOC and long["truncated"] is False and len(long["sentences"]) >= 2
    assert all(DOC[s["start"] : s["end"]] == s["text"] for s in long["sentences"])
    assert {"label", "score", "emotions", "scores", "kind"} <= set(long["sentences"][0])
    assert "sentences" not in short
    assert main(["predict", "--model", str(trained_tiny), "--engine", "torch", "--long-text", "truncate", DOC]) == 0
    cut = json.loads(capsys.readouterr().out)
    assert cut["truncated"] is True and "sentences" not in cut


def test_classify_file_scores_long_rows_whole(clf, tmp_path):
    from emotionkit.batch import classify_file

    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["text"], [DOC], [SHORT[0]]])
    classify_file(src, out, classifier=clf)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    expected = clf.predict_proba([DOC, SHORT[0]])
    for row, want in zip(rows, expected, strict=True):
        np.testing.assert_allclose([float(row[label]) for label in clf.labels], want, atol=1e-5)


def test_service_keeps_the_tei_shape_and_answers_sentences_on_request(clf):
    from fastapi.testclient import TestClient

    from emotionkit.serve import create_app

    with TestClient(create_app(clf)) as client:
        tei = client.post("/predict", json={"inputs": DOC}).json()
        assert isinstance(tei, list) and {"label", "score"} == set(tei[0])
        doc_scores = dict(zip(clf.labels, clf.predict_proba([DOC])[0].tolist(), strict=True))
        assert {d["label"]: d["score"] for d in tei} == pytest.approx(doc_scores, abs=1e-5)
        both = client.post("/predict", json={"inputs": [DOC, "so happy"], "sentences": True}).json()
        assert len(both[0]["sentences"]) >= 2 and "sentences" not in both[1]
        assert [d["label"] for d in both[0]["scores"]] == [d["label"] for d in tei]
        assert all(DOC[s["start"] : s["end"]] == s["text"] for s in both[0]["sentences"])
        bad = client.post("/predict", json={"inputs": DOC, "sentences": "yes"})
        assert bad.status_code == 422 and "'sentences' must be true or false" in bad.json()["error"]
        mixed = client.post("/predict", json={"inputs": DOC, "sentences": True, "raw_scores": True})
        assert mixed.status_code == 422
        refused = client.post("/predict", json={"inputs": DOC, "truncate": False})
        assert refused.status_code == 413  # TEI's contract: truncate false refuses a text over the window


def clf_labels(model: Path) -> list[str]:
    return list(json.loads((model / "config.json").read_text("utf-8"))["id2label"].values())


@pytest.mark.slow
def test_page_lists_a_long_texts_sentences(trained_tiny, tmp_path):
    from playwright.sync_api import sync_playwright
    from test_page import CHROMIUM, FLAGS
    from test_serve import Server

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed; `make test` installs it (apt-get install chromium)")
    model = Path(os.environ.get("EMOTIONKIT_PAGE_MODEL", trained_tiny))
    srv = Server(model)
    # Long for the shipped model's 128 tokens too (EMOTIONKIT_PAGE_MODEL=models/emotionkit-minilm for the README shot).
    # A late document with an emoji (offsets count code points; JavaScript's strings count UTF-16 units).
    rows = [json.loads(line) for line in LONGDOCS.read_text("utf-8").splitlines()]
    text = next(r["text"] for r in rows if r["late"] and any(ord(c) > 0xFFFF for c in r["text"]))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 900, "height": 1200})
            page.goto(srv.url + "/")
            page.fill("#text", text)
            page.click("#classify")
            page.wait_for_selector("#sentences:not([hidden]) .piece")
            rows = page.query_selector_all("#sentences .piece")
            assert len(rows) >= 2
            spans = [(int(r.get_attribute("data-start")), int(r.get_attribute("data-end"))) for r in rows]
            assert [r.query_selector(".ptext").text_content() for r in rows] == [text[a:b] for a, b in spans]
            head = page.inner_text("#sentenceshead")
            assert head.startswith(f"A long text, read whole in {len(rows)} parts")
            assert all(r.query_selector(".plabel").inner_text().split()[0] in {*clf_labels(model), "neutral"} for r in rows)
            page.screenshot(path=str(os.environ.get("EMOTIONKIT_LONGDOC_SCREENSHOT", tmp_path / "long.png")), full_page=True)
            page.fill("#text", "so happy")
            page.click("#classify")
            page.wait_for_function("document.querySelector('#sentences').hidden === true")
            browser.close()
    finally:
        srv.stop()
