"""Long documents: truncation against reading whole (emotionkit.longdoc), and throughput on long texts.

Accuracy is the document's top label against its hand-written label in ``data/longdocs``, overall and
on the ``late`` half (the decisive emotion comes after the first 128 tokens) and the rest. Every
reading (pieces x rule) is scored on validation; the best there (overall accuracy, then accuracy on
the early half, then fewer pieces) is the one reported on test, beside truncation. Throughput: the
test documents repeated 1, 4 and 16 times, read whole; samples/s and tokens/s (the median of
``--repeats`` passes), so that linear growth in total tokens shows as a flat tokens/s.

    python benchmarks/longdoc_eval.py                            # the shipped model, results JSON in benchmarks/results
    python benchmarks/longdoc_eval.py --limit 8 --no-throughput  # a quick look while developing
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotionkit import EmotionClassifier
from emotionkit.evaluate import write_json
from emotionkit.longdoc import PIECES, RULES, LongText

ROOT = Path(__file__).resolve().parents[1]


def read_part(data: Path, part: str, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in (data / f"{part}.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def accuracy(clf: EmotionClassifier, rows: list[dict], long_text: str, policy: LongText | None, batch_size: int) -> dict:
    """Top-label accuracy overall, on the late half and on the rest, and how many pieces were scored."""
    if policy is not None:
        clf.long_doc = policy
    results = clf([r["text"] for r in rows], batch_size=batch_size, long_text=long_text)
    hit = np.array([res.label == r["label"] for res, r in zip(results, rows, strict=True)])
    late = np.array([r["late"] for r in rows])
    pieces = sum(len(res.sentences) if res.sentences else 1 for res in results)

    def acc(mask: np.ndarray) -> float | None:
        return round(float(hit[mask].mean()) * 100, 2) if mask.any() else None

    by_style = {s: acc(np.array([r["style"] == s for r in rows])) for s in sorted({r["style"] for r in rows})}
    return {"accuracy": acc(np.ones(len(rows), bool)), "accuracy_late": acc(late), "accuracy_early": acc(~late),
            "n": len(rows), "n_late": int(late.sum()), "pieces": pieces, "by_style": by_style}


def readings() -> list[tuple[str, LongText]]:
    return [(f"split:{p}:{r}", LongText(pieces=p, rule=r)) for p in PIECES for r in RULES]


def choose(validation: dict) -> str:
    """Best split reading on validation: overall accuracy, then the early half, then fewer pieces."""
    split = {k: v for k, v in validation.items() if k.startswith("split:")}
    return max(split, key=lambda k: (split[k]["accuracy"], split[k]["accuracy_early"] or 0, -split[k]["pieces"]))


def throughput(clf: EmotionClassifier, rows: list[dict], factors: list[int], repeats: int, batch_size: int) -> list[dict]:
    """Samples/s and tokens/s on the documents repeated ``factor`` times, read whole."""
    out = []
    clf.predict_proba([r["text"] for r in rows[:4]], batch_size=batch_size)  # warm-up
    for factor in factors:
        texts = [" ".join([r["text"]] * factor) for r in rows]
        tokens = sum(clf.token_counts(texts))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            clf.predict_proba(texts, batch_size=batch_size)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        out.append({"factor": factor, "texts": len(texts), "tokens": tokens, "mean_tokens": round(tokens / len(texts), 1),
                    "seconds": round(seconds, 4), "samples_per_second": round(len(texts) / seconds, 3),
                    "tokens_per_second": round(tokens / seconds, 1)})
        print(f"  x{factor}: {out[-1]}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model directory (default: the shipped model).")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--data", default=str(ROOT / "data" / "longdocs"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="Use the first N documents of each part (quick runs).")
    parser.add_argument("--validation-only", action="store_true", help="Score validation only (while developing).")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--throughput-docs", type=int, default=32, help="Test documents used for throughput.")
    parser.add_argument("--factors", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    clf = EmotionClassifier.load(args.model, engine=args.engine)
    default = clf.long_doc
    data = Path(args.data)
    validation, test = read_part(data, "validation", args.limit), read_part(data, "test", args.limit)
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "model": str(clf.model_dir),
               "engine": clf.engine.name, "labels": list(clf.labels), "data": str(data),
               "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "max_length": clf.max_length,
               "shipped_reading": f"split:{default.pieces}:{default.rule}", "validation": {}, "test": {}}
    parts = (("validation", validation),) if args.validation_only else (("validation", validation), ("test", test))
    for part, rows in parts:
        results[part]["truncate"] = accuracy(clf, rows, "truncate", None, args.batch_size)
        for name, policy in readings():
            results[part][name] = accuracy(clf, rows, "split", policy, args.batch_size)
        for name, row in results[part].items():
            print(f"{part:>10} {name:<22} acc {row['accuracy']:6.2f}  late {row['accuracy_late']}  "
                  f"early {row['accuracy_early']}  pieces {row['pieces']}", flush=True)
    results["chosen_on_validation"] = chosen = choose(results["validation"])
    if args.validation_only:
        print(f"chosen on validation: {chosen}")
        return
    best, trunc = results["test"][chosen], results["test"]["truncate"]
    results["bar"] = {
        "late_gain_points": round(best["accuracy_late"] - trunc["accuracy_late"], 2),
        "early_change_points": round(best["accuracy_early"] - trunc["accuracy_early"], 2),
        "met": best["accuracy_late"] - trunc["accuracy_late"] >= 15 and best["accuracy_early"] >= trunc["accuracy_early"],
    }
    print(f"chosen on validation: {chosen}; test bar: {results['bar']}")
    clf.long_doc = default
    if not args.no_throughput:
        print(f"throughput ({results['shipped_reading']}):")
        results["throughput"] = throughput(clf, test[: args.throughput_docs], args.factors, args.repeats, args.batch_size)
    directory = Path(args.results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = results["date"].replace(":", "").replace("-", "")[:15]
    print("results written to", write_json(results, directory / f"longdoc-{stamp}.json"))


if __name__ == "__main__":
    main()
