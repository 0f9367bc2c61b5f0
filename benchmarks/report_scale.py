"""Emotion report at scale: peak memory and time against the number of rows.

Writes synthetic scored files (the columns classify-file writes for the multi-label model: label,
score, emotions and seven scores, plus a channel and a time spanning 180 days) into a temporary
folder, then runs ``emotionkit report --by channel --time created`` on each in a fresh child
process that reports its own peak RSS (``VmHWM``) and wall time. A child that only imports
the report modules gives the baseline. Results go to ``benchmarks/results/report-<time>.json``.

    python benchmarks/report_scale.py --rows 100000 1000000 --formats csv parquet
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise", "neutral"]
COLUMNS = ["id", "text", "channel", "created", "label", "score", "emotions", *LABELS]
# Peak RSS from VmHWM, which starts afresh at exec (ru_maxrss would keep the forking parent's peak).
CHILD = """
import json, re, sys, time
started = time.perf_counter()
from emotionkit.cli import main
import emotionkit.report, emotionkit.report_html, plotly.io
rc = main(sys.argv[1:]) if sys.argv[1:] else 0
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - started, "peak_rss_mb": hwm / 1024}))
"""


def rows(n: int, seed: int = 0):
    """n scored rows; ~0.5% without text (unscored, as classify-file leaves them)."""
    rng = random.Random(seed)
    texts = [json.loads(line)["text"] for line in (ROOT / "data" / "styleset" / "test.jsonl").read_text("utf-8").splitlines()]
    channels = [f"channel-{i}" for i in range(30)]
    weights = [1 / (i + 1) for i in range(30)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n):
        when = (start + timedelta(seconds=rng.randrange(180 * 86400))).isoformat()
        row = {"id": i, "text": rng.choice(texts), "channel": rng.choices(channels, weights)[0], "created": when}
        if rng.random() < 0.005:
            yield {**row, "text": "", "label": "", "score": None, "emotions": "", **dict.fromkeys(LABELS)}
            continue
        scores = {lab: round(rng.random() ** 3, 6) for lab in LABELS}
        present = sorted((lab for lab in LABELS[:-1] if scores[lab] > 0.5), key=lambda lab: -scores[lab])
        label = present[0] if present else "neutral"
        yield {**row, "label": label, "score": scores[label], "emotions": ";".join(present) or "neutral", **scores}


def write_file(path: Path, n: int) -> Path:
    fmt = path.suffix.lstrip(".")
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows(n))
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows(n))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("id", pa.int64()), ("text", pa.string()), ("channel", pa.string()), ("created", pa.string()),
                            ("label", pa.string()), ("score", pa.float64()), ("emotions", pa.string()),
                            *[(lab, pa.float64()) for lab in LABELS]])
        with pq.ParquetWriter(path, schema) as writer:
            batch = []
            for r in rows(n):
                batch.append(r)
                if len(batch) == 50_000:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
            if batch:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return path


def run_child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"report failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "jsonl", "parquet"])
    parser.add_argument("--results-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    results = {"machine": platform.platform(), "python": platform.python_version(), "command": " ".join(sys.argv),
               "baseline": run_child([]), "runs": []}
    print(f"baseline (imports only): {results['baseline']['peak_rss_mb']:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="report-scale-") as tmp:
        for fmt in args.formats:
            for n in args.rows:
                path = write_file(Path(tmp) / f"scored-{n}.{fmt}", n)
                run = run_child(["report", str(path), "--output", str(Path(tmp) / "report.html"),
                                 "--by", "channel", "--time", "created"])
                run.update(format=fmt, rows=n, file_mb=path.stat().st_size / 2**20,
                           report_mb=(Path(tmp) / "report.html").stat().st_size / 2**20)
                results["runs"].append(run)
                print(f"{fmt:>8} {n:>10,} rows  file {run['file_mb']:7.1f} MB  peak RSS {run['peak_rss_mb']:6.0f} MB  "
                      f"{run['seconds']:7.1f} s  ({n / run['seconds']:,.0f} rows/s)", flush=True)
                path.unlink()
    out = Path(args.results_dir) / f"report-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
