"""classify-file: formats, bad rows, strict mode, atomic output, resume after SIGKILL, Ray."""

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from emotionkit import EmotionClassifier
from emotionkit.batch import BadRowError, classify_file
from emotionkit.labels import LABELS

pytestmark = pytest.mark.slow

TEXTS = ["so happy today", "why is everything broken", "i miss home", "what a shock", "hug me", "scared stiff"]


@pytest.fixture(scope="module")
def clf(trained_tiny):
    return EmotionClassifier.load(trained_tiny, engine="onnx")


def write_csv(path, n, bad_every=0):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "note"])
        for i in range(n):
            text = "" if bad_every and i % bad_every == 0 else f"{TEXTS[i % len(TEXTS)]} {i}"
            w.writerow([i, text, f"n{i}"])
    return path


def test_csv_roundtrip_adds_columns(clf, tmp_path):
    src = write_csv(tmp_path / "in.csv", 50, bad_every=10)
    report = classify_file(src, tmp_path / "out.csv", classifier=clf, chunk_rows=16)
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert list(rows[0]) == ["id", "text", "note", "label", "score", "emotions", *LABELS]
    assert [r["id"] for r in rows] == [str(i) for i in range(50)]
    assert report.rows == 50 and report.bad_rows == 5 and report.bad_row_numbers == [1, 11, 21, 31, 41]
    assert rows[0]["label"] == "" and rows[1]["label"] in LABELS
    expected = clf([r["text"] for r in rows[1:4]])
    assert [r["label"] for r in rows[1:4]] == [e.label for e in expected]
    assert float(rows[1]["score"]) == pytest.approx(expected[0].score, abs=1e-6)
    assert not list(tmp_path.glob("*.parts")) and not list(tmp_path.glob("*.tmp"))


def test_jsonl_bad_rows_and_parquet_output(clf, tmp_path):
    import pyarrow.parquet as pq

    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": "fine day", "k": 1}), json.dumps({"text": 5, "k": 2}), json.dumps({"k": 3}),
             "{broken", json.dumps({"text": "   ", "k": 5})]
    src.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "caf\xe9", "k": 6}\n')
    report = classify_file(src, tmp_path / "out.jsonl", classifier=clf)
    assert report.bad_rows == 5 and report.bad_row_numbers == [2, 3, 4, 5, 6]
    assert set(report.bad_reasons) == {"non-string text (int)", "missing text", "broken JSON", "empty text",
                                       "undecodable bytes"}
    out = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert len(out) == 6 and b"caf\xe9" in out[5]  # the undecodable bytes come back untouched
    assert json.loads(out[0])["label"] in LABELS and json.loads(out[1])["label"] == ""
    classify_file(src, tmp_path / "again.parquet", classifier=clf)
    table = pq.read_table(tmp_path / "again.parquet")
    assert table.num_rows == 6 and {"label", "score", "emotions", *LABELS} <= set(table.column_names)
    # scoring a scored file again would overwrite its predictions: refused, nothing written
    with pytest.raises(ValueError, match=r"already has the column\(s\) \['label', 'score'"):
        classify_file(tmp_path / "out.jsonl", tmp_path / "twice.jsonl", classifier=clf)
    assert not list(tmp_path.glob("twice*"))


def test_a_lone_surrogate_is_a_bad_row_in_every_output(clf, tmp_path):
    import pyarrow.parquet as pq

    src = tmp_path / "in.jsonl"
    # half an emoji (a JSON escape without its pair) beside an undecodable byte and a good row
    src.write_bytes(b'{"text": "so happy"}\n{"text": "half an emoji \\ud83d"}\n{"text": "caf\xe9"}\n')
    for out in ("out.jsonl", "out.csv", "out.parquet"):
        report = classify_file(src, tmp_path / out, classifier=clf)
        assert report.bad_reasons == {"lone surrogate": 1, "undecodable bytes": 1} and report.bad_row_numbers == [2, 3]
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert json.loads(lines[1])["text"] == "half an emoji \ud83d" and b"caf\xe9" in lines[2]
    assert json.loads(lines[0])["label"] in LABELS and json.loads(lines[1])["label"] == ""
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8", errors="surrogateescape")))
    assert rows[1]["text"] == "half an emoji \\ud83d" and rows[1]["label"] == ""
    texts = pq.read_table(tmp_path / "out.parquet").column("text").to_pylist()
    assert texts == ["so happy", "half an emoji \\ud83d", "caf\ufffd"]


