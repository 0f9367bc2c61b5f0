import json
import re

import pytest
from conftest import GOEMOTIONS_NAMES, ROOT, SHARED, STYLESET

from emotionkit.data import (
    DataError,
    goemotions_mapping,
    goemotions_rows,
    load_dataset,
    load_goemotions,
    read_file,
    with_partial_labels,
)
from emotionkit.labels import LABELS


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_formats_agree(tmp_path):
    rows = [("i feel great", "joy"), ("so scared of tomorrow", 4), ("why would you do that", "anger")]
    jsonl = write(tmp_path / "a.jsonl", "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    csv = write(tmp_path / "a.csv", "text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows))
    txt = write(tmp_path / "a.txt", "".join(f"{t};{lab}\n" for t, lab in rows))
    expected = [(t, lab if isinstance(lab, int) else LABELS.index(lab)) for t, lab in rows]
    for path in (jsonl, csv, txt):
        assert [(e.text, e.label) for e in read_file(path)] == expected


def test_directory_with_val_name(tmp_path):
    write(tmp_path / "train.txt", "text;label\ni am happy;joy\ni am sad;sadness\n")
    write(tmp_path / "val.txt", "i am calm;joy\n")
    ds = load_dataset(tmp_path)
    assert set(ds.splits) == {"train", "validation"}
    assert len(ds.split("train")) == 2  # the header line is skipped
    with pytest.raises(KeyError, match="no split 'test'"):
        ds.split("test")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("m.jsonl", '{"text": "ok", "label": 1}\n{"label": 1}\n', r"m.jsonl:2: missing text"),
        ("e.jsonl", '{"text": "ok", "label": 1}\n{"text": "  ", "label": 1}\n', r"e.jsonl:2: empty text"),
        ("u.jsonl", '{"text": "ok", "label": "happy"}\n', r"u.jsonl:1: unknown label"),
        ("b.jsonl", '{"text": "ok", "label": 1}\n{"text": "ok", "label\n', r"b.jsonl:2: broken JSON"),
        ("n.jsonl", '{"text": 5, "label": 1}\n', r"n.jsonl:1: text must be a string"),
        ("l.jsonl", '{"text": "ok"}\n', r"l.jsonl:1: missing label"),
        ("w.jsonl", b'{"text": "ok", "label": 1}\n{"text": "caf\xe9", "label": 1}\n', r"w.jsonl:2: not valid UTF-8"),
        ("s.txt", "fine;joy\nno separator here\n", r"s.txt:2: expected 'text;label'"),
        ("h.csv", "sentence,label\nhi,joy\n", r"h.csv:1: expected a header with 'text' and 'label'"),
        ("c.csv", "text,label\nhi,joy\nthere,nope\n", r"c.csv:3: unknown label"),
    ],
)
def test_bad_rows_name_file_line_and_problem(tmp_path, name, content, problem):
    with pytest.raises(DataError, match=problem):
        read_file(write(tmp_path / name, content))


def test_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="unknown format '.xml'"):
        read_file(write(tmp_path / "a.xml", "<x/>"))


def test_missing_directory_is_clear():
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset("./does/not/exist")


def test_conflicts_are_reported_not_dropped(tmp_path):
    write(tmp_path / "train.jsonl", '{"text": "a", "label": 1}\n{"text": "a", "label": 2}\n{"text": "b", "label": 0}\n')
    write(tmp_path / "test.jsonl", '{"text": "b", "label": 3}\n')
    ds = load_dataset(tmp_path)
    assert len(ds.split("train")) == 3
    assert any("train: 1 texts occur more than once with different labels" in n for n in ds.notes)
    assert any("train/test: 1 texts occur in both (1 with different labels)" in n for n in ds.notes)


