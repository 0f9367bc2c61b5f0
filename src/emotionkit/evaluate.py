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
    y_true = [ex.label for ex in examples]
    metrics = compute_metrics(y_true, probs.argmax(axis=1), probs)
    metrics.update(per_group_accuracy(y_true, probs.argmax(axis=1), [ex.style for ex in examples]))
    metrics["runtime"] = runtime
    metrics["samples_per_second"] = len(examples) / runtime if runtime > 0 else math.inf
    return metrics


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
    fig.tight_layout()
    path = png_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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
