"""The charts and the HTML page of an emotion report, drawn by plotly from an :class:`Aggregate`.

:func:`charts` builds the plotly figures (the report and the web page show the same ones);
:func:`render_html` writes the whole page: plotly.js embedded once, inline, so the file opens
offline; every text from the file (examples, group names, column names) escaped as text.

>>> from emotionkit.report import aggregate
>>> page = render_html(aggregate("scored.csv"), {"model": "emotionkit-minilm"})   # doctest: +SKIP
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime

from emotionkit.report import CONFIDENCE_BINS, MAX_GROUPS, MIN_GROUP_SHARE, SEVERAL, Aggregate

COLORS = {"sadness": "#4e79a7", "joy": "#f2b701", "love": "#e17ca9", "anger": "#d64541", "fear": "#7b5ea7",
          "surprise": "#f28e2b", "neutral": "#9d9d9d", SEVERAL: "#2a9d8f"}
OTHER_COLORS = ("#59a14f", "#76b7b2", "#b07aa1", "#9c755f", "#bab0ac", "#edc948")
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
FACT_NAMES = {"input": "input file", "scored_file": "scored file", "model": "model", "model_version": "model version",
              "engine": "engine", "emotionkit_version": "emotionkit version", "scored_at": "scored at (UTC)",
              "file_modified": "scored file last modified (UTC)"}


@dataclass
class Chart:
    id: str  # the HTML id of the chart's element
    title: str
    figure: object  # a plotly.graph_objects.Figure


def _plotly():
    try:
        import plotly.graph_objects as go  # noqa: PLC0415
        from plotly.subplots import make_subplots  # noqa: PLC0415
    except ImportError:
        raise ImportError("emotion reports draw their charts with plotly: pip install 'emotionkit[report]'") from None
    return go, make_subplots


def color(name: str, i: int = 0) -> str:
    return COLORS.get(name, OTHER_COLORS[i % len(OTHER_COLORS)])


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def charts(agg: Aggregate) -> list[Chart]:
    """The report's figures, in page order: emotions, emotions present, confidence, over time, by group."""
    go, make_subplots = _plotly()
    layout = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 380, "template": "plotly_white"}
    order = agg.outcome_order()
    counts = [agg.outcomes.get(o, 0) for o in order]
    out = [Chart("chart-emotions", "Emotions in the file", go.Figure(
        go.Bar(x=order, y=counts, marker_color=[color(o, i) for i, o in enumerate(order)],
               text=[_pct(c, agg.scored) for c in counts], textposition="outside", cliponaxis=False,
               customdata=[_pct(c, agg.scored) for c in counts],
               hovertemplate="%{x}: %{y:,} rows (%{customdata})<extra></extra>"),
        layout={**layout, "yaxis": {"title": "rows"}, "title": f"Outcome of each of the {agg.scored:,} scored rows"}))]
    if agg.multi_label:
        emotions = agg.emotion_order()
        shares = [100 * agg.presence.get(e, 0) / max(agg.scored, 1) for e in emotions]
        out.append(Chart("chart-presence", "Emotions present", go.Figure(
            go.Bar(x=emotions, y=shares, marker_color=[color(e, i) for i, e in enumerate(emotions)],
                   text=[f"{s:.1f}%" for s in shares], textposition="outside", cliponaxis=False,
                   hovertemplate="%{x} present in %{y:.1f}% of rows<extra></extra>"),
            layout={**layout, "yaxis": {"title": "% of rows", "ticksuffix": "%"},
                    "title": "Share of rows in which each emotion is present (a row may have several)"})))
    width = 1 / CONFIDENCE_BINS
    confidence = go.Figure(
        go.Bar(x=[(i + 0.5) * width for i in range(CONFIDENCE_BINS)], y=agg.confidence_bins, width=width * 0.95,
               marker_color=["#d64541" if (i + 1) * width <= agg.threshold else "#4e79a7" for i in range(CONFIDENCE_BINS)],
               hovertemplate="top score %{x:.3f} ± 0.025: %{y:,} rows<extra></extra>"),
        layout={**layout, "xaxis": {"title": "top score", "range": [0, 1]}, "yaxis": {"title": "rows"},
                "title": f"Top score of each row; {_pct(agg.below_threshold, agg.scored)} below {agg.threshold:g}"})
    confidence.add_vline(x=agg.threshold, line_dash="dash", line_color="#333")
    out.append(Chart("chart-confidence", "How sure the model was", confidence))
    if agg.time is not None:
        out.append(Chart("chart-time", "Over time", _time_figure(agg, go, make_subplots, layout)))
    if agg.groups is not None:
        out.append(Chart("chart-groups", f"By {agg.groups.column}", _groups_figure(agg, go, layout)))
    return out


