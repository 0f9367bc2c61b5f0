"""The shipped default model: real behaviour, and its card's numbers reproduce here."""

import json
import warnings

import pytest
from conftest import ROOT, SHARED

from emotionkit import EmotionClassifier
from emotionkit.data import load_dataset
from emotionkit.evaluate import evaluate
from emotionkit.onnx_engine import int8_refusal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def torch_clf(default_model):
    return EmotionClassifier.load(default_model, engine="torch")


def test_load_without_argument_is_the_default(default_model):
    assert EmotionClassifier.load(engine="torch").model_dir.resolve() == default_model.resolve()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("i feel so lonely and empty since she left", "sadness"),
        ("I just got the job!!! best day ever", "joy"),
        ("you are the love of my life and i adore you", "love"),
        ("I am furious, this is the third time you cancelled my order", "anger"),
        ("i am terrified of the dark and cant sleep", "fear"),
        ("i was shocked and amazed, i never expected that", "surprise"),
    ],
)
def test_obvious_texts(torch_clf, text, label):
    assert torch_clf(text).label == label


def test_emoji_are_read(torch_clf):
    # The uncased vocabulary has no emoji; named, they carry meaning.
    assert torch_clf("😡😡😡").label == "anger"
    assert torch_clf("crying all night 😭").label == "sadness"
    # Emoji alone: the default before session 27's round 5 read "😭😭" as neutral (README, known misses).
    assert torch_clf("😭😭").label == "sadness"
    crying = {s["label"]: s["score"] for s in torch_clf("😭😭").scores}
    boxes = {s["label"]: s["score"] for s in torch_clf("📦📦").scores}
    assert crying["sadness"] > boxes["sadness"]


@pytest.mark.skipif(not (SHARED / "emotion").is_dir(), reason="shared data not beside the checkout")
def test_card_numbers_reproduce(default_model, torch_clf):
    committed = json.loads((default_model / "test_metrics.json").read_text())["emotion"]
    measured = evaluate(torch_clf, load_dataset(SHARED / "emotion").split("test"))
    assert measured["accuracy"] == pytest.approx(committed["accuracy"], abs=1e-9)
    assert measured["f1_macro"] == pytest.approx(committed["f1_macro"], abs=1e-9)
    card = (default_model / "README.md").read_text()
    assert f"{committed['accuracy'] * 100:.2f}" in card


@pytest.mark.skipif(not (SHARED / "emotion").is_dir(), reason="shared data not beside the checkout")
def test_default_cpu_engine_costs_at_most_03_points(default_model, torch_clf):
    # The bound of the fast-inference issue: int8 within 0.3 points of fp32 PyTorch, or the default
    # engine is one that is. The model's metadata names its CPU default; check that one.
    meta = json.loads((default_model / "emotionkit.json").read_text())
    engine = meta.get("cpu_engine", "onnx-int8")
    test = load_dataset(SHARED / "emotion").split("test")
    fp32 = evaluate(torch_clf, test)
    chosen = EmotionClassifier.load(default_model, device="cpu")
    expected = {"onnx-int8": "onnx-int8", "onnx": "onnx-fp32", "torch": "torch-float32"}[engine]
    refused = int8_refusal(default_model) if engine == "onnx-int8" else None
    if refused:
        # int8 results move between CPUs (README, Fast inference): where this one's int8 graph misses the export's
        # parity check, auto runs the fp32 graph, as documented, and the bound below is checked on that.
        warnings.warn(f"the shipped model's int8 graph was refused on this CPU: {refused}", stacklevel=1)
        expected = "onnx-fp32"
    assert chosen.engine.name == expected
    fast = evaluate(chosen, test)
    # "within 0.3 points"; the epsilon absorbs float rounding of 0.929 - 0.926
    assert abs(fast["accuracy"] - fp32["accuracy"]) <= 0.003 + 1e-9
    assert abs(fast["f1_macro"] - fp32["f1_macro"]) <= 0.003 + 1e-9


CHECK_TEXTS = ["i am so happy for you", "The meeting has been moved to 3pm in room B.",
               "I'm thrilled about the new job, and honestly terrified of the first day.",
               "I am furious, this is the third time you cancelled my order"]


