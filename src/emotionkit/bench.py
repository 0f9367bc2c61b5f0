"""Side-by-side benchmark: the transformers pipeline against emotionkit's engines, same model, one run.

Each contender runs in its own child process, one after another, so its peak
resident memory is its own and no two compete for the cores. The parent
collects the rows, prints a table with ratios against the pipeline, and writes
one JSON results file.

>>> run_benchmark("models/emotionkit-minilm", "../shared/data/emotion")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotionkit.decision import NEUTRAL, Decision
from emotionkit.evaluate import score_examples, write_json
from emotionkit.labels import LABELS

log = logging.getLogger(__name__)

BASELINE = "transformers-pipeline"
# The stock pipeline on another model: the one a smaller student replaces (``reference_model``).
REFERENCE = "transformers-pipeline-reference"


class BenchError(RuntimeError):
    """A contender failed in its child process; the message carries its error."""
CPU_CONTENDERS = (BASELINE, "emotionkit-torch-fp32", "emotionkit-onnx-fp32", "emotionkit-onnx-int8")
GPU_CONTENDERS = (BASELINE, "emotionkit-torch-fp32", "emotionkit-torch-bf16")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB, model load included.

    VmHWM is the high-water mark of this process image; ru_maxrss would also count
    the parent's peak, which a spawned child inherits across exec on Linux.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _make_predictor(name: str, model_dir: str, batch_size: int, threads: int | None):
    """Return ``predict(texts) -> [each text's (label, score) list]`` for one contender."""
    if name in (BASELINE, REFERENCE):
        import torch  # noqa: PLC0415
        from transformers import pipeline  # noqa: PLC0415

        device = 0 if torch.cuda.is_available() else -1
        pipe = pipeline("text-classification", model=model_dir, top_k=None, batch_size=batch_size, device=device)
        return pipe  # top_k=None: every label's score for each text

    from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

    engine = {"emotionkit-onnx-fp32": "onnx", "emotionkit-onnx-int8": "onnx-int8"}.get(name, "torch")
    clf = EmotionClassifier.load(model_dir, engine=engine, threads=threads)
    if name == "emotionkit-torch-bf16":
        from emotionkit.runtime import TorchEngine  # noqa: PLC0415

        clf.engine = TorchEngine(model_dir, dtype="bfloat16")

    def predict(texts: list[str]) -> list[list[dict]]:
        return [r.scores for r in clf(texts, batch_size=batch_size)]

    return predict


def _decision_over_the_six(model_dir: str) -> Decision:
    """The model's own decision (thresholds, fallback) over the six emotions in the tweets' order, and
    neutral when it has it: a reference model may order its labels differently or have more."""
    stored = Decision.load(model_dir)
    labels = (*LABELS, *([NEUTRAL] if NEUTRAL in stored.labels else []))
    return Decision(labels, stored.multi_label, {k: v for k, v in stored.thresholds.items() if k in labels},
                    stored.fallback)


def _score_matrix(decision: Decision, results: list[list[dict]]) -> np.ndarray:
    """Each text's (label, score) list as a row of ``[n, outputs]`` in ``decision.labels`` order."""
    index = {label: j for j, label in enumerate(decision.labels)}
    out = np.zeros((len(results), len(index)), dtype=np.float32)
    for i, scores in enumerate(results):
        for s in scores:
            if s["label"] in index:
                out[i, index[s["label"]]] = s["score"]
    return out


def _check_reference(path: Path) -> None:
    """A reference model must be a model directory whose outputs name the six emotions."""
    import json  # noqa: PLC0415

    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"reference_model {path}: expected a model directory with config.json")
    names = set((json.loads((path / "config.json").read_text("utf-8")).get("id2label") or {}).values())
    missing = sorted(set(LABELS) - names)
    if missing:
        raise ValueError(f"reference_model {path}: expected outputs named after the six emotions; "
                         f"{missing} missing from its labels {sorted(names)}")


