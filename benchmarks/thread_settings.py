"""Thread settings for the CPU engine: ONNX Runtime's intra-op threads (1 or 2) and whether idle pool
threads spin, for the fp32 and the static int8 graph of a model, measured with sessions alone (no
emotionkit batching): single-text p50 over 200 test tweets and throughput over the 2,000 test tweets
in length-sorted batches of 32. Writes benchmarks/results/threads-<time>.json.

    python benchmarks/thread_settings.py [MODEL]     # default: the shipped model
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import graph_dir
from emotionkit.predict import EmotionClassifier


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports both graphs when missing
    graphs = graph_dir(model)
    texts = [e.text for e in load_dataset("../shared/data/emotion").split("test")]
    singles = [clf.tokenizer(t, return_tensors="np") for t in texts[:200]]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [clf.tokenizer([texts[i] for i in order[k : k + 32]], padding=True, return_tensors="np")
               for k in range(0, len(texts), 32)]
    rows = []
    for graph in ("model.onnx", "model_int8.onnx"):
        for threads in (1, 2):
            for spin in ("0", "1"):
                options = ort.SessionOptions()
                options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
                options.add_session_config_entry("session.intra_op.allow_spinning", spin)
                session = ort.InferenceSession(str(graphs / graph), options, providers=["CPUExecutionProvider"])

                def run(enc, session=session):
                    feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
                    return session.run(["logits"], feed)[0]

                for enc in singles[:20]:
                    run(enc)
                latency = []
                for enc in singles:
                    start = time.perf_counter()
                    run(enc)
                    latency.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                for enc in batches:
                    run(enc)
                row = {"graph": graph, "threads": threads, "spinning": spin == "1",
                       "latency_p50_ms": float(np.percentile(latency, 50)),
                       "samples_per_second": len(texts) / (time.perf_counter() - start)}
                rows.append(row)
                print(row, flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    write_json({"model": str(model), "rows": rows}, Path("benchmarks/results") / f"threads-{stamp}.json")


if __name__ == "__main__":
    main()
