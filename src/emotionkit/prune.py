"""A narrower student: each transformer layer's feed-forward block cut to the neurons that matter most.

On short texts a BERT-like layer spends about two thirds of its multiply-adds in its feed-forward block
(hidden -> intermediate -> hidden; MiniLM: 384 -> 1536 -> 384). Keeping the same ``size`` neurons of
every layer's block (structured width pruning, as in Michel et al., 2019, for heads, and CoFi, Xia et
al., 2022, for feed-forward units) leaves a model of the same architecture with a smaller
``intermediate_size``, so ``save_pretrained`` writes a directory the stock ``transformers`` loads as is.

A neuron's importance is how much it adds to its layer's output on real texts: the mean, over the
tokens of ``texts``, of its activation's magnitude times the norm of its output weights
(|a_j| * ||W_out[:, j]||). Distillation from the unpruned teacher then closes what the cut costs.
``train`` measures it on a sample of its training rows drawn with the run's data seed, so runs with
other data seeds may keep other neurons: their weights do not line up, and ``emotionkit soup`` refuses
to average them (the record :func:`prune_ffn` returns fingerprints the kept neurons).

    emotionkit train --preset emotionkit-narrow     # the shipped model with 512 of 1536 neurons per layer
    emotionkit train --base-model MODEL --ffn-size 768 --teachers MODEL ...
"""

from __future__ import annotations

import hashlib
import json
import logging

log = logging.getLogger(__name__)

IMPORTANCE_TEXTS = 1024  # texts of the training data the importances are measured on
_BATCH = 32


def _blocks(model) -> list:
    """Each transformer layer's (intermediate, output) pair: ``layer.intermediate.dense`` maps hidden to
    intermediate, ``layer.output.dense`` maps it back (BERT, RoBERTa, MPNet name them so)."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: expected an encoder with a list of layers at base_model.encoder.layer")
    blocks = []
    for i, layer in enumerate(layers):
        inner = getattr(getattr(layer, "intermediate", None), "dense", None)
        outer = getattr(getattr(layer, "output", None), "dense", None)
        if inner is None or outer is None:
            raise ValueError(f"layer {i}: expected intermediate.dense and output.dense (a BERT-like feed-forward block)")
        blocks.append((inner, outer))
    return blocks


def ffn_importance(model, tokenizer, texts: list[str], max_length: int = 128) -> list:
    """Per layer, a tensor of each feed-forward neuron's importance on ``texts`` (see the module docstring)."""
    import torch  # noqa: PLC0415

    if not texts:
        raise ValueError("ffn_importance: expected texts to measure the neurons on, got none")
    blocks = _blocks(model)
    totals = [torch.zeros(inner.out_features, dtype=torch.float64) for inner, _ in blocks]
    mask_now: list = [None]

    def hook(index):
        def record(_module, inputs, _output):
            act = inputs[0].detach().abs().double()  # the output projection's input: the activated neurons
            keep = mask_now[0].unsqueeze(-1).to(act.dtype)
            totals[index] += (act * keep).sum(dim=(0, 1)).cpu()
        return record

    handles = [outer.register_forward_hook(hook(i)) for i, (_, outer) in enumerate(blocks)]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tokens = 0
    try:
        with torch.no_grad():
            for start in range(0, len(texts), _BATCH):
                enc = tokenizer(texts[start : start + _BATCH], padding=True, truncation=True,
                                max_length=max_length, return_tensors="pt")
                mask_now[0] = enc["attention_mask"].to(device)
                tokens += int(enc["attention_mask"].sum())
                model(**{k: enc[k].to(device) for k in ("input_ids", "attention_mask")})
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return [(total / tokens).float() * outer.weight.detach().float().norm(dim=0).cpu()
            for total, (_, outer) in zip(totals, blocks, strict=True)]


def prune_ffn(model, size: int, importance: list) -> dict:
    """Cut each layer's feed-forward block of ``model`` to its ``size`` most important neurons (kept in their
    original order), in place, its config saying the new ``intermediate_size``. Returns what was cut, for
    ``emotionkit.json``: the width before, the width after, and a fingerprint of the kept neurons."""
    import torch  # noqa: PLC0415
    from transformers.pytorch_utils import prune_linear_layer  # noqa: PLC0415

    blocks = _blocks(model)
    width = blocks[0][0].out_features
    if any(inner.out_features != width for inner, _ in blocks):
        raise ValueError("prune_ffn: expected every layer's feed-forward block to have the same width")
    check_ffn_size(size, width)
    if len(importance) != len(blocks) or any(len(s) != width for s in importance):
        raise ValueError(f"prune_ffn: expected {len(blocks)} importance vectors of {width}, "
                         f"got {[len(s) for s in importance]}")
    kept = []
    for layer, (inner, outer), scores in zip(model.base_model.encoder.layer, blocks, importance, strict=True):
        keep = torch.sort(torch.topk(scores, size).indices).values
        # prune_linear_layer builds float32 layers: keep the model's own dtype.
        layer.intermediate.dense = prune_linear_layer(inner, keep, dim=0).to(inner.weight.dtype)
        layer.output.dense = prune_linear_layer(outer, keep, dim=1).to(outer.weight.dtype)
        kept.append(keep.tolist())
    model.config.intermediate_size = size
    log.info("prune: each layer's feed-forward block cut from %d to %d neurons", width, size)
    digest = hashlib.sha256(json.dumps(kept).encode()).hexdigest()
    return {"from": width, "to": size, "kept_sha256": digest}


def check_ffn_size(size: int, width: int) -> None:
    """``size`` must be a whole number of neurons narrower than the base model's ``width``."""
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size < width:
        raise ValueError(f"ffn_size: expected a whole number of neurons in 1..{width - 1} "
                         f"(the base model's feed-forward blocks have {width}), got {size!r}")


def check_base_width(base: str, size: int) -> None:
    """:func:`check_ffn_size` against the width the config of the model at ``base`` says (nothing is loaded)."""
    from transformers import AutoConfig  # noqa: PLC0415

    check_ffn_size(size, getattr(AutoConfig.from_pretrained(base), "intermediate_size", 0))
