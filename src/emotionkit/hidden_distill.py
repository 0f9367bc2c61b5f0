"""Hidden-state distillation: a student cut from its teacher learns each kept layer's output from the
teacher layer it was cut from, beside the teacher's scores.

A student made by :mod:`emotionkit.student` keeps some of its teacher's layers; the scores-only loss
(:func:`emotionkit.losses.distill_loss`) tells it what to answer, not how the missing layers carried
each token's representation. This adds, per kept layer (the student's ``j``-th is the teacher's ``j``-th kept one),
one minus the cosine between the student's and the teacher's output for every real token, averaged
over tokens and layers: DistilBERT's cosine loss on hidden states (Sanh et al., 2019), taken to every
kept layer as TinyBERT does (Jiao et al., 2020). The teacher runs beside the student on the same
token ids (text normalized the student's way), so it must share the student's tokenizer and width,
which a student cut from it does. The hidden term is added on every training row, whatever
``teach_sources`` says of the scores, and the logged training loss includes it.

    emotionkit train --preset emotionkit-student --distill-hidden 1.0
    emotionkit train --preset emotionkit-narrow     # every layer kept, narrowed (emotionkit.prune)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def check_hidden_settings(keep_layers: tuple[int, ...], teachers: tuple[str, ...], weight: float,
                          ffn_size: int = 0) -> None:
    """What hidden-state distillation needs: one teacher, and a student cut from it (some of its layers
    kept, or every layer narrowed: ``ffn_size``, where each layer learns from the one it was cut from)."""
    if weight == 0:
        return
    if len(teachers) != 1:
        raise ValueError(f"distill_hidden: expected one teacher whose layers the student keeps, got {list(teachers)}")
    if not keep_layers and not ffn_size:
        raise ValueError("distill_hidden: expected keep_layers (which of the teacher's layers the student keeps, "
                         "so each can learn from the layer it was cut from) or ffn_size (a narrower copy), got neither")


def layer_pairs(keep_layers: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """Which hidden states to match, as (student, teacher) indices into ``output_hidden_states``
    (index 0 is the embeddings, so layer ``i``'s output is ``i + 1``). The student holds the kept layers
    in the teacher's order (:func:`emotionkit.student.keep_only_layers`), whatever order they were named in.

    >>> layer_pairs([0, 2, 5])
    [(1, 1), (2, 3), (3, 6)]
    >>> layer_pairs([5, 0, 2])
    [(1, 1), (2, 3), (3, 6)]
    """
    return [(j + 1, layer + 1) for j, layer in enumerate(sorted(keep_layers))]


def hidden_loss(student_states, teacher_states, pairs: list[tuple[int, int]], attention_mask):
    """Mean over ``pairs`` of one minus the cosine between the student's and the teacher's hidden state,
    averaged over the real tokens (``attention_mask`` 1); padding adds nothing."""
    import torch.nn.functional as F  # noqa: N812, PLC0415

    mask = attention_mask.to(student_states[0].dtype)
    total = 0.0
    for s, t in pairs:
        cos = F.cosine_similarity(student_states[s], teacher_states[t].to(student_states[s].dtype), dim=-1)
        total = total + ((1 - cos) * mask).sum() / mask.sum().clamp(min=1)
    return total / len(pairs)


def _warn_on_other_normalization(teacher: str | Path, normalize: tuple[str, ...]) -> None:
    """The teacher reads the student's token ids, so text normalized the student's way: say so when the
    teacher was trained on text normalized another way (its ``emotionkit.json``)."""
    meta = Path(teacher) / "emotionkit.json"
    if not meta.is_file():
        return
    theirs = tuple(json.loads(meta.read_text("utf-8")).get("model", {}).get("normalize", ()))
    if theirs != tuple(normalize):
        log.warning("distill_hidden: the teacher %s was trained on text normalized %s, the student reads it %s; "
                    "its layers see the student's text", teacher, list(theirs), list(normalize))


class HiddenTeacher:
    """The teacher's encoder, frozen, run on a student's batch for :func:`hidden_loss`."""

    def __init__(self, teacher: str | Path, keep_layers: tuple[int, ...], student_config, normalize: tuple[str, ...] = ()):
        import torch  # noqa: PLC0415
        from transformers import AutoModel  # noqa: PLC0415

        self.model = AutoModel.from_pretrained(str(teacher), dtype=torch.float32)
        config = self.model.config
        clashes = [f"{name} {getattr(config, name, None)} (student {getattr(student_config, name, None)})"
                   for name in ("hidden_size", "vocab_size")
                   if getattr(config, name, None) != getattr(student_config, name, None)]
        if clashes:
            raise ValueError(f"distill_hidden: the teacher {teacher} must share the student's tokenizer and width; "
                             f"it has {', '.join(clashes)}")
        if max(keep_layers) >= config.num_hidden_layers:
            raise ValueError(f"distill_hidden: the student's layers {list(keep_layers)} (keep_layers, else all the base's) "
                             f"name layers the teacher {teacher} "
                             f"does not have (it has {config.num_hidden_layers})")
        _warn_on_other_normalization(teacher, normalize)
        self.model.eval().requires_grad_(False)
        self.pairs = layer_pairs(keep_layers)
        log.info("hidden-state distillation: student layers %s learn from the teacher's layers %s",
                 [s - 1 for s, _ in self.pairs], [t - 1 for _, t in self.pairs])

    def loss(self, student_states, inputs: dict):
        """:func:`hidden_loss` of the student's hidden states against the teacher's on the same ``inputs``."""
        import torch  # noqa: PLC0415

        device = student_states[0].device
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        feed = {k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in inputs}
        with torch.no_grad():
            states = self.model(**feed, output_hidden_states=True).hidden_states
        return hidden_loss(student_states, states, self.pairs, inputs["attention_mask"])
