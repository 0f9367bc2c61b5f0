"""Engines: turn a padded batch of token ids into logits. PyTorch here; ONNX Runtime in onnx_engine.

Every engine has ``name`` and ``logits(input_ids, attention_mask) -> np.ndarray [batch, 6]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from emotionkit.decision import softmax  # noqa: F401 - engines and older callers import it from here

ENGINES = ("auto", "torch", "onnx", "onnx-int8")


def cpu_threads() -> int:
    """Cores this process may use (respects affinity masks and cgroup-limited containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class TorchEngine:
    """PyTorch inference; fp32 on CPU, bf16/fp16 on a GPU."""

    def __init__(self, model_dir: str | Path, device: str | None = None, dtype: str | None = None, threads: int | None = None):
        import torch  # noqa: PLC0415
        from transformers import AutoModelForSequenceClassification  # noqa: PLC0415

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "float32" if self.device == "cpu" else ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
        if self.device == "cpu" and threads is not None:
            torch.set_num_threads(threads)
        self.dtype = dtype
        self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        self.name = f"torch-{dtype}" + ("" if self.device == "cpu" else f"-{self.device}")
        self._torch = torch

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(attention_mask).to(self.device),
            ).logits
        return out.float().cpu().numpy()
