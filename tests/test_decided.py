"""Every surface shows a multi-label model's decision, no emotion and several included: the Python API, the
CLI, /predict's header, classify-file and ``emotionkit evaluate`` on a multi-label source (the page is in
test_page.py). The models are the tiny multi-label one with its decision set so that every text carries no
emotion (``none``) or two (``several``; conftest.py: ``decided_tiny_multi``)."""

import csv
import json

import pytest
from conftest import DECIDED_TEXTS

from emotionkit.cli import main
from emotionkit.predict import EmotionClassifier

pytestmark = pytest.mark.slow
CASES = ("none", "several")


@pytest.fixture(scope="module")
def expected(decided_tiny_multi):
    """The Python API's emotions and labels per text, for each case."""
    out = {}
    for case in CASES:
        results = EmotionClassifier.load(decided_tiny_multi[case], engine="torch")(list(DECIDED_TEXTS))
        out[case] = ([r.emotions for r in results], [r.label for r in results])
    return out


def test_python_api_says_neutral_or_names_both(expected):
    none, several = expected["none"], expected["several"]
    assert all(e == [] for e in none[0]) and set(none[1]) == {"neutral"}
    assert all(len(e) == 2 for e in several[0])
    assert several[1] == [e[0] for e in several[0]]  # the top label is the first (highest) emotion present


@pytest.mark.parametrize("case", CASES)
def test_predict_header_is_the_python_decision(decided_tiny_multi, expected, case):
    from fastapi.testclient import TestClient

    from emotionkit.serve import create_app

    emotions, _ = expected[case]
    with TestClient(create_app(EmotionClassifier.load(decided_tiny_multi[case], engine="torch"))) as client:
        many = client.post("/predict", json={"inputs": list(DECIDED_TEXTS)})
        raw = client.post("/predict", json={"inputs": list(DECIDED_TEXTS), "raw_scores": True})
        one = client.post("/predict", json={"inputs": DECIDED_TEXTS[1]})
    assert many.status_code == raw.status_code == one.status_code == 200
    assert json.loads(many.headers["x-emotionkit-emotions"]) == emotions
    assert json.loads(raw.headers["x-emotionkit-emotions"]) == emotions  # raw logits in the body, same decision
    assert json.loads(one.headers["x-emotionkit-emotions"]) == [emotions[1]]
    assert all(len(scores) == 7 for scores in many.json())  # the body keeps every score, TEI's shape


@pytest.mark.parametrize("case", CASES)
def test_cli_predict_prints_the_emotions(decided_tiny_multi, expected, case, capsys):
    emotions, labels = expected[case]
    assert main(["predict", *DECIDED_TEXTS, "--model", str(decided_tiny_multi[case]), "--engine", "torch"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [o["emotions"] for o in objs] == emotions and [o["label"] for o in objs] == labels


@pytest.mark.parametrize("case", CASES)
def test_classify_file_writes_neutral_or_both_emotions(decided_tiny_multi, expected, case, tmp_path):
    from emotionkit.batch import classify_file

    emotions, labels = expected[case]
    src = tmp_path / "in.csv"
    src.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(DECIDED_TEXTS)), "utf-8")
    classify_file(src, tmp_path / "out.csv", classifier=EmotionClassifier.load(decided_tiny_multi[case], engine="torch"))
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert [r["label"] for r in rows] == labels
    written = [r["emotions"] for r in rows]
    assert written == (["neutral"] * len(rows) if case == "none" else [";".join(e) for e in emotions])
    assert case == "none" or all(w.count(";") == 1 for w in written)


def test_cli_evaluate_on_a_multi_label_source(decided_tiny_multi, tiny_multi_data, capsys, tmp_path):
    png = tmp_path / "reliability.png"
    assert main(["evaluate", "--model", str(decided_tiny_multi["none"]), "--engine", "torch", "--data",
                 str(tiny_multi_data), "--split", "test", "--json", "--plot", str(png)]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"exact_match", "f1_micro", "neutral_f1", "ece_mean", "neutral_recognised"} <= set(m)
    # Every text called neutral: every emotion-free message is recognised, no two-emotion one is found.
    assert m["neutral_recognised"] == 1.0 and m["mixed_both_found"] == 0.0 and m["mild_emotion_found"] == 0.0
    assert m["reliability_png"] == str(png) and png.read_bytes()[:4] == b"\x89PNG"
