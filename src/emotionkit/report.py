"""An emotion report for a scored file: one streaming aggregation, one self-contained HTML page.

:func:`aggregate` reads a file written by ``classify-file`` (CSV, JSON lines or Parquet) in one
pass, ``chunk_rows`` rows at a time with the readers of :mod:`emotionkit.batch`, and keeps only
counts: memory does not grow with the number of rows. Every number of the report (and of the
web page's charts) comes from the :class:`Aggregate` it returns. :func:`write_report` renders it
(:mod:`emotionkit.report_html`) into one HTML file that opens offline, written to a temporary
name and renamed.

What is counted:

* outcomes: each row's ``emotions`` value (``"joy"``, ``"neutral"``, or ``"anger;fear"``, which
  counts as ``"several"``); a file without an ``emotions`` column (a single-label model, older
  files) is counted by ``label``. ``presence`` counts each emotion in every row that has it.
* confidence: the top ``score`` of each row in 20 bins of 0.05, and the rows below ``threshold``.
* over time (``time=COLUMN``): ISO 8601 times (``2024-03-01``, ``2024-03-01T10:00:00Z``),
  epoch seconds (milliseconds above 10^11), or Parquet timestamps; times with a zone are put in
  UTC. The bin is an hour when the times span at most 2 days, a day up to 92 days, a week
  (from Monday) up to 2 years, else a month. Values that do not parse are counted and named;
  only a column where none parses is an error.
* by group (``by=COLUMN``): groups ordered by rows; the :data:`MAX_GROUPS` largest that hold at
  least :data:`MIN_GROUP_SHARE` of the rows are shown, the rest are folded into "other".
* examples: per emotion, the ``examples`` rows with that emotion present and its highest score.
* bad rows: rows without a label (classify-file leaves it empty when a row has no usable text),
  by reason (found again from the row, as classify-file found it), with their row numbers.

>>> from emotionkit.report import aggregate, write_report
>>> agg = aggregate("posts_scored.csv", by="channel", time="created")   # doctest: +SKIP
>>> agg.rows, agg.outcomes["anger"], agg.outcomes["several"]            # doctest: +SKIP
(20000, 1312, 845)
>>> write_report("posts_scored.csv", "report.html", by="channel")       # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from emotionkit.batch import EXTRA, MAX_LISTED_BAD_ROWS, UNPARSED, columns_of, detect_format, read_chunks, row_text

NEUTRAL = "neutral"
SEVERAL = "several"
CONFIDENCE_BINS = 20  # top-score histogram: bins of 0.05 over [0, 1]
MAX_GROUPS = 12
MIN_GROUP_SHARE = 0.01
MAX_DISTINCT_GROUPS = 10_000  # past this many distinct values, new ones go straight to "other" (an id column?)
EXAMPLE_CHARS = 240
UNITS = ("hour", "day", "week", "month")
# The longest span each time unit is used for; past the last, months.
UNIT_SPANS = {"hour": timedelta(days=2), "day": timedelta(days=92), "week": timedelta(days=731)}
FACTS_SUFFIX = ".facts.json"


@dataclass
class Example:
    row: int  # 1-based row number in the scored file
    score: float
    text: str  # shortened to EXAMPLE_CHARS


@dataclass
class TimeSeries:
    """Rows per time bin, and per outcome and emotion present in each bin."""

    column: str
    unit: str = "hour"
    bins: list[str] = field(default_factory=list)  # each bin's start, ISO 8601
    rows: list[int] = field(default_factory=list)  # scored rows per bin
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    presence: dict[str, list[int]] = field(default_factory=dict)
    parsed: int = 0
    empty: int = 0
    unparseable: int = 0
    unparseable_examples: list[tuple[int, str]] = field(default_factory=list)  # (row, value), the first 5
    utc: bool = False  # some times carried a zone and were put in UTC


@dataclass
class Groups:
    """Scored rows per group of the ``by`` column, largest first; small groups folded into "other"."""

    column: str
    names: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    distinct: int = 0  # distinct values seen (counted up to MAX_DISTINCT_GROUPS)
    folded_groups: int = 0  # groups inside "other"
    folded_rows: int = 0
    capped: bool = False  # more than MAX_DISTINCT_GROUPS distinct values


@dataclass
class Aggregate:
    """Every number of an emotion report for one scored file (see the module docstring)."""

    path: str
    format: str
    emotions: list[str]  # the file's score columns, in its order
    outcome_column: str  # "emotions", or "label" for a file without one
    threshold: float
    rows: int = 0  # every row of the file, bad ones included
    scored: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    presence: dict[str, int] = field(default_factory=dict)
    combinations: dict[str, int] = field(default_factory=dict)  # "anger + fear" -> rows, for "several"
    confidence_bins: list[int] = field(default_factory=lambda: [0] * CONFIDENCE_BINS)
    below_threshold: int = 0
    score_sum: float = 0.0
    examples: dict[str, list[Example]] = field(default_factory=dict)
    text_column: str | None = "text"  # None: the file has no such column, examples show no text
    bad_rows: int = 0
    bad_reasons: dict[str, int] = field(default_factory=dict)
    bad_row_numbers: list[int] = field(default_factory=list)  # the first MAX_LISTED_BAD_ROWS
    time: TimeSeries | None = None
    groups: Groups | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def multi_label(self) -> bool:
        """The model can say "no emotion" or several: the file has a neutral score, or such rows."""
        return NEUTRAL in self.emotions or bool(self.outcomes.get(SEVERAL) or self.outcomes.get(NEUTRAL))

    def outcome_order(self) -> list[str]:
        """Every outcome the model can give, in the file's emotion order, then neutral and several."""
        order = [e for e in self.emotions if e != NEUTRAL]
        if self.multi_label:
            order += [NEUTRAL, SEVERAL]
        return order + sorted(o for o in self.outcomes if o not in order)

    def emotion_order(self) -> list[str]:
        """The emotions that can be present (neutral last): the series of the presence charts."""
        order = [e for e in self.emotions if e != NEUTRAL] + ([NEUTRAL] if self.multi_label else [])
        return order + sorted(p for p in self.presence if p not in order)

    def to_dict(self) -> dict:
        return asdict(self) | {"multi_label": self.multi_label, "outcome_order": self.outcome_order()}


