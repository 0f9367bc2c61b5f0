"""The most any wrapper could get from a model's graphs on this CPU, against the stock pipeline, in one run.

    python benchmarks/engine_ceiling.py [MODEL]      # default: the shipped model

Issue 27's speed bar asks the CPU default for 4x the stock transformers pipeline's samples/s on the tweets
test and a single-text p50 of at most 0.35x the pipeline's. ``emotionkit bench`` times the whole call
(tokenizing, batching, the decision). This times the ONNX Runtime sessions alone on inputs tokenized
beforehand, in length-sorted batches of 32 (no padding to speak of) and one text at a time: no wrapper
can be faster than its engine, so if these ratios miss the bar, no change outside the graph reaches it.
Beside the fp32 and shipped int8 graphs: every weighted MatMul int8 (7-bit weights), the most any static
int8 recipe of this graph quantizes, whatever it costs in accuracy (benchmarks/int8_reduce_range.py).
The pipeline runs as ``emotionkit bench`` runs it (``top_k=None``, batch size 32) first, in the same process.

Writes benchmarks/results/engine-ceiling-<time>.json.

Its every-MatMul graph is built with the rounding of the recipe before session 30
(``ROUNDING_BEFORE_SESSION_30``: MatMul outputs rounded, one rounded copy shared by every reader), as its
recorded runs were; the shipped int8 graph is whatever recipe the cache holds.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from ort_timing import time_session, tweet_inputs  # benchmarks/ort_timing.py

from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import ROUNDING_BEFORE_SESSION_30, graph_dir, quantize_int8, weighted_matmuls
from emotionkit.predict import EmotionClassifier

SINGLES = 200


def time_pipeline(model: Path, texts: list[str]) -> dict:
    """The stock pipeline as ``emotionkit bench`` runs it: samples/s over all texts at batch size 32, and
    single-text p50 over the first ``SINGLES`` texts (after 20 warm-up calls)."""
    from transformers import pipeline  # noqa: PLC0415

    pipe = pipeline("text-classification", model=str(model), top_k=None, batch_size=32, device="cpu")
    pipe(texts[:64])
    for text in texts[:20]:
        pipe(text)
    latency = []
    for text in texts[:SINGLES]:
        start = time.perf_counter()
        pipe(text)
        latency.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    pipe(texts)
    return {"latency_p50_ms": float(np.percentile(latency, 50)),
            "samples_per_second": len(texts) / (time.perf_counter() - start)}


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports both graphs when missing
    texts, singles, batches = tweet_inputs(clf.tokenizer, singles=SINGLES)
    rows = {"pipeline": time_pipeline(model, texts)}
    graphs = graph_dir(model)
    every = Path(tempfile.mkdtemp()) / "every_matmul_int8.onnx"
    quantize_int8(graphs / "model.onnx", every, model, nodes=weighted_matmuls(graphs / "model.onnx"), reduce_range=True,
                  **ROUNDING_BEFORE_SESSION_30)
    for name, path in (("onnx_fp32_engine_alone", graphs / "model.onnx"),
                       ("onnx_int8_engine_alone", graphs / "model_int8.onnx"),
                       ("every_matmul_int8_engine_alone", every)):
        timed = time_session(path, singles, batches)
        rows[name] = {k: v for k, v in timed.items() if k != "logits"}
    base = rows["pipeline"]
    for row in rows.values():
        row["speedup_vs_pipeline"] = row["samples_per_second"] / base["samples_per_second"]
        row["latency_p50_vs_pipeline"] = row["latency_p50_ms"] / base["latency_p50_ms"]
    for name, row in rows.items():
        print(f"{name:>30}: {row['samples_per_second']:7.1f} texts/s ({row['speedup_vs_pipeline']:.2f}x), "
              f"p50 {row['latency_p50_ms']:.2f} ms ({row['latency_p50_vs_pipeline']:.2f}x)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = {"model": str(model), "texts": len(texts), "batch_size": 32, "singles": SINGLES, "rows": rows}
    print("written", write_json(out, Path("benchmarks/results") / f"engine-ceiling-{stamp}.json"))


if __name__ == "__main__":
    main()
