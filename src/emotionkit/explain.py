"""Word-level explanations: which words of a text pushed one output of the model up or down.

One attribution per word of the text as it was written (words, punctuation runs and emoji, not
WordPiece pieces), signed (positive: the word raises the explained label's score), with its
character offsets so a caller can highlight it. Three methods:

* ``occlusion`` (the default, chosen on validation by ``benchmarks/explain_eval.py``): leave one
  word out. A text of n words becomes n texts, each missing one word, scored in one batched call
  through the classifier's own engine (ONNX on CPU by default); a word's attribution is
  ``score(text) - score(text without the word)``. Works on every engine, needs no gradients.
* ``integrated-gradients``: captum's LayerIntegratedGradients on the word embeddings of a PyTorch
  copy of the model (baseline: every piece replaced by the pad token), summed over the hidden
  dimensions and over the pieces of each word.
* ``gradient-x-input``: one backward pass, gradient times embedding (captum's
  LayerGradientXActivation); cheap and rough.

The gradient methods need ``pip install 'emotionkit[explain]'`` (captum).

>>> from emotionkit import EmotionClassifier
>>> clf = EmotionClassifier.load()                                  # doctest: +SKIP
>>> ex = clf.explain("I can't believe you remembered my birthday!")  # doctest: +SKIP
>>> ex.label, max(ex.words, key=lambda w: w.weight).word            # doctest: +SKIP
('joy', 'remembered')
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field

import numpy as np

from emotionkit.decision import NEUTRAL
from emotionkit.predict import check_texts
from emotionkit.textnorm import normalize

METHODS = ("occlusion", "integrated-gradients", "gradient-x-input")
DEFAULT_METHOD = "occlusion"  # best on validation comprehensiveness - sufficiency (benchmarks/explain_eval.py)
MAX_WORDS = 400  # occlusion scores one text per word: a longer text is refused rather than slow
IG_STEPS = 32  # integration steps (captum's Gauss-Legendre rule converges quickly)

# A URL, a @mention or #hashtag, a word with inner apostrophes ("can't", "rock'n'roll"), or a run of
# other visible characters ("?!", "..."). Emoji are cut out first (emoji.emoji_list), so a ZWJ family
# or a skin-toned thumb stays one word.
_WORD = re.compile(r"https?://\S+|www\.\S+|(?<!\w)[@#]\w+|\w+(?:['’]\w+)*|[^\w\s]+")


@dataclass(frozen=True)
class WordWeight:
    """One word of the original text: ``text[start:end] == word`` (offsets count Unicode code points,
    as Python's ``str`` does; JavaScript's UTF-16 strings need ``Array.from(text)``), and its signed weight."""

    word: str
    start: int
    end: int
    weight: float

    def to_dict(self) -> dict:
        return {"word": self.word, "start": self.start, "end": self.end, "weight": self.weight}


@dataclass(frozen=True)
class Explanation:
    """Why one text got (or did not get) ``label``: its score and one weight per word, in text order."""

    text: str
    label: str
    score: float
    method: str
    words: list[WordWeight] = field(repr=False)

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "score": self.score, "method": self.method,
                "words": [w.to_dict() for w in self.words]}

    def top(self, k: int = 5) -> list[WordWeight]:
        """The ``k`` words that raise the label's score most, strongest first."""
        return sorted(self.words, key=lambda w: -w.weight)[:k]


def split_words(text: str) -> list[tuple[str, int, int]]:
    """The words of ``text`` as (word, start, end) with ``text[start:end] == word``.

    >>> [w for w, _, _ in split_words("I can't... 😢😢 @sam")]
    ['I', "can't", '...', '😢', '😢', '@sam']
    """
    spans: list[tuple[int, int]] = []
    cursor = 0
    for found in _emoji_spans(text):
        spans.extend(m.span() for m in _WORD.finditer(text, cursor, found[0]))
        spans.append(found)
        cursor = found[1]
    spans.extend(m.span() for m in _WORD.finditer(text, cursor))
    return [(text[s:e], s, e) for s, e in spans]


