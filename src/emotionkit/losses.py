"""Training losses that the stock ``Trainer`` does not compute: knowledge distillation, and binary
cross-entropy with a weight per output (a multi-label model learning from single-label rows)."""

from __future__ import annotations

NO_LABEL = -100  # the label of a transfer-set row: the Trainer's and cross_entropy's ignore index


def weighted_bce(logits, labels, weights=None):
    """Per-row binary cross-entropy of a multi-label model ``[batch]``: each output's term times its weight
    (``weights`` ``[batch, outputs]``, 1 where absent), averaged over the outputs."""
    import torch.nn.functional as F  # noqa: N812, PLC0415

    per_output = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    if weights is not None:
        per_output = per_output * weights.to(logits.dtype)
    return per_output.mean(-1)


def distill_loss(logits, labels, teacher_probs, alpha: float, temperature: float, label_smoothing: float = 0.0,
                 label_weights=None):
    """Knowledge-distillation loss (Hinton et al., 2015): ``(1 - alpha)`` x the loss with the labels
    plus ``alpha`` x T^2 x the loss with the teachers' probabilities, both softened by temperature T.

    Single-label (``labels`` are class ids): cross-entropy, and KL(teacher || student) of the softmax.
    Multi-label (``labels`` are 0/1 vectors): binary cross-entropy per output, with the labels (each output
    weighted by ``label_weights`` when given, see :func:`weighted_bce`) and with the teachers' sigmoid
    probabilities, averaged over the outputs.

    Both terms are means over the batch; an unlabelled transfer row (label ``NO_LABEL``, single-label
    only) adds 0 to the cross-entropy, so it is taught by the teachers alone. A row whose ``teacher_probs`` are all zero
    (its source is not in ``teach_sources``; a teacher's sigmoid or softmax is never 0 everywhere) has
    the loss with its labels alone, at full weight.
    """
    import torch.nn.functional as F  # noqa: N812, PLC0415

    if labels.dim() == 2:  # multi-label: 0/1 targets per output
        hard = weighted_bce(logits, labels, label_weights)
        soft = F.binary_cross_entropy_with_logits(logits / temperature, teacher_probs, reduction="none").mean(-1)
    else:
        hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing, reduction="none", ignore_index=NO_LABEL)
        # [batch]: KL per row; a row no teacher taught carries all-zero targets, so its KL is 0.
        soft = F.kl_div(F.log_softmax(logits / temperature, dim=-1), teacher_probs, reduction="none").sum(-1)
    share = alpha * (teacher_probs.sum(-1) > 0).to(logits.dtype)  # [batch]: alpha if taught, 0 if not
    return ((1 - share) * hard + share * temperature**2 * soft).mean()
