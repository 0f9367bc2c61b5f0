"""Scores of models on GoEmotions read through the package's mapping and through the earlier one.

Until session 15 the mapping dropped realization and confusion; it now puts both under surprise
(see the README). The two mappings keep different comments (test: 1,691 then, 1,886 now), so
GoEmotions scores of models from either side of the change cannot be compared directly. This
prints, for each model and split, accuracy and macro-F1 on both sets, as JSON lines.

    python benchmarks/goemotions_mappings.py --split validation models/emotionkit-minilm ...
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from emotionkit.data import goemotions_mapping, read_goemotions_tsv
from emotionkit.evaluate import evaluate
from emotionkit.predict import EmotionClassifier

MOVED = ("realization", "confusion")  # dropped by the earlier mapping, under surprise now
STEMS = {"validation": "dev", "test": "test"}


def earlier_mapping() -> dict:
    """The package's mapping with the labels moved to surprise in session 15 dropped again."""
    mapping = copy.deepcopy(goemotions_mapping())
    for spec in mapping["mapping"].values():
        spec["labels"] = [label for label in spec["labels"] if label not in MOVED]
    for label in MOVED:
        mapping["dropped"][label] = "dropped by the earlier mapping"
    return mapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="Model directories.")
    parser.add_argument("--data", default="../shared/data/goemotions", help="The GoEmotions directory.")
    parser.add_argument("--split", choices=sorted(STEMS), default="validation")
    args = parser.parse_args()
    directory = Path(args.data)
    names = (directory / "emotions.txt").read_text("utf-8").splitlines()
    path = directory / f"{STEMS[args.split]}.tsv"
    sets = {"current": read_goemotions_tsv(path, names, goemotions_mapping()).kept,
            "earlier": read_goemotions_tsv(path, names, earlier_mapping()).kept}
    for model in args.models:
        clf = EmotionClassifier.load(model, engine="torch")
        for name, examples in sets.items():
            m = evaluate(clf, examples, batch_size=64)
            print(json.dumps({"model": model, "split": args.split, "mapping": name, "n": m["support"],
                              "accuracy": round(m["accuracy"], 4), "f1_macro": round(m["f1_macro"], 4),
                              "surprise_f1": round(m["surprise_f1"], 4)}), flush=True)


if __name__ == "__main__":
    main()
