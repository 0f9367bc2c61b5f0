"""ERASER faithfulness of word attributions (DeYoung et al., ACL 2020, section 4).

* comprehensiveness: how much the explained score drops when the top-k% words are removed
  (higher is better: the words the explanation names carried the prediction);
* sufficiency: how much it drops when only the top-k% words are kept (lower is better).

Each is an AOPC: the mean over k in ``FRACTIONS`` (1, 5, 10, 20 and 50 % of the words, at least one
word). Words are ranked by signed weight, highest first; ties keep text order.

>>> top_k_counts(10)
[1, 1, 1, 2, 5]
"""

from __future__ import annotations

import math

import numpy as np

from emotionkit.explain import Explanation, score_texts, without

FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)


def top_k_counts(n_words: int, fractions: tuple[float, ...] = FRACTIONS) -> list[int]:
    """Words in the top k% of a text of ``n_words`` words, for each k: ``ceil(k * n)``, at least one."""
    if n_words < 1:
        raise ValueError(f"a text needs at least one word, got {n_words}")
    return [min(n_words, max(1, math.ceil(f * n_words - 1e-9))) for f in fractions]


def ranking(weights: list[float] | np.ndarray) -> list[int]:
    """Word indexes from the highest weight to the lowest (stable: ties keep text order)."""
    return [int(i) for i in np.argsort(-np.asarray(weights, dtype=np.float64), kind="stable")]


def erasure_texts(text: str, spans: list[tuple[int, int]], order: list[int],
                  fractions: tuple[float, ...] = FRACTIONS) -> tuple[list[str], list[str]]:
    """For each k: the text without its top-k% words (comprehensiveness) and with only them (sufficiency).

    >>> erasure_texts("very sad day", [(0, 4), (5, 8), (9, 12)], [1, 0, 2], (0.3, 0.6))
    (['very day', 'day'], ['sad', 'very sad'])
    """
    removed, kept = [], []
    for k in top_k_counts(len(spans), fractions):
        top = set(order[:k])
        removed.append(without(text, spans, top))
        kept.append(without(text, spans, set(range(len(spans))) - top))
    return removed, kept


def aopc(full: float, erased: list[float] | np.ndarray) -> float:
    """Mean drop of the score from ``full`` over the erasure levels.

    >>> aopc(0.9, [0.5, 0.3])
    0.5
    """
    return float(np.mean(full - np.asarray(erased, dtype=np.float64)))


def faithfulness(clf, explanations: list[Explanation], orders: list[list[int]] | None = None,
                 fractions: tuple[float, ...] = FRACTIONS, batch_size: int = 32) -> list[dict]:
    """Comprehensiveness and sufficiency of each explanation, every erased text in one batched call.

    ``orders``: word rankings to score instead of the explanations' own (a random baseline uses the
    explanations only for their texts, labels and words).
    """
    if orders is None:
        orders = [ranking([w.weight for w in ex.words]) for ex in explanations]
    texts, cuts = [], []
    for ex, order in zip(explanations, orders, strict=True):
        removed, kept = erasure_texts(ex.text, [(w.start, w.end) for w in ex.words], order, fractions)
        cuts.append(len(removed))
        texts.extend(removed + kept)
    scores = score_texts(clf, texts, batch_size)
    out, start = [], 0
    for ex, n in zip(explanations, cuts, strict=True):
        column = clf.labels.index(ex.label)
        block = scores[start : start + 2 * n, column]
        start += 2 * n
        out.append({"comprehensiveness": aopc(ex.score, block[:n]), "sufficiency": aopc(ex.score, block[n:])})
    return out
