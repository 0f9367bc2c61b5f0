"""HTTP service: a thin FastAPI layer over ``EmotionClassifier``.

``POST /predict`` takes the body text-embeddings-inference takes for classifiers
(``{"inputs": str | [str], "raw_scores": false, "truncate": true}``) and answers
in its shape. Concurrent requests are gathered into one batch by :class:`Batcher`
(a few milliseconds or ``max_batch_texts`` texts), run in one worker thread so the
event loop never blocks, and answered in input order. A text longer than the model's
window is read whole (emotionkit.longdoc) unless ``truncate`` is false, which refuses it
as TEI does; ``"sentences": true`` asks for each input's whole result, a long text's
sentences with their offsets included.

    emotionkit serve --model models/emotionkit-minilm --port 8000
"""


import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from emotionkit.auth import BearerAuth, check_api_key, document_bearer, resolve_api_key
from emotionkit.batch import EXTRA, score_column_names
from emotionkit.predict import EmotionClassifier, lone_surrogate
from emotionkit.uploads import attachment, parse_upload, report_of_upload, scored_csv, utc_now

log = logging.getLogger(__name__)


def _doc(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of the HTTP service."""

    host: str = field(default="127.0.0.1", metadata=_doc("Interface to listen on."))
    port: int = field(default=8000, metadata=_doc("TCP port."))
    max_client_batch_size: int = field(default=64, metadata=_doc("Most texts one request may send."))
    max_input_tokens: int | None = field(
        default=None, metadata=_doc("Most tokens per text when truncate is false (default: the model's max_length).")
    )
    max_text_chars: int = field(default=20_000, metadata=_doc("Most characters per text, truncated or not."))
    max_body_bytes: int = field(default=1_000_000, metadata=_doc("Largest request body for /predict."))
    max_upload_bytes: int = field(default=20_000_000, metadata=_doc("Largest file for /classify-file."))
    max_batch_texts: int = field(default=64, metadata=_doc("Most texts the server puts in one engine batch."))
    max_wait_ms: float = field(default=4.0, metadata=_doc("How long a batch waits for more requests."))
    api_key: str | None = field(default=None, repr=False, metadata=_doc(
        "Require 'Authorization: Bearer KEY' on every route but /health, the page and the docs "
        "(default: $EMOTIONKIT_API_KEY; unset: open to whoever reaches the port)."))

    def __post_init__(self) -> None:
        for name in ("max_client_batch_size", "max_text_chars", "max_body_bytes", "max_upload_bytes", "max_batch_texts"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be an int > 0, got {value!r}")
        if not 0 <= self.max_wait_ms <= 1000:
            raise ValueError(f"max_wait_ms must be in 0..1000, got {self.max_wait_ms!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port!r}")
        if self.max_input_tokens is not None and (not isinstance(self.max_input_tokens, int) or self.max_input_tokens <= 0):
            raise ValueError(f"max_input_tokens must be None or an int > 0, got {self.max_input_tokens!r}")
        check_api_key(self.api_key)


class ApiError(Exception):
    """A client error: status code plus a message that says what was expected."""

    def __init__(self, status: int, message: str, kind: str = "Validation"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


class Batcher:
    """Collects texts from concurrent requests and scores them together in one worker thread."""

    def __init__(self, classifier: EmotionClassifier, max_texts: int, max_wait_ms: float, on_batch=None, engine_batch: int = 8):
        self.classifier = classifier
        self.max_texts = max_texts
        # The gathered texts are sorted by length and run in small engine batches: texts of random
        # lengths padded to the longest of 64 would cost up to several times the compute.
        self.engine_batch = engine_batch
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        await self.queue.join()
        if self.task:
            self.task.cancel()

    async def submit(self, texts: list[str], raw: bool) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, raw, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            count = len(jobs[0][0])
            deadline = loop.time() + self.max_wait
            while count < self.max_texts:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    break
                jobs.append(job)
                count += len(job[0])
            try:
                await self._score(jobs)
            finally:
                for _ in jobs:
                    self.queue.task_done()

    async def _score(self, jobs: list) -> None:
        texts = [t for job in jobs for t in job[0]]
        try:
            # One call for the whole batch: probabilities and raw logits come from the same pass.
            logits = await asyncio.to_thread(self.classifier.logits, texts, self.engine_batch)
        except Exception as err:  # answer every waiting request, never leave one hanging
            for _, _, future in jobs:
                if not future.done():
                    future.set_exception(err)
            return
        if self.on_batch:
            self.on_batch(len(texts))
        probs = self.classifier.decision.scores(logits)
        start = 0
        for job_texts, raw, future in jobs:
            part = (logits if raw else probs)[start : start + len(job_texts)]
            start += len(job_texts)
            if not future.done():
                future.set_result(part)


EMOTIONS_HEADER = "X-Emotionkit-Emotions"  # /predict: JSON list, per input, of the emotions present


def _metrics(registry):
    from prometheus_client import Counter, Histogram  # noqa: PLC0415

    return {
        "requests": Counter("emotionkit_requests", "HTTP requests by path and status", ["path", "status"], registry=registry),
        "latency": Histogram(
            "emotionkit_request_seconds", "Request latency", ["path"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ),
        "batch": Histogram(
            "emotionkit_batch_texts", "Texts per engine batch", registry=registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        ),
        "texts": Counter("emotionkit_texts", "Texts classified", registry=registry),
        "explained": Counter("emotionkit_explained_texts", "Texts explained (POST /explain) by method", ["method"],
                             registry=registry),
    }


def _check_inputs(body: object, settings: ServeSettings) -> tuple[list[str], bool, bool, bool]:
    """Validate a /predict body; returns (texts, single, raw_scores, truncate)."""
    if not isinstance(body, dict):
        raise ApiError(422, f"expected a JSON object like {{\"inputs\": \"text\"}}, got {type(body).__name__}")
    unknown = set(body) - {"inputs", "raw_scores", "truncate", "truncation_direction"}
    if unknown:
        raise ApiError(422, f"unknown field(s) {sorted(unknown)}; expected inputs, raw_scores, truncate")
    if "inputs" not in body:
        raise ApiError(422, "missing field 'inputs': expected a string or a list of strings")
    inputs = body["inputs"]
    raw, truncate = body.get("raw_scores", False), body.get("truncate", True)
    for name, value in (("raw_scores", raw), ("truncate", truncate)):
        if not isinstance(value, bool):
            raise ApiError(422, f"'{name}' must be true or false, got {json.dumps(value)}")
    if body.get("truncation_direction", "Right") not in ("Right", "right"):
        raise ApiError(422, "only truncation_direction 'Right' is supported")
    single = isinstance(inputs, str)
    texts = [inputs] if single else inputs
    if not isinstance(texts, list):
        raise ApiError(422, f"'inputs' must be a string or a list of strings, got {type(inputs).__name__}")
    if not texts:
        raise ApiError(422, "'inputs' is an empty list; expected at least one text")
    if len(texts) > settings.max_client_batch_size:
        raise ApiError(
            413, f"batch of {len(texts)} texts is over the maximum of {settings.max_client_batch_size}", "Validation"
        )
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ApiError(422, f"inputs[{i}] must be a string, got {type(t).__name__}")
        if not t.strip():
            raise ApiError(422, f"inputs[{i}] is empty; expected at least one non-space character")
        if len(t) > settings.max_text_chars:
            raise ApiError(413, f"inputs[{i}] has {len(t)} characters, over the maximum of {settings.max_text_chars}")
        where = lone_surrogate(t)
        if where is not None:
            raise ApiError(422, f"inputs[{i}] has a lone surrogate (U+{ord(t[where]):04X}) at character {where}; "
                                "expected valid Unicode")
    return texts, single, raw, truncate


def _sentences_wanted(body: object) -> tuple[object, bool]:
    """Take /predict's opt-in ``sentences`` field off the body: with ``true`` each input is answered
    with its whole result (``Prediction.to_dict()``: the TEI list under ``scores``, plus, for a text
    longer than the window, ``sentences`` with each piece's result and offsets; see emotionkit.longdoc)."""
    if not isinstance(body, dict) or "sentences" not in body:
        return body, False
    want = body["sentences"]
    if not isinstance(want, bool):
        raise ApiError(422, f"'sentences' must be true or false, got {json.dumps(want)}")
    if want and body.get("raw_scores") is True:
        raise ApiError(422, "'sentences' answers with probabilities; send it without raw_scores: true")
    return {k: v for k, v in body.items() if k != "sentences"}, want


def _check_token_limit(classifier: EmotionClassifier, texts: list[str], max_tokens: int) -> None:
    """``truncate: false``: a 413 for the first text over ``max_tokens`` tokens, as text-embeddings-inference."""
    for i, n in enumerate(classifier.token_counts(texts)):
        if n > max_tokens:
            raise ApiError(413, f"inputs[{i}] has {n} tokens, over the maximum of {max_tokens}; send truncate: true to cut it")


def _json_body(raw_body: bytes) -> object:
    """A request body as JSON, or a 400 that says what is wrong with it."""
    try:
        return json.loads(raw_body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ApiError(400, f"body is not valid UTF-8 (bad byte at position {err.start}); expected UTF-8 JSON") from None
    except json.JSONDecodeError as err:
        raise ApiError(400, f"body is not valid JSON ({err.msg} at position {err.pos}); expected "
                            '{"inputs": "text" | ["text", ...]}') from None
    except RecursionError:
        raise ApiError(400, 'body is JSON nested too deeply; expected {"inputs": "text" | ["text", ...]}') from None


def _check_explain(body: object, settings: ServeSettings, labels: list[str]) -> tuple[list[str], bool, bool, str | None, str]:
    """Validate a /explain body: /predict's fields and rules, plus optional ``label`` and ``method``;
    returns (texts, single, truncate, label, method)."""
    from emotionkit.explain import DEFAULT_METHOD, METHODS  # noqa: PLC0415

    label, method = None, DEFAULT_METHOD
    if isinstance(body, dict):
        if "raw_scores" in body:
            raise ApiError(422, "unknown field(s) ['raw_scores']; expected inputs, label, method, truncate")
        label, method = body.get("label"), body.get("method", DEFAULT_METHOD)
        if label is not None and label not in labels:
            raise ApiError(422, f"'label' must be one of the model's outputs {labels}, got {json.dumps(label)}")
        if method not in METHODS:
            raise ApiError(422, f"'method' must be one of {list(METHODS)}, got {json.dumps(method)}")
        body = {k: v for k, v in body.items() if k not in ("label", "method")}
    texts, single, _, truncate = _check_inputs(body, settings)
    return texts, single, truncate, label, method


def create_app(classifier: EmotionClassifier, settings: ServeSettings | None = None):
    """The FastAPI app around one loaded classifier."""
    try:
        from fastapi import FastAPI  # noqa: PLC0415
        from prometheus_client import CollectorRegistry  # noqa: PLC0415
    except ImportError:
        raise ImportError(
            "the HTTP service needs fastapi, uvicorn and prometheus-client: pip install 'emotionkit[serve]'"
        ) from None

    settings = settings or ServeSettings()
    max_tokens = settings.max_input_tokens or classifier.max_length
    if max_tokens > classifier.max_length:
        # The model reads at most max_length tokens: a longer limit would truncate silently.
        raise ValueError(f"max_input_tokens {max_tokens} is over the model's max_length {classifier.max_length}")
    registry = CollectorRegistry()
    metrics = _metrics(registry)
    batcher = Batcher(classifier, settings.max_batch_texts, settings.max_wait_ms, metrics["batch"].observe)
    info = _model_info(classifier)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="emotionkit", version=info["emotionkit_version"], description=_description(classifier),
                  lifespan=lifespan)
    if settings.api_key:  # added before CountAndTime, so it runs inside it: 401s are counted like any status
        app.add_middleware(BearerAuth, api_key=settings.api_key)
        document_bearer(app)
    app.add_middleware(CountAndTime, metrics=metrics)

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return _error(exc.status, exc.message, exc.kind)

    _classify_routes(app, classifier, batcher, settings, metrics, max_tokens)
    _service_routes(app, info, registry)
    _report_routes(app, settings, info)
    return app


def _description(classifier: EmotionClassifier) -> str:
    """What the API docs say the service does, for the model it serves."""
    labels = ", ".join(classifier.decision.emotions)
    if classifier.decision.multi_label:
        return (f"English emotion classification: each of {labels} judged on its own, so a text may carry "
                "several, or none ('neutral').")
    return f"English emotion classification, one of {labels} per text."


def _error(status: int, message: str, kind: str = "Validation"):
    """The error body text-embeddings-inference answers with."""
    from fastapi.responses import JSONResponse  # noqa: PLC0415

    return JSONResponse({"error": message, "error_type": kind}, status_code=status)


_KNOWN_PATHS = {"/predict", "/explain", "/health", "/info", "/metrics", "/", "/classify-file", "/docs", "/openapi.json",
                "/report", "/static/plotly.min.js"}


class CountAndTime:
    """Plain ASGI middleware (Starlette's BaseHTTPMiddleware costs ~1 ms a request):
    counts requests by path and status, times them, turns a crash into a JSON 500."""

    def __init__(self, app, metrics: dict):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]
        started = [False]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0], started[0] = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:  # an unexpected bug: answer 500 with JSON, keep serving
            log.exception("unhandled error on %s", scope.get("path"))
            if not started[0]:
                await _error(500, "internal error", "Backend")(scope, receive, send)
        path = scope.get("path") if scope.get("path") in _KNOWN_PATHS else "other"
        self.metrics["requests"].labels(path, str(status[0])).inc()
        self.metrics["latency"].labels(path).observe(time.perf_counter() - start)