def _run_contender(name, model_dir, examples, batch_size, repeats, latency_calls, threads, queue):
    texts = [e.text for e in examples]
    try:
        start = time.perf_counter()
        predict = _make_predictor(name, model_dir, batch_size, threads)
        load_s = time.perf_counter() - start
        predict(texts[: batch_size * 2])  # warm-up: allocations, graph optimisation, caches
        rates, preds = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            preds = predict(texts)
            rates.append(len(texts) / (time.perf_counter() - t0))
        latencies = []
        for i in range(latency_calls):
            text = texts[i % len(texts)]
            t0 = time.perf_counter()
            predict([text])
            latencies.append((time.perf_counter() - t0) * 1000)
        # Scored by the one evaluation function training, the final test and the card use: on a single-label
        # source, top-emotion accuracy and macro-F1 over the six (as on the seed cards) and, for a multi-label
        # model, the share of tweets its decision calls emotion-free.
        decision = _decision_over_the_six(model_dir)
        metrics = score_examples(examples, _score_matrix(decision, preds), decision)
        queue.put(
            {
                "name": name,
                "samples_per_second": statistics.median(rates),
                "samples_per_second_runs": rates,
                "latency_p50_ms": float(np.percentile(latencies, 50)),
                "latency_p99_ms": float(np.percentile(latencies, 99)),
                "latency_calls": latency_calls,
                "peak_rss_mb": peak_rss_mb(),
                "load_seconds": load_s,
                "accuracy": metrics["accuracy"],
                "f1_macro": metrics["f1_macro"],
                "f1_weighted": metrics["f1_weighted"],
                **({"emotion_free_share": metrics["emotion_free_share"]} if "emotion_free_share" in metrics else {}),
            }
        )
    except BaseException as err:  # report, so the parent can say which contender failed
        queue.put({"name": name, "error": f"{type(err).__name__}: {err}"})


def _run_child(name: str, directory: str, args: tuple) -> dict:
    """One contender in a child process of its own; its row, or BenchError with the child's error."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_contender, args=(name, directory, *args, queue))
    proc.start()
    row = queue.get()
    proc.join()
    if "error" in row:
        raise BenchError(f"benchmark contender {name} failed: {row['error']}")
    print(f"  {name}: {row['samples_per_second']:.1f} samples/s, p50 {row['latency_p50_ms']:.2f} ms", file=sys.stderr)
    row["model"] = directory
    return row


# (ratio, against which contender, of which figure)
_RATIOS = (("speedup_vs_pipeline", BASELINE, "samples_per_second"),
           ("latency_p50_vs_pipeline", BASELINE, "latency_p50_ms"),
           ("speedup_vs_reference", REFERENCE, "samples_per_second"),
           ("latency_p50_vs_reference", REFERENCE, "latency_p50_ms"))


def _with_ratios(rows: dict[str, dict]) -> dict[str, dict]:
    """One round's rows, each given its ratios against the pipeline (and the reference) of that round."""
    for key, against, figure in _RATIOS:
        if against in rows:
            for row in rows.values():
                row[key] = row[figure] / rows[against][figure]
    return rows


def _combine(runs: list[dict]) -> dict:
    """A contender's rows over the rounds, as one: the median of each timing and ratio (each round's kept in
    ``<key>_rounds``), the highest peak RSS, and the scores of the first round (the same texts every round)."""
    row = dict(runs[0])
    if len(runs) == 1:
        return row
    for key in ("samples_per_second", "latency_p50_ms", "latency_p99_ms", "load_seconds",
                *(r[0] for r in _RATIOS if r[0] in row)):
        row[f"{key}_rounds"] = [run[key] for run in runs]
        row[key] = statistics.median(row[f"{key}_rounds"])
    row["samples_per_second_runs"] = [rate for run in runs for rate in run["samples_per_second_runs"]]
    row["peak_rss_mb_rounds"] = [run["peak_rss_mb"] for run in runs]
    row["peak_rss_mb"] = max(row["peak_rss_mb_rounds"])
    return row


def _ready_graphs(model_dir: str, contenders: tuple[str, ...] | list[str]) -> list[str]:
    """Export the model's ONNX graphs outside the timed children; the contenders less int8 if it was refused."""
    from emotionkit.onnx_engine import FP32, INT8, check_cache, export_onnx, int8_refusal  # noqa: PLC0415

    int8 = any("int8" in c for c in contenders)
    if any("onnx" in c for c in contenders) and (check_cache(Path(model_dir), FP32)
                                                  or (int8 and check_cache(Path(model_dir), INT8))):
        export_onnx(model_dir)
    refused = int8_refusal(model_dir) if int8 else None  # hashes the weights: read it once
    if refused:
        log.warning("%s has no int8 graph (%s); benchmarking without the int8 contender", model_dir, refused)
        return [c for c in contenders if "int8" not in c]
    return list(contenders)


