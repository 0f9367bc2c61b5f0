"""Two models on the style set, per style, paired message by message (test split, already scored once).

    python benchmarks/style_paired.py models/emotionkit-minilm models/emotionkit-minilm-six

Issue 25 asks that no style fall more than 2 points below the model it replaces; with 48 messages a style,
one message is 2.1 points. For each style this counts the messages only one of the two models gets right
(top emotion) and gives the exact McNemar test's two-sided p-value (a binomial test on those messages):
how likely a split at least that uneven is if the two models were equally good on that style.
Writes benchmarks/results/style-paired-<time>.json.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from scipy.stats import binomtest

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.labels import LABELS
from emotionkit.predict import EmotionClassifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("other")
    args = ap.parse_args()
    rows = load_dataset("data/styleset").split("test")
    hits = {}
    for model in (args.model, args.other):
        clf = EmotionClassifier.load(model, engine="torch")
        top = clf.decision.emotion_scores(clf.predict_proba([r.text for r in rows])).argmax(axis=1)
        hits[model] = [clf.decision.emotions[t] == LABELS[r.label] for t, r in zip(top, rows, strict=True)]
    styles = defaultdict(list)
    for i, r in enumerate(rows):
        styles[r.style].append(i)
    out = {"model": args.model, "other": args.other, "styles": {}}
    for style, idx in styles.items():
        a = sum(hits[args.model][i] for i in idx)
        b = sum(hits[args.other][i] for i in idx)
        only_a = sum(hits[args.model][i] and not hits[args.other][i] for i in idx)
        only_b = sum(hits[args.other][i] and not hits[args.model][i] for i in idx)
        p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
        out["styles"][style] = {"messages": len(idx), "right": a, "right_other": b, "only_model": only_a,
                                "only_other": only_b, "mcnemar_exact_p": round(float(p), 4)}
        print(f"{style:>15}: {a}/{len(idx)} against {b}/{len(idx)}; only this model {only_a}, only the other "
              f"{only_b}, p = {p:.3f}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json(out, Path("benchmarks/results") / f"style-paired-{stamp}.json"))


if __name__ == "__main__":
    main()