# --------------------------------------------------------------------------- aggregation


def aggregate(
    path: str | Path,
    by: str | None = None,
    time: str | None = None,
    text_column: str = "text",
    in_format: str | None = None,
    threshold: float = 0.5,
    examples: int = 3,
    chunk_rows: int = 2048,
) -> Aggregate:
    """Count a scored file in one streaming pass; see the module docstring.

    >>> agg = aggregate("scored.jsonl", time="created")          # doctest: +SKIP
    >>> agg.time.unit, agg.time.bins[:2], agg.time.rows[:2]     # doctest: +SKIP
    ('day', ['2024-03-01', '2024-03-02'], [412, 390])
    """
    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"scored file {src} does not exist")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    for name, value in (("examples", examples), ("chunk_rows", chunk_rows)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "examples" else 1):
            raise ValueError(f"{name} must be an int >= {0 if name == 'examples' else 1}, got {value!r}")
    fmt = detect_format(src, in_format)
    columns = columns_of(src, fmt)
    emotions = score_columns(columns, src)
    for option, column in (("by", by), ("time", time)):
        if column is not None and column not in columns:
            raise ValueError(f"{option}: {src} has no column {column!r}; its columns are {columns}")
    agg = Aggregate(str(src), fmt, emotions, "emotions" if "emotions" in columns else "label", threshold,
                    text_column=text_column if text_column in columns else None)
    counter = _Counter(agg, examples, TimeSeries(time) if time else None, by)
    first = 1
    for rows in read_chunks(src, fmt, chunk_rows):
        counter.add_chunk(rows, first)
        first += len(rows)
    counter.finish()
    if agg.text_column is None:
        agg.warnings.append(f"no column {text_column!r}: the examples show row numbers and scores only")
    return agg


