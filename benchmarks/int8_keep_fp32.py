"""Which of the int8 graph's layers to leave fp32: the recipe before this choice (every weighted MatMul int8
but the feed-forward output projections) against the same with one whole layer's MatMuls (or the attention
Q/K/V) kept fp32, scored against the fp32 graph on validation only: accuracy and macro-F1 per source, the
largest score difference, and the speed of the whole call (length-sorted batches of 32 over the validation
tweets). Layer 0 won, and the recipe kept it fp32 (today's ``int8_nodes`` still does).
Writes benchmarks/results/int8-keep-<time>.json.

    python benchmarks/int8_keep_fp32.py [MODEL]

Its int8 graphs are built as the recipe before session 30 built them (``ROUNDING_BEFORE_SESSION_30``: MatMul
outputs rounded, one rounded copy shared by every reader), so it reproduces the results recorded with that
recipe.
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from int8_reduce_range import SOURCES, score_graphs  # benchmarks/int8_reduce_range.py

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import (
    FP32,
    ROUNDING_BEFORE_SESSION_30,
    graph_dir,
    is_ffn_output,
    quantize_int8,
    weighted_matmuls,
)
from emotionkit.predict import EmotionClassifier

VARIANTS = {"recipe before (layer 0 int8)": None, "layer 0 fp32": r"layer\.0/", "layer 5 fp32": r"layer\.5/",
            "attention Q/K/V fp32": r"/attention/self/", "layers 0 and 5 fp32": r"layer\.[05]/"}


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    data = {name: load_dataset(path, multi_label=True).split("validation") for name, path in SOURCES.items()}
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports the graphs when missing
    fp32, tmp = graph_dir(model) / FP32, Path(tempfile.mkdtemp())
    before = [n for n in weighted_matmuls(fp32) if not is_ffn_output(n)]
    graphs = {"fp32": (fp32, 0)}
    for i, (name, exclude) in enumerate(VARIANTS.items()):
        nodes = [n for n in before if exclude is None or not re.search(exclude, n)]
        quantize_int8(fp32, tmp / f"{i}.onnx", model, nodes=nodes, **ROUNDING_BEFORE_SESSION_30)
        graphs[name] = (tmp / f"{i}.onnx", len(nodes))
    rows = score_graphs(clf, graphs, data)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json({"model": str(model), "split": "validation", "rows": rows},
                                Path("benchmarks/results") / f"int8-keep-{stamp}.json"))


if __name__ == "__main__":
    main()
