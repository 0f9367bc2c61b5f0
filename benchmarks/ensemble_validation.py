"""Validation scores of prediction ensembles: which runs, averaged as teachers, would teach best.

Scores every model, then every group of two or more, on the validation split of each source
the first model was trained on; a group's prediction is the mean of its members'
probabilities (what ``emotionkit train --teachers`` distills from). Prints one JSON line per
model or group, best selection score (mean macro-F1 over sources) last. Validation only:
test splits are never read.

    python benchmarks/ensemble_validation.py models/candidate-3src-ds3 models/candidate-3src-ds5 ...
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from emotionkit.config import parse_data_spec
from emotionkit.data import load_dataset
from emotionkit.evaluate import compute_metrics
from emotionkit.predict import EmotionClassifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="Model directories trained on the same sources.")
    args = parser.parse_args()
    meta = json.loads((Path(args.models[0]) / "emotionkit.json").read_text("utf-8"))
    sources = [load_dataset(parse_data_spec(spec)[0]) for spec in meta["train"]["data"]]
    splits = {ds.name: ds.split("validation") for ds in sources}
    probs = {}
    for model in args.models:
        clf = EmotionClassifier.load(model, engine="torch")
        for name, examples in splits.items():
            probs[model, name] = clf.predict_proba([ex.text for ex in examples], batch_size=128)
    rows = []
    for size in range(1, len(args.models) + 1):
        for group in itertools.combinations(args.models, size):
            row = {"models": list(group)}
            for name, examples in splits.items():
                predicted = np.mean([probs[m, name] for m in group], axis=0).argmax(axis=1)
                row[f"{name}_f1_macro"] = round(compute_metrics([ex.label for ex in examples], predicted)["f1_macro"], 4)
            row["selection_score"] = round(float(np.mean([row[f"{n}_f1_macro"] for n in splits])), 4)
            rows.append(row)
    for row in sorted(rows, key=lambda r: r["selection_score"]):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
