"""Long documents: read a text longer than the model's window whole, in pieces, and give it one result.

A text whose tokens do not fit the window (``max_length``, special tokens included) is split at
sentence boundaries by pysbd, with character offsets into the original text. Consecutive sentences
are packed into chunks that fill the window (``LongText.pieces="chunks"``, the default: fewer pieces,
each with more context; ``"sentences"`` scores each sentence alone). A sentence longer than the window
falls back to overlapping windows of whole words: each window holds at most the window's tokens and
starts ``stride`` tokens (default half a window: 63 tokens for a 128-token model) after the one
before. Every piece is normalized and scored like any short text, in the same length-sorted batches,
and the document's scores are aggregated from its pieces' scores by ``LongText.rule``:

* ``max`` (the default): per emotion the highest score any piece gives it. A multi-label model's
  ``neutral`` output takes the lowest score over pieces instead (a document is neutral only if every
  piece is). A single-label model's maxima are divided by their sum, so the document's scores still
  sum to 1.
* ``mean``: the mean of the pieces' scores; ``weighted``: the same, weighted by each piece's tokens.

The defaults (chunks, max) were chosen on the validation part of ``data/longdocs``
(``benchmarks/longdoc_eval.py``). The document's top label and emotions then come from the model's
:class:`~emotionkit.decision.Decision`, exactly as for a short text. Texts that fit the window never
reach this module.

>>> spans = sentence_spans("It arrived on time.  But overall? I'm furious.")
>>> spans
[(0, 19), (21, 33), (34, 46)]
>>> pieces = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])   # two sentences' softmax scores
>>> aggregate(pieces, np.array([10, 5]), ("joy", "fear", "anger"), "max").astype(float).round(3).tolist()
[0.412, 0.118, 0.471]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from emotionkit.decision import NEUTRAL
from emotionkit.textnorm import normalize

RULES = ("max", "mean", "weighted")
PIECES = ("sentences", "chunks")
LONG_TEXT = ("split", "truncate")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class LongText:
    """How a text longer than the window is read.

    ``pieces``: ``sentences`` scores each sentence on its own; ``chunks`` packs consecutive
    sentences into pieces that fill the window (fewer pieces, more context each). ``rule``: how
    the pieces' scores become the document's (module docstring). ``stride``: tokens between the
    starts of two windows over an overlong sentence (``None``: half the window).
    """

    pieces: str = "chunks"
    rule: str = "max"
    stride: int | None = None

    def __post_init__(self) -> None:
        if self.pieces not in PIECES:
            raise ValueError(f"pieces must be one of {PIECES}, got {self.pieces!r}")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.stride is not None and (not isinstance(self.stride, int) or isinstance(self.stride, bool) or self.stride <= 0):
            raise ValueError(f"stride must be None or an int > 0, got {self.stride!r}")


def check_long_text(value: object) -> str:
    if value not in LONG_TEXT:
        raise ValueError(f"long_text must be one of {LONG_TEXT}, got {value!r}")
    return value  # type: ignore[return-value]


# --------------------------------------------------------------------------- splitting


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of ``text`` as ``(start, end)`` character offsets, outer whitespace left out.

    Every non-space character of ``text`` lies in exactly one span, whatever the splitter does: a span
    runs from one sentence's start to the next one's (trailing whitespace dropped).
    """
    try:
        import pysbd  # noqa: PLC0415
    except ImportError:
        raise ImportError("reading long texts whole needs pysbd: pip install pysbd (pinned in requirements.txt)") from None
    segmenter = _segmenter(pysbd)
    # Segmenter.segment() rebuilds each sentence's offsets with a regex over the whole text per
    # sentence (quadratic: 15 s for 6,000 short sentences); its processor gives the same sentences,
    # and the offsets are found here in one pass.
    sentences = segmenter.processor(text).process() if hasattr(segmenter, "processor") else segmenter.segment(text)
    starts, cursor = [], 0
    for segment in sentences:
        stripped = segment.strip()
        if not stripped:
            continue
        found = text.find(stripped, cursor)
        if found < 0:  # the splitter changed the text: this piece stays with the sentence before
            continue
        starts.append(found)
        cursor = found + len(stripped)
    first = len(text) - len(text.lstrip())
    if not starts or starts[0] != first:
        starts.insert(0, first)
    spans = []
    for a, b in zip(starts, [*starts[1:], len(text)], strict=True):
        end = a + len(text[a:b].rstrip())
        if end > a:
            spans.append((a, end))
    return spans


_SEGMENTERS: dict = {}


def _segmenter(pysbd):
    if "en" not in _SEGMENTERS:
        _SEGMENTERS["en"] = pysbd.Segmenter(language="en", clean=False)
    return _SEGMENTERS["en"]


