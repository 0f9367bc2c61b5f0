"""Validation scores of weight interpolations between two runs that saw different data.

``emotionkit soup`` averages only runs trained on the same sources. This scores the
interpolation (1 - a) * A + a * B for each given a on the validation split of every source
A was trained on, where B may be a specialist (say, a run on GoEmotions alone) fine-tuned
from the same encoder with the same seed. Prints one JSON line per a. Validation only:
test splits are never read, and nothing is saved.

    python benchmarks/weight_mix.py models/emotionkit-minilm models/candidate-goe-only --alphas 0 0.1 0.2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emotionkit.data import load_dataset
from emotionkit.predict import EmotionClassifier
from emotionkit.soup import _data_paths, _validation_scores, average, read_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="Model directory whose training sources are scored.")
    parser.add_argument("b", help="Model directory of the same encoder and labels, mixed in.")
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
                        help="Weights of B in the interpolation, each in [0, 1].")
    args = parser.parse_args()
    if not all(0.0 <= x <= 1.0 for x in args.alphas):
        parser.error(f"--alphas must lie in [0, 1], got {args.alphas}")
    a, b = read_run(Path(args.a)), read_run(Path(args.b))
    if a["state"].keys() != b["state"].keys() or a["config"].get("id2label") != b["config"].get("id2label"):
        parser.error(f"{args.a} and {args.b} differ in weight names or labels; they cannot be interpolated")
    if any(r["meta"].get("model", {}).get("multi_label") for r in (a, b)):
        # Each multi-label run's calibration is folded into its head, and its thresholds are its own: an
        # interpolation has to be calibrated and decided again, which `emotionkit mix` does (and saves).
        parser.error(f"{args.a} or {args.b} is multi-label; score its interpolations with `emotionkit mix A B --alpha X "
                     "--no-test --output-dir DIR`, which calibrates each one anew on validation")
    sources = [load_dataset(p) for p in _data_paths(a["meta"])]
    clf = EmotionClassifier.load(args.a, engine="torch")
    dtype = a["meta"]["train"].get("save_dtype", "float32")
    for alpha in args.alphas:
        # Weights 0 or 1 are the runs themselves; average() takes positive weights only.
        state = a["state"] if alpha == 0 else b["state"] if alpha == 1 else average(
            [a["state"], b["state"]], dtype, [1 - alpha, alpha])
        scores = _validation_scores(clf, state, sources)
        print(json.dumps({"a": args.a, "b": args.b, "alpha": alpha,
                          **{k: round(v, 4) for k, v in scores.items()}}), flush=True)


if __name__ == "__main__":
    main()
