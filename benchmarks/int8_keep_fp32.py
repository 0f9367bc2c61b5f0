"""Which of the int8 graph's layers to leave fp32: the shipped recipe (every weighted MatMul int8 but the
feed-forward output projections) against the same with one whole layer's MatMuls kept fp32, scored
against the fp32 graph on validation only: accuracy and macro-F1 per source, the largest score
difference, and the speed of the whole call (length-sorted batches of 32 over the validation tweets).
Writes benchmarks/results/int8-keep-<time>.json.

    python benchmarks/int8_keep_fp32.py [MODEL]
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotionkit.data import load_dataset
from emotionkit.evaluate import evaluate, write_json
from emotionkit.onnx_engine import FP32, OnnxEngine, graph_dir, int8_nodes, quantize_int8
from emotionkit.predict import EmotionClassifier

SOURCES = {"tweets": "../shared/data/emotion", "goemotions": "../shared/data/goemotions",
           "stylemix": "data/stylemix", "stylemix-multi": "data/stylemix-multi"}
VARIANTS = {"shipped recipe": None, "layer 0 fp32": r"layer\.0/", "layer 5 fp32": r"layer\.5/",
            "attention Q/K/V fp32": r"/attention/self/"}


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    data = {name: load_dataset(path, multi_label=True) for name, path in SOURCES.items()}
    texts = [e.text for e in data["tweets"].split("validation")]
    clf = EmotionClassifier.load(model, engine="onnx-int8")
    fp32, tmp = graph_dir(model) / FP32, Path(tempfile.mkdtemp())
    graphs = {"fp32": fp32}
    for name, exclude in VARIANTS.items():
        nodes = [n for n in int8_nodes(fp32) if exclude is None or not re.search(exclude, n)]
        quantize_int8(fp32, tmp / f"{len(graphs)}.onnx", model, nodes=nodes)
        graphs[name] = tmp / f"{len(graphs)}.onnx"
    rows, reference = {}, None
    for name, path in graphs.items():
        clf.engine = OnnxEngine(path)
        row, scores = {}, []
        for src, ds in data.items():
            m = evaluate(clf, ds.split("validation"))
            row[src] = {"accuracy": m["accuracy"], "f1_macro": m["f1_macro"]}
            scores.append(clf.predict_proba([e.text for e in ds.split("validation")]))
        scores = np.concatenate(scores)
        reference = scores if reference is None else reference
        row["max_score_diff_vs_fp32"] = float(np.abs(scores - reference).max())
        clf.predict_proba(texts[:64])
        start = time.perf_counter()
        clf.predict_proba(texts, batch_size=32)
        row["samples_per_second"] = len(texts) / (time.perf_counter() - start)
        if name != "fp32":
            row["change_points"] = {src: {k: round((row[src][k] - rows["fp32"][src][k]) * 100, 2)
                                          for k in ("accuracy", "f1_macro")} for src in data}
        rows[name] = row
        print(name, row.get("change_points"), round(row["max_score_diff_vs_fp32"], 3),
              round(row["samples_per_second"]), flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json({"model": str(model), "split": "validation", "rows": rows},
                                Path("benchmarks/results") / f"int8-keep-{stamp}.json"))


if __name__ == "__main__":
    main()
