"""Whether the int8 graph should round each MatMul's output: ONNX Runtime's ``quantize_static`` (QDQ) puts a
uint8 Quantize/Dequantize pair on every quantized MatMul's output unless told not to, and the recipe before
session 30 let it, and by default one rounded copy of each input serves every node reading it, so the residual
stream beside the LayerNorm outputs was rounded too; the variants after the first give each quantized node its
own copy (``DedicatedQDQPair``). Scored against the fp32 graph on validation only (accuracy and macro-F1 per source, the
largest and mean score difference, whole-call speed over the validation tweets): the recipe before (the
feed-forward output projections and layer 0 fp32, outputs rounded); the same nodes with outputs fp32; every
weighted MatMul with outputs fp32; every one but layer 0's with outputs fp32; every one with outputs rounded.
Writes benchmarks/results/int8-output-q-<time>.json.

    python benchmarks/int8_output_q.py [MODEL] [--first-run]

Without --first-run it scores the fix that followed (other readers of a rounded copy, such as the feed-forward
block's residual Add, rewired to the fp32 tensor); with it, the five variants of session 30's second run.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from int8_reduce_range import SOURCES, score_graphs  # benchmarks/int8_reduce_range.py

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import FP32, graph_dir, int8_nodes, nodes_before_session_30, quantize_int8, weighted_matmuls
from emotionkit.predict import EmotionClassifier


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    model = Path(args[0] if args else "models/emotionkit-minilm")
    data = {name: load_dataset(path, multi_label=True).split("validation") for name, path in SOURCES.items()}
    clf = EmotionClassifier.load(model, engine="onnx")  # exports the graphs when missing
    fp32, tmp = graph_dir(model) / FP32, Path(tempfile.mkdtemp())
    every = [n for n in weighted_matmuls(fp32) if "/encoder/layer." in n]
    before, but_0 = nodes_before_session_30(fp32), int8_nodes(fp32)  # the recipe before, and today's nodes
    variants = {  # name -> (nodes, outputs rounded, one rounded copy per reading node, other readers fp32)
        "recipe before (outputs rounded, shared pairs)": (before, True, False, False),
        "every MatMul but layer 0, outputs fp32, feed-forward residual rounded": (but_0, False, True, False),
        "every MatMul but layer 0, outputs fp32, residual fp32": (but_0, False, True, True),
        "every MatMul, outputs fp32, residual fp32": (every, False, True, True),
    }
    if "--first-run" in sys.argv:  # session 30's second run (before the residual fix), as it was
        variants = {
            "recipe before (outputs rounded, shared pairs)": (before, True, False, False),
            "same nodes, outputs fp32": (before, False, True, False),
            "every MatMul, outputs fp32": (every, False, True, False),
            "every MatMul but layer 0, outputs fp32": (but_0, False, True, False),
            "every MatMul, outputs rounded": (every, True, True, False),
        }
    graphs = {"fp32": (fp32, 0)}
    for i, (name, (nodes, rounded, dedicated, readers)) in enumerate(variants.items()):
        quantize_int8(fp32, tmp / f"{i}.onnx", model, nodes=nodes, quantize_outputs=rounded, dedicated_pairs=dedicated,
                      fp32_readers=readers)
        graphs[name] = (tmp / f"{i}.onnx", len(nodes))
    rows = score_graphs(clf, graphs, data)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json({"model": str(model), "split": "validation", "rows": rows},
                                Path("benchmarks/results") / f"int8-output-q-{stamp}.json"))


if __name__ == "__main__":
    main()
