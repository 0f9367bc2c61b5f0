"""Ways to quantize a model's ONNX graph for int8 compute, scored against its fp32 graph on validation.

For each variant: the export's parity figure (largest probability difference from PyTorch
fp32 on ``PARITY_TEXTS``, batched and one at a time), then on the validation split of every
source the model was trained on: accuracy and macro-F1, their change from the fp32 graph,
top-label agreement and the largest probability difference, and throughput at batch size 32
relative to the fp32 graph measured in the same process. Validation only: test splits are
never read. The blockwise variants need the ``onnx-ir`` package (``pip install onnx-ir==1.1.0``),
which emotionkit itself does not use.

    python benchmarks/int8_variants.py models/emotionkit-minilm [--variants NAME ...]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from emotionkit.config import parse_data_spec
from emotionkit.data import load_dataset
from emotionkit.evaluate import compute_metrics
from emotionkit.onnx_engine import FP32, PARITY_TEXTS, OnnxEngine, export_onnx, graph_dir
from emotionkit.predict import EmotionClassifier

# name -> keyword arguments of onnxruntime.quantization.quantize_dynamic (per-channel int8 weights);
# "exclude" is a regular expression over node names, for nodes left in fp32.
VARIANTS = {
    "all-ops (the export's)": {},
    "matmul-only": {"op_types_to_quantize": ["MatMul"]},
    "matmul-only, tensor-wise": {"op_types_to_quantize": ["MatMul"], "per_channel": False},
    "matmul-only, 7-bit": {"op_types_to_quantize": ["MatMul"], "reduce_range": True},
    "matmul-only, constant weights only": {"op_types_to_quantize": ["MatMul"],
                                           "extra_options": {"MatMulConstBOnly": True}},
    "all-ops, FFN output layers fp32": {"exclude": r"/output/dense/MatMul$"},
    "all-ops, FFN layers fp32": {"exclude": r"/(intermediate|output)/dense/MatMul$"},
    "all-ops, last layer fp32": {"exclude": r"layer\.5/"},
    "all-ops, first layer fp32": {"exclude": r"layer\.0/"},
    "all-ops, embeddings fp32": {"op_types_to_quantize": ["MatMul", "Gemm", "Attention"]},
    **{f"all-ops, layer {k} FFN output fp32": {"exclude": rf"layer\.{k}/output/dense/MatMul$"} for k in range(6)},
    # Weight-only block quantization (MatMulNBits): one scale per 32 weights instead of per output
    # channel; accuracy level 4 computes in int8 with activations quantized per block as well.
    # Needs the onnx-ir package.
    "blockwise 8-bit, block 32, int8 compute": {"nbits": 8, "block_size": 32},
    "blockwise 4-bit, block 32, int8 compute": {"nbits": 4, "block_size": 32},
}


def quantize(fp32: Path, out: Path, options: dict) -> None:
    import onnx  # noqa: PLC0415
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    if "nbits" in options:
        from onnxruntime.quantization.matmul_nbits_quantizer import (  # noqa: PLC0415
            DefaultWeightOnlyQuantConfig,
            MatMulNBitsQuantizer,
        )

        settings = {"bits": options["nbits"], "block_size": options["block_size"], "is_symmetric": True,
                    "accuracy_level": 4}
        quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), **settings,
                                         algo_config=DefaultWeightOnlyQuantConfig(**settings))
        quantizer.process()
        quantizer.model.save_model_to_file(str(out), use_external_data_format=False)
        return
    kwargs = {"weight_type": QuantType.QInt8, "per_channel": True, **options}
    if "exclude" in kwargs:
        pattern = re.compile(kwargs.pop("exclude"))
        kwargs["nodes_to_exclude"] = [n.name for n in onnx.load(str(fp32)).graph.node if pattern.search(n.name)]
    quantize_dynamic(str(fp32), str(out), **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=3, help="Timed passes (median) for throughput.")
    args = parser.parse_args()

    fp32_path = graph_dir(args.model) / FP32
    if not fp32_path.is_file():
        export_onnx(args.model)
    meta = json.loads((args.model / "emotionkit.json").read_text("utf-8"))
    sources = [load_dataset(parse_data_spec(spec)[0]) for spec in meta["train"]["data"]]
    splits = {ds.name: ds.split("validation") for ds in sources}
    torch_clf = EmotionClassifier.load(args.model, engine="torch")
    clf = EmotionClassifier.load(args.model, engine="onnx")
    parity_ref = [torch_clf.predict_proba(PARITY_TEXTS, batch_size=len(PARITY_TEXTS))] + [
        torch_clf.predict_proba([t]) for t in PARITY_TEXTS[:4]]

    def score(engine: OnnxEngine) -> dict:
        clf.engine = engine
        parity = [clf.predict_proba(PARITY_TEXTS, batch_size=len(PARITY_TEXTS))] + [
            clf.predict_proba([t]) for t in PARITY_TEXTS[:4]]
        row = {"parity_max_prob_diff": max(float(np.abs(a - b).max()) for a, b in zip(parity, parity_ref, strict=True))}
        row["probs"] = {name: clf.predict_proba([ex.text for ex in examples], batch_size=32)
                        for name, examples in splits.items()}
        texts = [ex.text for ex in splits[sources[0].name]]
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            clf.predict_proba(texts, batch_size=32)
            times.append(time.perf_counter() - start)
        row["samples_per_second"] = len(texts) / float(np.median(times))
        for name, examples in splits.items():
            m = compute_metrics([ex.label for ex in examples], row["probs"][name].argmax(1))
            row[f"{name}_accuracy"], row[f"{name}_f1_macro"] = m["accuracy"], m["f1_macro"]
        return row

    base = score(OnnxEngine(fp32_path, name="onnx-fp32"))
    rows = {"fp32": base}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants:
            path = Path(tmp) / f"{len(rows)}.onnx"
            quantize(fp32_path, path, VARIANTS[name])
            rows[name] = score(OnnxEngine(path, name=name))
            rows[name]["size_mb"] = path.stat().st_size / 1e6
    for name, row in rows.items():
        out = {"variant": name, "parity_max_prob_diff": round(row["parity_max_prob_diff"], 4),
               "speed_vs_fp32": round(row["samples_per_second"] / base["samples_per_second"], 2)}
        if "size_mb" in row:
            out["size_mb"] = round(row["size_mb"], 1)
        for src in splits:
            probs, ref = row["probs"][src], base["probs"][src]
            out[src] = {"accuracy": round(row[f"{src}_accuracy"], 4), "f1_macro": round(row[f"{src}_f1_macro"], 4),
                        "accuracy_change": round(row[f"{src}_accuracy"] - base[f"{src}_accuracy"], 4),
                        "agreement": round(float((probs.argmax(1) == ref.argmax(1)).mean()), 4),
                        "max_prob_diff": round(float(np.abs(probs - ref).max()), 4)}
        print(json.dumps(out))


if __name__ == "__main__":
    main()
