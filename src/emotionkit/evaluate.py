"""One metrics function for training, the final test and the benchmark.

>>> import numpy as np
>>> m = compute_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]))
>>> round(m["accuracy"], 3), m["support"]
(0.667, 3)
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotionkit.labels import LABELS


def compute_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    probs: np.ndarray | None = None,
) -> dict:
    """Flat dict: accuracy, macro/micro/weighted P/R/F1, per-label P/R/F1/support,
    loss (mean cross-entropy, when ``probs`` is given) and the confusion matrix.

    Macro averages run over the labels that occur (in ``y_true`` or ``y_pred``): on a file of
    two emotions a perfect model scores 1, not 2/6. Per-label figures cover all six.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support  # noqa: PLC0415

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-d of equal length, got {y_true.shape} and {y_pred.shape}")
    if len(y_true) == 0:
        raise ValueError("cannot compute metrics on zero examples")
    ids = list(range(len(LABELS)))
    out: dict = {"accuracy": float((y_true == y_pred).mean()), "support": int(len(y_true))}
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average=average, zero_division=0)
        out[f"precision_{average}"], out[f"recall_{average}"], out[f"f1_{average}"] = float(p), float(r), float(f)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, average=None, zero_division=0)
    for i, label in enumerate(LABELS):
        out[f"{label}_precision"], out[f"{label}_recall"] = float(p[i]), float(r[i])
        out[f"{label}_f1"], out[f"{label}_support"] = float(f[i]), int(s[i])
    if probs is not None:
        picked = np.clip(np.asarray(probs, dtype=np.float64)[np.arange(len(y_true)), y_true], 1e-12, 1.0)
        out["loss"] = float(-np.log(picked).mean())
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    return out


ECE_BINS = 15


