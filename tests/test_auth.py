"""The service locked with an API key: the real server over HTTP, and the page's key prompt in Chromium."""

from __future__ import annotations

import re
import signal

import httpx
import pytest
from test_serve import Server

from emotionkit.auth import resolve_api_key
from emotionkit.serve import ServeSettings

KEY = "ek-test-7f3a9c1d5e"  # a string that would stand out in any log or page it leaked into


def test_settings_keep_the_key_out_of_sight(monkeypatch):
    assert KEY not in repr(ServeSettings(api_key=KEY))
    for bad in ("", "two words", "tab\there", "ключ"):
        with pytest.raises(ValueError, match="api_key must be") as err:
            ServeSettings(api_key=bad)
        assert bad not in str(err.value) or not bad
    monkeypatch.setenv("EMOTIONKIT_API_KEY", KEY)
    assert resolve_api_key(ServeSettings()).api_key == KEY
    assert resolve_api_key(ServeSettings(api_key="from-flag")).api_key == "from-flag"  # the flag wins
    monkeypatch.setenv("EMOTIONKIT_API_KEY", "")
    assert resolve_api_key(ServeSettings()).api_key is None  # an empty variable is no key


def test_middleware_locks_websockets_too_and_lets_lifespan_through():
    import asyncio

    from emotionkit.auth import BearerAuth

    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def send(message):
        sent.append(message)

    auth = BearerAuth(app, KEY)
    assert KEY not in repr(auth)

    async def run():
        await auth({"type": "lifespan"}, None, send)
        await auth({"type": "websocket", "path": "/ws", "headers": [(b"authorization", b"Bearer nope")]}, None, send)
        await auth({"type": "websocket", "path": "/ws", "headers": [(b"authorization", f"Bearer {KEY}".encode())]}, None, send)

    asyncio.run(run())
    assert reached == ["lifespan", "websocket"] and sent == [{"type": "websocket.close", "code": 1008}]


@pytest.fixture(scope="module")
def locked(trained_tiny):
    srv = Server(trained_tiny, "--api-key", KEY)
    yield srv
    srv.stop()


def _unauthorized(response: httpx.Response, invalid: bool) -> None:
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error", "error_type"} and body["error_type"] == "Unauthorized"
    assert "Authorization: Bearer" in body["error"] and KEY not in response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer") and ('error="invalid_token"' in challenge) == invalid


