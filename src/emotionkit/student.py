"""A smaller student to distill into: a trained classifier with some of its transformer layers kept.

A student that starts as a copy of its teacher with every other layer (DistilBERT's initialisation,
Sanh et al., 2019) already holds the embeddings, the kept layers, the pooler and the output head the
teacher learned, so distillation only has to close the gap the missing layers leave. Half the layers
is about half the encoder's work per token, which is where a CPU spends its time on short texts.

    emotionkit train --preset emotionkit-student   # the shipped model's layers 0, 2 and 5, distilled
    emotionkit train --base-model MODEL --keep-layers 0 2 5 --teachers MODEL ...

``train`` writes the start into its checkpoint directory (``student-start``): a Hugging Face model
directory with the teacher's tokenizer, not a model to serve (no ``emotionkit.json`` decision or card).
"""

from __future__ import annotations

import json
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
    """``layers`` as a sorted list of distinct indices of a ``total``-layer encoder, or a clear error."""
    if not layers:
        raise ValueError(f"--layers: expected at least one layer index of 0..{total - 1}, got none")
    bad = [i for i in layers if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < total]
    if bad:
        raise ValueError(f"--layers: expected indices in 0..{total - 1} (the teacher has {total} layers), got {bad}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"--layers: each layer once, got {layers}")
    if len(layers) == total:
        raise ValueError(f"--layers: keeping all {total} layers is a copy, not a smaller student")
    return sorted(layers)


def shrink(model_dir: str | Path, layers: list[int], out_dir: str | Path, command: str = "") -> Path:
    """Write a copy of the classifier at ``model_dir`` keeping only the transformer ``layers`` (0-based,
    in order) to ``out_dir``, in float32 with the teacher's tokenizer; returns ``out_dir``.

    ``out_dir`` must not exist (nothing is overwritten); it is written whole or not at all.
    """
    import torch  # noqa: PLC0415
    from transformers import AutoModelForSequenceClassification  # noqa: PLC0415

    src, out = Path(model_dir), Path(out_dir)
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src}: expected a model directory with config.json")
    if out.exists():
        raise FileExistsError(f"--output-dir {out} exists; choose a new directory")
    model = AutoModelForSequenceClassification.from_pretrained(str(src), dtype=torch.float32)
    encoder, all_layers = _layer_list(model)
    keep = check_layers(list(layers), len(all_layers))
    encoder.layer = torch.nn.ModuleList([all_layers[i] for i in keep])
    model.config.num_hidden_layers = len(keep)
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    for name in _TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, partial / name)
    # The chain that made it, so the student's card can say how to rebuild it (train reads "reproduce").
    reproduce = []
    if (src / META_FILE).is_file():
        reproduce = json.loads((src / META_FILE).read_text("utf-8")).get("reproduce", "").splitlines()
    student = {"student_of": str(src), "layers_kept": keep, "teacher_layers": len(all_layers),
               "reproduce": "\n".join([*reproduce, command] if command else reproduce)}
    (partial / "student.json").write_text(json.dumps(student, indent=2) + "\n", encoding="utf-8")
    partial.rename(out)
    log.info("student: %s with layers %s of %d -> %s", src, keep, len(all_layers), out)
    return out