def _emoji_spans(text: str) -> list[tuple[int, int]]:
    if text.isascii():
        return []
    import emoji  # noqa: PLC0415 - core dependency

    return [(e["match_start"], e["match_end"]) for e in emoji.emoji_list(text)]


def without(text: str, spans: list[tuple[int, int]], drop: set[int]) -> str:
    """``text`` with the words at the indexes ``drop`` removed (a space kept where two words would merge).

    >>> without("so happy!!", [(0, 2), (3, 8), (8, 10)], {1})
    'so !!'
    >>> without("so happy!!", [(0, 2), (3, 8), (8, 10)], {0, 2})
    'happy'
    """
    out, cursor = "", 0
    for i, (s, end) in enumerate(spans):
        if i not in drop:
            continue
        e = end
        out += text[cursor:s]
        # One space goes with the word, so "a b c" without b is "a c" (a byte-level BPE reads a
        # double space as a token of its own); two words it sat between are kept apart.
        if not out or out[-1].isspace():
            if e < len(text) and text[e].isspace():
                e += 1
            elif e == len(text):
                out = out.rstrip()
        elif e < len(text) and not text[e].isspace():
            out += " "
        cursor = e
    return out + text[cursor:]


# --------------------------------------------------------------------------- scoring


def score_texts(clf, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Scores ``[n, outputs]`` through ``clf``'s own path; a text with no words left (every word
    removed) gets the model's score of the empty input (just the special tokens)."""
    out = np.zeros((len(texts), len(clf.labels)), dtype=np.float32)
    filled = [i for i, t in enumerate(texts) if t.strip()]
    if filled:
        out[filled] = clf.predict_proba([texts[i] for i in filled], batch_size=batch_size)
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        ids = np.array([clf.tokenizer("")["input_ids"]], dtype=np.int64)
        out[empty] = clf.decision.scores(clf.engine.logits(ids, np.ones_like(ids)))[0]
    return out


def label_index(clf, label: str | None, scores: np.ndarray) -> int:
    """The output to explain: ``label`` when given, else the predicted top label (for a text called
    neutral, the neutral output when the model has one, else its strongest emotion)."""
    if label is not None:
        if label not in clf.labels:
            raise ValueError(f"label must be one of the model's outputs {list(clf.labels)}, got {label!r}")
        return clf.labels.index(label)
    top = clf.decision.decide(scores[None, :])[0].label
    if top == NEUTRAL and NEUTRAL not in clf.labels:
        emotions = [clf.labels.index(e) for e in clf.decision.emotions]
        return max(emotions, key=lambda j: scores[j])
    return clf.labels.index(top)


def _occlusion(clf, texts: list[str], words: list[list[tuple[str, int, int]]], label: str | None,
               batch_size: int) -> tuple[np.ndarray, list[int], list[np.ndarray]]:
    """score(text) - score(text without word i). The texts and every variant of them go through the
    engine in one batched call; returns (scores of the texts, explained outputs, weights)."""
    variants = list(texts)
    for text, ws in zip(texts, words, strict=True):
        spans = [(s, e) for _, s, e in ws]
        variants.extend(without(text, spans, {i}) for i in range(len(ws)))
    scores = score_texts(clf, variants, batch_size)
    full = scores[: len(texts)]
    targets = [label_index(clf, label, row) for row in full]
    out, start = [], len(texts)
    for row, (ws, target) in enumerate(zip(words, targets, strict=True)):
        out.append(full[row, target] - scores[start : start + len(ws), target])
        start += len(ws)
    return full, targets, out


# --------------------------------------------------------------------------- API


