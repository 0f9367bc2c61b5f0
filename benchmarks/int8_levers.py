"""Speed levers for the CPU engine, measured with ONNX Runtime sessions alone (no emotionkit batching):
the fp32 and static int8 graphs of a model, the offline-fused fp32 graph (onnxruntime.transformers.optimizer)
and its static int8 version. Single-text p50 over 200 tweets, throughput over the 2,000 test tweets in
length-sorted batches of 32, and the largest score difference from the fp32 graph.

    python benchmarks/int8_levers.py [MODEL]      # default: the shipped model (its graphs are exported if missing)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.transformers.optimizer import optimize_model

from emotionkit.data import load_dataset
from emotionkit.onnx_engine import graph_dir, int8_nodes, quantize_int8
from emotionkit.predict import EmotionClassifier


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports both graphs when missing
    graphs, out = graph_dir(model), Path(tempfile.mkdtemp())
    optimize_model(str(graphs / "model.onnx"), model_type="bert", num_heads=12, hidden_size=384).save_model_to_file(
        str(out / "fused.onnx"))
    quantize_int8(out / "fused.onnx", out / "fused_int8.onnx", model, nodes=int8_nodes(out / "fused.onnx"))
    texts = [e.text for e in load_dataset("../shared/data/emotion").split("test")]
    singles = [clf.tokenizer(t, return_tensors="np") for t in texts[:200]]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [clf.tokenizer([texts[i] for i in order[k : k + 32]], padding=True, return_tensors="np")
               for k in range(0, len(texts), 32)]
    reference = None
    for path in (graphs / "model.onnx", graphs / "model_int8.onnx", out / "fused.onnx", out / "fused_int8.onnx"):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(enc, session=session):
            feed = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
            return session.run(["logits"], feed)[0]

        for enc in singles[:20]:
            run(enc)
        latency = []
        for enc in singles:
            start = time.perf_counter()
            run(enc)
            latency.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        scores = clf.decision.scores(np.concatenate([run(b) for b in batches]))
        rate = len(texts) / (time.perf_counter() - start)
        reference = scores if reference is None else reference
        print(f"{path.name}: p50 {np.percentile(latency, 50):.2f} ms, {rate:.0f} texts/s, "
              f"max score difference from fp32 {np.abs(scores - reference).max():.3f}", flush=True)


if __name__ == "__main__":
    main()
