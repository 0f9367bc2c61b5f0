"""Calibration on validation, folded into the output layer; thresholds; the multi-label model end to end."""

import json

import numpy as np
import pytest

from emotionkit.calibrate import best_threshold, fit_platt, fold_into_head
from emotionkit.decision import NEUTRAL, sigmoid
from emotionkit.evaluate import calibration_error, multilabel_metrics
from emotionkit.predict import EmotionClassifier

SEVEN = ("sadness", "joy", "love", "anger", "fear", "surprise", NEUTRAL)


def test_fit_platt_recovers_a_known_scaling():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 20000)
    y = rng.random(20000) < sigmoid(0.5 * z - 1.0)  # true probabilities: sigmoid(0.5 z - 1)
    a, b = fit_platt(z, y)
    assert a == pytest.approx(0.5, abs=0.03) and b == pytest.approx(-1.0, abs=0.05)
    assert fit_platt(z, np.zeros_like(y)) == (1.0, 0.0)  # one class only: left as it is


def test_best_threshold_maximises_f1():
    scores = np.array([0.9, 0.8, 0.4, 0.35, 0.1])
    gold = np.array([1, 1, 1, 0, 0])
    assert best_threshold(scores, gold) == pytest.approx(0.36, abs=0.011)  # all three positives, no negative


def test_calibration_error_of_a_hand_made_case():
    ece, points = calibration_error(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 1, 1, 1]))
    # two bins: mean score 0.1 vs frequency 0.5, mean 0.9 vs 1.0 -> 0.5 * 0.4 + 0.5 * 0.1
    assert ece == pytest.approx(0.25) and [p["count"] for p in points] == [2, 2]


def test_multilabel_metrics_hand_counted():
    from emotionkit.decision import Decision

    d = Decision(SEVEN, multi_label=True, fallback="neutral")
    # rows: joy+fear gold, predicted joy only; neutral gold, predicted neutral; anger gold, predicted anger+sadness
    scores = np.array([[0, .9, 0, 0, .2, 0, 0], [0, 0, 0, 0, 0, 0, .9], [.7, 0, 0, .8, 0, 0, 0]], dtype=float)
    gold = np.zeros((3, 6), dtype=bool)
    gold[0, [1, 4]] = True
    gold[2, 3] = True
    m = multilabel_metrics(gold, np.array([False, True, False]), scores, d)
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert (m["joy_f1"], m["fear_f1"], m["anger_f1"], m["sadness_f1"], m["neutral_f1"]) == (1.0, 0.0, 1.0, 0.0, 1.0)
    # labels that occur: sadness (predicted), joy, anger, fear, neutral -> (0 + 1 + 1 + 0 + 1) / 5
    assert m["f1_macro"] == pytest.approx(0.6)
    # micro: tp 3 (joy, anger, neutral), fp 1 (sadness), fn 1 (fear) -> 6 / 8
    assert m["f1_micro"] == pytest.approx(0.75)
    assert m["predicted_several_share"] == pytest.approx(1 / 3) and m["single_emotion_accuracy"] == 1.0


def test_fold_into_head_scales_the_logits_exactly(tiny_models, tmp_path):
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_models["bert"], model)
    clf = EmotionClassifier.load(model, engine="torch")
    texts = ["one text", "and another, longer text"]
    before = clf.logits(texts)
    a, b = np.array([0.5, 2.0]), np.array([1.0, -0.25])
    fold_into_head(model, a, b)
    after = EmotionClassifier.load(model, engine="torch").logits(texts)
    assert after == pytest.approx(before * a + b, abs=1e-5)