def calibration_error(scores: np.ndarray, gold: np.ndarray, bins: int = ECE_BINS) -> tuple[float, list[dict]]:
    """Expected calibration error of one output's scores against 0/1 gold, over ``bins`` equal-width bins,
    and the reliability diagram's points (``mean_score``, ``frequency``, ``count`` per non-empty bin)."""
    scores, gold = np.asarray(scores, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    ece, points = 0.0, []
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        mean_score, freq = float(scores[mask].mean()), float(gold[mask].mean())
        ece += mask.mean() * abs(mean_score - freq)
        points.append({"bin": b, "mean_score": mean_score, "frequency": freq, "count": int(mask.sum())})
    return float(ece), points


def gold_matrix(examples, decision) -> tuple[np.ndarray, np.ndarray]:
    """Gold emotions ``[n, emotions]`` (bool, in ``decision.emotions`` order) and gold neutral ``[n]``.

    A single-label row carries its one emotion and is not neutral.
    """
    columns = [LABELS.index(e) for e in decision.emotions]
    emo = np.zeros((len(examples), len(columns)), dtype=bool)
    neutral = np.zeros(len(examples), dtype=bool)
    for row, ex in enumerate(examples):
        ids = ex.labels if ex.labels is not None else (ex.label,)
        for i in ids:
            emo[row, columns.index(i)] = True
        neutral[row] = ex.neutral
    return emo, neutral


def multilabel_metrics(gold_emotions: np.ndarray, gold_neutral: np.ndarray, scores: np.ndarray, decision) -> dict:
    """Metrics of a multi-label source: per-label P/R/F1/support at the decision thresholds for the six and
    neutral (neutral predicted = top label ``neutral``), macro-F1 over the seven (labels that occur) and over
    the six, micro-F1, exact match (the set of emotions, and neutral, all right), per-output calibration
    error (ECE, 15 bins) and its reliability points, and the mean binary cross-entropy of the outputs.
    """
    from sklearn.metrics import precision_recall_fscore_support  # noqa: PLC0415

    scores = np.asarray(scores)
    pred_emo = decision.present(scores)
    pred_neutral = ~pred_emo.any(axis=1)
    gold = np.column_stack([gold_emotions, gold_neutral]).astype(int)
    pred = np.column_stack([pred_emo, pred_neutral]).astype(int)
    names = [*decision.emotions, "neutral"]
    p, r, f, support = precision_recall_fscore_support(gold, pred, average=None, zero_division=0)
    out: dict = {"support": int(len(gold)), "exact_match": float((gold == pred).all(axis=1).mean())}
    out["accuracy"] = out["exact_match"]  # the training log's column for every source
    for i, name in enumerate(names):
        out[f"{name}_precision"], out[f"{name}_recall"] = float(p[i]), float(r[i])
        out[f"{name}_f1"], out[f"{name}_support"] = float(f[i]), int(support[i])
    occurs = (gold.sum(axis=0) + pred.sum(axis=0)) > 0
    out["f1_macro"] = float(f[occurs].mean())
    out["f1_macro_emotions"] = float(f[:-1][occurs[:-1]].mean()) if occurs[:-1].any() else 0.0
    out["f1_weighted"] = float(np.average(f, weights=np.maximum(support, 0))) if support.sum() else 0.0
    out["f1_micro"] = float(precision_recall_fscore_support(gold, pred, average="micro", zero_division=0)[2])
    # Rows no decision can get exactly right: neutral beside an emotion (raters disagreed), and rows with neither
    # (only labels the mapping drops), which read as neutral when the model rightly finds no emotion.
    out["n_gold_emotion_and_neutral"] = int((gold_neutral & gold_emotions.any(axis=1)).sum())
    out["n_gold_none"] = int((~gold_neutral & ~gold_emotions.any(axis=1)).sum())
    out["predicted_neutral_share"] = float(pred_neutral.mean())
    out["predicted_several_share"] = float((pred_emo.sum(axis=1) > 1).mean())
    single = (gold_emotions.sum(axis=1) == 1) & ~gold_neutral
    if single.any():  # rows with exactly one emotion: is it the top emotion? (comparable to a six-way model)
        top = decision.emotion_scores(scores)[single].argmax(axis=1)
        out["single_emotion_accuracy"] = float((top == gold_emotions[single].argmax(axis=1)).mean())
    out.update(_output_calibration(gold_emotions, gold_neutral, scores, decision))
    return out


def _output_calibration(gold_emotions, gold_neutral, scores, decision) -> dict:
    """Per-output ECE and reliability points, and the outputs' mean binary cross-entropy (the loss)."""
    out, eces, losses = {}, [], []
    targets = {e: gold_emotions[:, i] for i, e in enumerate(decision.emotions)} | {"neutral": gold_neutral}
    reliability = {}
    for j, name in enumerate(decision.labels):
        s = np.clip(scores[:, j].astype(np.float64), 1e-7, 1 - 1e-7)
        y = targets[name].astype(np.float64)
        ece, points = calibration_error(s, y)
        out[f"{name}_ece"], reliability[name] = ece, points
        eces.append(ece)
        losses.append(-(y * np.log(s) + (1 - y) * np.log(1 - s)).mean())
    out["ece_mean"] = float(np.mean(eces))
    out["loss"] = float(np.mean(losses))
    out["reliability"] = reliability
    return out


def single_label_metrics(y_true, scores: np.ndarray, decision) -> dict:
    """A single-label source scored by any model: top-emotion accuracy and macro-F1 over the six
    (comparable to the seed cards), and, for a multi-label model, the share of texts it calls emotion-free."""
    scores = np.asarray(scores)
    emo = decision.emotion_scores(scores)
    if decision.multi_label:
        gold, neutral = gold_matrix([_One(int(y)) for y in y_true], decision)
        metrics = compute_metrics(y_true, emo.argmax(axis=1))
        calibration = _output_calibration(gold, neutral, scores, decision)
        metrics["loss"] = calibration.pop("loss")
        metrics.pop("reliability", None)
        metrics.update({k: v for k, v in calibration.items() if k != "reliability"})
        calls = decision.present(scores)
        metrics["emotion_free_share"] = float((~calls.any(axis=1)).mean())
        metrics["predicted_several_share"] = float((calls.sum(axis=1) > 1).mean())
        return metrics
    return compute_metrics(y_true, emo.argmax(axis=1), emo)


class _One:
    """A bare single-label row for gold_matrix."""

    def __init__(self, label: int):
        self.label, self.labels, self.neutral = label, None, False


def per_group_accuracy(y_true: Sequence[int], y_pred: Sequence[int], groups: Sequence[str | None]) -> dict:
    """Accuracy per group tag (e.g. writing style), as ``{"accuracy_<group>": ..., "n_<group>": ...}``."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for t, p, g in zip(y_true, y_pred, groups, strict=True):
        if g is not None:
            hits[g].append(int(t) == int(p))
    out = {}
    for g in sorted(hits):
        out[f"accuracy_style_{g}"] = float(np.mean(hits[g]))
        out[f"n_style_{g}"] = len(hits[g])
    return out


def evaluate(classifier, examples, batch_size: int = 64, progress: bool = False) -> dict:
    """Score a classifier on labelled examples; adds runtime and samples_per_second.

    >>> from emotionkit import EmotionClassifier                 # doctest: +SKIP
    >>> evaluate(EmotionClassifier.load(), examples)["accuracy"]  # doctest: +SKIP
    """
    examples = list(examples)
    if not examples:
        raise ValueError("evaluate() got no examples")
    texts = [ex.text for ex in examples]
    start = time.perf_counter()
    probs = classifier.predict_proba(texts, batch_size=batch_size, progress=progress)
    runtime = time.perf_counter() - start
    metrics = score_examples(examples, probs, classifier.decision)
    metrics["runtime"] = runtime
    metrics["samples_per_second"] = len(examples) / runtime if runtime > 0 else math.inf
    return metrics


def score_examples(examples, scores: np.ndarray, decision) -> dict:
    """The metrics of labelled ``examples`` from a model's ``scores`` ``[n, outputs]`` under its ``decision``:
    multi-label metrics when the rows carry sets of emotions (for any model, so a six-way model's missing
    neutral shows), else single-label ones; accuracy per style, and per kind (neutral / mixed / mild) for our
    hand-written rows."""
    examples = list(examples)
    scores = np.asarray(scores)
    multi_rows = any(ex.labels is not None for ex in examples)
    if multi_rows:  # a single-label model too: it never says neutral and always names exactly one emotion
        gold_emo, gold_neutral = gold_matrix(examples, decision)
        metrics = multilabel_metrics(gold_emo, gold_neutral, scores, decision)
        metrics.update(per_kind_rates(examples, scores, decision))
        pred = decision.present(scores)
        hits = [bool((pred[i] == gold_emo[i]).all()) for i in range(len(examples))]
        metrics.update(_style_rates(hits, [ex.style for ex in examples]))
        return metrics
    y_true = [ex.label for ex in examples]
    metrics = single_label_metrics(y_true, scores, decision)
    top = decision.emotion_scores(scores).argmax(axis=1)
    metrics.update(per_group_accuracy(y_true, top, [ex.style for ex in examples]))
    return metrics


def per_kind_rates(examples, scores: np.ndarray, decision) -> dict:
    """For hand-written rows tagged with a kind: emotion-free texts called neutral, two-emotion texts with both
    emotions found, mild single-emotion texts given their emotion (present, and not neutral)."""
    pred = decision.present(np.asarray(scores))
    col = {LABELS.index(e): i for i, e in enumerate(decision.emotions)}
    rates: dict[str, list[bool]] = defaultdict(list)
    for i, ex in enumerate(examples):
        if ex.kind is None or ex.labels is None:
            continue
        if ex.kind == "neutral":
            rates["neutral_recognised"].append(not pred[i].any())
        elif ex.kind == "mixed":
            rates["mixed_both_found"].append(all(pred[i, col[j]] for j in ex.labels))
        elif ex.kind == "mild":
            rates["mild_emotion_found"].append(bool(pred[i].any()) and all(pred[i, col[j]] for j in ex.labels))
    out = {}
    for name, hits in rates.items():
        out[name], out[f"n_{name}"] = float(np.mean(hits)), len(hits)
    return out


def _style_rates(hits: list[bool], styles) -> dict:
    """Share of right answers (all of a row's emotions, and neutral, right) per style, with its count."""
    by: dict[str, list[bool]] = defaultdict(list)
    for hit, style in zip(hits, styles, strict=True):
        if style is not None:
            by[style].append(hit)
    out = {}
    for style, values in sorted(by.items()):
        out[f"accuracy_style_{style}"], out[f"n_style_{style}"] = float(np.mean(values)), len(values)
    return out


def plot_reliability(reliability: dict, path: str | Path, title: str = "Reliability") -> Path:
    """A reliability diagram: per output, observed frequency against mean score in each bin (diagonal = calibrated)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="calibrated")
    for name, points in reliability.items():
        if points:
            ax.plot([p["mean_score"] for p in points], [p["frequency"] for p in points], "o-", ms=3, label=name)
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """Write a figure as the PNG file ``path`` names (checked by ``png_path``) and close it."""
    plt = _pyplot()
    fig.tight_layout()
    path = png_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion_matrix(matrix: list[list[int]], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Write a row-normalised confusion-matrix PNG (counts in the cells)."""
    plt = _pyplot()
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black")
    return _save(fig, path)


def png_path(path: str | Path) -> Path:
    """Where a plot goes, as said: a PNG file name (matplotlib would add '.png' to a bare name)."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() != ".png":
        raise ValueError(f"a plot path must be a file name ending in .png, got {str(path)!r}")
    return path


def plot_training_curve(log_rows: list[dict], path: str | Path) -> Path:
    """Training and validation loss, and validation macro-F1, by epoch."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in log_rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    losses = [r.get("training_loss") for r in log_rows]
    ax.plot(epochs, [float("nan") if v is None else v for v in losses], "o-", label="training loss")
    ax.plot(epochs, [r["validation_loss"] for r in log_rows], "s-", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(epochs, [r["f1_macro"] for r in log_rows], "^-", color="tab:green", label="validation macro-F1")
    ax2.set_ylabel("macro-F1")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _pyplot():
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'emotionkit[plots]'") from None
    return plt


def write_json(data: dict, path: str | Path) -> Path:
    """Write JSON atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
