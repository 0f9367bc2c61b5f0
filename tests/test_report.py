"""Emotion reports: the aggregation against a hand-counted file, formats, bad input, atomic and
self-contained HTML, the CLI, and the web page's charts in real Chromium."""

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from emotionkit import report
from emotionkit.cli import main
from emotionkit.report import aggregate, load_facts, save_facts, unit_for_span, write_report

# Ten rows, counted by hand below. Rows 4 and 9 have no usable text, so classify-file left them unscored.
SCORED_CSV = """\
id,text,channel,created,label,score,emotions,sadness,joy,love,anger,fear,surprise,neutral
1,I love this so much,web,2024-03-01T09:00:00Z,love,0.91,love,0.01,0.30,0.91,0.01,0.01,0.02,0.03
2,Where is my refund?! I am furious and scared,app,2024-03-01T15:30:00Z,anger,0.88,anger;fear,0.02,0.01,0.01,0.88,0.64,0.03,0.01
3,ok,web,2024-03-02,neutral,0.72,neutral,0.01,0.05,0.01,0.02,0.01,0.01,0.72
4,,web,2024-03-02,,,,,,,,,,
5,best day ever,email,2024-03-03T12:00:00,joy,0.97,joy,0.01,0.97,0.20,0.01,0.01,0.10,0.01
6,I am so sad and angry,app,yesterday,sadness,0.45,sadness;anger,0.45,0.01,0.01,0.41,0.02,0.01,0.05
7,"wait, what?",app,2024-03-03T23:59:00Z,surprise,0.55,surprise,0.02,0.10,0.01,0.01,0.20,0.55,0.10
8,"<i id=""evil-marker"">so angry</i>",web,,anger,0.93,anger,0.01,0.01,0.01,0.93,0.02,0.01,0.01
9,   ,app,2024-03-04,,,,,,,,,,
10,hmm fine,web,2024-03-05,neutral,0.30,neutral,0.10,0.10,0.05,0.05,0.05,0.05,0.30
"""
SCORES = ["score", "sadness", "joy", "love", "anger", "fear", "surprise", "neutral"]


def write_scored(directory: Path, fmt: str) -> Path:
    """The hand-counted file as classify-file would write it in ``fmt`` (numbers as numbers, no score as null)."""
    path = directory / f"scored.{fmt}"
    if fmt == "csv":
        path.write_text(SCORED_CSV, encoding="utf-8")
        return path
    rows = [{k: (float(v) if v else None) if k in SCORES else v for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(SCORED_CSV))]
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_aggregate_matches_the_hand_count(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "MAX_GROUPS", 2)  # so that the third channel is folded into "other"
    agg = aggregate(write_scored(tmp_path, "csv"), by="channel", time="created")
    assert (agg.rows, agg.scored, agg.bad_rows) == (10, 8, 2)
    assert agg.outcomes == {"love": 1, "several": 2, "neutral": 2, "joy": 1, "surprise": 1, "anger": 1}
    assert agg.outcome_order() == ["sadness", "joy", "love", "anger", "fear", "surprise", "neutral", "several"]
    assert agg.presence == {"love": 1, "anger": 3, "fear": 1, "neutral": 2, "joy": 1, "sadness": 1, "surprise": 1}
    assert agg.combinations == {"anger + fear": 1, "anger + sadness": 1}
    # top scores 0.91 0.88 0.72 0.97 0.45 0.55 0.93 0.30 in bins of 0.05
    assert {i: n for i, n in enumerate(agg.confidence_bins) if n} == {6: 1, 9: 1, 11: 1, 14: 1, 17: 1, 18: 2, 19: 1}
    assert agg.below_threshold == 2 and agg.score_sum == pytest.approx(5.71)
    assert {e: [x.row for x in xs] for e, xs in agg.examples.items()} == {
        "love": [1], "anger": [8, 2, 6], "fear": [2], "neutral": [3, 10], "joy": [5], "sadness": [6], "surprise": [7]}
    assert agg.examples["anger"][0].score == 0.93 and agg.examples["anger"][0].text == '<i id="evil-marker">so angry</i>'
    assert agg.bad_reasons == {"empty text": 2} and agg.bad_row_numbers == [4, 9]

    t = agg.time
    assert t.unit == "day" and t.utc  # 3.6 days from the first time to the last
    assert t.bins == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]
    assert t.rows == [2, 1, 2, 0, 1]  # scored rows only: rows 4 and 9 are bad
    assert t.presence["anger"] == [1, 0, 0, 0, 0] and t.presence["neutral"] == [0, 1, 0, 0, 1]
    assert t.outcomes["several"] == [1, 0, 0, 0, 0]  # row 6 (several) has no time
    assert (t.parsed, t.unparseable, t.empty) == (8, 1, 1) and t.unparseable_examples == [(6, "yesterday")]
    assert any("row 6: 'yesterday'" in w for w in agg.warnings)

    g = agg.groups
    assert g.names == ["web", "app", "other"] and g.rows == [4, 3, 1]
    assert (g.folded_groups, g.folded_rows, g.distinct) == (1, 1, 3)
    assert g.outcomes["neutral"] == [2, 0, 0] and g.outcomes["several"] == [0, 2, 0] and g.outcomes["joy"] == [0, 0, 1]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_format_counts_the_same(tmp_path, fmt):
    base = aggregate(write_scored(tmp_path, "csv"), by="channel", time="created").to_dict()
    other = aggregate(write_scored(tmp_path, fmt), by="channel", time="created").to_dict()
    for d in (base, other):
        d.pop("path"), d.pop("format")
    assert other == base


