"""Shared by the engine-alone benchmarks (int8_levers.py, thread_settings.py): the test tweets as single
texts and as length-sorted batches of 32, and one ONNX Runtime session timed on them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from emotionkit.data import load_dataset


def tweet_inputs(tokenizer, singles: int = 200, batch: int = 32) -> tuple[list[str], list, list]:
    """The test tweets, the first ``singles`` of them encoded one by one, and all of them encoded in
    length-sorted batches of ``batch``."""
    texts = [e.text for e in load_dataset("../shared/data/emotion").split("test")]
    one = [tokenizer(t, return_tensors="np") for t in texts[:singles]]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [tokenizer([texts[i] for i in order[k : k + batch]], padding=True, return_tensors="np")
               for k in range(0, len(texts), batch)]
    return texts, one, batches


def time_session(path: Path, singles: list, batches: list, threads: int = 2, spinning: bool = False,
                 warm_batches: int = 0) -> dict:
    """One session on ``path``: single-text p50 (after 20 warm-up calls), texts per second over the
    batches (after ``warm_batches`` untimed ones), and the batches' logits in order."""
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(enc):
        return session.run(["logits"], {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")})[0]

    return time_runner(run, singles, batches, warm_batches)


def time_runner(run, singles: list, batches: list, warm_batches: int = 0) -> dict:
    """``run`` (encoded inputs -> logits) timed: single-text p50 (after 20 warm-up calls), texts per second
    over the batches (after ``warm_batches`` untimed ones), and the batches' logits in order."""
    for enc in singles[:20]:
        run(enc)
    latency = []
    for enc in singles:
        start = time.perf_counter()
        run(enc)
        latency.append((time.perf_counter() - start) * 1000)
    for enc in batches[:warm_batches]:
        run(enc)
    start = time.perf_counter()
    logits = np.concatenate([run(b) for b in batches])
    rate = sum(len(b["input_ids"]) for b in batches) / (time.perf_counter() - start)
    return {"latency_p50_ms": float(np.percentile(latency, 50)), "samples_per_second": rate, "logits": logits}
