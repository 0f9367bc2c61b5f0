"""7-bit weights (``reduce_range``) for the static int8 graph, on validation only.

    python benchmarks/int8_reduce_range.py [MODEL]

ONNX Runtime's u8s8 kernels on x86 CPUs without VNNI (this machine: AVX2) multiply pairs of uint8
activations and int8 weights into saturating int16 sums (VPMADDUBSW); 8-bit weights can overflow them, so the
same graph scores differently on CPUs with and without VNNI. ONNX Runtime's quantization guide recommends
7-bit weights (``reduce_range=True``) on such CPUs. Variants, each scored against the fp32 graph on the
validation splits (accuracy / macro-F1 change in points, largest score difference) and timed as a whole call
(length-sorted batches of 32 over the validation tweets):

* the shipped recipe (8-bit weights; feed-forward output projections and layer 0 fp32);
* the shipped node set with 7-bit weights;
* every weighted MatMul but the feed-forward output projections (layer 0 too), 7-bit;
* every weighted MatMul, 7-bit; and the same with 8-bit weights.

Writes benchmarks/results/int8-reduce-range-<time>.json.

Its int8 graphs are built as the recipe before session 30 built them (``ROUNDING_BEFORE_SESSION_30``: MatMul
outputs rounded, one rounded copy shared by every reader; ``nodes_before_session_30``), so it reproduces the
results recorded with that recipe.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotionkit.data import load_dataset
from emotionkit.evaluate import score_examples, write_json
from emotionkit.onnx_engine import (
    FP32,
    ROUNDING_BEFORE_SESSION_30,
    OnnxEngine,
    graph_dir,
    is_ffn_output,
    nodes_before_session_30,
    quantize_int8,
    weighted_matmuls,
)
from emotionkit.predict import EmotionClassifier

SOURCES = {"tweets": "../shared/data/emotion", "goemotions": "../shared/data/goemotions",
           "stylemix": "data/stylemix", "stylemix-multi": "data/stylemix-multi"}


def score_graphs(clf, graphs: dict, data: dict, reduce_range: dict | None = None) -> dict:
    """Each graph ``name -> (path, int8 MatMuls)`` against the first (fp32) on ``data``'s rows: accuracy and
    macro-F1 change in points per source, the largest and mean score difference, and whole-call texts/s over
    the validation tweets (length-sorted batches of 32)."""
    rows, reference = {}, None
    texts = [e.text for e in data["tweets"]]
    for name, (path, n_nodes) in graphs.items():
        clf.engine = OnnxEngine(path)
        row: dict = {"int8_matmuls": n_nodes, "reduce_range": (reduce_range or {}).get(name)}
        scores = []
        for src, rows_ in data.items():
            probs = clf.predict_proba([e.text for e in rows_])
            m = score_examples(rows_, probs, clf.decision)
            row[src] = {"accuracy": m["accuracy"], "f1_macro": m["f1_macro"]}
            scores.append(probs)
        scores = np.concatenate(scores)
        reference = scores if reference is None else reference
        row["max_score_diff_vs_fp32"] = float(np.abs(scores - reference).max())
        row["mean_score_diff_vs_fp32"] = float(np.abs(scores - reference).mean())
        clf.predict_proba(texts[:64])
        start = time.perf_counter()
        clf.predict_proba(texts, batch_size=32)
        row["samples_per_second"] = len(texts) / (time.perf_counter() - start)
        first = next(iter(rows), None)
        if first is not None:
            row["change_points"] = {src: {k: round((row[src][k] - rows[first][src][k]) * 100, 2)
                                          for k in ("accuracy", "f1_macro")} for src in data}
        rows[name] = row
        print(f"{name}: {row.get('change_points')} max diff {row['max_score_diff_vs_fp32']:.3f} "
              f"mean {row['mean_score_diff_vs_fp32']:.4f} {row['samples_per_second']:.0f}/s", flush=True)
    return rows


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    data = {name: load_dataset(path, multi_label=True).split("validation") for name, path in SOURCES.items()}
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports the graphs when missing
    fp32, tmp = graph_dir(model) / FP32, Path(tempfile.mkdtemp())
    every = weighted_matmuls(fp32)
    variants = {  # name -> (nodes, 7-bit weights)
        "shipped recipe (8-bit)": (nodes_before_session_30(fp32), False),
        "shipped nodes, 7-bit": (nodes_before_session_30(fp32), True),
        "all but FFN out, 7-bit": ([n for n in every if not is_ffn_output(n)], True),
        "all, 7-bit": (every, True),
        "all, 8-bit": (every, False),
    }
    graphs = {"fp32": (fp32, 0, None)}
    for i, (name, (nodes, reduce_range)) in enumerate(variants.items()):
        quantize_int8(fp32, tmp / f"{i}.onnx", model, nodes=nodes, reduce_range=reduce_range,
                      **ROUNDING_BEFORE_SESSION_30)
        graphs[name] = (tmp / f"{i}.onnx", len(nodes), reduce_range)
    rows = score_graphs(clf, {k: (v[0], v[1]) for k, v in graphs.items()}, data,
                        {k: v[2] for k, v in graphs.items()})
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json({"model": str(model), "split": "validation", "rows": rows},
                                Path("benchmarks/results") / f"int8-reduce-range-{stamp}.json"))


if __name__ == "__main__":
    main()