def explain(clf, texts: str | list[str], label: str | None = None, method: str | None = None,
            batch_size: int = 32, max_words: int = MAX_WORDS):
    """Explain ``clf``'s score of ``label`` (default: each text's predicted label) word by word.

    One text in, one :class:`Explanation` out; a list in, a list out (same order).

    >>> explain(clf, "so happy 😂", method="occlusion").words[-1].word   # doctest: +SKIP
    '😂'
    """
    method = DEFAULT_METHOD if method is None else method
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a string or None, got {type(label).__name__}")
    if label is not None and label not in clf.labels:
        raise ValueError(f"label must be one of the model's outputs {list(clf.labels)}, got {label!r}")
    items, single = check_texts(texts)
    words = [split_words(t) for t in items]
    for i, ws in enumerate(words):
        if len(ws) > max_words:
            raise ValueError(f"text at position {i} has {len(ws)} words, over the maximum of {max_words} "
                             "an explanation reads; explain a shorter passage")
    if method == "occlusion":
        full, targets, weights = _occlusion(clf, items, words, label, batch_size)
    else:
        from emotionkit.explain_grad import gradient_weights  # noqa: PLC0415

        full = score_texts(clf, items, batch_size)
        targets = [label_index(clf, label, row) for row in full]
        weights = gradient_weights(torch_model(clf), clf, items, words, targets, method)
    out = [
        Explanation(text, clf.labels[t], float(full[row, t]), method,
                    [WordWeight(w, s, e, float(v)) for (w, s, e), v in zip(ws, wts, strict=True)])
        for row, (text, ws, wts, t) in enumerate(zip(items, words, weights, targets, strict=True))
    ]
    return out[0] if single else out


_TORCH_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def torch_model(clf):
    """A PyTorch fp32 copy of ``clf``'s model for gradients (its own one when it runs on PyTorch),
    loaded once per classifier."""
    engine_model = getattr(clf.engine, "model", None)
    if engine_model is not None and getattr(clf.engine, "dtype", "float32") == "float32":
        return engine_model
    if clf not in _TORCH_MODELS:
        import torch  # noqa: PLC0415
        from transformers import AutoModelForSequenceClassification  # noqa: PLC0415

        model = AutoModelForSequenceClassification.from_pretrained(str(clf.model_dir), dtype=torch.float32)
        _TORCH_MODELS[clf] = model.eval()
    return _TORCH_MODELS[clf]


def model_text(text: str, words: list[tuple[str, int, int]], steps: tuple[str, ...]) -> tuple[str, list[tuple[int, int]]]:
    """The text the model reads, built word by word so each word's span in it is known: every word
    normalized on its own (an emoji becomes its name), the gaps between words kept.

    >>> model_text("hi 😂!", split_words("hi 😂!"), ("emoji",))
    ('hi (face with tears of joy)!', [(0, 2), (3, 27), (27, 28)])
    """
    parts, spans, cursor, length = [], [], 0, 0
    for word, s, e in words:
        gap = text[cursor:s]
        norm = normalize(word, steps).strip() or word
        parts += [gap, norm]
        length += len(gap)
        spans.append((length, length + len(norm)))
        length += len(norm)
        cursor = e
    return "".join(parts), spans


def ansi(explanation: Explanation) -> str:
    """The text with each word coloured by its weight (green raises the label, red lowers it; stronger
    is brighter), for a terminal."""
    peak = max((abs(w.weight) for w in explanation.words), default=0.0) or 1.0
    parts, cursor = [], 0
    for w in explanation.words:
        parts.append(explanation.text[cursor : w.start])
        share = abs(w.weight) / peak
        if share < 0.1:
            parts.append(w.word)
        else:
            # 256-colour backgrounds: three steps of green (22, 28, 34) or red (52, 88, 124).
            step = 0 if share < 0.4 else (1 if share < 0.75 else 2)
            colour = (22, 28, 34)[step] if w.weight > 0 else (52, 88, 124)[step]
            parts.append(f"\x1b[48;5;{colour}m\x1b[97m{w.word}\x1b[0m")
        cursor = w.end
    parts.append(explanation.text[cursor:])
    return "".join(parts)


def readable(explanation: Explanation, color: bool, k: int = 5) -> str:
    """A few lines for a person: the label, the text (coloured when ``color``), the strongest words."""
    head = f"{explanation.label} {explanation.score:.3f} ({explanation.method})"
    body = ansi(explanation) if color else explanation.text
    ranked = sorted(explanation.words, key=lambda w: -abs(w.weight))[:k]
    tail = "  ".join(f"{w.word} {w.weight:+.3f}" for w in ranked)
    return f"{head}\n  {body}\n  strongest: {tail}"
