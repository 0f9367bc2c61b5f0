"""What a model's logits mean: the one place that turns them into scores and decisions.

Two kinds of model share every surface:

* single-label (the seed recipes, anything trained on the tweets alone): softmax over the outputs,
  the top label is the argmax, and the emotions present are that one label (none when a softmax
  model with a neutral class picks it);
* multi-label (the default model): each output is judged on its own by a sigmoid; an emotion is
  present when its score reaches its threshold (chosen on validation, stored in the model
  directory). A model with a ``neutral`` output calls a text neutral when that output reaches its
  threshold and no emotion does. When neither happens, ``fallback`` decides: the most likely
  emotion (``"top"``) or neutral (``"neutral"``); which one is chosen on validation too.

The top label is the present emotion with the highest score, or ``"neutral"`` when none is present
(scored by ``_neutral_score``).

>>> import numpy as np
>>> d = Decision(("joy", "fear", "neutral"), multi_label=True, thresholds={"joy": 0.5, "fear": 0.4, "neutral": 0.5})
>>> [(c.label, c.emotions) for c in d.decide(d.scores(np.array([[2.0, 0.0, -3.0], [-3.0, -3.0, 2.0]])))]
[('joy', ['joy', 'fear']), ('neutral', [])]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NEUTRAL = "neutral"
MULTI_LABEL = "multi_label_classification"
FALLBACKS = ("top", "neutral")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities from logits ``[n, labels]`` (shifted by each row's max, so no overflow).

    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).round(3).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, stable for large negative and positive logits."""
    logits = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(logits)
    pos = logits >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-logits[pos]))
    e = np.exp(logits[~pos])
    out[~pos] = e / (1.0 + e)
    return out


@dataclass(frozen=True)
class Call:
    """One text's decision: the top label and its score, and the emotions present (high to low)."""

    label: str
    score: float
    emotions: list[str]


@dataclass(frozen=True)
class Decision:
    """How one model's outputs become scores and decisions (see the module docstring)."""

    labels: tuple[str, ...]
    multi_label: bool = False
    thresholds: dict[str, float] = field(default_factory=dict)  # per output; 0.5 where missing
    fallback: str = "top"  # multi-label: what a text with no output at its threshold gets

    def __post_init__(self) -> None:
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be distinct and non-empty, got {list(self.labels)}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        unknown = sorted(set(self.thresholds) - set(self.labels))
        if unknown:
            raise ValueError(f"thresholds for {unknown}, which are not outputs of the model {list(self.labels)}")
        for name, value in self.thresholds.items():
            if not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
                raise ValueError(f"threshold of {name!r} must be a number in (0, 1), got {value!r}")

    # ------------------------------------------------------------------ reading

    @classmethod
    def for_model(cls, labels: list[str] | tuple[str, ...], problem_type: str | None, meta: dict | None = None) -> Decision:
        """The decision of a model directory: its labels and ``problem_type`` (config.json) and the
        thresholds its ``emotionkit.json`` stores under ``decision`` (absent: 0.5 each)."""
        stored = (meta or {}).get("decision", {})
        return cls(tuple(labels), problem_type == MULTI_LABEL, dict(stored.get("thresholds", {})),
                   stored.get("fallback", "top"))

    @classmethod
    def load(cls, model_dir: str | Path) -> Decision:
        """Read ``config.json`` and ``emotionkit.json`` of a model directory."""
        model_dir = Path(model_dir)
        config = json.loads((model_dir / "config.json").read_text("utf-8"))
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        meta_path = model_dir / "emotionkit.json"
        meta = json.loads(meta_path.read_text("utf-8")) if meta_path.is_file() else {}
        return cls.for_model(labels, config.get("problem_type"), meta)

    def to_json(self) -> dict:
        """What ``emotionkit.json`` stores (``for_model`` reads it back)."""
        return {"kind": "multi_label" if self.multi_label else "single_label",
                "thresholds": {k: round(float(v), 6) for k, v in self.thresholds.items()}, "fallback": self.fallback}

    # ------------------------------------------------------------------ using

    @property
    def emotions(self) -> tuple[str, ...]:
        """The outputs that name an emotion (all but ``neutral``)."""
        return tuple(label for label in self.labels if label != NEUTRAL)

    def threshold(self, label: str) -> float:
        return float(self.thresholds.get(label, 0.5))

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Scores ``[n, outputs]`` from logits: per-label sigmoid, or softmax over the labels."""
        logits = np.asarray(logits, dtype=np.float64)
        return (sigmoid(logits) if self.multi_label else softmax(logits)).astype(np.float32)

    def emotion_scores(self, scores: np.ndarray) -> np.ndarray:
        """The columns of ``scores`` that are emotions, ``[n, emotions]`` (for top-emotion accuracy)."""
        return scores[:, [self.labels.index(e) for e in self.emotions]]

    def present(self, scores: np.ndarray) -> np.ndarray:
        """Bool ``[n, emotions]``: which emotions each text carries (the fallback applied)."""
        scores = np.asarray(scores)
        emo = self.emotion_scores(scores)
        if not self.multi_label:
            # The argmax over every output; a softmax model with a neutral class (six plus neutral) may pick it.
            out = np.zeros(emo.shape, dtype=bool)
            top = scores.argmax(axis=1)
            picked = [self.labels[i] for i in top]
            rows = np.flatnonzero([name != NEUTRAL for name in picked])
            out[rows, [self.emotions.index(picked[r]) for r in rows]] = True
            return out
        limits = np.array([self.threshold(e) for e in self.emotions])
        out = emo >= limits
        if self.fallback == "top":
            none = ~out.any(axis=1) & ~self.neutral_reached(scores)
            out[np.flatnonzero(none), emo[none].argmax(axis=1)] = True
        return out

    def neutral_reached(self, scores: np.ndarray) -> np.ndarray:
        """Bool ``[n]``: the neutral output reached its threshold (all False without one)."""
        if NEUTRAL not in self.labels:
            return np.zeros(len(scores), dtype=bool)
        return np.asarray(scores)[:, self.labels.index(NEUTRAL)] >= self.threshold(NEUTRAL)

    def decide(self, scores: np.ndarray) -> list[Call]:
        """One :class:`Call` per row of ``scores``."""
        scores = np.asarray(scores)
        present = self.present(scores)
        emo = self.emotion_scores(scores)
        neutral_col = self.labels.index(NEUTRAL) if NEUTRAL in self.labels else None
        calls = []
        for row, flags in enumerate(present):
            idx = np.flatnonzero(flags)
            idx = idx[np.argsort(-emo[row, idx], kind="stable")]
            names = [self.emotions[i] for i in idx]
            if names:
                calls.append(Call(names[0], float(emo[row, idx[0]]), names))
            else:
                calls.append(Call(NEUTRAL, self._neutral_score(scores[row], emo[row], neutral_col), []))
        return calls

    def _neutral_score(self, row: np.ndarray, emo: np.ndarray, neutral_col: int | None) -> float:
        """The score of a neutral call. Softmax: the neutral class's probability. Multi-label: the larger of
        the neutral output and the probability that none of the emotions is present, prod(1 - p), which the
        calibrated, independently judged outputs give; so a text called neutral because no emotion reached
        its threshold is not scored by a neutral output that happens to be low."""
        if not self.multi_label:
            return float(row[neutral_col]) if neutral_col is not None else float(1.0 - emo.max())
        none = float(np.prod(1.0 - emo.astype(np.float64)))
        return max(none, float(row[neutral_col])) if neutral_col is not None else none