def score_columns(columns: list[str], path: Path | str = "the file") -> list[str]:
    """The emotion score columns of a scored file: the columns after ``score`` (classify-file appends
    ``label``, ``score``, ``emotions`` and one score per model output after the input's own)."""
    missing = [c for c in ("label", "score") if c not in columns]
    emotions = [c for c in columns[columns.index("score") + 1 :] if c != "emotions"] if not missing else []
    if missing or not emotions:
        raise ValueError(
            f"{path} is not a scored file: it lacks {missing or 'score columns after score'}; expected the columns "
            f"classify-file writes (label, score, emotions, and one score column per emotion such as joy, fear); "
            f"its columns are {columns}"
        )
    return emotions


class _Counter:
    """The running state of one aggregation: counts, bounded heaps and bounded maps only."""

    def __init__(self, agg: Aggregate, examples: int, series: TimeSeries | None, by: str | None):
        self.agg, self.k, self.series, self.by = agg, examples, series, by
        self.outcomes: Counter = Counter()
        self.presence: Counter = Counter()
        self.combinations: Counter = Counter()
        self.heaps: dict[str, list] = {}
        self.bins: dict[datetime, list[Counter]] = {}  # bin start -> [outcomes, presence, {"rows"}]
        self.lo: datetime | None = None
        self.hi: datetime | None = None
        self.groups: dict[str, Counter] = {}
        self.group_rows: Counter = Counter()
        self.overflow: Counter = Counter()  # groups past MAX_DISTINCT_GROUPS

    def add_chunk(self, rows: list[dict], first: int) -> None:
        agg = self.agg
        times = self._times(rows, first) if self.series else None
        for i, row in enumerate(rows):
            agg.rows += 1
            number = first + i
            call = self._call(row, number)
            if call is None:
                continue
            outcome, present, score = call
            agg.scored += 1
            self.outcomes[outcome] += 1
            self.presence.update(present)
            if outcome == SEVERAL:
                self.combinations[" + ".join(sorted(present))] += 1
            agg.confidence_bins[min(max(int(score * CONFIDENCE_BINS), 0), CONFIDENCE_BINS - 1)] += 1
            agg.below_threshold += score < agg.threshold
            agg.score_sum += score
            self._examples(row, number, present)
            if times is not None and times[i] is not None:
                counts = self.bins.setdefault(_floor(times[i], self.series.unit), [Counter(), Counter(), Counter()])
                counts[0][outcome] += 1
                counts[1].update(present)
                counts[2]["rows"] += 1
            if self.by is not None:
                self._group(row.get(self.by), outcome)

    def _call(self, row: dict, number: int) -> tuple[str, list[str], float] | None:
        """(outcome, emotions present, top score) of a scored row; None (counted as bad) otherwise."""
        label = row.get("label")
        if label is None or label == "":
            self._bad(number, self._reason(row))
            return None
        try:
            score = float(row.get("score"))
        except (TypeError, ValueError):
            self._bad(number, "label without a readable score")
            return None
        value = row.get(self.agg.outcome_column) or label
        present = [p.strip() for p in str(value).split(";") if p.strip()] or [str(label)]
        return (SEVERAL if len(present) > 1 else present[0]), present, score

    def _reason(self, row: dict) -> str:
        """Why classify-file left this row unscored, found again as it found it (batch.row_text)."""
        # A CSV or Parquet output has these columns in every row: only a value marks the row (batch's CSV
        # reader hands an existing _extra_fields column back JSON-encoded, so an empty one reads '""').
        probe = {k: v for k, v in row.items() if not (k in (EXTRA, UNPARSED) and v in ("", None, '""'))}
        if self.agg.text_column is None and UNPARSED not in probe:
            return "not scored"
        return row_text(probe, self.agg.text_column or "text")[1] or "not scored"

    def _bad(self, number: int, reason: str) -> None:
        agg = self.agg
        agg.bad_rows += 1
        agg.bad_reasons[reason] = agg.bad_reasons.get(reason, 0) + 1
        if len(agg.bad_row_numbers) < MAX_LISTED_BAD_ROWS:
            agg.bad_row_numbers.append(number)

    def _examples(self, row: dict, number: int, present: list[str]) -> None:
        if not self.k:
            return
        for emotion in present:
            if emotion not in self.agg.emotions:
                continue
            try:
                score = float(row.get(emotion))
            except (TypeError, ValueError):
                continue
            heap = self.heaps.setdefault(emotion, [])
            key = (score, -number)  # ties: the earlier row wins
            if len(heap) < self.k:
                heapq.heappush(heap, (key, number, _short(row, self.agg.text_column)))
            elif key > heap[0][0]:
                heapq.heapreplace(heap, (key, number, _short(row, self.agg.text_column)))

    def _group(self, value: object, outcome: str) -> None:
        name = "(empty)" if value is None or value == "" else str(value)
        counts = self.groups.get(name)
        if counts is None:
            if len(self.groups) >= MAX_DISTINCT_GROUPS:
                self.overflow[outcome] += 1
                return
            counts = self.groups[name] = Counter()
        counts[outcome] += 1
        self.group_rows[name] += 1

    # ------------------------------------------------------------------ time

    def _times(self, rows: list[dict], first: int) -> list[datetime | None]:
        """Each row's time (None when empty or unparseable, counted), and the bins widened to the
        span seen so far: never finer than the final unit needs, so they stay few (<= 49 hours,
        732 days, or one per month)."""
        series = self.series
        out = []
        for i, row in enumerate(rows):
            value = row.get(series.column)
            if value is None or (isinstance(value, str) and not value.strip()):
                series.empty += 1
                out.append(None)
                continue
            when, zoned = parse_time(value)
            if when is None:
                series.unparseable += 1
                if len(series.unparseable_examples) < 5:
                    series.unparseable_examples.append((first + i, str(value)[:80]))
            else:
                series.parsed += 1
                series.utc |= zoned
                self.lo = when if self.lo is None or when < self.lo else self.lo
                self.hi = when if self.hi is None or when > self.hi else self.hi
            out.append(when)
        if self.lo is not None:
            # Counted by hour, then by day, then by month: each nests in the next (weeks do not nest
            # in months, so a week is made from days only at the end).
            unit = unit_for_span(self.hi - self.lo).replace("week", "day")
            if UNITS.index(unit) > UNITS.index(series.unit):
                self._merge_bins(unit)
        return out

    def _merge_bins(self, unit: str) -> None:
        merged: dict[datetime, list[Counter]] = {}
        for start, counts in self.bins.items():
            into = merged.setdefault(_floor(start, unit), [Counter(), Counter(), Counter()])
            for a, b in zip(into, counts, strict=True):
                a.update(b)
        self.bins, self.series.unit = merged, unit

    # ------------------------------------------------------------------ the end

    def finish(self) -> None:
        agg = self.agg
        agg.outcomes = dict(self.outcomes)
        agg.presence = dict(self.presence)
        agg.combinations = dict(self.combinations.most_common())
        agg.examples = {e: [Example(n, key[0], text) for key, n, text in sorted(h, reverse=True)]
                        for e, h in self.heaps.items()}
        if self.series is not None:
            agg.time = self.series
            self._finish_series()
        if self.by is not None:
            self._finish_groups()

    def _finish_series(self) -> None:
        series, agg = self.series, self.agg
        if series.parsed == 0:
            shown = ", ".join(f"row {n}: {v!r}" for n, v in series.unparseable_examples) or "every value is empty"
            raise ValueError(
                f"time: no value of column {series.column!r} could be read as a time ({series.unparseable} unparseable, "
                f"{series.empty} empty; {shown}); expected ISO 8601 such as 2024-03-01 or 2024-03-01T10:00:00Z, "
                "epoch seconds, or a Parquet timestamp"
            )
        if series.unparseable:
            shown = ", ".join(f"row {n}: {v!r}" for n, v in series.unparseable_examples)
            agg.warnings.append(f"time: {series.unparseable} value(s) of {series.column!r} are not times and are left out "
                                f"of the time chart ({shown}{' ...' if series.unparseable > 5 else ''})")
        if series.empty:
            agg.warnings.append(f"time: {series.empty} row(s) have no {series.column!r} value and are left out of the time chart")
        self._merge_bins(unit_for_span(self.hi - self.lo))
        start, end = _floor(self.lo, series.unit), _floor(self.hi, series.unit)
        outcomes, emotions = agg.outcome_order(), agg.emotion_order()
        series.outcomes = {o: [] for o in outcomes}
        series.presence = {e: [] for e in emotions}
        while start <= end:  # every bin of the span, empty ones too: a gap shows as a gap
            counts = self.bins.get(start, [Counter(), Counter(), Counter()])
            series.bins.append(start.isoformat() if series.unit == "hour" else start.date().isoformat())
            series.rows.append(counts[2]["rows"])
            for o in outcomes:
                series.outcomes[o].append(counts[0][o])
            for e in emotions:
                series.presence[e].append(counts[1][e])
            start = _next(start, series.unit)

    def _finish_groups(self) -> None:
        agg = self.agg
        groups = agg.groups = Groups(self.by, distinct=len(self.groups), capped=bool(sum(self.overflow.values())))
        order = sorted(self.groups, key=lambda g: (-self.group_rows[g], g))
        keep = [g for g in order[:MAX_GROUPS] if self.group_rows[g] >= MIN_GROUP_SHARE * max(agg.scored, 1)]
        folded = Counter(self.overflow)
        for g in order:
            if g not in keep:
                folded.update(self.groups[g])
                groups.folded_groups += 1
        groups.folded_rows = sum(folded.values())
        names = keep + (["other"] if groups.folded_rows else [])
        counts = [self.groups[g] for g in keep] + ([folded] if groups.folded_rows else [])
        groups.names = [f'"{g}"' if g == "other" else g for g in keep] + names[len(keep):]  # the value, not the fold
        groups.rows = [sum(c.values()) for c in counts]
        groups.outcomes = {o: [c[o] for c in counts] for o in agg.outcome_order()}
        if groups.capped:
            agg.warnings.append(f"by: {self.by!r} has more than {MAX_DISTINCT_GROUPS:,} distinct values (an id?); "
                                "values first seen after that are counted in \"other\"")