@pytest.mark.skipif(not (SHARED / "emotion").is_dir(), reason="shared data not beside the checkout")
def test_shared_emotion_counts_and_quirks():
    ds = load_dataset(SHARED / "emotion")
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 16000, "validation": 2000, "test": 2000}
    assert ds.label_counts("test") == {"sadness": 581, "joy": 695, "love": 159, "anger": 275, "fear": 224, "surprise": 66}
    notes = " | ".join(ds.notes)
    assert "train/test: 11 texts occur in both (11 with different labels)" in notes
    assert "train: 30 texts occur more than once with different labels" in notes


def test_goemotions_mapping_covers_every_label_once():
    mapping = goemotions_mapping()
    mapped = [label for spec in mapping["mapping"].values() for label in spec["labels"]]
    assert set(mapping["mapping"]) == set(LABELS)
    assert len(mapped) == len(set(mapped))
    assert not set(mapped) & set(mapping["dropped"])
    assert len(mapped) + len(mapping["dropped"]) == 28  # 27 emotions + neutral


def test_goemotions_rules_on_tiny_copy(tmp_path):
    write(tmp_path / "emotions.txt", "\n".join(GOEMOTIONS_NAMES))
    rows = [
        ("so funny lol", "1", "a1"),               # amusement -> joy
        ('"he said ""no"" again"', "2,3", "a2"),   # anger+annoyance -> anger, CSV quoting undone
        ("ok", "27", "a3"),                        # neutral -> dropped
        ("wow thanks", "15,26", "a4"),             # gratitude is dropped -> row dropped
        ("love you but scared", "18,14", "a5"),    # two emotions -> dropped
    ]
    write(tmp_path / "train.tsv", "".join("\t".join(r) + "\n" for r in rows))
    # Every row as written, all labels named (what the 28-label intermediate stage trains on).
    assert [labels for _, _, labels in goemotions_rows(tmp_path / "train.tsv", GOEMOTIONS_NAMES)] == [
        ["amusement"], ["anger", "annoyance"], ["neutral"], ["gratitude", "surprise"], ["love", "fear"]
    ]
    ds = load_dataset(tmp_path)
    assert ds.name == "goemotions"
    assert [(e.text, LABELS[e.label]) for e in ds.split("train")] == [
        ("so funny lol", "joy"), ('he said "no" again', "anger")
    ]
    assert "left out 2 (has a dropped label), 1 (labels map to several emotions)" in ds.notes[0]
    # The left-out comments are kept apart, unlabelled, for a transfer set.
    assert ds.unlabeled == {"train": ["ok", "wow thanks", "love you but scared"]}
    # The partial-label rule: "gratitude, surprise" has one mapped label, so it may train as surprise;
    # neutral alone has none and "love, fear" two, so they never do.
    assert [(e.text, LABELS[e.label]) for e in ds.partial["train"]] == [("wow thanks", "surprise")]
    loose = with_partial_labels(ds)
    assert [e.text for e in loose.split("train")] == ["so funny lol", 'he said "no" again', "wow thanks"]
    assert "1 rows added by the partial-label rule" in loose.notes[-1]
    assert [e.text for e in ds.split("train")] == ["so funny lol", 'he said "no" again']  # the original is untouched
    # Another mapping may be given; the dataset keeps the one it was read through.
    variant = goemotions_mapping()
    variant["mapping"]["surprise"]["labels"].append("gratitude")
    del variant["dropped"]["gratitude"]
    read = load_goemotions(tmp_path, variant)
    assert ("wow thanks", "surprise") in [(e.text, LABELS[e.label]) for e in read.split("train")]
    assert read.label_mapping == variant and ds.label_mapping == goemotions_mapping()
    write(tmp_path / "dev.tsv", "fine\t3,28\tb1\n")  # id 28 names no label
    with pytest.raises(DataError, match=r"dev.tsv:1: bad label ids '3,28'"):
        load_goemotions(tmp_path)
    write(tmp_path / "dev.tsv", "fine\t-1\tb1\n")  # a negative id is no label either (not the last one)
    with pytest.raises(DataError, match=r"dev.tsv:1: bad label ids '-1'; expected ids 0..27"):
        load_goemotions(tmp_path)