def _time_figure(agg: Aggregate, go, make_subplots, layout: dict):
    series = agg.time
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    for i, emotion in enumerate(series.presence):
        share = [100 * c / n if n else None for c, n in zip(series.presence[emotion], series.rows, strict=True)]
        fig.add_trace(go.Scatter(x=series.bins, y=share, name=emotion, mode="lines+markers",
                                 line={"color": color(emotion, i)}, customdata=series.rows,
                                 hovertemplate=f"{emotion}: %{{y:.1f}}% of %{{customdata:,}} rows<extra></extra>"),
                      row=1, col=1)
    fig.add_trace(go.Bar(x=series.bins, y=series.rows, name="rows", marker_color="#bbbbbb", showlegend=False,
                         hovertemplate="%{x}: %{y:,} rows<extra></extra>"), row=2, col=1)
    fig.update_yaxes(title_text="% of rows", ticksuffix="%", row=1, col=1)
    fig.update_yaxes(title_text="rows", row=2, col=1)
    fig.update_layout(**{**layout, "height": 480}, title=f"Share of rows with each emotion, per {series.unit}"
                      + (" (UTC)" if series.utc else ""))
    return fig


def _groups_figure(agg: Aggregate, go, layout: dict):
    groups = agg.groups
    names = [f"{g} (n={n:,})" for g, n in zip(groups.names, groups.rows, strict=True)]
    fig = go.Figure(layout={**layout, "barmode": "stack", "height": 140 + 34 * len(names),
                            "xaxis": {"title": "% of the group's rows", "ticksuffix": "%", "range": [0, 100]},
                            "yaxis": {"autorange": "reversed", "automargin": True},
                            "title": f"Emotions per {groups.column}, largest groups first"})
    for i, outcome in enumerate(groups.outcomes):
        counts = groups.outcomes[outcome]
        if not any(counts):
            continue
        fig.add_trace(go.Bar(y=names, x=[100 * c / n if n else 0 for c, n in zip(counts, groups.rows, strict=True)],
                             orientation="h", name=outcome, marker_color=color(outcome, i), customdata=counts,
                             hovertemplate=f"{outcome}: %{{x:.1f}}% (%{{customdata:,}} rows)<extra></extra>"))
    return fig


# --------------------------------------------------------------------------- the page


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(head: list[str], rows: list[list[object]], cls: str = "") -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'


def _facts(agg: Aggregate, facts: dict) -> str:
    rows = [[FACT_NAMES.get(k, k.replace("_", " ")), v] for k, v in facts.items() if v not in (None, "")]
    if "model" not in facts:
        rows.append(["model", "not recorded (score with emotionkit classify-file to keep it)"])
    rows += [["rows", f"{agg.rows:,}"], ["scored rows", f"{agg.scored:,}"], ["bad rows", f"{agg.bad_rows:,}"],
             ["report written (UTC)", datetime.now(UTC).replace(microsecond=0).isoformat()]]
    return _table(["", ""], rows, "facts")


def _outcome_table(agg: Aggregate) -> str:
    rows = [[o, f"{agg.outcomes.get(o, 0):,}", _pct(agg.outcomes.get(o, 0), agg.scored)] for o in agg.outcome_order()]
    text = _table(["outcome", "rows", "share"], rows, "num")
    if agg.multi_label:
        present = [[e, f"{agg.presence.get(e, 0):,}", _pct(agg.presence.get(e, 0), agg.scored)] for e in agg.emotion_order()]
        text += _table(["emotion present", "rows", "share"], present, "num")
    if agg.combinations:
        top = [[c, f"{n:,}", _pct(n, agg.scored)] for c, n in list(agg.combinations.items())[:10]]
        text += _table(["several: emotions together", "rows", "share"], top, "num")
    return text


def _examples(agg: Aggregate) -> str:
    parts = []
    for emotion in agg.emotion_order():
        found = agg.examples.get(emotion, [])
        rows = [[ex.row, f"{ex.score:.3f}", ex.text] for ex in found]
        body = _table(["row", f"{emotion} score", "text"], rows, "examples") if rows else "<p>No row has it.</p>"
        parts.append(f"<h3>{_e(emotion)}</h3>{body}")
    return "".join(parts)