def _short(row: dict, column: str | None) -> str:
    if column is None:
        return ""
    text = " ".join(str(row.get(column) or "").split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rstrip() + "…"


def parse_time(value: object) -> tuple[datetime | None, bool]:
    """A time value as a naive datetime (UTC when it had a zone), and whether it had one.

    >>> parse_time("2024-03-01T10:30:00+02:00"), parse_time("yesterday")[0]
    ((datetime.datetime(2024, 3, 1, 8, 30), True), None)
    """
    when = None
    if isinstance(value, str):
        text = value.strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            number = text.removeprefix("-").replace(".", "", 1)
            value = float(text) if number.isdigit() else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:  # epoch seconds; milliseconds past 10^11 (the year 5138 in seconds)
            when = datetime.fromtimestamp(float(value) / (1000 if abs(value) > 1e11 else 1), UTC)
        except (OverflowError, OSError, ValueError):
            return None, False
    elif isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day)
    if when is None or when.tzinfo is None:
        return when, False
    return when.astimezone(UTC).replace(tzinfo=None), True


def unit_for_span(span: timedelta) -> str:
    """The time bin for times spanning ``span``: hour, day, week or month (see the module docstring)."""
    for unit, longest in UNIT_SPANS.items():
        if span <= longest:
            return unit
    return "month"


