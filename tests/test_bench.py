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
    # The bench scores with the evaluation function `emotionkit evaluate` uses: the same figures.
    assert main(["evaluate", "--model", str(trained_tiny), "--engine", "torch", "--data", str(tiny_data),
                 "--split", "test", "--json", "--plot", str(tmp_path / "cm.png")]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "f1_macro", "f1_weighted"):
        assert results["rows"][1][key] == pytest.approx(evaluated[key], abs=1e-9), key
    saved = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert saved["rows"] == results["rows"]


def test_bench_leaves_out_an_int8_graph_the_export_refused(trained_tiny, tiny_data, tmp_path, monkeypatch, capsys):
    import shutil

    from emotionkit import onnx_engine

    model = tmp_path / "model"
    shutil.copytree(trained_tiny, model, ignore=shutil.ignore_patterns(onnx_engine.ONNX_DIR))
    monkeypatch.setattr(onnx_engine, "INT8_MAX_PROB_DIFF", -1.0)  # the export writes fp32 only
    rc = main(["bench", "--model", str(model), "--data", str(tiny_data), "--repeats", "1", "--latency-calls", "2",
               "--contenders", "emotionkit-onnx-fp32", "emotionkit-onnx-int8", "--results-dir", str(tmp_path), "--json"])
    assert rc == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)["rows"]] == ["emotionkit-onnx-fp32"]


def test_bench_reference_model_runs_its_pipeline_first_and_gives_ratios_against_it(trained_tiny, decided_tiny_multi,
                                                                                    tiny_data, tmp_path, capsys):
    from emotionkit.bench import markdown_table

    # The multi-label model's stored decision calls every text emotion-free (conftest.py: decided_tiny_multi).
    trained_tiny_multi = decided_tiny_multi["none"]

    rc = main(["bench", "--model", str(trained_tiny_multi), "--reference-model", str(trained_tiny), "--data",
               str(tiny_data), "--repeats", "1", "--latency-calls", "3", "--contenders", "transformers-pipeline",
               "emotionkit-onnx-fp32", "--results-dir", str(tmp_path), "--json"])
    assert rc == 0
    results = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in results["rows"]}
    assert list(rows) == ["transformers-pipeline-reference", "transformers-pipeline", "emotionkit-onnx-fp32"]
    assert rows["transformers-pipeline-reference"]["model"] == str(trained_tiny)
    assert rows["emotionkit-onnx-fp32"]["model"] == results["model"] == str(trained_tiny_multi)
    assert results["reference_model"] == str(trained_tiny)
    # The reference row is the reference model's own answers: its accuracy is the single-label model's.
    from emotionkit.data import load_dataset
    from emotionkit.evaluate import evaluate
    from emotionkit.predict import EmotionClassifier

    single = evaluate(EmotionClassifier.load(trained_tiny, engine="torch"), load_dataset(tiny_data).split("test"))
    assert rows["transformers-pipeline-reference"]["accuracy"] == pytest.approx(single["accuracy"])
    # The rows are scored as evaluate() scores the source: the multi-label model's rows also say how many
    # tweets its decision calls emotion-free; the six-way reference cannot call any.
    multi = evaluate(EmotionClassifier.load(trained_tiny_multi, engine="torch"), load_dataset(tiny_data).split("test"))
    for name in ("transformers-pipeline", "emotionkit-onnx-fp32"):
        assert rows[name]["emotion_free_share"] == pytest.approx(multi["emotion_free_share"]) == 1.0
    assert "emotion_free_share" not in rows["transformers-pipeline-reference"]
    for row in rows.values():
        assert row["speedup_vs_reference"] > 0 and row["latency_p50_vs_reference"] > 0
    table = markdown_table(results).splitlines()[2:]
    assert "vs reference" in table[0] and "emotion-free" in table[0]
    assert len({line.count("|") for line in table}) == 1  # header, separator and rows: the same columns


def test_bench_refuses_a_reference_model_it_cannot_compare_before_any_work(trained_tiny, tiny_data, tmp_path,
                                                                          monkeypatch):
    from emotionkit import bench, onnx_engine

    monkeypatch.setattr(onnx_engine, "export_onnx", lambda *a, **k: pytest.fail("exported before the check"))
    with pytest.raises(FileNotFoundError, match="reference_model"):
        bench.run_benchmark(trained_tiny, tiny_data, reference_model=tmp_path / "nowhere", repeats=1, latency_calls=1)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"id2label": {"0": "POSITIVE", "1": "NEGATIVE"}}))
    with pytest.raises(ValueError, match="six emotions"):
        bench.run_benchmark(trained_tiny, tiny_data, reference_model=other, repeats=1, latency_calls=1)