@pytest.mark.slow
def test_multi_label_model_end_to_end(trained_tiny_multi):
    from transformers import pipeline

    config = json.loads((trained_tiny_multi / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert [config["id2label"][str(i)] for i in range(7)] == list(SEVEN)
    meta = json.loads((trained_tiny_multi / "emotionkit.json").read_text())
    assert set(meta["decision"]["thresholds"]) == set(SEVEN) and meta["decision"]["fallback"] in ("top", "neutral")
    assert set(meta["calibration"]["slope"]) == set(SEVEN)
    texts = ["The meeting moved to 3pm.", "so happy and so scared", "I miss you"]
    clf = EmotionClassifier.load(trained_tiny_multi, engine="torch")
    ours = clf(texts)
    # The stock pipeline applies the sigmoid (problem_type) and gives the same, calibrated, scores.
    theirs = pipeline("text-classification", model=str(trained_tiny_multi), top_k=None)(texts)
    for mine, other in zip(ours, theirs, strict=True):
        assert {d["label"]: d["score"] for d in other} == pytest.approx({d["label"]: d["score"] for d in mine.scores}, abs=1e-5)
    card = (trained_tiny_multi / "README.md").read_text()
    assert "## Decision" in card and "| neutral |" in card and "reliability_" in card
    metrics = json.loads((trained_tiny_multi / "test_metrics.json").read_text())
    multi = next(m for m in metrics.values() if "exact_match" in m)
    assert {"neutral_f1", "f1_micro", "ece_mean", "neutral_recognised", "mixed_both_found"} <= set(multi)
    single = next(m for m in metrics.values() if "emotion_free_share" in m)
    assert 0.0 <= single["emotion_free_share"] <= 1.0 and "accuracy" in single


def test_multi_label_refuses_what_it_cannot_train_with(tiny_models, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.train import train

    settings = ModelSettings(base_model=str(tiny_models["bert"]), max_length=32, multi_label=True)
    with pytest.raises(ValueError, match="label_smoothing=0.1"):
        train(settings, TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "m"), label_smoothing=0.1))
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_multi_label_model_on_every_engine_and_in_files(trained_tiny_multi, tmp_path):
    """The calibration lives in the weights, so ONNX (fp32 and static int8) give the same scores as PyTorch;
    classify-file writes the emotions present and the neutral score."""
    import csv

    from emotionkit.batch import classify_file

    texts = ["The meeting moved to 3pm.", "so happy and so scared", "I miss you", "ok"]
    torch_clf = EmotionClassifier.load(trained_tiny_multi, engine="torch")
    onnx_clf = EmotionClassifier.load(trained_tiny_multi, engine="onnx")
    assert onnx_clf.predict_proba(texts) == pytest.approx(torch_clf.predict_proba(texts), abs=1e-5)
    assert [r.emotions for r in onnx_clf(texts)] == [r.emotions for r in torch_clf(texts)]
    int8 = EmotionClassifier.load(trained_tiny_multi, engine="onnx-int8")
    # Static quantization: a text's scores do not depend on what else is in its batch.
    alone = np.concatenate([int8.predict_proba([t]) for t in texts])
    assert int8.predict_proba(texts, batch_size=4) == pytest.approx(alone, abs=1e-6)
    src = tmp_path / "in.csv"
    src.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts)), "utf-8")
    classify_file(src, tmp_path / "out.csv", classifier=torch_clf)
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert list(rows[0])[-8:] == ["emotions", *SEVEN]
    for row, result in zip(rows, torch_clf(texts), strict=True):
        assert row["label"] == result.label and row["emotions"] == (";".join(result.emotions) or "neutral")
    meta = json.loads((trained_tiny_multi / "emotionkit.json").read_text())
    before, after = meta["calibration"]["validation_ece_before"], meta["calibration"]["validation_ece_after"]
    assert sum(after.values()) <= sum(before.values()) + 1e-9  # Platt scaling fitted on those very rows


@pytest.mark.slow
def test_single_label_model_from_a_multi_label_base_is_softmax(trained_tiny_multi, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.train import train

    out = train(ModelSettings(base_model=str(trained_tiny_multi), max_length=32),
                TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "m"), max_steps=2, eval_batch_size=16),
                test=False)
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "single_label_classification" and len(config["id2label"]) == 6
    result = EmotionClassifier.load(out, engine="torch")("a short test")
    assert sum(s["score"] for s in result.scores) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_emotionkit_test_scores_a_model_as_train_did(trained_tiny_multi, tmp_path):
    import shutil

    from emotionkit.cli import main

    copy = tmp_path / "m"
    shutil.copytree(trained_tiny_multi, copy)
    (copy / "test_metrics.json").unlink()
    assert main(["test", str(copy)]) == 0
    again = json.loads((copy / "test_metrics.json").read_text())
    first = json.loads((trained_tiny_multi / "test_metrics.json").read_text())
    assert again.keys() == first.keys()
    for name in first:
        assert again[name]["f1_macro"] == pytest.approx(first[name]["f1_macro"], abs=1e-9)


def _row(labels=None, kind=None, neutral=False, label=0):
    from emotionkit.data import Example

    return Example(text="t", label=label, labels=labels, neutral=neutral, kind=kind)


