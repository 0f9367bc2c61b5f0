"""Can the feed-forward output projections be quantized too? The shipped recipe keeps them fp32 because
MinMax ranges of their post-GELU inputs cost accuracy. This probe quantizes every MatMul with a constant
weight (FFN output projections included) under each of ONNX Runtime's calibration methods (MinMax,
Percentile, Entropy) and compares each graph with the fp32 graph and with the shipped int8 recipe, on
validation only: the largest score difference, accuracy and macro-F1 per source, and engine speed
(length-sorted batches of 32 over the validation tweets; single-text p50 over 200 of them).
Writes benchmarks/results/int8-ffn-<time>.json.

    python benchmarks/int8_ffn_calibration.py [MODEL]
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
from emotionkit.onnx_engine import FP32, INT8, OnnxEngine, graph_dir
from emotionkit.predict import EmotionClassifier

SOURCES = {"tweets": "../shared/data/emotion", "goemotions": "../shared/data/goemotions",
           "stylemix": "data/stylemix", "stylemix-multi": "data/stylemix-multi"}
METHODS = {"minmax": ("MinMax", {}), "percentile-99.99": ("Percentile", {"CalibPercentile": 99.99}),
           "percentile-99.999": ("Percentile", {"CalibPercentile": 99.999}), "entropy": ("Entropy", {})}
# ONNX Runtime's histogram calibrators hold every calibration batch's activations in memory at once
# (512 texts ran this 24 GiB machine out of memory) and need one shape for all batches: they get the first
# 128 calibration texts as one batch.
HISTOGRAM_TEXTS = 128


def quantize_all(fp32: Path, out: Path, model: Path, method: str, extra: dict) -> None:
    """Every weighted MatMul in QDQ int8 with the given calibration, on the packaged calibration texts."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from emotionkit import onnx_engine

    nodes = onnx_engine.weighted_matmuls(fp32)
    texts = onnx_engine.calibration_texts()
    texts, size = (texts, 16) if method == "MinMax" else (texts[:HISTOGRAM_TEXTS], HISTOGRAM_TEXTS)
    tok = onnx_engine._tokenizer(model)
    batches = iter([onnx_engine._encode(tok, texts[i : i + size]) for i in range(0, len(texts), size)])

    class Reader:
        def get_next(self):
            b = next(batches, None)
            return None if b is None else {"input_ids": b[0], "attention_mask": b[1]}

    quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_quantize=nodes,
                    calibrate_method=getattr(CalibrationMethod, method), extra_options=extra)


def measure(clf, data: dict, texts: list[str]) -> dict:
    row, scores = {}, []
    for name, ds in data.items():
        rows = ds.split("validation")
        probs = clf.predict_proba([e.text for e in rows], batch_size=32)
        m = score_examples(rows, probs, clf.decision)
        row[name] = {"accuracy": m["accuracy"], "f1_macro": m["f1_macro"]}
        scores.append(probs)
    clf(texts[:64])
    start = time.perf_counter()
    clf.predict_proba(texts, batch_size=32)
    row["samples_per_second"] = len(texts) / (time.perf_counter() - start)
    latency = []
    for text in texts[:200]:
        t0 = time.perf_counter()
        clf.predict_proba([text])
        latency.append((time.perf_counter() - t0) * 1000)
    row["latency_p50_ms"] = float(np.percentile(latency, 50))
    return row, np.concatenate(scores)


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    data = {name: load_dataset(path, multi_label=True) for name, path in SOURCES.items()}
    texts = [e.text for e in data["tweets"].split("validation")]
    clf = EmotionClassifier.load(model, engine="onnx-int8")
    graphs, tmp = graph_dir(model), Path(tempfile.mkdtemp())
    variants = {"fp32": graphs / FP32, "shipped int8 (FFN output fp32, MinMax)": graphs / INT8}
    failed = {}
    for name, (method, extra) in METHODS.items():
        start = time.perf_counter()
        try:
            quantize_all(graphs / FP32, tmp / f"{name}.onnx", model, method, extra)
        except ValueError as err:  # ONNX Runtime's histogram calibrators fail on this graph; say how
            failed[f"all MatMuls int8, {name}"] = f"{type(err).__name__}: {err}"
            print(f"{name}: quantization failed: {err}", flush=True)
            continue
        print(f"{name}: quantized in {time.perf_counter() - start:.0f} s", flush=True)
        variants[f"all MatMuls int8, {name}"] = tmp / f"{name}.onnx"
    rows, reference = {}, None
    for name, path in variants.items():
        clf.engine = OnnxEngine(path)
        row, scores = measure(clf, data, texts)
        if reference is None:
            reference = scores
        row["max_score_diff_vs_fp32"] = float(np.abs(scores - reference).max())
        rows[name] = row
        print(name, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json({"model": str(model), "split": "validation", "rows": rows, "failed": failed},
                                Path("benchmarks/results") / f"int8-ffn-{stamp}.json"))


if __name__ == "__main__":
    main()
