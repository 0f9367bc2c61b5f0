"""The real HTTP server on a free loopback port: API shape, bad input, metrics, SIGTERM."""

from __future__ import annotations

import csv
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import pytest

from emotionkit.labels import LABELS

pytestmark = pytest.mark.slow


class PortTaken(RuntimeError):
    """The server could not bind the port it was given: another process took it after free_port chose it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(pid: int, port: int) -> bool:
    """Whether the process ``pid`` itself listens on ``port``."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


class Server:
    """``emotionkit serve`` on a free port, ready when it answers /health. ``model=None`` serves the default model
    with its own CPU engine; ``program``, ``env`` and ``cwd`` run another install of emotionkit (tests/test_install)."""

    def __init__(self, model: Path | None, *extra: str, program: tuple[str, ...] = (sys.executable, "-m", "emotionkit.cli"),
                 env: dict | None = None, cwd: Path | None = None):
        for attempt in range(3):  # make test runs two workers: another one's server may take the port first
            try:
                self._start(model, extra, program, env, cwd)
                return
            except PortTaken:
                if attempt == 2:
                    raise

    def _start(self, model: Path | None, extra: tuple[str, ...], program: tuple[str, ...], env: dict | None,
               cwd: Path | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        chosen = ["--model", str(model), "--engine", "torch"] if model is not None else []
        cmd = [*program, "serve", *chosen, "--port", str(self.port), "--max-client-batch-size", "8",
               "--max-body-bytes", "20000", "--max-text-chars", "10000", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
                raise (PortTaken if "address already in use" in err.lower() else RuntimeError)(f"server exited: {err}")
            if not _listening(self.proc.pid, self.port):  # else /health might be another worker's server
                time.sleep(0.2)
                continue
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        listening = _listening(self.proc.pid, self.port)  # before the kill, which ends its sockets
        self.proc.kill()
        raise RuntimeError(f"server did not start in 60 s (listening on {self.port}: {listening})")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(trained_tiny):
    srv = Server(trained_tiny)
    yield srv
    srv.stop()


def test_single_and_batch_shape(server):
    one = httpx.post(server.url + "/predict", json={"inputs": "what a day"}).json()
    assert [d["label"] for d in one] and sorted(d["label"] for d in one) == sorted(LABELS)
    assert [d["score"] for d in one] == sorted((d["score"] for d in one), reverse=True)
    assert sum(d["score"] for d in one) == pytest.approx(1, abs=1e-5)
    many = httpx.post(server.url + "/predict", json={"inputs": ["what a day", "i am scared", "hmm"]}).json()
    assert len(many) == 3 and all(len(scores) == 6 for scores in many)
    assert [d["label"] for d in many[0]] == [d["label"] for d in one]


def test_results_match_the_python_api(server, trained_tiny):
    from emotionkit import EmotionClassifier

    texts = ["i love you", "this is the worst service ever", "oh wow", "so lonely tonight"]
    api = httpx.post(server.url + "/predict", json={"inputs": texts}).json()
    local = EmotionClassifier.load(trained_tiny, engine="torch")(texts)
    for a, b in zip(api, local, strict=True):
        assert [d["label"] for d in a] == [d["label"] for d in b.scores]
        assert [d["score"] for d in a] == pytest.approx([d["score"] for d in b.scores], abs=1e-5)


def test_raw_scores_are_logits(server):
    raw = httpx.post(server.url + "/predict", json={"inputs": "fine", "raw_scores": True}).json()
    assert abs(sum(d["score"] for d in raw) - 1) > 1e-3 or any(d["score"] < 0 for d in raw)


def test_concurrent_requests_keep_their_own_answers(server):
    texts = [f"message number {i} " + "happy " * (i % 7) for i in range(40)]
    expected = {t: httpx.post(server.url + "/predict", json={"inputs": t}).json() for t in texts}
    results: dict[str, list] = {}

    def call(t: str) -> None:
        results[t] = httpx.post(server.url + "/predict", json={"inputs": t}, timeout=30).json()

    threads = [threading.Thread(target=call, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in texts:
        assert [d["label"] for d in results[t]] == [d["label"] for d in expected[t]]
    metrics = httpx.get(server.url + "/metrics").text
    assert "emotionkit_batch_texts_bucket" in metrics


BAD = [
    ("not json", b"this is not json", 400, "not valid JSON"),
    ("truncated json", b'{"inputs": "abc"', 400, "not valid JSON"),
    ("non-utf8", b'{"inputs": "caf\xe9"}', 400, "not valid UTF-8"),
    ("empty body", b"", 400, "not valid JSON"),
    ("json list", b'["a"]', 422, "expected a JSON object"),
    ("json string", b'"hello"', 422, "expected a JSON object"),
    ("json null", b"null", 422, "expected a JSON object"),
    ("missing inputs", b'{"text": "a"}', 422, "unknown field"),
    ("missing inputs only", b"{}", 422, "missing field 'inputs'"),
    ("inputs number", b'{"inputs": 5}', 422, "must be a string or a list"),
    ("inputs null", b'{"inputs": null}', 422, "must be a string or a list"),
    ("inputs object", b'{"inputs": {"a": 1}}', 422, "must be a string or a list"),
    ("empty list", b'{"inputs": []}', 422, "empty list"),
    ("empty string", b'{"inputs": ""}', 422, "inputs[0] is empty"),
    ("blank string", b'{"inputs": "   "}', 422, "inputs[0] is empty"),
    ("number in list", b'{"inputs": ["a", 3]}', 422, "inputs[1] must be a string"),
    ("null in list", b'{"inputs": ["a", null]}', 422, "inputs[1] must be a string"),
    ("nested list", b'{"inputs": [["a"]]}', 422, "inputs[0] must be a string"),
    ("raw_scores string", b'{"inputs": "a", "raw_scores": "yes"}', 422, "'raw_scores' must be true or false"),
    ("truncate number", b'{"inputs": "a", "truncate": 1}', 422, "'truncate' must be true or false"),
    ("left truncation", b'{"inputs": "a", "truncation_direction": "Left"}', 422, "only truncation_direction"),
    ("batch too big", json.dumps({"inputs": ["a"] * 9}).encode(), 413, "over the maximum of 8"),
    ("too long untruncated", json.dumps({"inputs": "word " * 400, "truncate": False}).encode(), 413, "tokens, over"),
    ("huge body", json.dumps({"inputs": "a" * 30000}).encode(), 413, "over the maximum of 20000"),
    ("text too many chars", json.dumps({"inputs": ["b" * 15000]}).encode(), 413, "characters, over"),
    ("nested too deeply", b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "nested too deeply"),
    ("lone surrogate", b'{"inputs": ["ok", "caf\\udce9 was awful"]}', 422, "inputs[1] has a lone surrogate (U+DCE9)"),
]


@pytest.mark.parametrize(("name", "body", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_clear_4xx(server, name, body, status, message):
    r = httpx.post(server.url + "/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_other_bad_requests_and_service_survives(server):
    assert httpx.get(server.url + "/predict").status_code == 405
    assert httpx.get(server.url + "/nope").status_code == 404
    assert httpx.put(server.url + "/predict", json={"inputs": "a"}).status_code == 405
    # a lying Content-Length over the limit is refused before reading
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 999999999\r\n\r\n{}")
        assert sock.recv(200).startswith(b"HTTP/1.1 413")
    bad_csv = httpx.post(server.url + "/classify-file?filename=x.csv", content=b"a,b\n1,2\n")
    assert bad_csv.status_code == 422 and "no 'text' column" in bad_csv.json()["error"]
    assert httpx.post(server.url + "/classify-file?filename=x.txt", content=b"\xff\xfe\x00").status_code == 400
    clash = httpx.post(server.url + "/classify-file?filename=x.csv", content=b"text,label\nso happy,joy\n")
    assert clash.status_code == 422 and "already has the column(s) ['label']" in clash.json()["error"]
    # still healthy and correct after all of that
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    ok = httpx.post(server.url + "/predict", json={"inputs": ["still here", "yes"]})
    assert ok.status_code == 200 and len(ok.json()) == 2
    metrics = httpx.get(server.url + "/metrics").text
    assert 'emotionkit_requests_total{path="/predict",status="422"}' in metrics
    assert 'emotionkit_requests_total{path="/predict",status="500"}' not in metrics
    assert 'emotionkit_requests_total{path="/classify-file",status="422"}' in metrics
    assert 'emotionkit_requests_total{path="/classify-file",status="500"}' not in metrics


def test_info_docs_page(server):
    info = httpx.get(server.url + "/info").json()
    assert info["labels"] == list(LABELS) and info["engine"] == "torch-float32"
    assert "test_metrics" in info and info["test_metrics"]
    assert httpx.get(server.url + "/docs").status_code == 200
    api = httpx.get(server.url + "/openapi.json").json()
    assert "/predict" in api["paths"]
    assert api["info"]["description"] == "English emotion classification, one of " + ", ".join(LABELS) + " per text."
    assert "Classify" in httpx.get(server.url + "/").text


def test_api_docs_say_a_multi_label_model_may_find_several_or_none(trained_tiny_multi):
    from emotionkit.predict import EmotionClassifier
    from emotionkit.serve import create_app

    app = create_app(EmotionClassifier.load(trained_tiny_multi, engine="torch"))
    description = app.openapi()["info"]["description"]
    assert description.startswith("English emotion classification: each of sadness, joy, love, anger, fear, surprise")
    assert "several, or none ('neutral')" in description


def test_classify_file_csv(server):
    body = "id,text\n1,i am so happy\n2,\n3,this makes me furious\n"
    r = httpx.post(server.url + "/classify-file?filename=reviews.csv", content=body.encode())
    assert r.status_code == 200
    lines = r.text.strip().splitlines()
    assert lines[0] == "id,text,label,score,emotions," + ",".join(LABELS)
    assert lines[1].startswith("1,i am so happy,") and lines[1].split(",")[2] in LABELS
    assert lines[2].startswith("2,,,")  # empty text: empty label, row kept
    # a short row, a row longer than the header, a file name outside Latin-1: answered, nothing lost
    body = "id,text\n1,i am so happy\n2\n3,hello, world\n"
    r = httpx.post(server.url + "/classify-file", params={"filename": "отзывы 😀.csv"}, content=body.encode())
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0])[:3] == ["id", "text", "_extra_fields"]
    assert rows[0]["label"] in LABELS and (rows[1]["id"], rows[1]["text"], rows[1]["label"]) == ("2", "", "")
    assert rows[2]["label"] == "" and json.loads(rows[2]["_extra_fields"]) == [" world"]
    disposition = r.headers["content-disposition"]
    assert 'filename="______ __scored.csv"' in disposition
    assert "filename*=UTF-8''" + quote("отзывы 😀_scored.csv", safe="") in disposition


def test_sigterm_finishes_requests_in_flight(trained_tiny):
    # The request waits in the batcher when SIGTERM comes: sent at once, it has 0.6 s to arrive (two test workers
    # share the cores), then waits 1 s (the most the server allows) for company, so SIGTERM finds it waiting.
    srv = Server(trained_tiny, "--max-wait-ms", "1000")
    result: dict = {}

    def call() -> None:
        result["r"] = httpx.post(srv.url + "/predict", json={"inputs": ["in flight", "too"]}, timeout=30)

    th = threading.Thread(target=call)
    th.start()
    time.sleep(0.6)
    srv.proc.send_signal(signal.SIGTERM)
    th.join()
    assert result["r"].status_code == 200 and len(result["r"].json()) == 2
    # uvicorn finishes in-flight requests, then re-raises SIGTERM so the exit status tells why it stopped
    assert srv.proc.wait(timeout=30) in (0, -signal.SIGTERM)


def test_settings_refuse_token_limits_the_model_cannot_keep(trained_tiny):
    from emotionkit import EmotionClassifier
    from emotionkit.serve import ServeSettings, create_app

    with pytest.raises(ValueError, match="max_input_tokens must be None or an int > 0, got -5"):
        ServeSettings(max_input_tokens=-5)
    clf = EmotionClassifier.load(trained_tiny, engine="torch")
    with pytest.raises(ValueError, match=f"max_input_tokens {clf.max_length + 1} is over the model's max_length"):
        create_app(clf, ServeSettings(max_input_tokens=clf.max_length + 1))
    assert create_app(clf, ServeSettings(max_input_tokens=clf.max_length)) is not None
