"""Quantizing the feed-forward output projections after SmoothQuant-style scaling, on validation only.

    python benchmarks/int8_smooth_ffn.py [MODEL]

The shipped int8 recipe leaves each layer's feed-forward output projection fp32: the input of that MatMul
(after GELU) has a few channels with far larger values than the rest, so one static uint8 range per tensor
is coarse for all the others (benchmarks/int8_ffn_calibration.py). SmoothQuant (Xiao et al., 2023) divides
each input channel j by s_j = max|X_j|^a / max|W_j|^(1-a) and multiplies the weight's row j by s_j, which
leaves the fp32 product unchanged and moves the outliers into the weights, quantized per channel. After GELU
the division cannot be folded into the layer before, so it is a Mul node in the graph. The channel maxima
come from the packaged calibration texts (train splits), as the int8 ranges do.

Variants against the fp32 graph (accuracy / macro-F1 change in points, largest and mean score difference,
whole-call texts/s over the validation tweets): the shipped recipe; smoothed, with every MatMul but layer 0's
int8 at a = 0.5 and a = 0.75; and smoothed with every MatMul int8 at a = 0.5.

Writes benchmarks/results/int8-smooth-<time>.json.

Its int8 graphs are built as the recipe before session 30 built them (``ROUNDING_BEFORE_SESSION_30``: MatMul
outputs rounded, one rounded copy shared by every reader; ``nodes_before_session_30``), so it reproduces the
results recorded with that recipe.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from int8_reduce_range import SOURCES, score_graphs  # benchmarks/int8_reduce_range.py
from onnx import helper, numpy_helper

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import (
    FP32,
    ROUNDING_BEFORE_SESSION_30,
    _encode,
    _tokenizer,
    calibration_texts,
    graph_dir,
    is_ffn_output,
    nodes_before_session_30,
    quantize_int8,
    weighted_matmuls,
)
from emotionkit.predict import EmotionClassifier


def channel_maxima(graph_path: Path, inputs: list[str], model: Path) -> dict[str, np.ndarray]:
    """max |x| per channel of each named tensor over the calibration texts."""
    model_proto = onnx.load(str(graph_path))
    known = {o.name for o in model_proto.graph.output}
    model_proto.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                                    for n in inputs if n not in known)
    session = ort.InferenceSession(model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    tok, texts = _tokenizer(model), calibration_texts()
    out = {n: None for n in inputs}
    for i in range(0, len(texts), 16):
        ids, mask = _encode(tok, texts[i : i + 16])
        values = session.run(inputs, {"input_ids": ids, "attention_mask": mask})
        for name, v in zip(inputs, values, strict=True):
            m = np.abs(v.reshape(-1, v.shape[-1])).max(axis=0)
            out[name] = m if out[name] is None else np.maximum(out[name], m)
    return out


def smooth(graph_path: Path, out_path: Path, model: Path, alpha: float) -> None:
    """Write ``graph_path`` with every feed-forward output MatMul's input divided by s and its weight rows times s."""
    proto = onnx.load(str(graph_path))
    inits = {i.name: i for i in proto.graph.initializer}
    targets = [n for n in proto.graph.node if n.op_type == "MatMul" and n.input[1] in inits and is_ffn_output(n.name)]
    amax = channel_maxima(graph_path, [n.input[0] for n in targets], model)
    new_nodes = []
    for node in proto.graph.node:
        if node in targets:
            w = numpy_helper.to_array(inits[node.input[1]])  # [in, out]: row j multiplies input channel j
            s = np.maximum(amax[node.input[0]], 1e-5) ** alpha / np.maximum(np.abs(w).max(axis=1), 1e-5) ** (1 - alpha)
            s = np.maximum(s, 1e-5).astype(np.float32)
            inits[node.input[1]].CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(np.float32), node.input[1]))
            scale = f"{node.name}/smooth_scale"
            proto.graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), scale))
            scaled = f"{node.name}/smoothed_input"
            new_nodes.append(helper.make_node("Mul", [node.input[0], scale], [scaled], name=f"{node.name}/smooth"))
            node.input[0] = scaled
        new_nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(new_nodes)
    onnx.save(proto, str(out_path))


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    data = {name: load_dataset(path, multi_label=True).split("validation") for name, path in SOURCES.items()}
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports the graphs when missing
    fp32, tmp = graph_dir(model) / FP32, Path(tempfile.mkdtemp())
    quantize_int8(fp32, tmp / "shipped.onnx", model, nodes=nodes_before_session_30(fp32), **ROUNDING_BEFORE_SESSION_30)
    graphs = {"fp32": (fp32, 0), "shipped recipe": (tmp / "shipped.onnx", len(nodes_before_session_30(fp32)))}
    for alpha, keep_layer0 in ((0.5, True), (0.75, True), (0.5, False)):
        smoothed = tmp / f"smooth{alpha}.onnx"
        if not smoothed.exists():
            smooth(fp32, smoothed, model, alpha)
            graphs[f"smoothed fp32, a={alpha}"] = (smoothed, 0)
        nodes = [n for n in weighted_matmuls(smoothed) if not (keep_layer0 and "layer.0/" in n)]
        out = tmp / f"smooth{alpha}-{keep_layer0}.onnx"
        quantize_int8(smoothed, out, model, nodes=nodes, **ROUNDING_BEFORE_SESSION_30)
        graphs[f"smoothed a={alpha}, all MatMuls{' but layer 0' if keep_layer0 else ''}"] = (out, len(nodes))
    rows = score_graphs(clf, graphs, data)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json({"model": str(model), "split": "validation", "rows": rows},
                                Path("benchmarks/results") / f"int8-smooth-{stamp}.json"))


if __name__ == "__main__":
    main()
