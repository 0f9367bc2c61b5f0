"""The one place that turns logits into scores and decisions, for single- and multi-label models."""

import json

import numpy as np
import pytest

from emotionkit.decision import NEUTRAL, Decision, sigmoid, softmax

SIX = ("sadness", "joy", "love", "anger", "fear", "surprise")
SEVEN = (*SIX, NEUTRAL)


def test_single_label_is_softmax_and_argmax():
    d = Decision(SIX)
    logits = np.array([[0.0, 3.0, 1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0, 0.0, 2.5]])
    scores = d.scores(logits)
    assert scores.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)
    calls = d.decide(scores)
    assert [(c.label, c.emotions) for c in calls] == [("joy", ["joy"]), ("surprise", ["surprise"])]
    assert calls[0].score == pytest.approx(float(softmax(logits)[0, 1]), abs=1e-6)


def test_multi_label_thresholds_neutral_and_several():
    limits = {"joy": 0.5, "fear": 0.3, NEUTRAL: 0.6}
    d = Decision(SEVEN, multi_label=True, thresholds=limits, fallback="neutral")
    scores = np.array([
        [0.1, 0.9, 0.1, 0.1, 0.35, 0.1, 0.1],   # joy and fear (fear over its lower threshold)
        [0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.9],    # neutral
        [0.1, 0.4, 0.1, 0.1, 0.1, 0.1, 0.2],    # nothing reaches a threshold: fallback neutral
        [0.1, 0.45, 0.1, 0.1, 0.29, 0.1, 0.1],  # joy just under 0.5, fear just under 0.3
    ])
    calls = d.decide(scores)
    assert [(c.label, c.emotions) for c in calls] == [
        ("joy", ["joy", "fear"]), (NEUTRAL, []), (NEUTRAL, []), (NEUTRAL, [])]
    assert calls[1].score == pytest.approx(0.9)  # neutral's own score, above prod(1 - p) = 0.9^4 x 0.8 x 0.9
    # No emotion reached its threshold and the neutral output is low: the score is prod(1 - p), not 0.2.
    assert calls[2].score == pytest.approx(0.9**5 * 0.6, abs=1e-6)
    top = Decision(SEVEN, multi_label=True, thresholds=limits, fallback="top").decide(scores)
    # With fallback "top", a text that is not confidently neutral gets its most likely emotion.
    assert [(c.label, c.emotions) for c in top] == [
        ("joy", ["joy", "fear"]), (NEUTRAL, []), ("joy", ["joy"]), ("joy", ["joy"])]


def test_multi_label_scores_are_sigmoid_and_emotion_columns_skip_neutral():
    d = Decision(SEVEN, multi_label=True)
    logits = np.array([[0.0, 2.0, -2.0, 0.0, 0.0, 0.0, 5.0]])
    assert d.scores(logits)[0] == pytest.approx(1 / (1 + np.exp(-logits[0])), abs=1e-6)
    assert d.emotion_scores(d.scores(logits)).shape == (1, 6)
    assert sigmoid(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]  # no overflow


def test_bad_decisions_are_refused_with_the_value():
    with pytest.raises(ValueError, match="'calm'"):
        Decision(SEVEN, multi_label=True, thresholds={"calm": 0.5})
    with pytest.raises(ValueError, match="1.5"):
        Decision(SEVEN, multi_label=True, thresholds={"joy": 1.5})
    with pytest.raises(ValueError, match="'maybe'"):
        Decision(SEVEN, multi_label=True, fallback="maybe")


def test_a_softmax_model_with_a_neutral_class_can_say_neutral():
    d = Decision(SEVEN)  # e.g. Ekman's six plus neutral, one softmax
    calls = d.decide(d.scores(np.array([[0, 0, 0, 0, 0, 0, 3.0], [0, 3.0, 0, 0, 0, 0, 0]])))
    assert [(c.label, c.emotions) for c in calls] == [(NEUTRAL, []), ("joy", ["joy"])]
    assert calls[0].score == pytest.approx(float(softmax(np.array([[0, 0, 0, 0, 0, 0, 3.0]]))[0, 6]), abs=1e-6)


def test_decision_round_trips_through_the_model_directory(tmp_path):
    d = Decision(SEVEN, multi_label=True, thresholds={"joy": 0.42, NEUTRAL: 0.61}, fallback="neutral")
    config = {"id2label": {str(i): n for i, n in enumerate(SEVEN)}, "problem_type": "multi_label_classification"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "emotionkit.json").write_text(json.dumps({"decision": d.to_json()}))
    assert Decision.load(tmp_path) == d
    (tmp_path / "emotionkit.json").unlink()
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {str(i): n for i, n in enumerate(SIX)}}))
    assert Decision.load(tmp_path) == Decision(SIX)
