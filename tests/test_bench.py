"""The benchmark runs every contender and reports the fields; it never asserts a timing."""

import json

import pytest

from emotionkit.cli import main

pytestmark = pytest.mark.slow


def test_bench_json_rows(trained_tiny, tiny_data, tmp_path, capsys):
    rc = main(["bench", "--model", str(trained_tiny), "--data", str(tiny_data), "--repeats", "1",
               "--latency-calls", "5", "--results-dir", str(tmp_path), "--json"])
    assert rc == 0
    results = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in results["rows"]]
    assert names == ["transformers-pipeline", "emotionkit-torch-fp32", "emotionkit-onnx-fp32", "emotionkit-onnx-int8"]
    for row in results["rows"]:
        for key in ("samples_per_second", "latency_p50_ms", "latency_p99_ms", "peak_rss_mb", "accuracy", "f1_macro",
                    "speedup_vs_pipeline"):
            assert isinstance(row[key], float), key
        assert 0 <= row["accuracy"] <= 1 and row["latency_p50_ms"] <= row["latency_p99_ms"]
    # Same model, same answers: the pipeline and emotionkit's PyTorch engine agree exactly.
    assert results["rows"][0]["accuracy"] == results["rows"][1]["accuracy"]
    saved = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert saved["rows"] == results["rows"]