def _bad(agg: Aggregate) -> str:
    if not agg.bad_rows:
        return "<p>None: every row was scored.</p>"
    reasons = _table(["reason", "rows"], [[r, f"{n:,}"] for r, n in sorted(agg.bad_reasons.items(), key=lambda x: -x[1])], "num")
    numbers = ", ".join(map(str, agg.bad_row_numbers))
    more = f" (the first {len(agg.bad_row_numbers):,} of {agg.bad_rows:,})" if agg.bad_rows > len(agg.bad_row_numbers) else ""
    return (f"<p>{agg.bad_rows:,} rows ({_pct(agg.bad_rows, agg.rows)}) have no label: the scorer could not read their "
            f"text. They are left out of every chart.</p>{reasons}<p class='rows'>Row numbers{more}: {_e(numbers)}</p>")


def _notes(agg: Aggregate) -> str:
    notes = [f"Shares are of the {agg.scored:,} scored rows. Row numbers count data rows from 1 (a CSV header is not a row)."]
    notes.append(f"The outcome of a row is read from its {agg.outcome_column!r} column"
                 + ("; a row with two or more emotions counts as &quot;several&quot;." if agg.multi_label else "."))
    if agg.time is not None:
        t = agg.time
        notes.append(f"Time: {t.parsed:,} rows placed by {_e(t.column)!s}, in bins of one {t.unit} (hour up to a 2-day span, "
                     "day up to 92 days, week up to 2 years, else month); the bars under the chart give the rows per bin.")
    if agg.groups is not None:
        g = agg.groups
        notes.append(f"Groups: the {MAX_GROUPS} largest values of {_e(g.column)} holding at least {MIN_GROUP_SHARE:.0%} of "
                     f"the rows each are shown; {g.folded_groups:,} smaller ones ({g.folded_rows:,} rows) are folded into "
                     "&quot;other&quot;.")
    notes += [_e(w) for w in agg.warnings]
    return "<ul>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>"


def render_html(agg: Aggregate, facts: dict) -> str:
    """The whole report page; plotly.js is inlined once, with the first chart."""
    from plotly.io import to_html  # noqa: PLC0415

    drawn = {}
    for i, chart in enumerate(charts(agg)):
        drawn[chart.id] = (chart.title, to_html(chart.figure, full_html=False, include_plotlyjs=i == 0, div_id=chart.id,
                                                config=PLOT_CONFIG))

    def section(chart_id: str, extra: str = "") -> str:
        if chart_id not in drawn:
            return ""
        title, div = drawn[chart_id]
        return f"<section><h2>{_e(title)}</h2>{div}{extra}</section>"

    below = (f"<p><b>{_pct(agg.below_threshold, agg.scored)}</b> of the scored rows ({agg.below_threshold:,}) have a top "
             f"score below {agg.threshold:g}; mean top score {agg.score_sum / max(agg.scored, 1):.3f}.</p>")
    name = facts.get("input") or facts.get("scored_file", "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Emotion report: {_e(name)}</title>
<style>{CSS}</style></head>
<body>
<h1>Emotion report: {_e(name)}</h1>
<section id="facts">{_facts(agg, facts)}</section>
{section("chart-emotions", _outcome_table(agg))}
{section("chart-presence")}
{section("chart-confidence", below)}
{section("chart-time")}
{section("chart-groups")}
<section id="examples"><h2>Examples: the rows the model is surest of</h2>{_examples(agg)}</section>
<section id="bad"><h2>Bad rows</h2>{_bad(agg)}</section>
<section id="notes"><h2>How to read this report</h2>{_notes(agg)}</section>
<footer>Written by emotionkit; charts drawn by plotly, embedded in this file (it needs no network).</footer>
</body></html>
"""


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2rem auto; padding: 0 1rem; color: #222; }
section { margin-top: 2rem; border-top: 1px solid #ddd; padding-top: 0.5rem; }
table { border-collapse: collapse; margin: 0.8rem 1.5rem 0.8rem 0; display: inline-table; vertical-align: top; }
th, td { text-align: left; padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; }
table.num td + td { text-align: right; font-variant-numeric: tabular-nums; }
table.examples td:last-child { max-width: 650px; }
table.facts td:first-child { color: #666; }
.rows { font-size: 0.85rem; color: #444; word-break: break-word; }
footer { margin: 2rem 0; color: #888; font-size: 0.85rem; }
"""
