"""The web page's explanation: each word of the text shaded by its weight, in real headless Chromium."""

import os
from pathlib import Path

import pytest
from test_explain import build_sharp
from test_page import CHROMIUM, FLAGS
from test_serve import Server

from emotionkit.explain import split_words

pytestmark = pytest.mark.slow

TEXT = "I can't believe you remembered my birthday, thank you so much! 😊"


@pytest.fixture(scope="module")
def explain_server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed; `make test` installs it (apt-get install chromium)")
    model = os.environ.get("EMOTIONKIT_PAGE_MODEL") or build_sharp(tmp_path_factory.mktemp("sharp"))
    srv = Server(Path(model))
    yield srv
    srv.stop()


def test_words_are_shaded_by_their_weight(explain_server, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = Path(os.environ.get("EMOTIONKIT_EXPLAIN_SCREENSHOT", tmp_path / "explain.png"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 900, "height": 1000})
        page.goto(explain_server.url + "/")
        page.fill("#text", TEXT)
        with page.expect_response("**/explain") as answer:
            page.click("#classify")
        explained = answer.value.json()
        page.wait_for_selector("#why:not([hidden]) #words .w")
        spans = page.query_selector_all("#words .w")
        assert [s.inner_text() for s in spans] == [w for w, _, _ in split_words(TEXT)]
        assert page.inner_text("#words") == TEXT  # the text as written, spaces and all
        weights = [float(s.get_attribute("data-weight")) for s in spans]
        assert weights == pytest.approx([w["weight"] for w in explained["words"]])
        strongest = max(range(len(spans)), key=lambda i: abs(weights[i]))
        spans[strongest].hover()
        title = spans[strongest].get_attribute("title")
        assert title == f"{weights[strongest]:+.3f} to {explained['label']}"
        shade = spans[strongest].evaluate("e => getComputedStyle(e).backgroundColor")
        assert shade.startswith("rgba(") and float(shade.rstrip(")").split(",")[-1]) == pytest.approx(0.75, abs=0.01)
        assert page.inner_text("#whyhead").startswith(f"Why {explained['label']}:")
        # a new text replaces the explanation; markup in it stays text
        page.fill("#text", "so <b>scared</b>")
        with page.expect_response("**/explain"):
            page.click("#classify")
        page.wait_for_function("document.querySelectorAll('#words .w').length === 8")
        assert page.query_selector("#words b") is None and page.inner_text("#words") == "so <b>scared</b>"
        page.fill("#text", TEXT)
        with page.expect_response("**/explain"):
            page.click("#classify")
        page.wait_for_function(f"document.querySelectorAll('#words .w').length === {len(spans)}")
        box = page.query_selector("#why").bounding_box()
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 900, "height": box["y"] + box["height"] + 16})
        browser.close()
    assert shot.read_bytes()[:4] == b"\x89PNG"