def test_bench_rounds_reverse_the_order_and_report_medians_of_each_rounds_ratios(trained_tiny, tiny_data, tmp_path,
                                                                                 monkeypatch, capsys):
    from emotionkit import bench

    ran, run_child = [], bench._run_child
    monkeypatch.setattr(bench, "_run_child", lambda name, *rest: ran.append(name) or run_child(name, *rest))
    rc = main(["bench", "--model", str(trained_tiny), "--data", str(tiny_data), "--repeats", "1", "--latency-calls",
               "3", "--rounds", "2", "--contenders", "transformers-pipeline", "emotionkit-onnx-fp32",
               "--results-dir", str(tmp_path), "--json"])
    assert rc == 0
    results = json.loads(capsys.readouterr().out)
    assert results["rounds"] == 2
    assert ran == ["transformers-pipeline", "emotionkit-onnx-fp32", "emotionkit-onnx-fp32", "transformers-pipeline"]
    assert [r["name"] for r in results["rows"]] == ["transformers-pipeline", "emotionkit-onnx-fp32"]
    pipe, onnx = results["rows"]
    assert pipe["speedup_vs_pipeline_rounds"] == [1.0, 1.0]
    assert len(onnx["samples_per_second_runs"]) == 2
    # Each round's ratio is against that round's pipeline; the row gives the median of them.
    for key, figure in (("speedup_vs_pipeline", "samples_per_second"), ("latency_p50_vs_pipeline", "latency_p50_ms")):
        rounds = [a / b for a, b in zip(onnx[f"{figure}_rounds"], pipe[f"{figure}_rounds"], strict=True)]
        assert onnx[f"{key}_rounds"] == pytest.approx(rounds)
        assert onnx[key] == pytest.approx(sum(rounds) / 2)


def test_bench_combines_rounds_against_each_rounds_own_pipeline():
    from emotionkit.bench import _combine, _with_ratios

    def row(name, rate, p50, load):
        return {"name": name, "samples_per_second": rate, "samples_per_second_runs": [rate], "latency_p50_ms": p50,
                "latency_p99_ms": p50 * 2, "load_seconds": load, "peak_rss_mb": rate, "accuracy": 0.9}

    # The pipeline's speed moves from round to round; the fast engine runs 4x, 3x and 5x it in its own rounds.
    rounds = [_with_ratios({"transformers-pipeline": row("transformers-pipeline", p, 1000 / p, 1.0),
                            "fast": row("fast", k * p, 1000 / (k * p), load)})
              for p, k, load in ((100.0, 4.0, 2.0), (50.0, 3.0, 9.0), (90.0, 5.0, 3.0))]
    fast = _combine([r["fast"] for r in rounds])
    assert fast["speedup_vs_pipeline_rounds"] == pytest.approx([4.0, 3.0, 5.0])
    # The median of the rounds' ratios (4x), not the ratio of the medians (400 / 90 = 4.44x).
    assert fast["speedup_vs_pipeline"] == pytest.approx(4.0)
    assert fast["latency_p50_vs_pipeline"] == pytest.approx(0.25)
    assert fast["samples_per_second"] == 400.0 and fast["samples_per_second_rounds"] == [400.0, 150.0, 450.0]
    assert fast["latency_p50_ms"] == pytest.approx(2.5) and fast["latency_p99_ms"] == pytest.approx(5.0)
    assert fast["load_seconds"] == 3.0 and fast["peak_rss_mb"] == 450.0 and fast["accuracy"] == 0.9
    assert fast["samples_per_second_runs"] == [400.0, 150.0, 450.0]
    assert _combine([rounds[0]["fast"]]) == rounds[0]["fast"]  # one round: the row as it ran


def test_bench_refuses_zero_rounds(tiny_data):
    from emotionkit import bench

    with pytest.raises(ValueError, match=r"rounds must be >= 1, got .*, 0$"):
        bench.run_benchmark("models/none", tiny_data, rounds=0)
