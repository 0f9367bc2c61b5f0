"""Scores that mean what they say: calibrate a multi-label model and choose its decision on validation.

Two steps, both on the validation splits only (test is never read here):

1. Per-label Platt scaling (Platt, 1999): for each output, ``a * logit + b`` fitted by logistic
   regression against that output's 0/1 gold. The map is linear, so it is folded into the output
   layer (``W' = a W``, ``c' = a c + b``): every engine (PyTorch, ONNX, int8) and the stock
   ``transformers`` pipeline then give the calibrated scores with no code of ours.
2. Decision thresholds: per output, the threshold that maximises its F1 on the pooled validation
   sources; then the fallback (``top`` or ``neutral``) and the neutral threshold, chosen together to
   maximise the mean macro-F1 over the multi-label sources while the single-label sources (the tweets,
   which all carry an emotion) keep at most ``max_emotion_free`` of their texts, pooled, emotion-free.

>>> calibrate("runs/multi", [load_dataset("../shared/data/goemotions", multi_label=True)])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from emotionkit.decision import FALLBACKS, NEUTRAL, Decision, sigmoid
from emotionkit.evaluate import calibration_error, gold_matrix, score_examples, write_json

log = logging.getLogger(__name__)

GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)  # thresholds tried
MAX_EMOTION_FREE = 0.02  # the share of tweets (all emotional) a decision may call emotion-free


def fit_platt(logits: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` such that ``sigmoid(a * logit + b)`` is calibrated against ``gold`` (0/1), by an
    (almost) unregularised logistic regression on the one feature."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    gold = np.asarray(gold).astype(int)
    if gold.min() == gold.max():  # one class only: nothing to fit, keep the scores as they are
        return 1.0, 0.0
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(logits, dtype=np.float64).reshape(-1, 1), gold)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def fold_into_head(model_dir: str | Path, a: np.ndarray, b: np.ndarray) -> str:
    """Rewrite the output layer of ``model.safetensors`` so its logits become ``a * logits + b``.

    The layer is the last weight/bias pair whose rows are the model's outputs. The file is written
    beside the old one and renamed over it, so an interruption leaves the old weights whole.
    Returns the name of the rewritten weight.
    """
    from safetensors.torch import load_file, save_file  # noqa: PLC0415

    path = Path(model_dir) / "model.safetensors"
    tensors = load_file(str(path))
    outputs = len(a)
    pairs = [k for k, t in tensors.items() if k.endswith(".weight") and t.ndim == 2 and t.shape[0] == outputs
             and k[: -len("weight")] + "bias" in tensors]
    # The heads transformers names (BERT, DistilBERT and ALBERT: classifier; RoBERTa: classifier.out_proj) first.
    known = [k for k in ("classifier.out_proj.weight", "classifier.weight") if k in pairs]
    if not pairs:
        raise ValueError(f"{path}: no output layer with {outputs} rows to fold the calibration into")
    weight_key = known[0] if known else pairs[-1]
    bias_key = weight_key[: -len("weight")] + "bias"
    weight, bias = tensors[weight_key], tensors[bias_key]
    scale = np.asarray(a, dtype=np.float64)
    new_w = weight.double() * _tensor(scale).unsqueeze(1)
    new_b = bias.double() * _tensor(scale) + _tensor(np.asarray(b, dtype=np.float64))
    tensors[weight_key], tensors[bias_key] = new_w.to(weight.dtype), new_b.to(bias.dtype)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)
    return weight_key


def _tensor(values: np.ndarray):
    import torch  # noqa: PLC0415

    return torch.from_numpy(np.ascontiguousarray(values))


def best_threshold(scores: np.ndarray, gold: np.ndarray) -> float:
    """The threshold of ``GRID`` with the highest F1 of ``scores >= t`` against ``gold`` (ties: the lowest)."""
    gold = np.asarray(gold, dtype=bool)
    best, best_f1 = 0.5, -1.0
    for t in GRID:
        pred = scores >= t
        tp = float((pred & gold).sum())
        f1 = 2 * tp / max(float(pred.sum() + gold.sum()), 1.0)
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(t), f1
    return best


def _validation(model_dir: Path, datasets: list) -> list[tuple[str, list, np.ndarray]]:
    """(name, validation rows, logits) per dataset, from the saved weights (PyTorch, as the card's test)."""
    from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

    clf = EmotionClassifier.load(model_dir, engine="torch")
    out = []
    for ds in datasets:
        rows = ds.split("validation")
        out.append((ds.name, rows, clf.logits([ex.text for ex in rows], batch_size=64)))
    return out


def calibrate(model_dir: str | Path, datasets: list, max_emotion_free: float = MAX_EMOTION_FREE) -> dict:
    """Calibrate a multi-label model directory in place and store its decision; returns what was chosen.

    ``datasets``: the training sources (their validation splits are read; each may be single- or
    multi-label). Writes ``decision`` and ``calibration`` into ``emotionkit.json``.
    """
    model_dir = Path(model_dir)
    decision = Decision.load(model_dir)
    if not decision.multi_label:
        raise ValueError(f"{model_dir} is a single-label model (softmax): only a multi-label model is calibrated here")
    meta_path = model_dir / "emotionkit.json"
    if meta_path.is_file() and "calibration" in json.loads(meta_path.read_text("utf-8")):
        raise ValueError(f"{model_dir} is calibrated already (its emotionkit.json records the scaling folded into its "
                         "weights); a second fit would replace that record; choose its decision again with --decision-only")
    parts = _validation(model_dir, datasets)
    rows = [ex for _, r, _ in parts for ex in r]
    logits = np.concatenate([lg for _, _, lg in parts]).astype(np.float64)
    gold_emo, gold_neutral = gold_matrix(rows, decision)
    gold = {e: gold_emo[:, i] for i, e in enumerate(decision.emotions)} | {NEUTRAL: gold_neutral}

    a, b, before, after = [], [], {}, {}
    for j, name in enumerate(decision.labels):
        slope, shift = fit_platt(logits[:, j], gold[name])
        a.append(slope)
        b.append(shift)
        before[name] = calibration_error(sigmoid(logits[:, j]), gold[name])[0]
        after[name] = calibration_error(sigmoid(slope * logits[:, j] + shift), gold[name])[0]
    fold_into_head(model_dir, np.array(a), np.array(b))
    record = {
        "calibration": {
            "method": "per-label Platt scaling on the validation splits, folded into the output layer",
            "slope": dict(zip(decision.labels, a, strict=True)),
            "intercept": dict(zip(decision.labels, b, strict=True)),
            "validation_ece_before": before,
            "validation_ece_after": after,
            "sources": [name for name, _, _ in parts],
        },
    }
    _update_meta(model_dir, record)
    record |= choose_decision(model_dir, datasets, max_emotion_free)
    return record


def choose_decision(model_dir: str | Path, datasets: list, max_emotion_free: float = MAX_EMOTION_FREE) -> dict:
    """Choose and store the thresholds and fallback of a (calibrated) multi-label model, on validation.

    Thresholds come from the saved weights: what every engine will compute.
    """
    model_dir = Path(model_dir)
    decision = Decision.load(model_dir)
    parts = _validation(model_dir, datasets)
    rows = [ex for _, r, _ in parts for ex in r]
    gold_emo, gold_neutral = gold_matrix(rows, decision)
    gold = {e: gold_emo[:, i] for i, e in enumerate(decision.emotions)} | {NEUTRAL: gold_neutral}
    scores = np.concatenate([decision.scores(lg) for _, _, lg in parts])
    thresholds = {name: best_threshold(scores[:, j], gold[name]) for j, name in enumerate(decision.labels)}
    chosen, table = choose_fallback(decision, thresholds, parts, max_emotion_free)
    record = {"decision": {**chosen.to_json(), "chosen_on": (
        "validation: per-output F1-best thresholds on the pooled sources; then the fallback and the neutral threshold "
        "with the best mean macro-F1 over the multi-label sources among those that call at most "
        f"{max_emotion_free:.0%} of the single-label sources' texts (all emotional) emotion-free"), "candidates": table}}
    _update_meta(model_dir, record)
    log.info("decision of %s: thresholds %s, fallback %s", model_dir, chosen.thresholds, chosen.fallback)
    return record


def _update_meta(model_dir: Path, record: dict) -> None:
    meta_path = model_dir / "emotionkit.json"
    meta = json.loads(meta_path.read_text("utf-8")) if meta_path.is_file() else {}
    meta.update(record)
    write_json(meta, meta_path)


def choose_fallback(decision: Decision, thresholds: dict, parts: list, max_emotion_free: float) -> tuple[Decision, list]:
    """Try each fallback with each neutral threshold of a coarse grid; keep the best allowed one."""
    table, best, best_score = [], None, -1.0
    neutral_grid = sorted({thresholds.get(NEUTRAL, 0.5), *np.round(np.arange(0.2, 0.81, 0.05), 2).tolist()})
    for fallback in FALLBACKS:
        # With fallback "neutral" the neutral output decides nothing: its F1-best threshold is kept as it is.
        sweep = neutral_grid if NEUTRAL in decision.labels and fallback == "top" else [thresholds.get(NEUTRAL)]
        for t_neutral in sweep:
            limits = dict(thresholds) | ({NEUTRAL: float(t_neutral)} if t_neutral is not None else {})
            candidate = Decision(decision.labels, True, limits, fallback)
            multi, free = [], []
            for name, rows, lg in parts:
                metrics = score_examples(rows, candidate.scores(lg), candidate)
                if "emotion_free_share" in metrics:
                    free.append((name, metrics["emotion_free_share"], len(rows)))
                elif "exact_match" in metrics:
                    multi.append(metrics["f1_macro"])
            score = float(np.mean(multi)) if multi else 0.0
            # The texts of every single-label source together: each carries an emotion.
            pooled = sum(share * n for _, share, n in free) / max(sum(n for _, _, n in free), 1)
            allowed = pooled <= max_emotion_free
            table.append({"fallback": fallback, "neutral_threshold": t_neutral, "mean_macro_f1": round(score, 4),
                          "emotion_free_share": {n: round(v, 4) for n, v, _ in free} | {"pooled": round(pooled, 4)},
                          "allowed": allowed})
            if allowed and score > best_score:
                best, best_score = candidate, score
    if best is None:
        lowest = min(row["emotion_free_share"]["pooled"] for row in table)
        raise ValueError(f"no decision keeps the single-label sources at most {max_emotion_free:.0%} emotion-free (the "
                         f"lowest of {len(table)} tried: {lowest:.2%}); the calibrated weights stand, so choose again with "
                         "`emotionkit calibrate MODEL --decision-only --data ...` once the cause is fixed")
    return best, table