def _floor(when: datetime, unit: str) -> datetime:
    if unit == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(start: datetime, unit: str) -> datetime:
    if unit == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[unit]


# --------------------------------------------------------------------------- facts and the report


def facts_path(scored_file: str | Path) -> Path:
    """Where the facts of a scored file (model, version, date, input) are kept: ``OUT.facts.json``."""
    path = Path(scored_file)
    return path.with_name(path.name + FACTS_SUFFIX)


def model_facts(model_dir: str | Path, engine: str | None = None, input_path: str | Path | None = None) -> dict:
    """The header facts of a scoring run: the model's name and version (the first 12 hex digits of
    its weights' SHA-256), the engine, emotionkit's version, the time (UTC) and the input's name."""
    from emotionkit import __version__  # noqa: PLC0415

    model_dir = Path(model_dir)
    weights = model_dir / "model.safetensors"
    version = "unknown"
    if weights.is_file():
        digest = hashlib.sha256()
        with weights.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        version = digest.hexdigest()[:12]
    facts = {"model": model_dir.name, "model_version": version, "engine": engine, "emotionkit_version": __version__,
             "scored_at": datetime.now(UTC).replace(microsecond=0).isoformat()}
    if input_path is not None:
        facts["input"] = Path(input_path).name
    return {k: v for k, v in facts.items() if v is not None}