def test_csv_with_a_byte_order_mark_and_a_long_text(tmp_path):
    long_text = "so happy " * 20_000  # 180,000 characters: over the csv module's default field limit
    path = tmp_path / "test.csv"
    path.write_bytes("\ufefftext,label\nhi there,joy\n".encode() + f'"{long_text}",sadness\n'.encode())
    examples = load_dataset(path).split("test")
    assert [(e.text[:8], LABELS[e.label]) for e in examples] == [("hi there", "joy"), ("so happy", "sadness")]
    assert len(examples[1].text) == len(long_text)


@pytest.mark.skipif(not (SHARED / "goemotions").is_dir(), reason="shared data not beside the checkout")
def test_shared_goemotions_loads():
    ds = load_dataset(SHARED / "goemotions")
    sizes = {k: len(v) for k, v in ds.splits.items()}
    assert sizes == {"train": 13657, "validation": 1689, "test": 1691}
    assert {k: len(v) for k, v in ds.partial.items()} == {"train": 3248, "validation": 391, "test": 395}
    loose = with_partial_labels(ds)
    assert len(loose.split("train")) == 16905 and loose.split("test") == ds.split("test")


def test_styleset_has_50_per_emotion_and_styles():
    rows = read_file(STYLESET)
    assert len(rows) >= 300
    per_label = {lab: sum(1 for r in rows if r.label == i) for i, lab in enumerate(LABELS)}
    assert min(per_label.values()) >= 50
    assert {r.style for r in rows} >= {"review", "support_ticket", "work_email", "chat_emoji", "all_caps", "slang_typos", "long"}
    assert len({r.text for r in rows}) == len(rows)


def _words(text):
    return set(re.findall(r"\w+", text.lower()))


def _closest(words, pool):
    # Two texts without a word between them (emoji only) have no Jaccard similarity; the tests compare them by text.
    return max((len(words & other) / len(words | other) for other in pool if words | other), default=0.0)


def test_stylemix_is_disjoint_from_styleset():
    """The training set of styles must not leak the evaluation set, not even as near-copies."""
    evaluation = [_words(r.text) for r in read_file(STYLESET)]
    exact = {r.text for r in read_file(STYLESET)}
    mix = load_dataset(ROOT / "data" / "stylemix")
    assert set(mix.splits) == {"train", "validation"} and len(mix.split("train")) > 800
    for row in [*mix.split("train"), *mix.split("validation")]:
        assert row.text not in exact, f"stylemix text also in the style set: {row.text!r}"
        assert _closest(_words(row.text), evaluation) < 0.5, f"stylemix text too close to a styleset text: {row.text!r}"


def test_stylemix_validation_is_disjoint_from_its_train_split():
    """Selection reads stylemix validation, so no near-copy of a validation message may be trained on."""
    mix = load_dataset(ROOT / "data" / "stylemix")
    train = [_words(r.text) for r in mix.split("train")]
    exact = {r.text for r in mix.split("train")}
    for row in mix.split("validation"):
        assert row.text not in exact, f"stylemix validation text also in its train split: {row.text!r}"
        assert _closest(_words(row.text), train) < 0.5, f"stylemix validation text too close to a train text: {row.text!r}"


