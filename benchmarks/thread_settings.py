"""Thread settings for the CPU engine: ONNX Runtime's intra-op threads (1 or 2) and whether idle pool
threads spin, for the fp32 and the static int8 graph of a model, measured with sessions alone (no
emotionkit batching): single-text p50 over 200 test tweets and throughput over the 2,000 test tweets
in length-sorted batches of 32. Writes benchmarks/results/threads-<time>.json.

    python benchmarks/thread_settings.py [MODEL]     # default: the shipped model
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from ort_timing import time_session, tweet_inputs  # benchmarks/ort_timing.py

from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import graph_dir
from emotionkit.predict import EmotionClassifier


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports both graphs when missing
    graphs = graph_dir(model)
    _, singles, batches = tweet_inputs(clf.tokenizer)
    rows = []
    for graph in ("model.onnx", "model_int8.onnx"):
        for threads in (1, 2):
            for spinning in (False, True):
                timed = time_session(graphs / graph, singles, batches, threads=threads, spinning=spinning)
                row = {"graph": graph, "threads": threads, "spinning": spinning,
                       "latency_p50_ms": timed["latency_p50_ms"], "samples_per_second": timed["samples_per_second"]}
                rows.append(row)
                print(row, flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    write_json({"model": str(model), "rows": rows}, Path("benchmarks/results") / f"threads-{stamp}.json")


if __name__ == "__main__":
    main()
