"""Another CPU runtime for the same graphs: OpenVINO against ONNX Runtime and the stock pipeline, in one run.

    pip install openvino==2026.4.1      # not an emotionkit dependency; this script only
    python benchmarks/openvino_engine.py [MODEL]      # default: the shipped model

Issue 27 asks the CPU default for 4x the stock pipeline's samples/s and a single-text p50 of at most
0.35x its. ``engine_ceiling.py`` showed that ONNX Runtime running the shipped graphs alone stays under
that; this asks whether another runtime runs the same ONNX graphs (fp32, and the static int8 QDQ graph)
faster on this CPU. OpenVINO reads ONNX directly and runs QDQ graphs with its own int8 kernels; it is
compiled for latency with 2 inference threads and one stream, as ONNX Runtime runs with 2 intra-op
threads. Every engine gets the same inputs, tokenized beforehand (``ort_timing.tweet_inputs``); the
stock pipeline runs first, as ``emotionkit bench`` runs it. Both runtimes see every batch once untimed
before the timed pass, so OpenVINO's compiling for each new input shape is not counted. Each row also gives the largest logit
difference from ONNX Runtime's fp32 graph, so a fast wrong answer shows.

Writes benchmarks/results/openvino-<time>.json.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from engine_ceiling import SINGLES, time_pipeline  # benchmarks/engine_ceiling.py
from ort_timing import time_runner, time_session, tweet_inputs  # benchmarks/ort_timing.py

from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import graph_dir
from emotionkit.predict import EmotionClassifier


def _openvino():
    try:
        import openvino  # noqa: PLC0415
    except ImportError as err:
        raise SystemExit(f"this benchmark needs OpenVINO (pip install openvino==2026.4.1): {err}") from err
    return openvino


def time_openvino(path: Path, singles: list, batches: list, threads: int = 2) -> dict:
    """One OpenVINO compiled model on ``path``, timed as ``ort_timing.time_session`` times a session."""
    compiled = _openvino().Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                          "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    logits_port = compiled.output("logits")

    def run(enc):
        feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
        return request.infer(feed)[logits_port].copy()

    return time_runner(run, singles, batches, warm_batches=len(batches))


def main() -> None:
    openvino = _openvino()  # fails before the long part

    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports both graphs when missing
    texts, singles, batches = tweet_inputs(clf.tokenizer, singles=SINGLES)
    graphs = graph_dir(model)
    rows = {"pipeline": time_pipeline(model, texts)}
    for name, file in (("fp32", "model.onnx"), ("int8", "model_int8.onnx")):
        # Every batch shape is seen once untimed by both engines (OpenVINO compiles for a new shape).
        rows[f"onnxruntime_{name}"] = time_session(graphs / file, singles, batches, warm_batches=len(batches))
        rows[f"openvino_{name}"] = time_openvino(graphs / file, singles, batches)
    reference = rows["onnxruntime_fp32"]["logits"]
    base = rows["pipeline"]
    for row in rows.values():
        row["speedup_vs_pipeline"] = row["samples_per_second"] / base["samples_per_second"]
        row["latency_p50_vs_pipeline"] = row["latency_p50_ms"] / base["latency_p50_ms"]
        if "logits" in row:
            row["max_logit_diff_vs_onnxruntime_fp32"] = float(np.abs(row.pop("logits") - reference).max())
    for name, row in rows.items():
        print(f"{name:>20}: {row['samples_per_second']:7.1f} texts/s ({row['speedup_vs_pipeline']:.2f}x), "
              f"p50 {row['latency_p50_ms']:.2f} ms ({row['latency_p50_vs_pipeline']:.2f}x)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = {"model": str(model), "openvino": openvino.__version__, "threads": 2, "texts": len(texts), "batch_size": 32,
           "singles": SINGLES, "rows": rows}
    print("written", write_json(out, Path("benchmarks/results") / f"openvino-{stamp}.json"))


if __name__ == "__main__":
    main()
