"""The web page in real headless Chromium (Debian's chromium, driven by Playwright)."""

import json
import os
import shutil
from pathlib import Path

import pytest
from test_serve import Server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The closed network refuses Chromium's background connections; these flags keep it quiet.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_server(trained_tiny):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed; `make test` installs it (apt-get install chromium)")
    model = Path(os.environ.get("EMOTIONKIT_PAGE_MODEL", trained_tiny))
    srv = Server(model)
    yield srv
    srv.stop()


def test_type_click_and_see_bars(page_server, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = Path(os.environ.get("EMOTIONKIT_SCREENSHOT", tmp_path / "page.png"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 900, "height": 900})
        page.goto(page_server.url + "/")
        page.fill("#text", "I can't believe you remembered my birthday, thank you!")
        with page.expect_response("**/predict") as first:
            page.click("#classify")
        page.wait_for_selector("#bars .row")
        rows = page.query_selector_all("#bars .row")
        labels = [r.get_attribute("data-label") for r in rows]
        assert labels == [d["label"] for d in first.value.json()]  # every output, highest first
        assert {"sadness", "joy", "love", "anger", "fear", "surprise"} <= set(labels)
        emotions = json.loads(first.value.headers["x-emotionkit-emotions"])[0]
        page.wait_for_function(f"document.querySelector('#top').textContent === {json.dumps(_expected_heading(emotions))}")
        widths = [float(r.query_selector(".bar").evaluate("e => e.style.width").rstrip("%")) for r in rows]
        assert widths == sorted(widths, reverse=True) and 0 < widths[0] <= 100
        with page.expect_response("**/predict") as example:
            page.click("#examples button >> nth=2")  # an example text fills the box and classifies
        page.wait_for_function("document.querySelector('#text').value.startsWith('I miss my grandma')")
        example_emotions = json.loads(example.value.headers["x-emotionkit-emotions"])[0]
        heading = json.dumps(_expected_heading(example_emotions))
        page.wait_for_function(f"document.querySelector('#top').textContent === {heading}")
        page.wait_for_function(f"document.querySelectorAll('#bars .row').length === {len(labels)}")
        page.fill("#text", "   ")
        page.click("#classify")
        assert page.inner_text("#error") == "Type a text first."
        page.fill("#text", "I can't believe you remembered my birthday, thank you!")
        with page.expect_response("**/predict") as response:
            page.click("#classify")
        heading = json.dumps(_expected_heading(json.loads(response.value.headers["x-emotionkit-emotions"])[0]))
        page.wait_for_function(f"document.querySelector('#top').textContent === {heading}")
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_upload_returns_scored_file(page_server, tmp_path):
    from playwright.sync_api import sync_playwright

    upload = tmp_path / "reviews.csv"
    upload.write_text("id,text\n1,great product\n2,terrible support\n")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(accept_downloads=True)
        page.goto(page_server.url + "/")
        page.set_input_files("#file", str(upload))
        page.click("#upload")
        link = page.wait_for_selector("#download")
        with page.expect_download() as info:
            link.click()
        target = tmp_path / "scored.csv"
        info.value.save_as(target)
        assert info.value.suggested_filename == "reviews_scored.csv"
        browser.close()
    lines = target.read_text().strip().splitlines()
    assert lines[0].startswith("id,text,label,score,") and len(lines) == 3


def test_labels_are_text_and_a_failed_upload_says_so(trained_tiny, tmp_path):
    import json

    from playwright.sync_api import sync_playwright

    model = tmp_path / "model"
    shutil.copytree(trained_tiny, model, ignore=shutil.ignore_patterns("onnx"))
    config = json.loads((model / "config.json").read_text())
    evil = "<img src=x onerror=\"document.title='XSS'\">"
    config["id2label"] = {**config["id2label"], "0": evil}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (model / "config.json").write_text(json.dumps(config))
    srv = Server(model)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page()
            page.goto(srv.url + "/")
            page.fill("#text", "so sad today")
            page.click("#classify")
            page.wait_for_function("document.querySelectorAll('#bars .row').length === 6")
            assert page.query_selector("#bars img") is None and page.title() != "XSS"
            names = [n.inner_text() for n in page.query_selector_all("#bars .name")]
            assert evil in names  # shown as the text it is
            # the service does not answer the upload: the page says so instead of "Scoring..." forever
            page.route("**/classify-file*", lambda route: route.abort())
            upload = tmp_path / "a.csv"
            upload.write_text("text\nhello\n")
            page.set_input_files("#file", str(upload))
            page.click("#upload")
            page.wait_for_function("document.querySelector('#error').textContent.startsWith('The service did not answer')")
            assert page.inner_text("#filestatus") == ""
            browser.close()
    finally:
        srv.stop()


def _expected_heading(emotions: list[str]) -> str:
    if not emotions:
        return "No clear emotion (neutral)"
    if len(emotions) == 1:
        return f"Emotion: {emotions[0]}"
    return f"Emotions: {', '.join(emotions[:-1])} and {emotions[-1]}"


@pytest.mark.parametrize("case", ["none", "several"])
def test_page_shows_the_decided_emotions_of_a_multi_label_model(decided_tiny_multi, case):
    """Seven bars (the six and neutral); the heading and the highlighted bars are the service's decision
    (the X-Emotionkit-Emotions header): "no clear emotion" for a model that finds none in any text, both
    emotions for one that finds two in every text (conftest.py: ``decided_tiny_multi``)."""
    from conftest import DECIDED_TEXTS
    from playwright.sync_api import sync_playwright

    from emotionkit.predict import EmotionClassifier

    expected = [r.emotions for r in EmotionClassifier.load(decided_tiny_multi[case], engine="torch")(list(DECIDED_TEXTS))]
    assert all(len(e) == (0 if case == "none" else 2) for e in expected)
    srv = Server(decided_tiny_multi[case])
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page()
            page.goto(srv.url + "/")
            for text, emotions in zip(DECIDED_TEXTS, expected, strict=True):
                page.fill("#text", text)
                with page.expect_response("**/predict") as response:
                    page.click("#classify")
                assert json.loads(response.value.headers["x-emotionkit-emotions"]) == [emotions]
                heading = _expected_heading(emotions)
                assert heading.startswith("No clear emotion" if case == "none" else "Emotions: ")
                page.wait_for_function(f"document.querySelector('#top').textContent === {json.dumps(heading)}")
                assert page.eval_on_selector_all("#bars .row", "rows => rows.length") == 7
                best = page.eval_on_selector_all("#bars .row.best", "rows => rows.map(r => r.dataset.label)")
                assert sorted(best) == sorted(emotions)
            browser.close()
    finally:
        srv.stop()
