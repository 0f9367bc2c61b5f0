"""Files the service takes and gives: an uploaded CSV or text file parsed into rows, the rows written back with
the columns ``emotionkit classify-file`` adds, the report of a scored upload, and a download's file name.

The HTTP layer (emotionkit.serve) turns a ``ValueError`` from here into a 422 answer.
"""

import csv
import io
import json
from pathlib import Path
from urllib.parse import quote

import numpy as np

from emotionkit.batch import EXTRA, keep_extra_fields, prediction_columns, score_column_names


def utc_now() -> str:
    """Now, in UTC, to the second (ISO 8601): when an upload's report was made."""
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.now(UTC).replace(microsecond=0).isoformat()


def report_of_upload(body: bytes, by: str | None, time: str | None, fmt: str, facts: dict) -> str:
    """The report of a scored CSV held in memory: written to a temporary file and read by the
    same streaming aggregation as ``emotionkit report``."""
    import tempfile  # noqa: PLC0415

    from emotionkit.report import aggregate  # noqa: PLC0415
    from emotionkit.report_html import charts, render_html  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="emotionkit-report-") as tmp:
        path = Path(tmp) / "scored.csv"
        path.write_bytes(body)
        agg = aggregate(path, by=by, time=time)
    if fmt == "html":
        return render_html(agg, {**facts, "scored_file": Path(facts["input"]).stem + "_scored.csv"})
    figures = [{"id": c.id, "title": c.title, "figure": json.loads(c.figure.to_json())} for c in charts(agg)]
    return json.dumps({**agg.to_dict(), "path": None, "facts": facts, "charts": figures})


def attachment(name: str) -> str:
    """A Content-Disposition value for any file name: an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def parse_upload(content: str, filename: str, added: list[str]) -> tuple[list[dict], list[str]]:
    """Rows and columns of an upload. A CSV row short of fields gets empty ones; one with more
    fields than the header keeps the extra ones (as JSON) and is not scored.
    """
    if filename.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(content), restkey=EXTRA, restval="")
        columns = list(reader.fieldnames or [])
        if "text" not in columns:
            raise ValueError(f"the CSV has no 'text' column; its columns are {columns}")
        clash = [c for c in columns if c in added]
        if clash:
            raise ValueError(f"the CSV already has the column(s) {clash}, which scoring writes "
                             f"({', '.join(added)}); rename them so that nothing in it is overwritten")
        rows = [keep_extra_fields(dict(r)) for r in reader]
        if any(EXTRA in row for row in rows):
            columns.append(EXTRA)
        return rows, columns
    rows = [{"text": line} for line in content.splitlines() if line.strip()]
    return rows, ["text"]


def scored_csv(rows: list[dict], columns: list[str], probs: np.ndarray, good: set[int], classifier) -> str:
    """The uploaded rows with the columns classify-file adds (the same ``prediction_columns``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*columns, *score_column_names(list(classifier.labels))], restval="")
    writer.writeheader()
    added = dict(zip(sorted(good), prediction_columns(classifier, probs[sorted(good)]) if good else [], strict=True))
    for i, row in enumerate(rows):
        extra = {k: f"{v:.6f}" if isinstance(v, float) else v for k, v in added.get(i, {}).items()}
        writer.writerow({**row, **extra})
    return out.getvalue()
