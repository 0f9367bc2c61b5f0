"""Word-level explanations: words and offsets, occlusion, captum's gradients, ERASER measures, CLI, /explain."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotionkit import EmotionClassifier
from emotionkit.decision import Decision
from emotionkit.explain import Explanation, WordWeight, explain, model_text, score_texts, split_words, without
from emotionkit.faithfulness import aopc, erasure_texts, faithfulness, ranking, top_k_counts

TEXTS = [
    "I can't believe you remembered my birthday!!",
    "WAIT WHAT?! You got the job?!",
    "I miss my grandma so much 😢",
    "ok👍🏽 thanks @sam, see https://x.io/a?b=1 #blessed... 👨‍👩‍👧 rock'n'roll",
]


def build_sharp(directory):
    """A tiny random six-way BERT with large initial weights, so that its scores move with the words
    (the session's tiny models answer nearly the same for every text)."""
    import torch
    from conftest import _minilm_tokenizer
    from transformers import BertConfig, BertForSequenceClassification

    from emotionkit.labels import LABELS

    torch.manual_seed(0)
    tok = _minilm_tokenizer()
    config = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, initializer_range=0.5, num_labels=6, id2label=dict(enumerate(LABELS)),
                        label2id={name: i for i, name in enumerate(LABELS)})
    BertForSequenceClassification(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def sharp(tmp_path_factory):
    return build_sharp(tmp_path_factory.mktemp("sharp"))


@pytest.fixture(scope="module")
def tiny(sharp):
    return EmotionClassifier.load(sharp, engine="torch")


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize("text", TEXTS)
def test_offsets_give_back_the_words_as_written(text):
    words = split_words(text)
    assert all(text[s:e] == w for w, s, e in words)
    assert all(e1 <= s2 for (_, _, e1), (_, s2, _) in zip(words, words[1:], strict=False))  # in order, no overlap
    covered = {i for _, s, e in words for i in range(s, e)}
    assert all(i in covered for i, c in enumerate(text) if not c.isspace())  # nothing visible is left out


def test_words_keep_emoji_punctuation_and_apostrophes_whole():
    assert [w for w, _, _ in split_words(TEXTS[0])] == ["I", "can't", "believe", "you", "remembered", "my", "birthday", "!!"]
    assert [w for w, _, _ in split_words(TEXTS[3])] == [
        "ok", "👍🏽", "thanks", "@sam", ",", "see", "https://x.io/a?b=1", "#blessed", "...", "👨‍👩‍👧", "rock'n'roll"]


def test_removing_words_keeps_the_rest_readable():
    text = "so😂happy and  sad"
    spans = [(s, e) for _, s, e in split_words(text)]
    assert without(text, spans, {1}) == "so happy and  sad"  # an emoji between two words leaves a space
    assert without(text, spans, {0, 1}) == "happy and  sad"
    assert without(text, spans, {3}) == "so😂happy  sad"  # one space goes with a word
    assert without(text, spans, {4}) == "so😂happy and"  # a last word takes the spaces before it
    assert without(text, spans, set(range(len(spans)))) == ""


def test_model_text_maps_each_word_to_its_normalized_span():
    text = "so happy 😂!"
    seen, spans = model_text(text, split_words(text), ("emoji",))
    assert seen == "so happy (face with tears of joy)!"
    assert [seen[s:e] for s, e in spans] == ["so", "happy", "(face with tears of joy)", "!"]


# --------------------------------------------------------------------------- occlusion


def test_one_weight_per_word_in_text_order(tiny):
    results = tiny.explain(TEXTS)
    assert isinstance(results, list) and len(results) == len(TEXTS)
    for text, ex in zip(TEXTS, results, strict=True):
        assert isinstance(ex, Explanation) and ex.text == text and ex.method == "occlusion"
        assert [(w.word, w.start, w.end) for w in ex.words] == split_words(text)
        assert ex.label == tiny(text).label and ex.score == pytest.approx(tiny(text).score, abs=1e-5)
        json.dumps(ex.to_dict())  # plain JSON


def test_occlusion_is_the_difference_of_two_predictions(tiny):
    text = TEXTS[0]
    ex = tiny.explain(text, label="anger")
    column = tiny.labels.index("anger")
    spans = [(w.start, w.end) for w in ex.words]
    for i in (1, 4, 7):
        alone = tiny.predict_proba([text])[0, column] - tiny.predict_proba([without(text, spans, {i})])[0, column]
        assert ex.words[i].weight == pytest.approx(float(alone), abs=1e-5)
    assert any(abs(w.weight) > 1e-4 for w in ex.words)  # a real signal, not zeros


def test_a_one_word_text_is_weighed_against_the_empty_input(tiny):
    ex = tiny.explain("wow", label="joy")
    empty = score_texts(tiny, [""])[0, tiny.labels.index("joy")]
    assert len(ex.words) == 1 and ex.words[0].weight == pytest.approx(ex.score - float(empty), abs=1e-5)


def test_bad_label_method_and_input(tiny):
    with pytest.raises(ValueError, match="label must be one of the model's outputs .* got 'meh'"):
        tiny.explain("hi", label="meh")
    with pytest.raises(ValueError, match="method must be one of .* got 'shap'"):
        tiny.explain("hi", method="shap")
    with pytest.raises(ValueError, match="position 1 is empty"):
        tiny.explain(["hi", "  "])
    with pytest.raises(ValueError, match="3 words, over the maximum of 2"):
        explain(tiny, "one two three", max_words=2)


def test_neutral_is_explained_by_the_neutral_output():
    """A multi-label model that calls a text neutral explains its neutral output."""

    class Fake:
        labels = ["joy", "neutral"]
        decision = Decision(("joy", "neutral"), multi_label=True)

        def predict_proba(self, texts, batch_size=32):
            return np.array([[0.1, 0.2 + 0.6 * ("calm" in t)] for t in texts], dtype=np.float32)

    ex = explain(Fake(), "a calm day")
    assert ex.label == "neutral" and ex.score == pytest.approx(0.8)
    assert [round(w.weight, 4) for w in ex.words] == [0.0, 0.6, 0.0]


def test_onnx_engine_gives_the_same_weights(sharp, tiny):
    onnx = EmotionClassifier.load(sharp, engine="onnx")
    a, b = onnx.explain(TEXTS[2]), tiny.explain(TEXTS[2])
    assert a.label == b.label
    assert [w.weight for w in a.words] == pytest.approx([w.weight for w in b.words], abs=1e-4)


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta", "albert"])
def test_every_tiny_architecture(tiny_models, kind):
    clf = EmotionClassifier.load(tiny_models[kind], engine="torch")
    for method in ("occlusion", "integrated-gradients", "gradient-x-input"):
        ex = clf.explain(TEXTS[3], method=method)
        assert len(ex.words) == 11 and all(np.isfinite(w.weight) for w in ex.words)
        assert len({w.weight for w in ex.words}) > 1  # the words are told apart (random models: tiny but distinct)


# --------------------------------------------------------------------------- gradients


def test_integrated_gradients_add_up_to_the_score_change(tiny):
    """Completeness: the word weights sum to score(text) - score(baseline of pads)."""
    import torch

    text = TEXTS[0]
    ex = tiny.explain(text, method="integrated-gradients")
    enc = tiny.tokenizer(text, return_special_tokens_mask=True)
    ids = torch.tensor([enc["input_ids"]])
    special = torch.tensor([enc["special_tokens_mask"]]).bool()
    baseline = torch.where(special, ids, torch.full_like(ids, tiny.tokenizer.pad_token_id))
    with torch.no_grad():
        base = torch.softmax(tiny.engine.model(input_ids=baseline).logits, -1)[0, tiny.labels.index(ex.label)].item()
    assert sum(w.weight for w in ex.words) == pytest.approx(ex.score - base, abs=0.02)
    assert max(abs(w.weight) for w in ex.words) > 1e-3


def test_emoji_get_the_weight_of_their_names(tiny):
    """The model reads an emoji as its name; the name's pieces are summed back onto the emoji."""
    ex = tiny.explain("so sad 😢", method="gradient-x-input")
    assert [w.word for w in ex.words] == ["so", "sad", "😢"] and ex.words[2].weight != 0


# --------------------------------------------------------------------------- ERASER


class Scorer:
    """A hand-made model: score("pos") = 0.1 + 0.4 [great] + 0.2 [good] + 0.1 [fine]; "neg" the rest."""

    labels = ["pos", "neg"]
    decision = Decision(("pos", "neg"))

    def predict_proba(self, texts, batch_size=32):
        words = [set(t.split()) for t in texts]
        pos = [0.1 + 0.4 * ("great" in w) + 0.2 * ("good" in w) + 0.1 * ("fine" in w) for w in words]
        return np.array([[p, 1 - p] for p in pos])


def test_top_k_counts():
    assert top_k_counts(1) == [1, 1, 1, 1, 1]
    assert top_k_counts(10) == [1, 1, 1, 2, 5]
    assert top_k_counts(200) == [2, 10, 20, 40, 100]
    assert top_k_counts(21) == [1, 2, 3, 5, 11]


def test_eraser_on_a_hand_made_case():
    text = "great good fine ok"
    words = [WordWeight(w, s, e, wt) for (w, s, e), wt in zip(split_words(text), [0.4, 0.2, 0.1, 0.0], strict=True)]
    ex = Explanation(text, "pos", 0.8, "hand", words)
    assert ranking([0.4, 0.2, 0.1, 0.0]) == [0, 1, 2, 3]
    removed, kept = erasure_texts(text, [(w.start, w.end) for w in words], [0, 1, 2, 3])
    assert removed == ["good fine ok"] * 4 + ["fine ok"] and kept == ["great"] * 4 + ["great good"]
    # comprehensiveness: drops 0.4 (x4, "great" gone) and 0.6 -> 0.44; sufficiency: 0.3 (x4) and 0.1 -> 0.26
    (best,) = faithfulness(Scorer(), [ex])
    assert best == pytest.approx({"comprehensiveness": 0.44, "sufficiency": 0.26})
    # the worst ranking: comprehensiveness 0 (x4) and 0.1 -> 0.02; sufficiency 0.7 (x4) and 0.6 -> 0.68
    (worst,) = faithfulness(Scorer(), [ex], orders=[[3, 2, 1, 0]])
    assert worst == pytest.approx({"comprehensiveness": 0.02, "sufficiency": 0.68})
    assert aopc(1.0, [0.5, 0.25, 0.0]) == pytest.approx(0.75)


def test_occlusion_beats_random_on_the_hand_made_model():
    text = "ok fine so good and great"
    ex = explain(Scorer(), text, label="pos")
    assert [w.word for w in ex.top(3)] == ["great", "good", "fine"]
    (scored,) = faithfulness(Scorer(), [ex])
    (shuffled,) = faithfulness(Scorer(), [ex], orders=[[0, 4, 3, 1, 2, 5]])
    assert scored["comprehensiveness"] > shuffled["comprehensiveness"]
    assert scored["sufficiency"] < shuffled["sufficiency"]


# --------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_real_model_points_at_the_emotional_words(default_model):
    clf = EmotionClassifier.load(default_model, engine="torch")
    for method in ("occlusion", "integrated-gradients"):
        ex = clf.explain("I'm so angry at you, you ruined everything", method=method)
        assert ex.label == "anger"
        assert {w.word for w in ex.top(2)} & {"angry", "ruined"}
    sad = clf.explain("I miss my grandma so much 😢")
    assert sad.label == "sadness" and sad.top(1)[0].word in {"miss", "😢"}
    joy = clf.explain("I miss my grandma so much 😢", label="joy")
    assert joy.label == "joy" and joy.score < sad.score


# --------------------------------------------------------------------------- surfaces


def test_cli_json_and_colours(sharp, capsys):
    from emotionkit.cli import main

    model = ["--model", str(sharp), "--engine", "torch"]
    assert main(["explain", TEXTS[2], "wow", "--json", "--label", "joy", *model]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["text"] for o in objs] == [TEXTS[2], "wow"] and all(o["label"] == "joy" for o in objs)
    assert [w["word"] for w in objs[0]["words"]] == ["I", "miss", "my", "grandma", "so", "much", "😢"]
    assert main(["explain", TEXTS[2], "--color", *model]) == 0
    out = capsys.readouterr().out
    assert "\x1b[48;5;" in out and "strongest:" in out
    assert main(["explain", TEXTS[2], *model]) == 0  # captured stdout is no terminal: no colours
    assert "\x1b[" not in capsys.readouterr().out
    assert main(["explain", "hi", "--label", "meh", *model]) == 2
    assert "got 'meh'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def client(tiny):
    from fastapi.testclient import TestClient

    from emotionkit.serve import ServeSettings, create_app

    with TestClient(create_app(tiny, ServeSettings(max_client_batch_size=4, max_text_chars=200))) as c:
        yield c


def test_explain_endpoint(client, tiny):
    one = client.post("/explain", json={"inputs": TEXTS[0]})
    assert one.status_code == 200
    body = one.json()
    assert body["label"] == tiny(TEXTS[0]).label and body["method"] == "occlusion"
    assert [TEXTS[0][w["start"] : w["end"]] for w in body["words"]] == [w["word"] for w in body["words"]]
    many = client.post("/explain", json={"inputs": TEXTS[:2], "label": "fear", "method": "gradient-x-input"}).json()
    assert [m["label"] for m in many] == ["fear", "fear"] and many[1]["method"] == "gradient-x-input"
    metrics = client.get("/metrics").text
    assert 'emotionkit_explained_texts_total{method="occlusion"} 1.0' in metrics
    assert 'emotionkit_explained_texts_total{method="gradient-x-input"} 2.0' in metrics
    assert 'emotionkit_requests_total{path="/explain",status="200"} 2.0' in metrics


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"inputs": "hi", "label": "meh"}, 422, "'label' must be one of the model's outputs"),
    ({"inputs": "hi", "method": "lime"}, 422, "'method' must be one of"),
    ({"inputs": ""}, 422, "inputs[0] is empty"),
    ({"inputs": ["a", "b", "c", "d", "e"]}, 413, "batch of 5 texts is over the maximum of 4"),
    ({"inputs": "x" * 201}, 413, "201 characters, over the maximum of 200"),
    ({"inputs": "hi", "raw_scores": True}, 422, "unknown field(s) ['raw_scores']"),
    ({"text": "hi"}, 422, "unknown field(s) ['text']"),
    (["hi"], 422, "expected a JSON object"),
])
def test_explain_endpoint_refuses_bad_input(client, body, status, message):
    res = client.post("/explain", json=body)
    assert res.status_code == status and message in res.json()["error"]


def test_explain_endpoint_refuses_bad_json(client):
    res = client.post("/explain", content=b"{nope", headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and "not valid JSON" in res.json()["error"]