def test_multi_label_rows_read_sets_neutral_and_kind(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [{"text": "see you at 3", "labels": [], "style": "chat", "kind": "neutral"},
            {"text": "ok", "labels": ["neutral"]},
            {"text": "thrilled and terrified", "labels": ["Fear", "joy"], "kind": "mixed"},
            {"text": "a bit annoyed", "labels": ["anger"], "kind": "mild"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    ex = load_dataset(path).split("test")
    assert [(e.labels, e.neutral, e.tag, e.kind) for e in ex] == [
        ((), True, "neutral", "neutral"), ((), True, "neutral", None), ((1, 4), False, "joy+fear", "mixed"),
        ((3,), False, "anger", "mild")]
    assert [e.label for e in ex][2:] == [-1, 3]  # a set of two has no single label
    for bad, message in (([["joy"], "joy"], "repeats"), (["neutral", "joy"], "cannot stand beside"),
                         ("joy", "must be a list"), (["calm"], "unknown label")):
        labels = bad[0] + [bad[1]] if isinstance(bad[0], list) else bad
        path.write_text(json.dumps({"text": "x", "labels": labels}) + "\n", "utf-8")
        with pytest.raises(DataError, match=message):
            load_dataset(path)


def test_multilabel_mapping_names_every_goemotions_label_once():
    from emotionkit.data import goemotions_multilabel_mapping

    m = goemotions_multilabel_mapping()
    mapped = [name for spec in m["mapping"].values() for name in spec["labels"]]
    assert sorted(mapped + list(m["dropped"]) + ["neutral"]) == sorted(GOEMOTIONS_NAMES)
    assert len(mapped) == len(set(mapped)) and set(m["mapping"]) == set(LABELS)


def test_goemotions_whole_keeps_every_comment_with_sets(tmp_path):
    names = GOEMOTIONS_NAMES
    (tmp_path / "emotions.txt").write_text("\n".join(names) + "\n", "utf-8")
    ids = {n: str(i) for i, n in enumerate(names)}
    lines = [("so happy and scared", f"{ids['joy']},{ids['fear']}"), ("the bus is at 5", ids["neutral"]),
             ("I agree", ids["approval"]), ("thanks a lot!", ids["gratitude"]), ("hmm, ok", f"{ids['neutral']},{ids['joy']}")]
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.tsv").write_text("".join(f"{t}\t{i}\tid{k}\n" for k, (t, i) in enumerate(lines)), "utf-8")
    ds = load_dataset(tmp_path, multi_label=True)
    rows = ds.split("test")
    assert [r.tag for r in rows] == ["joy+fear", "neutral", "none", "joy", "joy+neutral"]
    assert ds.label_counts("test") | {} == {"sadness": 0, "joy": 3, "love": 0, "anger": 0, "fear": 1, "surprise": 0,
                                            "neutral": 2, "none": 1, "several": 1}
    strict = load_dataset(tmp_path)  # the single-label reading keeps only the one-emotion comments
    assert [r.text for r in strict.split("test")] == []  # gratitude is dropped there, joy+fear maps to two


@pytest.mark.skipif(not (SHARED / "goemotions").is_dir(), reason="shared data not beside the checkout")
def test_shared_goemotions_whole_has_every_comment():
    ds = load_dataset(SHARED / "goemotions", multi_label=True)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 43410, "validation": 5426, "test": 5427}
    counts = ds.label_counts("test")
    assert counts["neutral"] == 1787 and counts["none"] == 536  # raters' neutral (any); only dropped labels


def test_multi_sets_are_kept_apart_from_their_evaluation_set():
    styleset_multi = read_file(ROOT / "data" / "styleset-multi" / "test.jsonl")
    held_out = {r.text for r in [*styleset_multi, *read_file(STYLESET)]}
    evaluation = [_words(t) for t in held_out]
    mix = load_dataset(ROOT / "data" / "stylemix-multi")
    train = [_words(r.text) for r in mix.split("train")]
    train_texts = {r.text for r in mix.split("train")}
    for row in [*mix.split("train"), *mix.split("validation")]:
        assert row.text not in held_out, f"stylemix-multi text also in an evaluation set: {row.text!r}"
        assert _closest(_words(row.text), evaluation) < 0.5, f"stylemix-multi text too close to an evaluation text: {row.text!r}"
    for row in mix.split("validation"):
        assert row.text not in train_texts, f"validation text also in train: {row.text!r}"
        assert _closest(_words(row.text), train) < 0.5, f"validation text too close to a train text: {row.text!r}"
    kinds = {(r.kind, r.style) for r in styleset_multi}
    styles = {"review", "support_ticket", "work_email", "chat_emoji", "all_caps", "slang_typos", "long"}
    assert kinds == {(k, s) for k in ("neutral", "mixed", "mild") for s in styles}
    # The single-label training set is kept apart from the multi-label evaluation set too.
    evaluation_multi = [_words(r.text) for r in styleset_multi]
    single = load_dataset(ROOT / "data" / "stylemix")
    for row in [*single.split("train"), *single.split("validation")]:
        assert row.text not in held_out, f"stylemix text also in a style set: {row.text!r}"
        assert _closest(_words(row.text), evaluation_multi) < 0.5, f"stylemix text too close to styleset-multi: {row.text!r}"
    # Training and selection both see emotion-free and two-emotion messages in every style.
    for split in ("train", "validation"):
        present = {(r.kind, r.style) for r in mix.split(split)}
        assert {(k, s) for k in ("neutral", "mixed") for s in styles} <= present, f"stylemix-multi {split}"


def test_emojiset_is_kept_apart_from_training_and_the_style_sets():
    """emojiset is read for selection only: none of its messages, nor a near-copy, is trained on or in a style set."""
    emoji = load_dataset(ROOT / "data" / "emojiset")
    assert set(emoji.splits) == {"validation"}
    rows = emoji.split("validation")
    assert {LABELS[r.label] for r in rows} == set(LABELS) and {r.style for r in rows} == {"chat_emoji"}
    others = [r.text for path in (STYLESET, ROOT / "data" / "styleset-multi" / "test.jsonl") for r in read_file(path)]
    for name in ("stylemix", "stylemix-multi"):
        mix = load_dataset(ROOT / "data" / name)
        others += [r.text for split in ("train", "validation") for r in mix.split(split)]
    pool, exact = [_words(t) for t in others], set(others)
    assert len({r.text for r in rows}) == len(rows)
    cues = [json.loads(line)["cue"] for line in (ROOT / "data" / "emojiset" / "validation.jsonl").read_text("utf-8").splitlines()]
    per_label_cue = {(LABELS[r.label], cue) for r, cue in zip(rows, cues, strict=True)}
    assert len(rows) == 150 and len(per_label_cue) == 12  # 25 per emotion: 15 whose emoji decide, 10 both
    assert cues.count("emoji") == 90 and cues.count("both") == 60
    words = [_words(r.text) for r in rows]
    for i, row in enumerate(rows):
        assert row.text not in exact, f"emojiset text also in another set: {row.text!r}"
        assert _closest(words[i], pool) < 0.5, f"emojiset text too close to another set's text: {row.text!r}"
        assert _closest(words[i], words[:i] + words[i + 1:]) < 0.5, f"two emojiset texts too close: {row.text!r}"


def test_int8_calibration_texts_come_from_train_splits_only():
    """Static int8 scales are calibrated on training texts: none is a validation or test text of any source."""
    from importlib import resources

    texts = json.loads(resources.files("emotionkit.resources").joinpath("int8_calibration.json").read_text("utf-8"))["texts"]
    ours = [load_dataset(ROOT / "data" / name) for name in ("stylemix", "stylemix-multi")]
    train = {r.text for data in ours for r in data.split("train")}
    held_out = {r.text for data in ours for r in data.split("validation")}
    held_out |= {r.text for path in (STYLESET, ROOT / "data" / "styleset-multi" / "test.jsonl") for r in read_file(path)}
    for split in ("validation", "test"):
        held_out |= {r.text for r in load_dataset(SHARED / "emotion").split(split)}
        held_out |= {r.text for r in load_dataset(SHARED / "goemotions", multi_label=True).split(split)}
    assert len(texts) == 512 and len(set(texts)) == 512
    assert set(texts) <= train and not set(texts) & held_out
