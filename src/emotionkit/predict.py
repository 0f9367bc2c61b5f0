"""The Python API: ``EmotionClassifier``.

>>> from emotionkit import EmotionClassifier
>>> clf = EmotionClassifier.load()                       # the shipped default model
>>> clf("I can't wait to see you tomorrow!").label       # doctest: +SKIP
'joy'
>>> [r.label for r in clf(["so scared", "love you"])]    # doctest: +SKIP
['fear', 'love']
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from emotionkit.decision import Decision
from emotionkit.longdoc import LongText, aggregate, check_long_text, piece_ids, to_logits
from emotionkit.runtime import ENGINES, TorchEngine
from emotionkit.textnorm import normalize

META_FILE = "emotionkit.json"


def default_model_dir() -> Path:
    """The shipped default model: ``EMOTIONKIT_MODEL`` when set; else the copy inside an installed
    wheel (``emotionkit/models/emotionkit-minilm``); else ``models/emotionkit-minilm`` of the checkout.

    >>> default_model_dir().name   # doctest: +SKIP
    'emotionkit-minilm'
    """
    import os  # noqa: PLC0415

    if os.environ.get("EMOTIONKIT_MODEL"):
        return Path(os.environ["EMOTIONKIT_MODEL"])
    package = Path(str(resources.files("emotionkit"))).resolve()
    packaged = package / "models" / "emotionkit-minilm"  # in an installed wheel (setup.py puts it there)
    if (packaged / "config.json").is_file():
        return packaged
    # src/emotionkit -> repository root
    return package.parents[1] / "models" / "emotionkit-minilm"


@dataclass(frozen=True)
class Prediction:
    """One text's result: the top label and its score, the emotions present, and every score high to low.

    ``emotions`` lists the emotions the text carries (high to low): none (then ``label`` is
    ``"neutral"``), one or several for a multi-label model; always the top label for a single-label one.
    """

    label: str
    score: float
    scores: list[dict] = field(repr=False)  # [{"label": ..., "score": ...}], the pipeline top_k=None shape
    truncated: bool = False  # the text was longer than the model's max_length and was cut
    emotions: list[str] = field(default_factory=list)
    # A text longer than the window, read whole: each piece's result with its character offsets
    # [{"start", "end", "text", "kind", "label", "score", "emotions", "scores"}]; None for a text that fits.
    sentences: list[dict] | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        out = {"label": self.label, "score": self.score, "emotions": self.emotions, "scores": self.scores,
               "truncated": self.truncated}
        if self.sentences is not None:
            out["sentences"] = self.sentences
        return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate (not a character; e.g. undecodable bytes read with
    surrogateescape, or a broken JSON escape), or None."""
    found = _SURROGATE.search(text)
    return None if found is None else found.start()