def save_facts(scored_file: str | Path, facts: dict) -> Path:
    """Keep ``facts`` beside the scored file (atomically), tied to its size, for a later report."""
    path = facts_path(scored_file)
    record = {**facts, "scored_file_bytes": Path(scored_file).stat().st_size}
    _atomic_write(path, json.dumps(record, indent=2, ensure_ascii=False))
    return path


def load_facts(scored_file: str | Path) -> dict:
    """The facts kept beside the scored file by ``save_facts`` ({} when none, or when the file changed
    since); else what the file itself tells: its modification time."""
    path, scored = facts_path(scored_file), Path(scored_file)
    facts = {}
    if path.is_file():
        try:
            facts = json.loads(path.read_text("utf-8"))
        except ValueError:
            facts = {}
        if facts.pop("scored_file_bytes", None) != scored.stat().st_size:
            facts = {}
    if "scored_at" not in facts:
        modified = datetime.fromtimestamp(scored.stat().st_mtime, UTC).replace(microsecond=0)
        facts["file_modified"] = modified.isoformat()
    return facts


def write_report(
    scored_file: str | Path,
    output: str | Path,
    by: str | None = None,
    time: str | None = None,
    facts: dict | None = None,
    **options,
) -> Path:
    """Write the HTML report of ``scored_file`` to ``output`` (temp name, then renamed).

    ``facts`` (model, model_version, engine, scored_at, input...) head the report; by default those
    kept beside the file (:func:`save_facts`). ``options`` go to :func:`aggregate` (``text_column``,
    ``in_format``, ``threshold``, ``examples``, ``chunk_rows``).

    >>> write_report("posts_scored.parquet", "report.html", by="channel", time="created")  # doctest: +SKIP
    PosixPath('report.html')
    """
    from emotionkit.report_html import render_html  # noqa: PLC0415

    src, dst = Path(scored_file), Path(output)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"output {dst} is the scored file; choose another path")
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"the folder of the output {dst} does not exist")
    agg = aggregate(src, by=by, time=time, **options)
    page = render_html(agg, {"scored_file": src.name, **(load_facts(src) if facts is None else facts)})
    _atomic_write(dst, page)
    return dst


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
