"""Quantization-aware fine-tuning: train the encoder through the int8 rounding its CPU graph will apply.

The static int8 graph (:func:`emotionkit.onnx_engine.quantize_int8`) rounds the input of every weighted MatMul
but the first layer's to uint8, with one fixed range calibrated (MinMax) on the packaged calibration texts, and
its weights to int8 per output channel. Q, K and V read their own rounded copies, so the residual beside them stays
fp32, but the feed-forward block's residual Add reads the same rounded copy as the block's first MatMul. Fine-tuned
with exactly that rounding in the forward pass (fake quantization; gradients pass straight through inside the
range), the weights learn to live with it, so the int8 graph moves less from the fp32 one.

Attaching replaces no module and adds no parameter or buffer: the state dict, checkpoints and the saved model are
those of the plain model, and :func:`detach` restores the fp32 forward before it is saved and calibrated. The
ranges are measured once, on the model training starts from; the export measures them again on the trained
weights.
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np

# The modules the forward pass rounds: those whose MatMuls int8_nodes quantizes (BERT-style names).
LAYER_LINEAR = re.compile(r"(^|\.)encoder\.layer\.([1-9]\d*)\.")  # every layer but the first, as int8_nodes
UINT8 = (0, 255)
INT8 = (-127, 127)  # symmetric, as ONNX Runtime quantizes per-channel int8 weights


def target_linears(model) -> dict:
    """The ``nn.Linear`` modules of every encoder layer but the first, by name: the MatMuls the int8 graph quantizes."""
    import torch  # noqa: PLC0415

    found = {name: m for name, m in model.named_modules()
             if isinstance(m, torch.nn.Linear) and LAYER_LINEAR.search(name)}
    if not found:
        raise ValueError("quantization-aware training: expected linear modules of encoder layers after the first "
                         f"('encoder.layer.N.'), found none in {type(model).__name__}")
    return found


def activation_ranges(model, tokenizer, texts: list[str], max_length: int = 128) -> dict[str, tuple[float, float]]:
    """Each target module's input range (min, max) over ``texts``, in padded batches of ``CALIBRATION_BATCH``,
    as the export's MinMax calibrator measures it (padding positions included)."""
    import torch  # noqa: PLC0415

    from emotionkit.onnx_engine import CALIBRATION_BATCH  # noqa: PLC0415  (the export's batches, so the same ranges)

    if not texts:
        raise ValueError("quantization-aware training: expected calibration texts, got none")
    targets = target_linears(model)
    seen: dict[str, list[float]] = {}

    def record(name, _module, args):
        x = args[0].detach()
        lo, hi = float(x.min()), float(x.max())
        old = seen.get(name)
        seen[name] = [lo, hi] if old is None else [min(old[0], lo), max(old[1], hi)]

    hooks = [m.register_forward_pre_hook(partial(record, name)) for name, m in targets.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, len(texts), CALIBRATION_BATCH):
                enc = tokenizer(texts[i : i + CALIBRATION_BATCH], padding=True, truncation=True,
                                max_length=max_length, return_tensors="pt")
                model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {name: (lo, hi) for name, (lo, hi) in seen.items()}


def uint8_params(lo: float, hi: float) -> tuple[float, int]:
    """Scale and zero point of an asymmetric uint8 range holding [lo, hi] and 0 (as ONNX Runtime computes them)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError(f"quantization-aware training: expected a finite activation range, got [{lo}, {hi}]")
    scale = (hi - lo) / (UINT8[1] - UINT8[0]) or 1.0
    zero_point = int(np.clip(round(UINT8[0] - lo / scale), *UINT8))
    return float(scale), zero_point


def _fake_quant_forward(module, scale: float, zero_point: int, x):
    import torch  # noqa: PLC0415

    x_q = torch.fake_quantize_per_tensor_affine(x, scale, zero_point, *UINT8)
    w = module.weight
    w_scale = (w.detach().abs().amax(dim=1) / ((INT8[1] - INT8[0]) / 2)).clamp_min(1e-12).float()
    zeros = torch.zeros_like(w_scale, dtype=torch.int32)
    w_q = torch.fake_quantize_per_channel_affine(w, w_scale, zeros, 0, *INT8)
    return torch.nn.functional.linear(x_q, w_q, module.bias)


def _round_output(scale: float, zero_point: int, _module, _args, output):
    import torch  # noqa: PLC0415

    return torch.fake_quantize_per_tensor_affine(output, scale, zero_point, *UINT8)


def attach(model, ranges: dict[str, tuple[float, float]]) -> int:
    """Make every target module round its input and weight as the int8 graph will, and each feed-forward block's
    residual read the rounded copy of its input as the graph's does; returns how many modules round."""
    targets = target_linears(model)
    missing = sorted(set(targets) - set(ranges))
    if missing:
        raise ValueError(f"quantization-aware training: expected an activation range for every target linear "
                         f"module, missing {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    if any("forward" in vars(module) for module in targets.values()):
        raise ValueError("quantization-aware training: expected a plain model, got one already attached (detach it first)")
    modules = dict(model.named_modules())
    for name, module in targets.items():
        params = uint8_params(*ranges[name])
        module.forward = partial(_fake_quant_forward, module, *params)
        if name.endswith(".intermediate.dense"):  # its input is the attention block's output, also the residual
            block_name = name[: -len("intermediate.dense")] + "attention.output"
            block = modules.get(block_name)
            if block is None:
                raise ValueError(f"quantization-aware training: expected {block_name} beside {name} (a BERT-style "
                                 "layer, whose attention output feeds the feed-forward block and its residual)")
            block._emotionkit_qat_hook = block.register_forward_hook(partial(_round_output, *params))
    return len(targets)


def detach(model) -> int:
    """Restore the fp32 forward of every module :func:`attach` changed; returns how many."""
    restored = 0
    for module in model.modules():
        hook = vars(module).pop("_emotionkit_qat_hook", None)
        if hook is not None:
            hook.remove()
    for module in target_linears(model).values():
        if "forward" in vars(module):
            del module.forward
            restored += 1
    return restored


def prepare(model, tokenizer, normalize_steps: tuple[str, ...], max_length: int) -> dict:
    """Measure the ranges on the packaged calibration texts (normalized as the model reads them) and attach;
    returns what the model's ``emotionkit.json`` records of it."""
    from emotionkit.onnx_engine import calibration_texts  # noqa: PLC0415
    from emotionkit.textnorm import normalize  # noqa: PLC0415

    texts = [normalize(t, normalize_steps) for t in calibration_texts()]
    ranges = activation_ranges(model, tokenizer, texts, max_length)
    modules = attach(model, ranges)
    return {"modules": modules, "calibration_texts": len(texts),
            "rounding": "as the int8 graph: weights int8 per output row (symmetric), inputs uint8 with MinMax ranges "
                        "measured before training, the feed-forward residual reading the rounded copy; layer 0 fp32"}