def test_streaming_chunks_do_not_change_the_numbers(tmp_path):
    # row by row, the first chunks span hours, then days: the bins are merged as the span grows
    one = aggregate(write_scored(tmp_path, "csv"), by="channel", time="created", chunk_rows=1).to_dict()
    assert one == aggregate(write_scored(tmp_path, "csv"), by="channel", time="created").to_dict()


@pytest.mark.parametrize(("step", "unit", "bins"), [(timedelta(minutes=50), "hour", 33), (timedelta(days=1), "week", 58),
                                                    (timedelta(days=3), "month", 40)])
def test_time_unit_follows_the_span(tmp_path, step, unit, bins):
    start = datetime(2023, 1, 2, tzinfo=UTC)  # a Monday
    path = tmp_path / "t.jsonl"
    with path.open("w") as fh:
        for i in range(400 if step.days else 40):
            when = (start + i * step).timestamp()  # epoch seconds
            fh.write(json.dumps({"text": "x", "t": when, "label": "joy", "score": 0.9, "joy": 0.9, "fear": 0.1}) + "\n")
    small, whole = aggregate(path, time="t", chunk_rows=7), aggregate(path, time="t")
    assert small.time.unit == whole.time.unit == unit and len(whole.time.bins) == bins
    assert small.time.rows == whole.time.rows and sum(whole.time.rows) == small.scored


def test_unit_for_span_boundaries():
    assert [unit_for_span(timedelta(days=d)) for d in (2, 2.1, 92, 93, 731, 732)] == \
        ["hour", "day", "day", "week", "week", "month"]


