import numpy as np
import pytest

from emotionkit.evaluate import compute_metrics, per_group_accuracy, plot_confusion_matrix


def test_metrics_by_hand():
    y_true = [0, 0, 1, 1, 2, 5]
    y_pred = [0, 1, 1, 1, 2, 0]
    probs = np.full((6, 6), 0.1)
    probs[np.arange(6), y_pred] = 0.5
    m = compute_metrics(y_true, y_pred, probs)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # sadness: P 1/2 R 1/2; joy: P 2/3 R 1; love: P 1 R 1; surprise: 0; anger/fear: neither true nor
    # predicted, so not in the macro average (it runs over the four labels that occur)
    assert m["sadness_precision"] == pytest.approx(0.5)
    assert m["joy_f1"] == pytest.approx(0.8)
    assert m["surprise_f1"] == 0.0
    assert m["anger_f1"] == 0.0 and m["anger_support"] == 0
    assert m["f1_macro"] == pytest.approx((0.5 + 0.8 + 1.0 + 0.0) / 4)
    assert m["f1_micro"] == pytest.approx(4 / 6)
    assert m["loss"] == pytest.approx(-np.mean(np.log([0.5, 0.1, 0.5, 0.5, 0.5, 0.1])))
    assert m["confusion_matrix"][0] == [1, 1, 0, 0, 0, 0]
    assert m["confusion_matrix"][5] == [1, 0, 0, 0, 0, 0]


def test_a_perfect_model_on_two_emotions_scores_one():
    m = compute_metrics([0, 0, 1], [0, 0, 1])
    assert m["f1_macro"] == m["precision_macro"] == m["recall_macro"] == 1.0
    # a label predicted but never true still counts against the model
    assert compute_metrics([0, 0], [0, 3])["f1_macro"] == pytest.approx((2 / 3 + 0.0) / 2)


def test_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="equal length"):
        compute_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="zero examples"):
        compute_metrics([], [])


def test_per_group():
    out = per_group_accuracy([0, 1, 2], [0, 0, 2], ["a", "a", "b"])
    assert out == {"accuracy_style_a": 0.5, "n_style_a": 2, "accuracy_style_b": 1.0, "n_style_b": 1}


def test_confusion_png(tmp_path):
    path = plot_confusion_matrix([[1] * 6] * 6, tmp_path / "cm.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