def check_texts(texts: object) -> tuple[list[str], bool]:
    """Validate input; returns (texts as a list, whether one text was given)."""
    if isinstance(texts, str):
        texts, single = [texts], True
    elif isinstance(texts, (list, tuple)):
        texts, single = list(texts), False
    else:
        raise TypeError(f"expected a string or a list of strings, got {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"expected a string at position {i}, got {type(t).__name__} {t!r:.60}")
        if not t.strip():
            raise ValueError(f"text at position {i} is empty; expected at least one non-space character")
        where = lone_surrogate(t)
        if where is not None:
            raise ValueError(f"text at position {i} has a lone surrogate (U+{ord(t[where]):04X}) at character {where}; "
                             "expected valid Unicode (were its bytes decoded as UTF-8?)")
    return texts, single


class EmotionClassifier:
    """A saved emotion model plus an inference engine."""

    def __init__(self, model_dir: Path, engine, tokenizer, labels: list[str], normalize_steps: tuple[str, ...], max_length: int,
                 decision: Decision | None = None, long_text: str = "split", long_doc: LongText | None = None):
        self.model_dir = model_dir
        self.engine = engine
        self.tokenizer = tokenizer
        self.labels = labels
        self.normalize_steps = normalize_steps
        self.max_length = max_length
        self.decision = decision or Decision(tuple(labels))  # what the logits mean (emotionkit.decision)
        # A text longer than max_length: read whole in pieces ("split", emotionkit.longdoc) or cut ("truncate").
        self.long_text = check_long_text(long_text)
        self.long_doc = long_doc or LongText()

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        engine: str = "auto",
        device: str | None = None,
        threads: int | None = None,
        long_text: str = "split",
    ) -> EmotionClassifier:
        """Load a model directory (or hub id); ``None`` loads the shipped default.

        ``engine``: ``auto`` (on CPU the model's ``cpu_engine``, ONNX int8 unless its metadata
        says otherwise, when onnxruntime is installed; PyTorch otherwise and on GPU), ``torch``,
        ``onnx`` (fp32) or ``onnx-int8``. ``long_text``: a text longer than the model's window is read
        whole in sentences (``split``, see :mod:`emotionkit.longdoc`) or cut at the window (``truncate``).
        """
        from transformers import AutoConfig, AutoTokenizer  # noqa: PLC0415

        check_long_text(long_text)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        model_dir = Path(model) if model is not None else default_model_dir()
        if model is None and not model_dir.is_dir():
            raise FileNotFoundError(f"the default model is missing at {model_dir}; pass a model directory")
        if not model_dir.exists():
            model_dir = _download(str(model))
        source = str(model_dir)
        meta = {}
        if (model_dir / META_FILE).is_file():
            meta = json.loads((model_dir / META_FILE).read_text("utf-8"))
        settings = meta.get("model", {})
        config = AutoConfig.from_pretrained(source)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        tokenizer = AutoTokenizer.from_pretrained(source)
        max_length = int(settings.get("max_length", min(tokenizer.model_max_length, 512)))
        chosen = _choose_engine(engine, device, meta.get("cpu_engine", "onnx-int8"))
        if chosen == "torch":
            runner = TorchEngine(source, device=device, threads=threads)
        else:
            from emotionkit.onnx_engine import Int8RefusedError, OnnxEngine  # noqa: PLC0415

            try:
                runner = OnnxEngine.for_model(model_dir, quantized=chosen == "onnx-int8", threads=threads)
            except Int8RefusedError as err:
                if engine != "auto":
                    raise
                # auto never fails for want of int8: the fp32 graph passed its parity check.
                print(f"emotionkit: {err}; auto uses ONNX fp32", file=sys.stderr)
                runner = OnnxEngine.for_model(model_dir, quantized=False, threads=threads)
        decision = Decision.for_model(labels, getattr(config, "problem_type", None), meta)
        return cls(model_dir, runner, tokenizer, labels, tuple(settings.get("normalize", ())), max_length, decision, long_text)

    # ------------------------------------------------------------------ predict

    def __call__(
        self, texts: str | list[str], batch_size: int = 32, long_text: str | None = None
    ) -> Prediction | list[Prediction]:
        """One text in, one :class:`Prediction` out; a list in, a list out (same order).

        A text longer than the model's window gets its document result plus ``sentences``: each
        piece's result with its character offsets (``long_text``: ``split`` or ``truncate``; default
        the classifier's).
        """
        items, single = check_texts(texts)
        probs, truncated, pieces = self._read(items, batch_size, long_text=long_text)
        results = self.results(probs, truncated)
        for i, (spans, scores) in pieces.items():
            results[i] = replace(results[i], sentences=self._sentences(items[i], spans, scores))
        return results[0] if single else results

    def results(self, probs: np.ndarray, truncated: np.ndarray | None = None) -> list[Prediction]:
        """:class:`Prediction` objects from scores ``[n, outputs]`` (what ``predict_proba`` gives)."""
        truncated = np.zeros(len(probs), dtype=bool) if truncated is None else truncated
        calls = self.decision.decide(probs)
        return [self._result(p, t, c) for p, t, c in zip(probs, truncated, calls, strict=True)]

    def predict_proba(self, texts: list[str], batch_size: int = 32, progress: bool = False,
                      long_text: str | None = None) -> np.ndarray:
        """Scores ``[n, outputs]`` in the model's label order: softmax probabilities for a single-label
        model, independent per-label probabilities (sigmoid) for a multi-label one. A long text gets its
        document scores (:mod:`emotionkit.longdoc`)."""
        items, _ = check_texts(texts)
        return self._read(items, batch_size, progress, long_text=long_text)[0]

    def logits(self, texts: list[str], batch_size: int = 32, long_text: str | None = None) -> np.ndarray:
        """Raw scores before softmax or sigmoid, ``[n, outputs]``. A long text read whole gets the logits
        of its document scores (softmax or sigmoid of them gives ``predict_proba``'s row back)."""
        items, _ = check_texts(texts)
        return self._read(items, batch_size, raw=True, long_text=long_text)[0]

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens each text has before truncation (special tokens included)."""
        enc = self.tokenizer([normalize(t, self.normalize_steps) for t in texts], truncation=False)
        return [len(ids) for ids in enc["input_ids"]]

    def _result(self, probs: np.ndarray, truncated: bool, call) -> Prediction:
        order = np.argsort(-probs, kind="stable")
        scores = [{"label": self.labels[i], "score": float(probs[i])} for i in order]
        return Prediction(call.label, call.score, scores, bool(truncated), call.emotions)

    def _sentences(self, text: str, spans: list[tuple[int, int, str]], scores: np.ndarray) -> list[dict]:
        """Each piece of a long text with its offsets and its own result."""
        out = []
        for (start, end, kind), row, call in zip(spans, scores, self.decision.decide(scores), strict=True):
            order = np.argsort(-row, kind="stable")
            out.append({"start": start, "end": end, "text": text[start:end], "kind": kind, "label": call.label,
                        "score": call.score, "emotions": call.emotions,
                        "scores": [{"label": self.labels[i], "score": float(row[i])} for i in order]})
        return out

    def _read(
        self, texts: list[str], batch_size: int, progress: bool = False, raw: bool = False, long_text: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict]:
        """Scores ``[n, outputs]``, whether each text was cut, and each long text's pieces read whole:
        ``{position: ([(start, end, kind)], piece scores [pieces, outputs])}``."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size must be an int > 0, got {batch_size!r}")
        mode = check_long_text(self.long_text if long_text is None else long_text)
        n = len(texts)
        truncated = np.zeros(n, dtype=bool)
        if n == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32), truncated, {}
        enc = self.tokenizer(
            [normalize(t, self.normalize_steps) for t in texts],
            truncation=True,
            max_length=self.max_length,
            return_overflowing_tokens=False,
            return_length=True,
        )
        ids = list(enc["input_ids"])
        lengths = np.array([len(x) for x in ids])
        # A text cut at max_length fills it exactly; check whether its untruncated form was longer.
        full = lengths >= self.max_length
        if full.any():
            for i in np.flatnonzero(full):
                # verbose=False: no "longer than the maximum sequence length" warning; the model never sees this form.
                full_ids = self.tokenizer(normalize(texts[i], self.normalize_steps), verbose=False)["input_ids"]
                truncated[i] = len(full_ids) > self.max_length
        plans = {}  # position of a long text -> (its pieces, the rows of ids that hold them)
        if mode == "split":
            for i in np.flatnonzero(truncated):
                spans, piece_rows = piece_ids(texts[i], self.tokenizer, self.normalize_steps, self.max_length, self.long_doc)
                plans[int(i)] = (spans, np.arange(len(ids), len(ids) + len(spans)))
                ids.extend(piece_rows)
            truncated[:] = False  # nothing is cut
        lengths = np.array([len(x) for x in ids])
        # A long text's own cut row is not scored; its pieces are, in the same batches as every other text.
        rows = np.array([i for i in range(len(ids)) if i not in plans], dtype=np.int64)
        out = self._run(ids, lengths, rows, batch_size, progress, raw)
        probs = out[:n].copy()
        pieces = {}
        for i, (spans, piece_rows) in plans.items():
            scores = self.decision.scores(out[piece_rows]) if raw else out[piece_rows]
            tokens = lengths[piece_rows] - self.tokenizer.num_special_tokens_to_add(pair=False)
            doc = aggregate(scores, tokens, self.labels, self.long_doc.rule, self.decision.multi_label)
            probs[i] = to_logits(doc, self.decision.multi_label) if raw else doc
            pieces[i] = (spans, scores)
        return probs, truncated, pieces

    def _run(self, ids: list, lengths: np.ndarray, rows: np.ndarray, batch_size: int, progress: bool, raw: bool) -> np.ndarray:
        """Scores (or logits) ``[len(ids), outputs]`` of the given rows of token ids (other rows stay 0)."""
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        # Sort by length so each batch pads to a near-equal length; results go back in input order.
        order = rows[np.argsort(lengths[rows], kind="stable")]
        pad = self.tokenizer.pad_token_id or 0
        bar = _progress(len(rows), progress)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            input_ids = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : lengths[i]] = ids[i]
                mask[row, : lengths[i]] = 1
            logits = self.engine.logits(input_ids, mask)
            out[idx] = logits if raw else self.decision.scores(logits)
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return out

    # ------------------------------------------------------------------ explain

    def explain(self, texts: str | list[str], label: str | None = None, method: str | None = None):
        """Word attributions for ``label`` (default: the predicted one); see :mod:`emotionkit.explain`.
        One text in, one ``Explanation`` out; a list in, a list out.

        >>> clf.explain("I miss you so much").top(1)[0].word   # doctest: +SKIP
        'miss'
        """
        from emotionkit.explain import explain  # noqa: PLC0415

        return explain(self, texts, label=label, method=method)


