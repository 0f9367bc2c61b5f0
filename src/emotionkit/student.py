"""A smaller student to distill into: a trained classifier with some of its transformer layers kept.

A student that starts as a copy of its teacher with every other layer (DistilBERT's initialisation,
Sanh et al., 2019) already holds the embeddings, the kept layers, the pooler and the output head the
teacher learned, so distillation only has to close the gap the missing layers leave. Half the layers
is about half the encoder's work per token, which is where a CPU spends its time on short texts.

    emotionkit train --preset emotionkit-student   # the shipped model's layers 0, 2 and 5, distilled
    emotionkit train --base-model MODEL --keep-layers 0 2 5 --teachers MODEL ...

``train`` cuts the layers from the loaded base model in memory (:func:`keep_only_layers`), so a run
that stops early leaves nothing behind, and a resumed run rebuilds the same shape before it loads
its checkpoint.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

META_FILE = "emotionkit.json"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                    "merges.txt", "spiece.model", "added_tokens.json")


def _layer_list(model):
    """The encoder's list of transformer layers (BERT, RoBERTa, MPNet, ... keep it at ``encoder.layer``)."""
    encoder = getattr(model.base_model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: expected an encoder with a list of layers at "
                         "base_model.encoder.layer (BERT-like models)")
    return encoder, layers


def check_layers(layers: list[int], total: int) -> list[int]:
    """``layers`` as a sorted list of distinct indices of a ``total``-layer encoder, or a clear error.

    >>> check_layers([5, 0, 2], 6)
    [0, 2, 5]
    """
    if not layers:
        raise ValueError(f"keep_layers: expected at least one layer index of 0..{total - 1}, got none")
    bad = [i for i in layers if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < total]
    if bad:
        raise ValueError(f"keep_layers: expected indices in 0..{total - 1} (the base model has {total} layers), got {bad}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"keep_layers: each layer once, got {layers}")
    if len(layers) == total:
        raise ValueError(f"keep_layers: keeping all {total} layers is a copy, not a smaller student")
    return sorted(layers)


def keep_only_layers(model, layers: list[int]):
    """``model`` (a loaded classifier) with only the transformer ``layers`` kept, in order; changed in place
    and returned. Its config says the new depth, so ``save_pretrained`` writes a model that loads as is."""
    import torch  # noqa: PLC0415

    encoder, all_layers = _layer_list(model)
    keep = check_layers(list(layers), len(all_layers))
    encoder.layer = torch.nn.ModuleList([all_layers[i] for i in keep])
    model.config.num_hidden_layers = len(keep)
    log.info("student: layers %s of %d kept", keep, len(all_layers))
    return model


def shrink(model_dir: str | Path, layers: list[int], out_dir: str | Path) -> Path:
    """Write a copy of the classifier at ``model_dir`` keeping only the transformer ``layers`` to
    ``out_dir`` (float32, with the teacher's tokenizer and its ``emotionkit.json``, so it loads and
    predicts as an untrained student would); returns ``out_dir``. Used to compare starts
    (benchmarks/student_start.py); ``train`` keeps the layers in memory.

    ``out_dir`` must not exist (nothing is overwritten); it is written whole or not at all.

    >>> shrink("models/emotionkit-minilm", [0, 2, 5], "/tmp/start")  # doctest: +SKIP
    """
    import torch  # noqa: PLC0415
    from transformers import AutoModelForSequenceClassification  # noqa: PLC0415

    src, out = Path(model_dir), Path(out_dir)
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src}: expected a model directory with config.json")
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new directory")
    model = keep_only_layers(AutoModelForSequenceClassification.from_pretrained(str(src), dtype=torch.float32), layers)
    return save_beside(model, src, out)


def save_beside(model, src: Path, out: Path) -> Path:
    """Write ``model`` (cut from the one at ``src``) to ``out`` with ``src``'s tokenizer and ``emotionkit.json``,
    whole or not at all; returns ``out``."""
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.save_pretrained(str(partial))
        for name in (*_TOKENIZER_FILES, META_FILE):
            if (src / name).is_file():
                shutil.copy2(src / name, partial / name)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out