def test_pipeline_loads_the_shipped_dir_and_gives_our_scores(default_model, torch_clf):
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(default_model), top_k=None)
    out = pipe(["i am so happy for you"])[0]
    assert out[0]["label"] == "joy" and len(out) == 7  # the six and neutral, each its own sigmoid
    # The stock pipeline applies the sigmoid (problem_type) to calibrated weights: every score is ours.
    for text, pipe_out, result in zip(CHECK_TEXTS, pipe(CHECK_TEXTS), torch_clf(CHECK_TEXTS), strict=True):
        theirs = {r["label"]: r["score"] for r in pipe_out}
        ours = {r["label"]: r["score"] for r in result.scores}
        assert set(theirs) == set(ours), text
        for label, score in ours.items():
            assert theirs[label] == pytest.approx(score, abs=1e-5), (text, label)


def test_every_cpu_engine_gives_the_calibrated_scores(default_model, torch_clf):
    # Calibration is folded into the output layer, so each engine applies it; the int8 graph within the export's
    # parity limit of PyTorch, the fp32 graph to float rounding.
    from emotionkit.onnx_engine import INT8_MAX_PROB_DIFF, PARITY_TEXTS

    def by_label(results):
        return [{r["label"]: r["score"] for r in result.scores} for result in results]

    # The fp32 graph on our texts; the int8 graph on the export's parity texts, which its limit is set on.
    checks = {"onnx": (CHECK_TEXTS, 1e-4), "onnx-int8": (PARITY_TEXTS, INT8_MAX_PROB_DIFF)}
    for engine, (texts, tolerance) in checks.items():
        # Loading the fp32 engine first exports both graphs, so a refused int8 graph is known here.
        if engine == "onnx-int8" and int8_refusal(default_model):
            warnings.warn(f"the shipped model's int8 graph was refused on this CPU: {int8_refusal(default_model)}",
                          stacklevel=1)
            continue
        ours = by_label(torch_clf(texts))
        theirs = by_label(EmotionClassifier.load(default_model, engine=engine)(texts))
        for text, want, got in zip(texts, ours, theirs, strict=True):
            for label, score in want.items():
                assert got[label] == pytest.approx(score, abs=tolerance), (engine, text, label)


@pytest.mark.parametrize(
    "text",
    ["The meeting has been moved to 3pm in room B.", "The package contains two cables and a manual.",
     "Please find the invoice attached."],
)
def test_emotion_free_texts_are_neutral(torch_clf, text):
    # Issue 25's examples: the six-way model called them anger 0.84, surprise 0.90, anger 0.66.
    result = torch_clf(text)
    assert result.label == "neutral" and result.emotions == []


def test_two_emotions_are_both_found(torch_clf):
    result = torch_clf("I'm thrilled about the new job, and honestly terrified of the first day.")
    assert {"joy", "fear"} <= set(result.emotions)


def test_shipped_cpu_default_is_static_int8_and_the_card_has_the_mapping(default_model):
    """The shipped model names the static int8 graph as its CPU engine (issue 27: the parity check and the
    0.3-point bound above then test that graph), and its card shows the GoEmotions mapping it was trained with."""
    from emotionkit.data import goemotions_multilabel_mapping

    meta = json.loads((default_model / "emotionkit.json").read_text())
    assert meta["cpu_engine"] == "onnx-int8"
    card = (default_model / "README.md").read_text()
    assert "### GoEmotions label mapping" in card
    mapping = goemotions_multilabel_mapping()
    for emotion, spec in mapping["mapping"].items():
        assert f"| {emotion} | {', '.join(spec['labels'])} |" in card
    assert all(f"**{label}**" in card for label in mapping["dropped"])


@pytest.mark.skipif(not (SHARED / "emotion").is_dir(), reason="shared data not beside the checkout")
def test_committed_narrow_student_reproduces_its_card():
    """models/emotionkit-minilm-n768 (session 27, not the default): its card's tweets figures come from these weights,
    and its metadata names static int8 as its CPU engine (README, Fast inference)."""
    student = ROOT / "models" / "emotionkit-minilm-n768"
    meta = json.loads((student / "emotionkit.json").read_text())
    assert meta["cpu_engine"] == "onnx-int8" and meta["model"]["multi_label"]
    committed = json.loads((student / "test_metrics.json").read_text())["emotion"]
    measured = evaluate(EmotionClassifier.load(student, engine="torch"), load_dataset(SHARED / "emotion").split("test"))
    assert measured["accuracy"] == pytest.approx(committed["accuracy"], abs=1e-9)
    assert measured["f1_macro"] == pytest.approx(committed["f1_macro"], abs=1e-9)
    assert f"{committed['accuracy'] * 100:.2f}" in (student / "README.md").read_text()