def _download(hub_id: str) -> Path:
    """A hub id becomes a local directory (in the hub's cache; its ONNX graphs go to emotionkit's cache)."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415

    if hub_id.startswith((".", "/", "~")) or hub_id.count("/") > 1:
        raise FileNotFoundError(f"no model directory at {hub_id}")
    try:
        return Path(snapshot_download(hub_id))
    except Exception as err:  # offline, unknown id, no access: say what was looked for
        raise FileNotFoundError(f"{hub_id!r} is neither a local model directory nor a reachable hub model: {err}") from None


def _choose_engine(engine: str, device: str | None, cpu_engine: str = "onnx-int8") -> str:
    """``cpu_engine``: what a model directory's metadata names as its CPU default (a model whose int8
    graph costs more than 0.3 points of test accuracy or macro-F1, or has none, names ``onnx``)."""
    if engine != "auto":
        return engine
    if cpu_engine == "auto" or cpu_engine not in ENGINES:
        raise ValueError(f"the model's cpu_engine must be torch, onnx or onnx-int8, got {cpu_engine!r}")
    import torch  # noqa: PLC0415

    on_gpu = (device or "").startswith("cuda") or (device is None and torch.cuda.is_available())
    if on_gpu:
        return "torch"
    try:
        import onnxruntime  # noqa: F401, PLC0415

        import emotionkit.onnx_engine  # noqa: F401, PLC0415
    except ImportError:
        return "torch"
    return cpu_engine


def _progress(total: int, wanted: bool):
    if not wanted or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(total=total, unit="text", file=sys.stderr)