def test_single_label_file_is_counted_by_label(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("text,label,score,sadness,joy\na,joy,0.8,0.2,0.8\nb,sadness,0.6,0.6,0.4\nc,joy,0.7,0.3,0.7\n")
    agg = aggregate(path)
    assert agg.outcome_column == "label" and agg.outcomes == {"joy": 2, "sadness": 1}
    assert not agg.multi_label and agg.outcome_order() == ["sadness", "joy"]


def test_bad_rows_get_the_reason_classify_file_gave(tmp_path):
    # a JSON lines input scored into CSV: every row has _unparsed_line and _extra_fields, only a value counts
    path = tmp_path / "s.csv"
    path.write_text("text,_unparsed_line,_extra_fields,label,score,joy,fear\n"
                    "fine,,,joy,0.9,0.9,0.1\n,{oops,,,,,\n,,,,,,\nx,,\"[1]\",,,,\n")
    agg = aggregate(path)
    assert agg.bad_reasons == {"broken JSON": 1, "empty text": 1, "more fields than the header": 1}
    assert agg.bad_row_numbers == [2, 3, 4] and agg.scored == 1


def test_bad_input_is_a_clear_error(tmp_path):
    scored = write_scored(tmp_path, "csv")
    not_scored = tmp_path / "raw.csv"
    not_scored.write_text("id,text\n1,hello\n")
    with pytest.raises(ValueError, match=r"is not a scored file: it lacks \['label', 'score'\].*columns are \['id', 'text'\]"):
        aggregate(not_scored)
    with pytest.raises(ValueError, match=r"by: .* has no column 'product'; its columns are \['id', 'text', 'channel'"):
        aggregate(scored, by="product")
    with pytest.raises(ValueError, match=r"no value of column 'text' could be read as a time \(8 unparseable, 2 empty; "
                                         r"row 1: 'I love this so much'"):
        aggregate(scored, time="text")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        aggregate(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="threshold must be in"):
        aggregate(scored, threshold=1.5)


def test_no_half_written_report(tmp_path, monkeypatch):
    scored, out = write_scored(tmp_path, "csv"), tmp_path / "report.html"
    out.write_text("the previous report")
    with pytest.raises(ValueError):
        write_report(scored, out, by="product")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_report(scored, out)
    assert out.read_text() == "the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "scored.csv"]


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href", "srcset", "data") and v]


def test_report_is_self_contained_and_escaped(tmp_path):
    scored = write_scored(tmp_path, "csv")
    save_facts(scored, {"model": "emotionkit-minilm", "model_version": "abc123", "scored_at": "2024-03-06T10:00:00+00:00",
                        "input": "feedback.csv"})
    page = write_report(scored, tmp_path / "report.html", by="channel", time="created").read_text("utf-8")
    parser = _Refs()
    parser.feed(page)
    assert not [r for r in parser.refs if r.lower().startswith(("http:", "https:", "//"))]
    assert "link" not in parser.tags and "@import" not in page
    assert page.count("* plotly.js v") == 1  # the library, inline, once
    for chart in ("chart-emotions", "chart-presence", "chart-confidence", "chart-time", "chart-groups"):
        assert f'id="{chart}"' in page
    assert '<i id="evil-marker">' not in page and "&lt;i id=&quot;evil-marker&quot;&gt;so angry&lt;/i&gt;" in page
    for fact in ("emotionkit-minilm", "abc123", "2024-03-06T10:00:00+00:00", "feedback.csv", "Row numbers: 4, 9"):
        assert fact in page


def test_facts_are_dropped_when_the_scored_file_changed(tmp_path):
    scored = write_scored(tmp_path, "csv")
    save_facts(scored, {"model": "m1"})
    assert load_facts(scored)["model"] == "m1"
    scored.write_text(SCORED_CSV + "11,more,web,2024-03-05,joy,0.9,joy,0,0.9,0,0,0,0,0\n")
    assert "model" not in load_facts(scored) and "file_modified" in load_facts(scored)


def test_report_command(tmp_path, capsys):
    scored = write_scored(tmp_path, "jsonl")
    out = tmp_path / "r.html"
    assert main(["report", str(scored), "--output", str(out), "--by", "channel", "--time", "created",
                 "--model-name", "my-model", "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["outcomes"]["several"] == 2 and numbers["time"]["unit"] == "day"
    assert "my-model" in out.read_text("utf-8")
    assert main(["report", str(scored), "--output", str(tmp_path / "x.html"), "--time", "when"]) == 2
    assert "has no column 'when'; its columns are ['id', 'text'" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


# --------------------------------------------------------------------------- slow: a model, a browser


@pytest.mark.slow
def test_classify_file_with_report(trained_tiny, tmp_path, capsys):
    src = tmp_path / "posts.csv"
    src.write_text("text,channel\nso happy today,web\nI hate waiting,app\n,app\nwhat a surprise,web\n")
    out, page = tmp_path / "posts_scored.parquet", tmp_path / "posts_report.html"
    assert main(["classify-file", str(src), str(out), "--model", str(trained_tiny), "--engine", "torch",
                 "--report", str(page), "--report-by", "channel"]) == 0
    html_text = page.read_text("utf-8")
    assert "posts.csv" in html_text and trained_tiny.name in html_text and 'id="chart-groups"' in html_text
    assert "<td>empty text</td><td>1</td>" in html_text and "Row numbers: 3" in html_text
    assert load_facts(out)["model"] == trained_tiny.name and load_facts(out)["input"] == "posts.csv"
    assert main(["classify-file", str(src), str(tmp_path / "b.csv"), "--model", str(trained_tiny),
                 "--report", str(page), "--report-by", "nope"]) == 2
    assert "--report-by: " in capsys.readouterr().err and not (tmp_path / "b.csv").exists()  # refused before scoring


def _upload_file(tmp_path: Path) -> Path:
    """Our own style-set texts with a channel and a time, and two rows without text."""
    import random

    from conftest import style_rows

    rows = style_rows()
    random.Random(0).shuffle(rows)  # the style set is sorted by emotion; feedback is not
    start = datetime(2024, 5, 6, 8, tzinfo=UTC)
    channels = ["email", "chat", "chat", "app", "email", "chat", "review", "app"]
    path = tmp_path / "feedback.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "channel", "created"])
        for i, row in enumerate(rows[:120]):
            when = (start + timedelta(hours=7 * i)).isoformat()
            w.writerow([i + 1, "" if i in (17, 60) else row["text"], "forum" if i == 5 else channels[i % 8], when])
    return path


@pytest.mark.slow
def test_page_shows_the_report_charts(trained_tiny, tmp_path):
    """Upload on the page: the charts render (plotly's SVG with traces), and the report downloads."""
    import httpx
    from playwright.sync_api import sync_playwright
    from test_page import CHROMIUM, FLAGS
    from test_serve import Server

    model = Path(os.environ.get("EMOTIONKIT_PAGE_MODEL", trained_tiny))
    shot = Path(os.environ.get("EMOTIONKIT_REPORT_SCREENSHOT", tmp_path / "report.png"))
    upload = _upload_file(tmp_path)
    srv = Server(model)
    try:
        js = httpx.get(srv.url + "/static/plotly.min.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 1_000_000
        bad = httpx.post(srv.url + "/report?by=product", content="id,text,label,score,joy\n1,a,joy,0.9,0.9\n")
        assert bad.status_code == 422 and "has no column 'product'" in bad.json()["error"]
        assert httpx.post(srv.url + "/report", content="id,text\n1,a\n").json()["error"].count("not a scored file") == 1
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page(accept_downloads=True, viewport={"width": 900, "height": 900})
            outside = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(srv.url) else None)
            page.goto(srv.url + "/")
            page.set_input_files("#file", str(upload))
            page.fill("#reportby", "channel")
            page.fill("#reporttime", "created")
            page.click("#upload")
            link = page.wait_for_selector("#report-download", timeout=60_000)
            for chart in ("chart-emotions", "chart-confidence", "chart-time", "chart-groups"):
                traces = page.eval_on_selector_all(f"#{chart} .main-svg .trace", "els => els.length")
                assert traces > 0, chart
            bars = page.eval_on_selector_all("#chart-emotions .main-svg .bars .point", "els => els.length")
            assert bars >= 6
            assert "120 rows: 118 scored, 2 bad" in page.inner_text("#reportstatus")
            with page.expect_download() as info:
                link.click()
            assert info.value.suggested_filename == "feedback_report.html"
            saved = tmp_path / "downloaded.html"
            info.value.save_as(saved)
            assert not outside  # plotly.js came from the service, not a CDN

            # The downloaded report, opened from disk with every network request refused, draws its charts.
            offline = browser.new_page(viewport={"width": 1000, "height": 900})
            asked = []
            offline.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                          else (asked.append(route.request.url), route.abort()))
            offline.goto(saved.as_uri())
            offline.wait_for_selector("#chart-groups .main-svg .trace")
            assert offline.eval_on_selector_all(".main-svg .trace", "els => els.length") >= 10 and not asked
            assert "Row numbers: 18, 61" in offline.inner_text("#bad")
            shot.parent.mkdir(parents=True, exist_ok=True)
            offline.screenshot(path=str(shot), full_page=True)
            browser.close()
    finally:
        srv.stop()
    assert shot.read_bytes()[:4] == b"\x89PNG"
