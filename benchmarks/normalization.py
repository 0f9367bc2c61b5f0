"""Measure normalization steps at inference on a model (validation splits + style set).

    python benchmarks/normalization.py models/emotionkit-minilm
"""
import sys

from emotionkit import EmotionClassifier
from emotionkit.data import load_dataset
from emotionkit.evaluate import evaluate

model = sys.argv[1]
sets = {"emotion-val": load_dataset("../shared/data/emotion").split("validation"),
        "goemotions-val": load_dataset("../shared/data/goemotions").split("validation"),
        "styleset": load_dataset("data/styleset").split("test")}
clf = EmotionClassifier.load(model, engine="onnx-int8")
out = {}
for steps in [(), ("emoji",), ("emoji", "repeats"), ("emoji", "urls", "mentions"), ("emoji", "lowercase")]:
    clf.normalize_steps = steps
    out["+".join(steps) or "none"] = {k: round(evaluate(clf, v)["accuracy"], 4) for k, v in sets.items()}
    print(steps, out["+".join(steps) or "none"], flush=True)
emoji_rows = [e for e in sets["styleset"] if any(ord(c) > 0x2000 for c in e.text)]
for steps in [(), ("emoji",)]:
    clf.normalize_steps = steps
    print("styleset rows with emoji", len(emoji_rows), steps, round(evaluate(clf, emoji_rows)["accuracy"], 4))
