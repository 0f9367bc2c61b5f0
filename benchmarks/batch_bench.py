"""Batch scoring throughput and memory: single process vs Ray local mode, and memory vs file size.

Builds CSV files by resampling the test split (--rows, default 50,000 and 200,000),
runs ``emotionkit classify-file`` on them in child processes, and samples the resident
memory of each child's whole process tree (Ray's workers included) every 0.2 s.

    python benchmarks/batch_bench.py --rows 50000 200000
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def build_file(source: Path, rows: int, target: Path) -> Path:
    texts = [json.loads(line)["text"] for line in source.read_text("utf-8").splitlines()]
    rng = random.Random(rows)
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([i, rng.choice(texts)])
    return target


def tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def measure(cmd: list[str], log_path: Path) -> dict:
    # The child's output goes to files, not pipes: Ray Data writes progress to stderr, and a pipe
    # nobody reads until the end fills up (64 KiB) and blocks the child mid-run.
    start = time.perf_counter()
    out_file, err_file = log_path.with_suffix(".out").open("w+b"), log_path.with_suffix(".err").open("w+b")
    child = subprocess.Popen(cmd, stdout=out_file, stderr=err_file)
    proc = psutil.Process(child.pid)
    peak, samples = 0.0, []
    while child.poll() is None:
        rss = tree_rss_mb(proc)
        peak = max(peak, rss)
        samples.append(rss)
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    out_file.seek(0)
    err_file.seek(0)
    out, err = out_file.read(), err_file.read()
    out_file.close()
    err_file.close()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-3000:]}")
    report = json.loads(out)
    return {"seconds": elapsed, "rows": report["rows"], "rows_per_second": report["rows"] / elapsed,
            "peak_tree_rss_mb": peak, "median_tree_rss_mb": sorted(samples)[len(samples) // 2] if samples else None}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "emotionkit-minilm"))
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--ray-rows", type=int, default=None, help="Rows for the Ray run (default: the largest).")
    parser.add_argument("--workdir", default="/tmp/emotionkit-batch-bench")
    parser.add_argument("--source", default=str(ROOT.parent / "shared" / "data" / "emotion" / "test.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-m", "emotionkit.cli", "classify-file"]
    runs = []
    for rows in args.rows:
        src = build_file(Path(args.source), rows, work / f"in_{rows}.csv")
        result = measure([*exe, str(src), str(work / f"out_{rows}.csv"), "--model", args.model, "--json"],
                         work / f"single_{rows}")
        runs.append({"mode": "single-process (onnx-int8)", **result})
        print(json.dumps(runs[-1]), file=sys.stderr)
    ray_rows = args.ray_rows or max(args.rows)
    src = work / f"in_{ray_rows}.csv"
    if not src.exists():
        build_file(Path(args.source), ray_rows, src)
    result = measure([*exe, str(src), str(work / f"ray_{ray_rows}.csv"), "--model", args.model, "--engine", "ray",
                      "--actors", "2", "--threads", "1", "--json"], work / f"ray_{ray_rows}")
    runs.append({"mode": "ray local (2 actors x 1 thread, onnx-int8)", **result})
    print(json.dumps(runs[-1]), file=sys.stderr)
    same = (work / f"ray_{ray_rows}.csv").read_bytes() == (work / f"out_{ray_rows}.csv").read_bytes()
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpu_count": psutil.cpu_count(), "cpu": _cpu_name(),
               "model": args.model, "runs": runs, "ray_output_identical_to_single_process": same}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"batch-{results['date'].replace(':', '').replace('-', '')[:15]}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