def test_rows_with_other_fields_keep_every_column(clf, tmp_path):
    import pyarrow.parquet as pq

    # a broken first line, fields in another order, a field only later, an id that changes type
    src = tmp_path / "in.jsonl"
    src.write_text("{broken\n" + "\n".join(json.dumps(r) for r in [
        {"text": "i am happy", "id": 1}, {"id": 2, "text": "i am sad"}, {"text": "so scared", "id": "x3", "src": "web"},
    ]) + "\n", encoding="utf-8")
    for out in ("out.csv", "out.parquet"):
        report = classify_file(src, tmp_path / out, classifier=clf, chunk_rows=1)
        assert report.rows == 4 and report.bad_row_numbers == [1]
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert list(rows[0]) == ["_unparsed_line", "text", "id", "src", "label", "score", "emotions", *LABELS]
    assert [(r["_unparsed_line"], r["text"], r["id"], r["src"]) for r in rows] == [
        ("{broken", "", "", ""), ("", "i am happy", "1", ""), ("", "i am sad", "2", ""), ("", "so scared", "x3", "web")]
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(r["text"], r["id"], r["src"]) for r in table] == [
        (None, None, None), ("i am happy", "1", None), ("i am sad", "2", None), ("so scared", "x3", "web")]
    assert [r["label"] for r in table] == [r["label"] for r in rows]


