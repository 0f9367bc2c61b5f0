"""Whether the int8 graph should round each MatMul's output: ONNX Runtime's ``quantize_static`` (QDQ) puts a
uint8 Quantize/Dequantize pair on every quantized MatMul's output unless told not to, and the recipe before
session 30 let it, and by default one rounded copy of each input serves every node reading it, so the residual
stream beside the LayerNorm outputs was rounded too; the variants after the first give each quantized node its
own copy (``DedicatedQDQPair``). Scored against the fp32 graph on validation only (accuracy and macro-F1 per source, the
largest and mean score difference, whole-call speed over the validation tweets): the recipe before (the
feed-forward output projections and layer 0 fp32, outputs rounded); the same nodes with outputs fp32; every
weighted MatMul with outputs fp32; every one but layer 0's with outputs fp32; every one with outputs rounded.
Writes benchmarks/results/int8-output-q-<time>.json.

    python benchmarks/int8_output_q.py [MODEL]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from int8_reduce_range import SOURCES, score_graphs  # benchmarks/int8_reduce_range.py

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import FP32, graph_dir, is_ffn_output, quantize_int8, weighted_matmuls
from emotionkit.predict import EmotionClassifier


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    data = {name: load_dataset(path, multi_label=True).split("validation") for name, path in SOURCES.items()}
    clf = EmotionClassifier.load(model, engine="onnx")  # exports the graphs when missing
    fp32, tmp = graph_dir(model) / FP32, Path(tempfile.mkdtemp())
    every = [n for n in weighted_matmuls(fp32) if "/encoder/layer." in n]
    before = [n for n in every if not is_ffn_output(n) and "layer.0/" not in n]
    variants = {  # name -> (nodes, outputs rounded, one rounded copy per reading node)
        "recipe before (outputs rounded, shared pairs)": (before, True, False),
        "same nodes, outputs fp32": (before, False, True),
        "every MatMul, outputs fp32": (every, False, True),
        "every MatMul but layer 0, outputs fp32": ([n for n in every if "layer.0/" not in n], False, True),
        "every MatMul, outputs rounded": (every, True, True),
    }
    graphs = {"fp32": (fp32, 0)}
    for i, (name, (nodes, rounded, dedicated)) in enumerate(variants.items()):
        quantize_int8(fp32, tmp / f"{i}.onnx", model, nodes=nodes, quantize_outputs=rounded, dedicated_pairs=dedicated)
        graphs[name] = (tmp / f"{i}.onnx", len(nodes))
    rows = score_graphs(clf, graphs, data)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json({"model": str(model), "split": "validation", "rows": rows},
                                Path("benchmarks/results") / f"int8-output-q-{stamp}.json"))


if __name__ == "__main__":
    main()
