"""The predict contract: one in one out, list in list out, order kept, bad input refused clearly."""

import numpy as np
import pytest

from emotionkit import LABELS, EmotionClassifier, Prediction


@pytest.fixture(scope="module")
def clf(trained_tiny):
    return EmotionClassifier.load(trained_tiny, engine="torch")


def test_one_in_one_out(clf):
    result = clf("I am thrilled")
    assert isinstance(result, Prediction)
    assert [s["label"] for s in result.scores] != []
    assert sorted(s["label"] for s in result.scores) == sorted(LABELS)
    scores = [s["score"] for s in result.scores]
    assert scores == sorted(scores, reverse=True)
    assert result.label == result.scores[0]["label"] and result.score == scores[0]
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert set(result.to_dict()) == {"label", "score", "emotions", "scores", "truncated"}
    assert result.emotions == [result.label]  # a single-label model: the top emotion is the one present


def test_list_in_list_out_and_empty(clf):
    out = clf(["a", "b c"])
    assert isinstance(out, list) and len(out) == 2
    assert clf([]) == []


def test_order_is_kept_under_length_sorting(clf):
    texts = [("word " * n).strip() + f" {n}" for n in (30, 1, 12, 5, 22, 2, 9)]
    batched = clf(texts, batch_size=3)
    single = [clf(t) for t in texts]
    for b, s in zip(batched, single, strict=True):
        assert b.label == s.label
        assert b.score == pytest.approx(s.score, abs=1e-5)


def test_predict_proba_shape(clf):
    probs = clf.predict_proba(["one", "two", "three"])
    assert probs.shape == (3, 6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (None, TypeError, "expected a string or a list of strings, got NoneType"),
        (42, TypeError, "expected a string or a list of strings, got int"),
        (["fine", 3], TypeError, "expected a string at position 1, got int"),
        (["fine", None], TypeError, "expected a string at position 1, got NoneType"),
        ("", ValueError, "text at position 0 is empty"),
        (["ok", "   "], ValueError, "text at position 1 is empty"),
        (["ok", "caf\udce9 was awful"], ValueError, r"text at position 1 has a lone surrogate \(U\+DCE9\) at character 3"),
    ],
)
def test_bad_input(clf, bad, error, message):
    with pytest.raises(error, match=message):
        clf(bad)


@pytest.mark.parametrize("size", [0, -1, 1.5, "8", True])
def test_bad_batch_size(clf, size):
    with pytest.raises(ValueError, match="batch_size must be an int > 0"):
        clf(["x"], batch_size=size)


def test_long_text_is_truncated_and_flagged_on_request(clf):
    long = "i am so happy today " * 200
    result = clf(long, long_text="truncate")
    assert result.truncated is True
    assert clf("short and sweet", long_text="truncate").truncated is False
    assert clf(long).truncated is False  # by default a long text is read whole (tests/test_longdoc.py)


def test_unknown_engine(trained_tiny):
    with pytest.raises(ValueError, match="engine must be one of"):
        EmotionClassifier.load(trained_tiny, engine="tensorrt")


def test_missing_model_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model directory at"):
        EmotionClassifier.load(tmp_path / "nope", engine="torch")


def test_auto_engine_follows_the_models_cpu_engine():
    from emotionkit.predict import _choose_engine

    assert _choose_engine("auto", "cpu") == "onnx-int8"
    assert _choose_engine("auto", "cpu", "onnx") == "onnx"
    assert _choose_engine("onnx-int8", "cpu", "onnx") == "onnx-int8"  # an explicit engine wins
    with pytest.raises(ValueError, match="cpu_engine must be torch, onnx or onnx-int8, got 'int4'"):
        _choose_engine("auto", "cpu", "int4")
