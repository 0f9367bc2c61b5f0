"""Faithfulness (ERASER) and latency of the explanation methods; picks the default on validation.

For every method and a random word ranking: comprehensiveness and sufficiency (AOPC over removing,
or keeping only, the top 1/5/10/20/50 % of words; emotionkit.faithfulness) of the predicted label,
on the validation sets (tweets, GoEmotions, stylemix). The default is the method with the highest
mean of (comprehensiveness - sufficiency) over the validation sets among those fast enough for the
web page (timed first, below); every method is then reported
on test (tweets, style set), with the bar: the default's comprehensiveness at least 2x random's.
Latency: p50/p99 of one explain call per text for each method on tweets test texts, beside
single-text predict p50 on the same texts in the same run (bar: default p50 <= 25x predict p50).

    python benchmarks/explain_eval.py                       # everything, 500 texts per set (seeded sample)
    python benchmarks/explain_eval.py --limit 50 --latency-texts 20 --no-save   # a quick look
    python benchmarks/explain_eval.py --stages latency      # latency only

Writes benchmarks/results/explain-<date>.json.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotionkit import EmotionClassifier
from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.explain import DEFAULT_METHOD, METHODS, explain
from emotionkit.faithfulness import FRACTIONS, faithfulness

VALIDATION = {"tweets": ("../shared/data/emotion", "validation"), "goemotions": ("../shared/data/goemotions", "validation"),
              "stylemix": ("data/stylemix", "validation")}
TEST = {"tweets": ("../shared/data/emotion", "test"), "styleset": ("data/styleset", "test")}
RANDOM = "random"
LATENCY_BAR = 25  # the default explains a text in at most this many single-text predictions (p50)


def sample(source: str, split: str, limit: int | None, seed: int) -> list[str]:
    texts = [ex.text for ex in load_dataset(source).split(split)]
    if limit and len(texts) > limit:
        texts = random.Random(seed).sample(texts, limit)
    return texts


def score_set(clf, texts: list[str], methods: list[str], seed: int, batch_size: int) -> dict:
    """Mean comprehensiveness and sufficiency of each method and of a random ranking on ``texts``."""
    out = {}
    base = None
    for method in methods:
        start = time.perf_counter()
        explained = explain(clf, texts, method=method, batch_size=batch_size)
        scores = faithfulness(clf, explained, batch_size=batch_size)
        out[method] = _mean(scores) | {"seconds": round(time.perf_counter() - start, 1)}
        base = explained
        print(f"  {method:>22}: {out[method]}", flush=True)
    rng = np.random.default_rng(seed)
    orders = [list(rng.permutation(len(ex.words))) for ex in base]
    out[RANDOM] = _mean(faithfulness(clf, base, orders=orders, batch_size=batch_size))
    print(f"  {RANDOM:>22}: {out[RANDOM]}", flush=True)
    return out


def _mean(scores: list[dict]) -> dict:
    return {key: round(float(np.mean([s[key] for s in scores])), 4) for key in ("comprehensiveness", "sufficiency")} | {
        "texts": len(scores)}


def choose(validation: dict, methods: list[str], timing: dict | None) -> tuple[str, dict]:
    """The method with the highest mean (comprehensiveness - sufficiency) over the validation sets,
    among those fast enough for the web page (p50 <= 25x predict p50) when latency was measured."""
    merit = {m: round(float(np.mean([v[m]["comprehensiveness"] - v[m]["sufficiency"] for v in validation.values()])), 4)
             for m in methods}
    fast = [m for m in methods if timing is None or timing[m]["x_predict_p50"] <= LATENCY_BAR]
    return max(fast or methods, key=merit.get), merit


def latency(clf, texts: list[str], methods: list[str]) -> dict:
    """Per-text wall time of one explain call per method, and of one predict call, same texts."""
    def timed(fn) -> list[float]:
        for t in texts[:3]:
            fn(t)  # warm-up (first calls load the PyTorch copy, allocate buffers)
        times = []
        for t in texts:
            start = time.perf_counter()
            fn(t)
            times.append((time.perf_counter() - start) * 1000)
        return times

    def stats(ms: list[float]) -> dict:
        return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
                "mean_ms": round(statistics.fmean(ms), 2)}

    out = {"predict": stats(timed(clf))}
    print(f"  {'predict':>22}: {out['predict']}", flush=True)
    for method in methods:
        out[method] = stats(timed(lambda t, m=method: explain(clf, t, method=m)))
        out[method]["x_predict_p50"] = round(out[method]["p50_ms"] / out["predict"]["p50_ms"], 1)
        print(f"  {method:>22}: {out[method]}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="Model directory (default: the shipped model).")
    p.add_argument("--engine", default="auto", help="Engine the classifier runs on (default: the model's CPU engine).")
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    p.add_argument("--stages", nargs="*", default=["validation", "test", "latency"], choices=["validation", "test", "latency"])
    p.add_argument("--limit", type=int, default=500, help="Texts per set, a seeded sample (0: every text).")
    p.add_argument("--latency-texts", type=int, default=100, help="Tweets test texts timed one by one.")
    p.add_argument("--default", default=None, choices=METHODS, help="Default method when validation is not run "
                   f"(else chosen on validation; without either, {DEFAULT_METHOD}).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--results-dir", default="benchmarks/results")
    p.add_argument("--no-save", action="store_true", help="Print only; write no results file.")
    args = p.parse_args(argv)

    clf = EmotionClassifier.load(args.model, engine=args.engine)
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "model": str(clf.model_dir), "engine": clf.engine.name,
               "command": "python " + " ".join(sys.argv), "cpu": platform.processor() or platform.machine(),
               "fractions": list(FRACTIONS), "limit_per_set": args.limit or None, "seed": args.seed,
               "selection": "highest mean of (comprehensiveness - sufficiency) over the validation sets, among the "
                            f"methods whose explain p50 is at most {LATENCY_BAR}x the predict p50 (when timed)"}
    default = args.default or DEFAULT_METHOD
    if "latency" in args.stages:  # first: the default must be fast enough for the page
        print("latency (tweets test)", flush=True)
        texts = sample(*TEST["tweets"], args.latency_texts, args.seed)
        results["latency"] = latency(clf, texts, args.methods)
    if "validation" in args.stages:
        results["validation"] = {}
        for name, (source, split) in VALIDATION.items():
            print(f"validation {name}", flush=True)
            texts = sample(source, split, args.limit, args.seed)
            results["validation"][name] = score_set(clf, texts, args.methods, args.seed, args.batch_size)
        default, merit = choose(results["validation"], args.methods, results.get("latency"))
        results["validation_merit"] = merit
    results["default"] = default
    if "latency" in args.stages:
        ratio = results["latency"][default]["x_predict_p50"] if default in results["latency"] else None
        results["bar_latency_25x_predict"] = {"ratio": ratio, "met": ratio is not None and ratio <= LATENCY_BAR}
    if "test" in args.stages:
        results["test"], results["bar_comprehensiveness_2x_random"] = {}, {}
        for name, (source, split) in TEST.items():
            print(f"test {name}", flush=True)
            texts = sample(source, split, args.limit, args.seed)
            got = results["test"][name] = score_set(clf, texts, args.methods, args.seed, args.batch_size)
            ratio = got[default]["comprehensiveness"] / max(got[RANDOM]["comprehensiveness"], 1e-9)
            results["bar_comprehensiveness_2x_random"][name] = {"ratio": round(ratio, 2), "met": ratio >= 2}
    print(f"default: {default}")
    for key in ("bar_comprehensiveness_2x_random", "bar_latency_25x_predict"):
        if key in results:
            print(f"{key}: {results[key]}")
    if not args.no_save:
        stamp = results["date"].replace(":", "").replace("-", "")[:15]
        path = write_json(results, Path(args.results_dir) / f"explain-{stamp}.json")
        print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
