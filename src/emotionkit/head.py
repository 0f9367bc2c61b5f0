"""The model's head: what its outputs are, what each row teaches them, and how a new model starts.

A single-label model has the six outputs of a softmax; a multi-label one (``ModelSettings.multi_label``)
has seven sigmoid outputs, the six and ``neutral`` (what they mean at prediction time: ``emotionkit.decision``).

>>> from emotionkit.config import ModelSettings
>>> output_labels(ModelSettings(multi_label=True))[-1]
'neutral'
"""

from __future__ import annotations

import logging

from emotionkit.config import ModelSettings, TrainConfig
from emotionkit.data import Example
from emotionkit.decision import MULTI_LABEL, NEUTRAL
from emotionkit.labels import LABELS

log = logging.getLogger(__name__)


def output_labels(settings: ModelSettings) -> tuple[str, ...]:
    """The model's outputs: the six, plus ``neutral`` for a multi-label model."""
    return (*LABELS, NEUTRAL) if settings.multi_label else LABELS


def training_target(ex: Example, settings: ModelSettings) -> int | list[float]:
    """A row's training target: its label id (single-label model), or a 0/1 vector over the outputs
    (multi-label: its emotions, and neutral; a single-label row is its one emotion, not neutral)."""
    if not settings.multi_label:
        if ex.labels is not None and (len(ex.labels) != 1 or ex.neutral):
            raise ValueError(f"a single-label model cannot train on a row labelled {ex.tag!r}: {ex.text[:60]!r}")
        return ex.label
    vector = [0.0] * (len(LABELS) + 1)
    for i in ex.labels if ex.labels is not None else (ex.label,):
        vector[i] = 1.0
    vector[-1] = float(ex.neutral)
    return vector


def loss_weights(ex: Example, negatives: float) -> list[float]:
    """A multi-label training row's loss weight per output (the six, then neutral): a single-label row's
    other emotions get ``negatives``, since its one label does not say they are absent; its own emotion and
    neutral (a single-label row is emotional) keep 1, as does every output of a multi-label row."""
    weights = [1.0] * (len(LABELS) + 1)
    if ex.labels is None:
        weights[: len(LABELS)] = [float(negatives)] * len(LABELS)
        weights[ex.label] = 1.0
    return weights


def check_head_settings(settings: ModelSettings, config: TrainConfig) -> None:
    """What a multi-label model cannot be trained with: label smoothing (a cross-entropy idea), the
    partial-label rule and a transfer set (GoEmotions is read whole: no comment is left out to transfer).
    Its teachers must be multi-label models with the same outputs (checked when they are loaded)."""
    if not settings.multi_label:
        if config.single_label_negatives != 1:
            raise ValueError("single_label_negatives weighs a multi-label model's outputs; a single-label model trains "
                             f"with a softmax over its labels, got {config.single_label_negatives!r}")
        return
    clashes = {"label_smoothing": config.label_smoothing != 0, "partial_labels": bool(config.partial_labels),
               "transfer": bool(config.transfer)}
    bad = [name for name, clash in clashes.items() if clash]
    if bad:
        raise ValueError(f"a multi-label model trains without {', '.join(bad)}; got "
                         + ", ".join(f"{name}={getattr(config, name)!r}" for name in bad))


def new_model(base: str, settings: ModelSettings):
    """The model to fine-tune: ``base`` with a head for our outputs. Where ``base`` is itself a classifier
    with some of the same labels (an emotionkit model), their rows of its head are kept, so a multi-label
    model can start from a trained six-way one; new outputs (``neutral``) start fresh."""
    import torch  # noqa: PLC0415
    from transformers import AutoConfig, AutoModelForSequenceClassification  # noqa: PLC0415

    labels = output_labels(settings)
    # Always explicit: a single-label model fine-tuned from a multi-label one must not inherit its sigmoid.
    kwargs = {"problem_type": MULTI_LABEL if settings.multi_label else "single_label_classification"}
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
        ignore_mismatched_sizes=True, **kwargs)
    base_labels = dict(getattr(AutoConfig.from_pretrained(base), "id2label", None) or {})
    shared = [(i, labels.index(name)) for i, name in base_labels.items() if name in labels]
    head = getattr(model, "classifier", None)
    if shared and isinstance(head, torch.nn.Linear) and len(base_labels) != len(labels):
        old = AutoModelForSequenceClassification.from_pretrained(base).classifier
        if isinstance(old, torch.nn.Linear) and old.in_features == head.in_features:
            with torch.no_grad():
                for src, dst in shared:
                    head.weight[dst] = old.weight[int(src)]
                    head.bias[dst] = old.bias[int(src)]
            log.info("head: kept the rows of %s from %s", [labels[d] for _, d in shared], base)
    return model