def run_benchmark(
    model_dir: str | Path,
    data: str | Path,
    split: str = "test",
    batch_size: int = 32,
    repeats: int = 3,
    latency_calls: int = 200,
    contenders: tuple[str, ...] | None = None,
    threads: int | None = None,
    limit: int | None = None,
    reference_model: str | Path | None = None,
    rounds: int = 1,
) -> dict:
    """Run every contender on the split; returns the results (rows plus ratios against the pipeline).

    With ``reference_model`` (the model a smaller student replaces), the stock pipeline on that model
    runs first as one more contender, and every row also gets its ratios against it
    (``speedup_vs_reference``, ``latency_p50_vs_reference``): what a user of the replaced model gains.

    With ``rounds`` > 1 every contender runs once per round, the order reversed every other round, so a
    machine that speeds up or slows down during the run weighs on all of them alike; each round gives its
    own ratios (``*_rounds``) and a row reports the median over rounds of its timings and of its ratios
    (so a ratio need not equal the quotient of the two medians it compares).
    """
    import torch  # noqa: PLC0415

    from emotionkit.data import load_dataset  # noqa: PLC0415
    from emotionkit.runtime import cpu_threads  # noqa: PLC0415

    if min(repeats, latency_calls, batch_size, rounds) < 1:
        raise ValueError("repeats, latency_calls, batch_size and rounds must be >= 1, "
                         f"got {repeats}, {latency_calls}, {batch_size}, {rounds}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be None (every text) or >= 1, got {limit}")
    known = dict.fromkeys((*CPU_CONTENDERS, *GPU_CONTENDERS))
    unknown = [c for c in contenders or () if c not in known]
    if unknown:
        raise ValueError(f"unknown contenders {unknown}; expected some of {list(known)}")
    if reference_model is not None:
        _check_reference(Path(reference_model))
    gpu = torch.cuda.is_available()
    contenders = contenders or (GPU_CONTENDERS if gpu else CPU_CONTENDERS)
    examples = load_dataset(data).split(split)[: limit or None]
    if any(e.labels is not None for e in examples):
        raise ValueError(f"{data} has rows with no emotion or several; the bench scores top-emotion accuracy on a "
                         "single-label split (the tweets); score a multi-label one with `emotionkit evaluate`")
    model_dir = str(model_dir)
    contenders = _ready_graphs(model_dir, contenders)
    if reference_model is not None:
        contenders = [REFERENCE, *contenders]
    args = (examples, batch_size, repeats, latency_calls, threads)
    order = list(dict.fromkeys(contenders))  # a contender named twice runs once a round
    per_round = []
    for r in range(rounds):
        if rounds > 1:
            print(f"  round {r + 1} of {rounds}", file=sys.stderr)
        ran = [_run_child(name, str(reference_model) if name == REFERENCE else model_dir, args)
               for name in (order if r % 2 == 0 else order[::-1])]
        per_round.append(_with_ratios({row["name"]: row for row in ran}))
    rows = [_combine([one[name] for one in per_round]) for name in order]
    return {
        "model": model_dir,
        "reference_model": None if reference_model is None else str(reference_model),
        "data": str(data),
        "split": split,
        "texts": len(examples),
        "batch_size": batch_size,
        "repeats": repeats,
        "rounds": rounds,
        "device": torch.cuda.get_device_name(0) if gpu else f"cpu ({cpu_threads()} threads)",
        "machine": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
    }


def markdown_table(results: dict) -> str:
    lines = [
        f"Test split: {results['texts']} texts, batch size {results['batch_size']}, {results['device']}; "
        f"throughput is the median of {results['repeats']} runs after a warm-up"
        + (f"; every timing and ratio is the median over {results['rounds']} rounds (each contender once a round, "
           "the order reversed every other round; each ratio taken within its round)." if results.get("rounds", 1) > 1 else "."),
        "",
        "| contender | accuracy | macro-F1 | samples/s | vs pipeline | latency p50 (ms) | p99 (ms) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reference = results.get("reference_model")
    if reference:
        lines[0] += f" The reference pipeline runs `{reference}`; the last two columns compare each row with it."
        lines[2] += " vs reference | p50 vs reference |"
        lines[3] += "---:|---:|"
    free = any("emotion_free_share" in r for r in results["rows"])
    if free:
        lines[0] += " Emotion-free: the share of texts (all emotional) the model's decision calls neutral."
        lines[2] += " emotion-free |"
        lines[3] += "---:|"
    for r in results["rows"]:
        ratio = f"{r['speedup_vs_pipeline']:.2f}x" if "speedup_vs_pipeline" in r else ""
        line = (f"| {r['name']} | {r['accuracy'] * 100:.2f} | {r['f1_macro'] * 100:.2f} | {r['samples_per_second']:.1f} | "
                f"{ratio} | {r['latency_p50_ms']:.2f} | {r['latency_p99_ms']:.2f} | {r['peak_rss_mb']:.0f} |")
        if reference:
            line += f" {r['speedup_vs_reference']:.2f}x | {r['latency_p50_vs_reference']:.2f}x |"
        if free:
            line += f" {r['emotion_free_share'] * 100:.2f}% |" if "emotion_free_share" in r else " |"
        lines.append(line)
    return "\n".join(lines)


def save_results(results: dict, directory: str | Path = "benchmarks/results", tag: str = "bench") -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = results["date"].replace(":", "").replace("-", "")[:15]
    return write_json(results, directory / f"{tag}-{stamp}.json")
