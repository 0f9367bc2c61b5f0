"""Issue 25's bars, for one or more models side by side, on a split (test by default).

    python benchmarks/multilabel_bars.py models/emotionkit-minilm models/emotionkit-minilm-six
    python benchmarks/multilabel_bars.py models/emotionkit-minilm models/candidate --split validation --engine onnx-int8

``--engine`` scores every model with that engine (PyTorch fp32 by default); ``onnx-int8`` judges a candidate
default on what a CPU user gets (session 29: an interpolated default met every bar in fp32 and lost 3 of 133
validation mixed messages in int8).

Every model reads the multi-label sources the same way (GoEmotions whole through the package's
multi-label mapping; our sets of emotions), so a six-way model's missing neutral shows as neutral F1 0.
Writes benchmarks/results/multilabel-bars-<time>.json.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from emotionkit.data import load_dataset
from emotionkit.evaluate import evaluate, write_json
from emotionkit.onnx_engine import Int8RefusedError
from emotionkit.predict import EmotionClassifier

# The style sets have a test split only; stylemix, stylemix-multi (training data) and emojiset a validation split only,
# so --split validation compares models on our own registers too.
SOURCES = {"tweets": "../shared/data/emotion", "goemotions": "../shared/data/goemotions",
           "styleset": "data/styleset", "styleset-multi": "data/styleset-multi",
           "stylemix": "data/stylemix", "stylemix-multi": "data/stylemix-multi",
           # Validation only: chat messages whose emoji carry the emotion (data/emojiset/README.md).
           "emojiset": "data/emojiset"}
BARS = [  # (source, metric, bar, higher is better)
    ("goemotions", "neutral_f1", 0.72, True), ("goemotions", "f1_macro", 0.67, True),
    ("tweets", "accuracy", 0.93, True), ("tweets", "f1_macro", 0.885, True), ("tweets", "emotion_free_share", 0.02, False),
    ("styleset-multi", "neutral_recognised", 0.90, True), ("styleset-multi", "mixed_both_found", 0.60, True),
    ("styleset-multi", "mild_emotion_found", 0.85, True),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--split", default="test", choices=("validation", "test"))
    ap.add_argument("--engine", default="torch", choices=("torch", "onnx", "onnx-int8"),
                    help="Engine every model is scored with (default: PyTorch fp32).")
    args = ap.parse_args()
    data = {name: load_dataset(path, multi_label=True) for name, path in SOURCES.items()}
    out = {"split": args.split, "engine": args.engine, "models": {}}
    for model in args.models:
        try:
            clf = EmotionClassifier.load(model, engine=args.engine)
        except Int8RefusedError as err:  # the export refused this model's int8 graph: say so, score the others
            out["models"][model] = {"refused": str(err)}
            print(f"== {model} ({args.engine}): refused: {err}")
            continue
        res = {}
        for name, ds in data.items():
            if args.split in ds.splits:
                m = evaluate(clf, ds.split(args.split))
                res[name] = {k: v for k, v in m.items() if isinstance(v, (int, float))}
        out["models"][model] = res
        print(f"== {model} ({args.engine})")
        for source, key, bar, higher in BARS:
            if source in res and key in res[source]:
                value = res[source][key]
                ok = value >= bar if higher else value <= bar
                print(f"{source:>15} {key:<22} {value:.4f}  bar {'>=' if higher else '<='} {bar}  {'met' if ok else 'NOT met'}")
        styles = {k: v for k, v in res.get("styleset", {}).items() if k.startswith("accuracy_style_")}
        print("  style set per style:", {k[len("accuracy_style_"):]: round(v * 100, 1) for k, v in styles.items()})
        for source in ("stylemix", "emojiset"):
            if source in res:  # a single-label model has no emotion-free share
                free = res[source].get("emotion_free_share")
                print(f"  {source}: accuracy {res[source]['accuracy'] * 100:.2f}"
                      + ("" if free is None else f", called emotion-free {free * 100:.2f}%"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json(out, Path("benchmarks/results") / f"multilabel-bars-{stamp}.json"))


if __name__ == "__main__":
    main()