@pytest.mark.slow
def test_api_routes_need_the_key(locked):
    good = {"Authorization": f"Bearer {KEY}"}
    for method, path in (("POST", "/predict"), ("GET", "/info"), ("GET", "/metrics"), ("POST", "/classify-file"),
                         ("GET", "/no-such-route")):
        _unauthorized(httpx.request(method, locked.url + path, json={"inputs": "hi"}), invalid=False)
        for wrong in (f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", "Bearer", f"Basic {KEY}", KEY):
            response = httpx.request(method, locked.url + path, json={"inputs": "hi"}, headers={"Authorization": wrong})
            _unauthorized(response, invalid=wrong.startswith("Bearer"))
    one = httpx.post(locked.url + "/predict", json={"inputs": "what a day"}, headers=good)
    assert one.status_code == 200 and len(one.json()) >= 6
    # The scheme is case-insensitive (RFC 7235); the key is not.
    lower = httpx.post(locked.url + "/predict", json={"inputs": "hi"}, headers={"Authorization": f"bearer {KEY}"})
    assert lower.status_code == 200
    _unauthorized(httpx.post(locked.url + "/predict", json={"inputs": "hi"},
                             headers={"Authorization": f"Bearer {KEY.upper()}"}), invalid=True)
    upload = httpx.post(locked.url + "/classify-file?filename=a.csv", content=b"text\nhello\n", headers=good)
    assert upload.status_code == 200 and upload.text.startswith("text,label,score")


@pytest.mark.slow
def test_open_routes_and_no_leak(locked):
    good = {"Authorization": f"Bearer {KEY}"}
    assert httpx.get(locked.url + "/health").json() == {"status": "ok"}
    page = httpx.get(locked.url + "/")
    assert page.status_code == 200 and "apiFetch" in page.text and KEY not in page.text
    schema = httpx.get(locked.url + "/openapi.json").json()  # the docs load, and offer 'Authorize'
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert schema["paths"]["/health"]["get"]["security"] == []
    info = httpx.get(locked.url + "/info", headers=good)
    assert info.status_code == 200 and KEY not in info.text
    httpx.get(locked.url + "/info")  # one more 401, so the counter below is not empty
    metrics = httpx.get(locked.url + "/metrics", headers=good).text
    assert KEY not in metrics
    counted = re.search(r'emotionkit_requests_total\{path="/info",status="401"\} (\d+)', metrics)
    assert counted and float(counted.group(1)) >= 1


@pytest.mark.slow
def test_the_key_never_reaches_the_logs(trained_tiny):
    srv = Server(trained_tiny, "--api-key", KEY)
    try:
        for header in (f"Bearer {KEY}", f"Bearer {KEY}-wrong", f"Basic {KEY}"):
            httpx.post(srv.url + "/predict", json={"inputs": "hi"}, headers={"Authorization": header})
        httpx.post(srv.url + "/predict", content=b"{not json", headers={"Authorization": f"Bearer {KEY}"})
    finally:
        assert srv.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    out, err = srv.proc.stdout.read(), srv.proc.stderr.read()
    assert "API key required" in out and KEY not in out + err


@pytest.mark.slow
def test_page_asks_for_the_key_once_per_tab(trained_tiny, monkeypatch):
    from playwright.sync_api import sync_playwright
    from test_page import CHROMIUM, FLAGS

    monkeypatch.setenv("EMOTIONKIT_API_KEY", KEY)  # the environment locks it as --api-key does
    srv = Server(trained_tiny)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page()
            sent = []
            page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
            page.goto(srv.url + "/")
            page.wait_for_selector("#keyform", state="visible")  # the page loads, /info gets 401: it asks
            assert page.inner_text("#keystatus") == ""
            page.fill("#apikey", "not-the-key")
            page.click("#keysubmit")
            page.wait_for_function("document.querySelector('#keystatus').textContent.includes('refused')")
            assert page.is_visible("#keyform")
            page.fill("#apikey", KEY)
            page.click("#keysubmit")
            page.wait_for_selector("#keyform", state="hidden")
            page.wait_for_function("document.querySelector('#meta').textContent.startsWith('Model ')")  # /info retried
            page.fill("#text", "I can't believe you remembered my birthday!")
            with page.expect_response("**/predict") as response:
                page.click("#classify")
            assert response.value.status == 200
            page.wait_for_function("document.querySelectorAll('#bars .row').length >= 6")
            assert page.evaluate("sessionStorage.getItem('emotionkit-api-key')") == KEY
            # Reloaded in the same tab: the key is kept, nothing is asked again.
            page.reload()
            page.wait_for_function("document.querySelector('#meta').textContent.startsWith('Model ')")
            assert not page.is_visible("#keyform")
            page.set_input_files("#file", files=[{"name": "a.csv", "mimeType": "text/csv", "buffer": b"text\nhello\n"}])
            with page.expect_response("**/classify-file*") as upload:
                page.click("#upload")
            assert upload.value.status == 200
            page.wait_for_selector("#download")
            api = [(re.sub(r"^http://[^/]+|\?.*$", "", url), auth) for url, auth in sent
                   if re.search(r"/(info|predict|classify-file)\b", url)]
            assert api[0] == ("/info", None)  # asked only after the service said 401
            assert api[-3:] == [("/predict", f"Bearer {KEY}"), ("/info", f"Bearer {KEY}"), ("/classify-file", f"Bearer {KEY}")]
            # A new tab (its own session storage) asks again.
            other = browser.new_context().new_page()
            other.goto(srv.url + "/")
            other.wait_for_selector("#keyform", state="visible")
            browser.close()
    finally:
        srv.stop()