def test_csv_with_bom_and_a_ragged_row(clf, tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("\ufeffid,text\n1,i am happy\n2,hello, world\n3\n".encode())
    report = classify_file(src, tmp_path / "out.csv", classifier=clf)
    assert report.bad_reasons == {"more fields than the header": 1, "missing text": 1}
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert list(rows[0])[:3] == ["id", "text", "_extra_fields"]
    assert rows[0]["label"] in LABELS and rows[1]["label"] == "" and json.loads(rows[1]["_extra_fields"]) == [" world"]
    assert rows[2]["id"] == "3" and rows[2]["text"] == ""


def test_empty_input_gives_a_valid_empty_file(clf, tmp_path):
    import pyarrow.parquet as pq

    src = tmp_path / "in.csv"
    src.write_text("id,text\n", encoding="utf-8")
    assert classify_file(src, tmp_path / "out.csv", classifier=clf).rows == 0
    header = ",".join(["id", "text", "label", "score", "emotions", *LABELS])
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == [header]
    classify_file(src, tmp_path / "out.parquet", classifier=clf)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 0 and table.column_names == ["id", "text", "label", "score", "emotions", *LABELS]


def test_bad_arguments_leave_nothing_behind(clf, tmp_path):
    src = write_csv(tmp_path / "in.csv", 3)
    with pytest.raises(ValueError, match="batch_size must be an int > 0, got 0"):
        classify_file(src, tmp_path / "out.csv", classifier=clf, batch_size=0)
    assert not (tmp_path / "out.csv.parts").exists()
    assert classify_file(src, tmp_path / "out.csv", classifier=clf, batch_size=8).rows == 3


def test_strict_stops_at_first_bad_row(clf, tmp_path):
    src = write_csv(tmp_path / "in.csv", 30, bad_every=7)
    with pytest.raises(BadRowError, match="row 1: empty text in column 'text'"):
        classify_file(src, tmp_path / "out.csv", classifier=clf, strict=True)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.parts").exists()


def test_missing_column_lists_columns(clf, tmp_path):
    src = write_csv(tmp_path / "in.csv", 3)
    with pytest.raises(ValueError, match=r"has no column 'body'; its columns are \['id', 'text', 'note'\]"):
        classify_file(src, tmp_path / "out.csv", classifier=clf, text_column="body")


def test_format_errors(clf, tmp_path):
    src = write_csv(tmp_path / "in.csv", 3)
    with pytest.raises(ValueError, match="cannot tell the format"):
        classify_file(src, tmp_path / "out.xlsx", classifier=clf)
    with pytest.raises(ValueError, match="is the input file"):
        classify_file(src, src, classifier=clf)


def _run(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "emotionkit.cli", "classify-file", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_resume_after_sigkill_equals_uninterrupted_run(trained_tiny, tmp_path):
    src = write_csv(tmp_path / "in.csv", 30000, bad_every=997)
    common = ["--model", str(trained_tiny), "--engine", "onnx", "--chunk-rows", "500"]
    whole = _run([str(src), str(tmp_path / "whole.csv"), *common])
    assert whole.wait(timeout=600) == 0, whole.stderr.read()

    target = tmp_path / "cut.csv"
    proc = _run([str(src), str(target), *common])
    parts = tmp_path / "cut.csv.parts"
    deadline = time.time() + 300
    # count finished parts only: "part-*" alone also matches the one being written (part-N.csv.tmp)
    while time.time() < deadline and len(list(parts.glob("part-*.csv"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("part-*.csv")))
    assert 5 <= done < 60, "the run was not cut part way"
    assert not target.exists()
    # without --resume the leftover is refused, not overwritten
    refused = _run([str(src), str(target), *common])
    assert refused.wait(timeout=120) == 2 and b"--resume" in refused.stderr.read()
    resumed = _run([str(src), str(target), *common, "--resume", "--json"])
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    report = json.loads(resumed.stdout.read())
    assert report["resumed_from_row"] >= 5 * 500 and report["rows"] == 30000 and report["bad_rows"] == 31
    assert target.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert not parts.exists()


@pytest.mark.parametrize(("model", "engine"), [("single", "onnx"), ("single", "onnx-int8"), ("several", "onnx-int8")])
def test_ray_local_equals_single_process(request, tmp_path, model, engine):
    """fp32, and static int8 (fixed activation scales): a text scores the same whatever shares its batch,
    at batch sizes 1, 8 and 64 and in the Ray actors' batches; for a multi-label model whose decision finds two
    emotions (``several``), the Ray job writes the same emotions and neutral scores as one process."""
    pytest.importorskip("ray")
    from emotionkit.ray_batch import classify_file_ray

    model_dir = request.getfixturevalue("trained_tiny") if model == "single" else \
        request.getfixturevalue("decided_tiny_multi")[model]
    src = write_csv(tmp_path / "in.csv", 700, bad_every=50)
    clf = EmotionClassifier.load(model_dir, engine=engine)
    texts = [row["text"] for row in csv.DictReader(src.open()) if row["text"].strip()][:64]
    by_size = {size: clf.predict_proba(texts, batch_size=size) for size in (1, 8, 64)}
    assert np.abs(by_size[8] - by_size[1]).max() <= 1e-6 and np.abs(by_size[64] - by_size[1]).max() <= 1e-6
    local = classify_file(src, tmp_path / "local.csv", classifier=clf, chunk_rows=128)
    ray_report = classify_file_ray(src, tmp_path / "ray.csv", model=model_dir, engine=engine, num_actors=2,
                                   threads_per_actor=1, chunk_rows=128)
    assert ray_report.rows == local.rows and ray_report.bad_row_numbers == local.bad_row_numbers
    local_rows = list(csv.DictReader((tmp_path / "local.csv").open()))
    ray_rows = list(csv.DictReader((tmp_path / "ray.csv").open()))
    assert [r["id"] for r in ray_rows] == [r["id"] for r in local_rows]
    assert [r["label"] for r in ray_rows] == [r["label"] for r in local_rows]
    assert [r["emotions"] for r in ray_rows] == [r["emotions"] for r in local_rows]
    if model == "several":  # the case is real: rows with two emotions, and a neutral score column
        assert sum(";" in r["emotions"] for r in local_rows) > 600 and "neutral" in clf.labels
    for a, b in zip(ray_rows, local_rows, strict=True):
        for label in clf.labels:  # every score column, not only the top one
            if a["score"]:
                assert float(a[label]) == pytest.approx(float(b[label]), abs=1e-5)


def test_ray_missing_names_the_extra(monkeypatch, tmp_path):
    from emotionkit.ray_batch import classify_file_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    src = write_csv(tmp_path / "in.csv", 3)
    with pytest.raises(ImportError, match=r"pip install 'emotionkit\[ray\]'"):
        classify_file_ray(src, tmp_path / "out.csv")
