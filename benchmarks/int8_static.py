"""The static int8 graph against the fp32 graph of one model: parity, accuracy on each test set, batch
independence, speed. Writes benchmarks/results/int8-static-<time>.json.

    python benchmarks/int8_static.py models/emotionkit-minilm [--split test]

Accuracy bounds (issue 27): at most 0.3 points of top-emotion accuracy and macro-F1 on the tweets, 0.5 on
GoEmotions and the style sets, against the fp32 graph. Use --split validation to choose a recipe (it scores
stylemix and stylemix-multi, our registers' validation sets, in place of the style sets).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotionkit.data import load_dataset
from emotionkit.evaluate import evaluate, write_json
from emotionkit.onnx_engine import export_onnx
from emotionkit.predict import EmotionClassifier

# The style sets have a test split only; stylemix and stylemix-multi, their validation counterparts, have no test.
SOURCES = {"tweets": "../shared/data/emotion", "goemotions": "../shared/data/goemotions",
           "styleset": "data/styleset", "styleset-multi": "data/styleset-multi",
           "stylemix": "data/stylemix", "stylemix-multi": "data/stylemix-multi"}
KEYS = ("accuracy", "f1_macro", "neutral_f1", "emotion_free_share", "neutral_recognised", "mixed_both_found",
        "mild_emotion_found")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--split", default="test", choices=("validation", "test"))
    args = ap.parse_args()
    manifest = export_onnx(args.model, log=print)
    fp32 = EmotionClassifier.load(args.model, engine="onnx")
    int8 = EmotionClassifier.load(args.model, engine="onnx-int8")
    multi = fp32.decision.multi_label
    out = {"model": args.model, "split": args.split, "parity": {k: manifest[k] for k in (
        "int8_max_prob_diff", "int8_top_label_agreement", "int8_error", "int8_recipe")}, "sets": {}}
    for name, path in SOURCES.items():
        ds = load_dataset(path, multi_label=multi)
        if args.split not in ds.splits:
            continue
        rows = ds.split(args.split)
        a, b = evaluate(fp32, rows), evaluate(int8, rows)
        out["sets"][name] = {k: {"fp32": a[k], "int8": b[k], "change_points": (b[k] - a[k]) * 100} for k in KEYS if k in a}
        print(name, {k: round(v["change_points"], 2) for k, v in out["sets"][name].items()}, flush=True)
    texts = [e.text for e in load_dataset(SOURCES["tweets"]).split(args.split)][:256]
    by_batch = {bs: int8.predict_proba(texts, batch_size=bs) for bs in (1, 8, 64)}
    out["batch_independence_max_diff"] = float(max(np.abs(by_batch[bs] - by_batch[1]).max() for bs in (8, 64)))
    speed = {}
    for name, clf in (("fp32", fp32), ("int8", int8), ("fp32 again", fp32), ("int8 again", int8)):
        t = time.perf_counter()
        clf.predict_proba(texts * 2, batch_size=32)
        speed[name] = len(texts) * 2 / (time.perf_counter() - t)
    out["samples_per_second"] = speed
    out["int8_over_fp32"] = (speed["int8"] + speed["int8 again"]) / (speed["fp32"] + speed["fp32 again"])
    print("batch independence", out["batch_independence_max_diff"], "speed int8/fp32", round(out["int8_over_fp32"], 2))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = write_json(json.loads(json.dumps(out)), Path("benchmarks/results") / f"int8-static-{stamp}.json")
    print("written", path)


if __name__ == "__main__":
    main()
