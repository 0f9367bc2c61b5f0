"""What emotionkit's wrapper adds to one text's call, beside the ONNX Runtime session it wraps.

    python benchmarks/wrapper_overhead.py [MODEL] [--engine onnx-int8] [--calls 400]

Each of ``--calls`` rounds times, one after another, on the same test tweet tokenized beforehand: the
session alone (``engine.logits``), the batching and scoring around it (``_run``), the whole ``clf([text])``,
and its two wrapper steps, the tokenizer call and building the results. Interleaving puts every step in the
same machine state; medians are reported. Writes benchmarks/results/wrapper-overhead-<time>.json.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.predict import EmotionClassifier
from emotionkit.textnorm import normalize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="models/emotionkit-minilm")
    parser.add_argument("--engine", default="onnx-int8")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--text-index", type=int, default=5, help="Which tweet of the test split.")
    args = parser.parse_args()

    text = load_dataset("../shared/data/emotion").split("test")[args.text_index].text
    clf = EmotionClassifier.load(args.model, engine=args.engine)
    ids = clf.tokenizer(normalize(text, clf.normalize_steps))["input_ids"]
    input_ids = np.array([ids], dtype=np.int64)
    mask = np.ones_like(input_ids)
    lengths, rows = np.array([len(ids)]), np.array([0])
    probs = clf.predict_proba([text])
    steps = {
        "engine": lambda: clf.engine.logits(input_ids, mask),
        "run": lambda: clf._run([ids], lengths, rows, 32, False, False),
        "whole_call": lambda: clf([text]),
        "tokenizer": lambda: clf.tokenizer([normalize(text, clf.normalize_steps)], truncation=True,
                                           max_length=clf.max_length, return_length=True),
        "results": lambda: clf.results(probs),
    }
    clf([text] * 64)  # warm-up
    times = {name: [] for name in steps}
    for _ in range(args.calls):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) * 1000)
    medians = {name: float(np.median(ms)) for name, ms in times.items()}
    out = {"model": args.model, "engine": args.engine, "text": text, "calls": args.calls, "median_ms": medians,
           "wrapper_share": (medians["whole_call"] - medians["engine"]) / medians["whole_call"]}
    for name, ms in medians.items():
        print(f"{name:>12}: {ms:.3f} ms")
    print(f"outside the engine: {out['wrapper_share']:.1%} of the whole call")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json(out, Path("benchmarks/results") / f"wrapper-overhead-{stamp}.json"))


if __name__ == "__main__":
    main()