def test_per_kind_rates_and_emotion_free_share_hand_counted():
    from emotionkit.decision import Decision
    from emotionkit.evaluate import per_kind_rates, single_label_metrics

    d = Decision(SEVEN, multi_label=True, fallback="neutral")  # every threshold 0.5
    # sadness 0, joy 1, love 2, anger 3, fear 4, surprise 5, neutral 6
    scores = np.array([
        [.2, .1, .1, .1, .1, .1, .9],  # neutral row, nothing present: recognised
        [.1, .7, .1, .1, .1, .1, .1],  # neutral row, joy present: not recognised
        [.1, .8, .1, .1, .6, .1, .1],  # mixed joy+fear, both present: found
        [.1, .8, .1, .1, .2, .1, .1],  # mixed joy+fear, fear missing: not found
        [.1, .1, .1, .9, .1, .1, .1],  # mild anger, anger present: found
        [.1, .1, .1, .3, .1, .1, .8],  # mild anger, nothing present: not found
        [.1, .1, .1, .6, .1, .1, .1],  # mild anger, anger present: found
        [.9, .1, .1, .1, .1, .1, .1],  # mild anger, sadness instead: not found
    ])
    rows = [_row((), "neutral", True), _row((), "neutral", True), _row((1, 4), "mixed"), _row((1, 4), "mixed"),
            _row((3,), "mild"), _row((3,), "mild"), _row((3,), "mild"), _row((3,), "mild")]
    rates = per_kind_rates(rows, scores, d)
    assert rates == {"neutral_recognised": 0.5, "n_neutral_recognised": 2, "mixed_both_found": 0.5,
                     "n_mixed_both_found": 2, "mild_emotion_found": 0.5, "n_mild_emotion_found": 4}
    # A single-label source: texts with no emotion at its threshold are called emotion-free (rows 0 and 5).
    single = single_label_metrics([0, 1, 1, 4, 3, 3, 3, 3], scores, d)
    assert single["emotion_free_share"] == pytest.approx(2 / 8)
    assert single["accuracy"] == pytest.approx(6 / 8)  # top of the six: rows 3 (joy, not fear) and 7 wrong


def test_choose_fallback_keeps_the_best_allowed_decision_and_refuses_when_none_is():
    """The decision's rule: the best mean multi-label macro-F1 among candidates that call at most the given
    share of the single-label texts (pooled) emotion-free; none allowed is an error that says why."""
    from emotionkit.calibrate import choose_fallback
    from emotionkit.decision import Decision

    d = Decision(SEVEN, multi_label=True)

    def logits(rows):
        return np.log(np.array(rows) / (1 - np.array(rows)))

    # Multi-label rows: two emotion-free comments whose emotions and neutral output are all weak (neutral under
    # every threshold tried), so only the fallback "neutral" gets them right; one of ten single-label texts is
    # just as weak, and that fallback calls it emotion-free.
    multi = [_row((), "neutral", True), _row((), "neutral", True), _row((1,), None)]
    multi_logits = logits([[.2, .3, .1, .1, .1, .1, .05], [.2, .3, .1, .1, .1, .1, .05], [.1, .9, .1, .1, .1, .1, .1]])
    single = [_row(label=1) for _ in range(10)]
    weak = [[.1, .3, .1, .1, .1, .1, .1]] + [[.1, .9, .1, .1, .1, .1, .1]] * 9
    parts = [("multi", multi, multi_logits), ("single", single, logits(weak))]
    thresholds = dict.fromkeys(SEVEN, 0.5)
    # 10% emotion-free allowed: the fallback "neutral" wins (both neutral comments right; one tweet of ten free).
    best, table = choose_fallback(d, thresholds, parts, max_emotion_free=0.10)
    assert best.fallback == "neutral" and len(table) > 2
    # 5% allowed: "neutral" calls 10% of the single-label texts emotion-free, so the best allowed is "top".
    best, table = choose_fallback(d, thresholds, parts, max_emotion_free=0.05)
    assert best.fallback == "top"
    assert any(r["fallback"] == "neutral" and not r["allowed"] for r in table)
    top_scores = [r["mean_macro_f1"] for r in table if r["fallback"] == "top" and r["allowed"]]
    assert max(top_scores) < max(r["mean_macro_f1"] for r in table)  # a better decision was refused
    # Every candidate calls some single-label text emotion-free: nothing allowed at 0%, and the error says so.
    all_weak = [("multi", multi, multi_logits), ("single", single, logits([[.1, .3, .1, .1, .1, .1, .9]] * 10))]
    with pytest.raises(ValueError, match="no decision keeps the single-label sources at most 0% emotion-free"):
        choose_fallback(d, thresholds, all_weak, max_emotion_free=0.0)