async def _read_body(request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {declared} bytes is over the maximum of {limit}", "Overloaded")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise ApiError(413, f"request body is over the maximum of {limit} bytes", "Overloaded")
    return bytes(body)


def _classify_routes(app, classifier: EmotionClassifier, batcher: Batcher, settings: ServeSettings, metrics: dict,
                     max_tokens: int) -> None:
    """The routes that read texts: /predict, /explain and /classify-file."""
    from fastapi import Request  # noqa: PLC0415
    from fastapi.responses import PlainTextResponse, Response  # noqa: PLC0415

    @app.post("/predict", summary="Classify one text or a batch (text-embeddings-inference shape)")
    async def predict(request: Request):
        body = _json_body(await _read_body(request, settings.max_body_bytes))
        body, with_sentences = _sentences_wanted(body)
        texts, single, raw, truncate = _check_inputs(body, settings)
        if not truncate:
            _check_token_limit(classifier, texts, max_tokens)
        if with_sentences:  # the opt-in whole-result shape (a long text's sentences); scored in its own batches
            results = await asyncio.to_thread(classifier, texts, batcher.engine_batch)
            metrics["texts"].inc(len(texts))
            out = [r.to_dict() for r in results]
            return Response(json.dumps(out[0] if single else out), media_type="application/json",
                            headers={EMOTIONS_HEADER: json.dumps([r.emotions for r in results])})
        scores = await batcher.submit(texts, raw)
        metrics["texts"].inc(len(texts))
        labels = classifier.labels
        out = []
        for row in scores:
            order = np.argsort(-row)
            out.append([{"label": labels[j], "score": float(row[j])} for j in order])
        # The body keeps the text-embeddings-inference shape (every score); the decision (the emotions
        # present per input, [] for none) rides beside it in a header, so TEI clients read what they expect.
        decided = classifier.decision.decide(classifier.decision.scores(scores) if raw else scores)
        header = json.dumps([call.emotions for call in decided])
        # Serialized here: FastAPI's generic encoder walks every nested dict and is slower.
        return Response(json.dumps(out[0] if single else out), media_type="application/json",
                        headers={EMOTIONS_HEADER: header})

    @app.post("/explain", summary="Word attributions: one signed weight per word for a label (default: the predicted one)")
    async def explain_route(request: Request):
        from emotionkit.explain import explain  # noqa: PLC0415

        body = _json_body(await _read_body(request, settings.max_body_bytes))
        texts, single, truncate, label, method = _check_explain(body, settings, list(classifier.labels))
        if not truncate:
            _check_token_limit(classifier, texts, max_tokens)
        try:
            results = await asyncio.to_thread(explain, classifier, texts, label, method)
        except ImportError as err:  # a gradient method without captum installed
            raise ApiError(501, str(err), "Backend") from None
        except ValueError as err:  # a text with more words than an explanation reads
            raise ApiError(413, str(err)) from None
        metrics["explained"].labels(method).inc(len(texts))
        out = [r.to_dict() for r in results]
        return Response(json.dumps(out[0] if single else out), media_type="application/json")

    @app.post("/classify-file", summary="Score an uploaded CSV (a 'text' column) or text file (one text per line)")
    async def classify_file(request: Request, filename: str = "upload.csv"):
        raw_body = await _read_body(request, settings.max_upload_bytes)
        try:
            content = raw_body.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ApiError(400, f"file is not valid UTF-8 (bad byte at position {err.start})") from None
        try:
            rows, columns = parse_upload(content, filename, score_column_names(classifier.labels))
        except ValueError as err:  # no text column, or columns scoring would overwrite
            raise ApiError(422, str(err)) from None
        texts = [r["text"] for r in rows]
        good = [i for i, (row, t) in enumerate(zip(rows, texts, strict=True)) if t.strip() and EXTRA not in row]
        probs = np.zeros((len(rows), len(classifier.labels)))
        for start in range(0, len(good), settings.max_batch_texts * 4):
            idx = good[start : start + settings.max_batch_texts * 4]
            probs[idx] = await asyncio.to_thread(classifier.predict_proba, [texts[i] for i in idx])
        csv_text = scored_csv(rows, columns, probs, set(good), classifier)
        return PlainTextResponse(csv_text, media_type="text/csv",
                                 headers={"Content-Disposition": attachment(f"{Path(filename).stem or 'upload'}_scored.csv")})


def _service_routes(app, info: dict, registry) -> None:
    """The routes about the service itself: /health, /info, /metrics, and the page at /."""
    from fastapi.responses import HTMLResponse, Response  # noqa: PLC0415
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

    @app.get("/health", summary="200 when the model answers")
    async def health():
        return {"status": "ok"}

    @app.get("/info", summary="Model, labels, engine and test metrics from the card")
    async def model_info():
        return info

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return resources.files("emotionkit.resources").joinpath("index.html").read_text("utf-8")


def _report_routes(app, settings: ServeSettings, info: dict) -> None:
    """``POST /report``: the emotion report (emotionkit.report) of a CSV this service scored, as chart
    figures in JSON for the page or as the HTML file; ``GET /static/plotly.min.js``: the charting
    library for the page, served from the installed plotly package (the page needs no CDN)."""
    from fastapi import Request  # noqa: PLC0415
    from fastapi.responses import FileResponse, Response  # noqa: PLC0415

    from emotionkit.report import model_facts  # noqa: PLC0415

    facts: dict = {}

    @app.post("/report", summary="Emotion report of a CSV scored by /classify-file: chart figures (JSON) or the HTML")
    async def report(request: Request, filename: str = "upload.csv", by: str = "", time: str = "", format: str = "json"):
        if format not in ("json", "html"):
            raise ApiError(422, f"format must be 'json' or 'html', got {json.dumps(format)}")
        # The scored file is the upload plus about ten score columns: allow it room to have grown.
        body = await _read_body(request, settings.max_upload_bytes * 4)
        if not facts:
            facts.update(await asyncio.to_thread(model_facts, info["model_dir"], info["engine"]))
        run = {**facts, "input": filename, "scored_at": utc_now()}
        try:
            out = await asyncio.to_thread(report_of_upload, body, by or None, time or None, format, run)
        except ImportError as err:  # plotly missing
            raise ApiError(501, str(err), "Backend") from None
        except ValueError as err:  # not a scored file, no such column, no time parses
            raise ApiError(422, str(err)) from None
        if format == "html":
            name = f"{Path(filename).stem or 'upload'}_report.html"
            return Response(out, media_type="text/html; charset=utf-8", headers={"Content-Disposition": attachment(name)})
        return Response(out, media_type="application/json")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js():
        try:
            import plotly  # noqa: PLC0415
        except ImportError:
            raise ApiError(404, "the page's charts need plotly: pip install 'emotionkit[report]'", "Backend") from None
        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def _model_info(classifier: EmotionClassifier) -> dict:
    from emotionkit import __version__  # noqa: PLC0415

    tests = {}
    metrics_file = Path(classifier.model_dir) / "test_metrics.json"
    if metrics_file.is_file():
        for name, m in json.loads(metrics_file.read_text("utf-8")).items():
            keys = ("accuracy", "f1_macro", "f1_weighted", "support", "exact_match", "neutral_f1", "emotion_free_share")
            tests[name] = {k: m[k] for k in keys if k in m}
    return {
        "model": Path(classifier.model_dir).name,
        "model_dir": str(classifier.model_dir),
        "labels": list(classifier.labels),
        "decision": classifier.decision.to_json(),
        "engine": classifier.engine.name,
        "max_input_tokens": classifier.max_length,
        "normalize": list(classifier.normalize_steps),
        "test_metrics": tests,
        "emotionkit_version": __version__,
    }


def serve(model: str | Path | None = None, settings: ServeSettings | None = None, engine: str = "auto") -> None:
    """Load the model once and serve it with uvicorn until SIGINT/SIGTERM (in-flight requests finish)."""
    try:
        import uvicorn  # noqa: PLC0415
    except ImportError:
        raise ImportError("the HTTP service needs uvicorn: pip install 'emotionkit[serve]'") from None
    settings = resolve_api_key(settings or ServeSettings())  # --api-key, else $EMOTIONKIT_API_KEY
    classifier = EmotionClassifier.load(model, engine=engine)
    app = create_app(classifier, settings)
    locked = "; API key required" if settings.api_key else ""
    print(f"emotionkit: serving {classifier.model_dir} ({classifier.engine.name}) at http://{settings.host}:{settings.port}/"
          f"{locked}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=30)
