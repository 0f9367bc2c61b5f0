"""Which layers should a 3-layer student keep? Each candidate start (the shipped model with those layers,
before any training) scored on the tweets' and GoEmotions' validation splits: the start that already
reads the most is the one distillation has the least to repair.

    python benchmarks/student_start.py [MODEL]

Prints one JSON line per candidate and writes benchmarks/results/student-start-<time>.json
(benchmarks/results/student-start-20261206.jsonl holds the lines of the run that chose the preset's
layers, from before the script wrote its own file, and then those of the 4-layer starts, tweets only.)
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from emotionkit.data import load_dataset
from emotionkit.evaluate import evaluate, write_json
from emotionkit.predict import EmotionClassifier
from emotionkit.student import shrink

CANDIDATES = ([0, 2, 4], [1, 3, 5], [0, 2, 5], [0, 1, 2], [3, 4, 5],  # 3-layer students
              [0, 2, 4, 5], [0, 1, 3, 5], [0, 2, 3, 5], [1, 2, 4, 5])  # 4-layer students


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    sets = [load_dataset("../shared/data/emotion"), load_dataset("../shared/data/goemotions", multi_label=True)]
    tmp = Path(tempfile.mkdtemp())
    rows = []
    try:
        for layers in CANDIDATES:
            # The start has the teacher's head and emotionkit.json, so its decision (thresholds) is the teacher's.
            clf = EmotionClassifier.load(shrink(model, layers, tmp / "-".join(map(str, layers))), engine="torch")
            row = {"layers": layers}
            for ds in sets:
                m = evaluate(clf, ds.split("validation"))
                row[ds.name] = {k: round(m[k], 4) for k in ("accuracy", "f1_macro") if k in m}
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    write_json({"model": str(model), "split": "validation", "rows": rows},
               Path("benchmarks/results") / f"student-start-{stamp}.json")


if __name__ == "__main__":
    main()