def word_windows(text: str, span: tuple[int, int], counts_of, budget: int, stride: int) -> list[tuple[int, int]]:
    """Overlapping windows of whole words over ``text[span]``: each at most ``budget`` tokens, each
    starting ``stride`` tokens after the one before (earlier when a long word would leave a gap).
    ``counts_of(list of strings) -> list of token counts``. A word alone over ``budget`` tokens is cut
    into equal character slices that fit."""
    words = [(span[0] + m.start(), span[0] + m.end()) for m in _WORD.finditer(text[span[0] : span[1]])]
    words = _fit_words(text, words, counts_of, budget)
    counts = counts_of([text[a:b] for a, b in words])
    sums = np.concatenate([[0], np.cumsum(counts)])
    windows, first = [], 0
    while True:
        last = first
        while last + 1 < len(words) and sums[last + 2] - sums[first] <= budget:
            last += 1
        windows.append((words[first][0], words[last][1]))
        if last == len(words) - 1:
            return windows
        after = int(np.searchsorted(sums, sums[first] + stride))  # first word starting >= stride tokens on
        first = min(max(after, first + 1), last + 1)


def _fit_words(text: str, words: list[tuple[int, int]], counts_of, budget: int) -> list[tuple[int, int]]:
    """Cut any word of more than ``budget`` tokens into halves until every part fits."""
    out = []
    for (a, b), n in zip(words, counts_of([text[a:b] for a, b in words]), strict=True):
        if n <= budget or b - a < 2:
            out.append((a, b))
        else:
            mid = (a + b) // 2
            out.extend(_fit_words(text, [(a, mid), (mid, b)], counts_of, budget))
    return out


def split(text: str, counts_of, budget: int, policy: LongText) -> list[tuple[int, int, str]]:
    """The pieces of a long ``text``: ``(start, end, kind)`` with kind ``sentence``, ``chunk`` (several
    sentences) or ``window`` (part of an overlong sentence). ``budget``: tokens a piece may hold, special
    tokens not counted."""
    spans = sentence_spans(text)
    counts = counts_of([text[a:b] for a, b in spans])
    stride = policy.stride or max(1, budget // 2)
    pieces: list[tuple[int, int, str]] = []
    group: list[tuple[int, int]] = []
    used = 0

    def close() -> None:
        if group:
            kind = "sentence" if len(group) == 1 else "chunk"
            pieces.append((group[0][0], group[-1][1], kind))
            group.clear()

    for span, n in zip(spans, counts, strict=True):
        if n > budget:
            close()
            pieces.extend((a, b, "window") for a, b in word_windows(text, span, counts_of, budget, stride))
            used = 0
            continue
        # The whitespace between two sentences adds no token, so a chunk's tokens are the sum of its sentences'.
        if policy.pieces == "sentences" or used + n > budget:
            close()
            used = 0
        group.append(span)
        used += n
    close()
    return pieces


def token_counter(tokenizer, normalize_steps: tuple[str, ...]):
    """``counts_of(texts)``: tokens each text has once normalized, special tokens not counted."""

    def counts_of(texts: list[str]) -> list[int]:
        if not texts:
            return []
        enc = tokenizer([normalize(t, normalize_steps) for t in texts], add_special_tokens=False, truncation=False,
                        verbose=False)  # counting only: no "longer than the model's maximum" warning
        return [len(ids) for ids in enc["input_ids"]]

    return counts_of


# --------------------------------------------------------------------------- aggregating


def aggregate(scores: np.ndarray, tokens: np.ndarray, labels: tuple[str, ...] | list[str], rule: str = "max",
              multi_label: bool = False) -> np.ndarray:
    """One document's scores ``[outputs]`` from its pieces' scores ``[pieces, outputs]`` and their token
    counts ``[pieces]`` (see the module docstring for the rules)."""
    scores = np.asarray(scores, dtype=np.float64)
    if rule == "mean":
        out = scores.mean(axis=0)
    elif rule == "weighted":
        out = np.average(scores, axis=0, weights=np.asarray(tokens, dtype=np.float64))
    elif rule == "max":
        out = scores.max(axis=0)
        if multi_label and NEUTRAL in labels:
            col = list(labels).index(NEUTRAL)
            out[col] = scores[:, col].min()
        if not multi_label:
            out = out / out.sum()
    else:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    return out.astype(np.float32)


def to_logits(scores: np.ndarray, multi_label: bool) -> np.ndarray:
    """Logits whose softmax (single-label) or sigmoid (multi-label) gives ``scores`` back: a long
    document's raw scores, so that raw and normal answers agree."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    return (np.log(p) - np.log1p(-p) if multi_label else np.log(p)).astype(np.float32)


def piece_ids(text: str, tokenizer, normalize_steps: tuple[str, ...], max_length: int, policy: LongText):
    """A long text's pieces ``[(start, end, kind)]`` and their token ids (special tokens included),
    each at most ``max_length`` long."""
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    pieces = split(text, token_counter(tokenizer, normalize_steps), budget, policy)
    enc = tokenizer([normalize(text[a:b], normalize_steps) for a, b, _ in pieces], truncation=True, max_length=max_length)
    return pieces, list(enc["input_ids"])
