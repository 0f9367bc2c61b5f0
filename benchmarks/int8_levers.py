"""Speed levers for the CPU engine, measured with ONNX Runtime sessions alone (no emotionkit batching):
the fp32 and static int8 graphs of a model, the offline-fused fp32 graph (onnxruntime.transformers.optimizer)
and its static int8 version. Single-text p50 over 200 tweets, throughput over the 2,000 test tweets in
length-sorted batches of 32, and the largest score difference from the fp32 graph.

    python benchmarks/int8_levers.py [MODEL]      # default: the shipped model (its graphs are exported if missing)

Its int8 graphs are built as the recipe before session 30 built them (``ROUNDING_BEFORE_SESSION_30``: MatMul
outputs rounded, one rounded copy shared by every reader; ``nodes_before_session_30``), so it reproduces the
results recorded with that recipe.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.transformers.optimizer import optimize_model
from ort_timing import time_session, tweet_inputs  # benchmarks/ort_timing.py

from emotionkit.onnx_engine import ROUNDING_BEFORE_SESSION_30, graph_dir, nodes_before_session_30, quantize_int8
from emotionkit.predict import EmotionClassifier


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports both graphs when missing
    graphs, out = graph_dir(model), Path(tempfile.mkdtemp())
    optimize_model(str(graphs / "model.onnx"), model_type="bert", num_heads=12, hidden_size=384).save_model_to_file(
        str(out / "fused.onnx"))
    quantize_int8(out / "fused.onnx", out / "fused_int8.onnx", model, nodes=nodes_before_session_30(out / "fused.onnx"),
                  **ROUNDING_BEFORE_SESSION_30)
    texts, singles, batches = tweet_inputs(clf.tokenizer)
    reference = None
    for path in (graphs / "model.onnx", graphs / "model_int8.onnx", out / "fused.onnx", out / "fused_int8.onnx"):
        timed = time_session(path, singles, batches)
        scores = clf.decision.scores(timed["logits"])
        reference = scores if reference is None else reference
        print(f"{path.name}: p50 {timed['latency_p50_ms']:.2f} ms, {timed['samples_per_second']:.0f} texts/s, "
              f"max score difference from fp32 {np.abs(scores - reference).max():.3f}", flush=True)


if __name__ == "__main__":
    main()
