"""Load test of the real HTTP service on loopback: N concurrent clients, bounded in time and requests.

Starts ``emotionkit serve`` itself (or targets --url on loopback), sends single-text
/predict requests from --clients concurrent clients until --duration seconds or
--max-requests requests, and reports requests/s, latency p50/p99, errors, and the
server's resident memory after the first 1,000 requests and at the end.

    python benchmarks/load.py --clients 32 --duration 60
    python benchmarks/load.py --clients 32 --duration 900 --max-requests 100000 --tag memory
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def texts(path: Path, n: int = 2000) -> list[str]:
    rows = [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines() if line.strip()]
    return rows[:n]


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def run(url: str, pid: int, corpus: list[str], clients: int, duration: float, max_requests: int) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    rss_samples: list[tuple[int, float]] = [(0, rss_mb(pid))]
    rss_at_1000: float | None = None
    deadline = time.perf_counter() + duration
    # aiohttp, not httpx, drives the load: httpx's pool tops out near 60 requests/s at 32+
    # concurrent requests on this machine, which would measure the client, not the server.
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)

    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:

        async def client(k: int) -> None:
            nonlocal sent, rss_at_1000
            i = k
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                body = {"inputs": corpus[i % len(corpus)]}
                i += clients
                t0 = time.perf_counter()
                try:
                    async with http.post("/predict", json=body) as r:
                        await r.read()
                        if r.status != 200:
                            errors[str(r.status)] = errors.get(str(r.status), 0) + 1
                except (aiohttp.ClientError, TimeoutError) as err:
                    errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
                latencies.append((time.perf_counter() - t0) * 1000)
                done = len(latencies)
                if done == 1000:
                    rss_at_1000 = rss_mb(pid)
                if done % 10000 == 0:
                    rss_samples.append((done, rss_mb(pid)))

        start = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
    rss_end = rss_mb(pid)
    rss_samples.append((len(latencies), rss_end))
    lat = np.array(latencies)
    return {
        "clients": clients,
        "duration_s": elapsed,
        "requests": len(latencies),
        "requests_per_second": len(latencies) / elapsed,
        "latency_p50_ms": float(np.percentile(lat, 50)),
        "latency_p99_ms": float(np.percentile(lat, 99)),
        "latency_max_ms": float(lat.max()),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "server_rss_mb_start": rss_samples[0][1],
        "server_rss_mb_after_1000": rss_at_1000,
        "server_rss_mb_end": rss_end,
        "server_rss_growth_after_1000": (rss_end / rss_at_1000 - 1) if rss_at_1000 else None,
        "server_rss_mb_samples": rss_samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "emotionkit-minilm"))
    parser.add_argument("--url", help="An already running service on loopback (needs --pid for its memory).")
    parser.add_argument("--pid", type=int, help="Process id of the service given by --url.")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60, help="Seconds, at most 3600.")
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--texts", default=str(ROOT.parent / "shared" / "data" / "emotion" / "test.jsonl"))
    parser.add_argument("--tag", default="load")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    if not 0 < args.duration <= 3600 or args.clients < 1 or args.max_requests < 1:
        parser.error("expected 0 < duration <= 3600, clients >= 1, max-requests >= 1")
    server = None
    if args.url:
        host = urlparse(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"the load test only targets loopback, got {host}")
        if args.pid is None:
            parser.error("--url needs --pid to read the server's memory")
        url, pid = args.url, args.pid
    else:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "emotionkit.cli", "serve", "--model", args.model,
                                   "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        url, pid = f"http://127.0.0.1:{port}", server.pid
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("the server did not start")
    try:
        info = httpx.get(url + "/info").json()
        corpus = texts(Path(args.texts))
        result = asyncio.run(run(url, pid, corpus, args.clients, args.duration, args.max_requests))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    result.update({"url": url, "engine": info["engine"], "model": info["model"], "cpu_count": psutil.cpu_count(),
                   "date": datetime.now(UTC).isoformat(timespec="seconds")})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.tag}-{result['date'].replace(':', '').replace('-', '')[:15]}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: result[k] for k in ("requests", "requests_per_second", "latency_p50_ms", "latency_p99_ms", "errors",
                                      "server_rss_mb_after_1000", "server_rss_mb_end", "server_rss_growth_after_1000")}
    print(json.dumps(summary, indent=2))
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
