"""Score large files in chunks with constant memory; resumable; optionally on Ray.

Each completed chunk is written as its own part file under ``OUT.parts/`` (renamed
into place only when whole). When all chunks are done, the parts are streamed
into ``OUT.tmp``, which is renamed to ``OUT``. A run killed at any point leaves
only whole parts behind, and ``resume=True`` continues after the last one, so
the final file equals that of an uninterrupted run, row for row.

>>> from emotionkit.batch import classify_file
>>> report = classify_file("posts.csv", "posts_scored.parquet")  # doctest: +SKIP
>>> report.rows, report.bad_rows                                  # doctest: +SKIP
(200000, 3)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emotionkit.labels import LABELS

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
MAX_LISTED_BAD_ROWS = 1000
csv.field_size_limit(sys.maxsize)


class BadRowError(ValueError):
    """--strict: a row has no usable text."""


@dataclass
class Report:
    """What a run did: rows scored, rows skipped as bad (with their 1-based row numbers)."""

    input: str
    output: str
    rows: int = 0
    bad_rows: int = 0
    bad_row_numbers: list[int] = field(default_factory=list)  # the first MAX_LISTED_BAD_ROWS
    bad_reasons: dict[str, int] = field(default_factory=dict)
    resumed_from_row: int = 0
    seconds: float = 0.0

    def add_bad(self, row: int, reason: str) -> None:
        self.bad_rows += 1
        self.bad_reasons[reason] = self.bad_reasons.get(reason, 0) + 1
        if len(self.bad_row_numbers) < MAX_LISTED_BAD_ROWS:
            self.bad_row_numbers.append(row)

    def summary(self) -> str:
        text = f"scored {self.rows - self.bad_rows} of {self.rows} rows into {self.output} in {self.seconds:.1f} s"
        if self.bad_rows:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.bad_reasons.items()))
            shown = ", ".join(map(str, self.bad_row_numbers[:50])) + (" ..." if self.bad_rows > 50 else "")
            text += f"\n{self.bad_rows} bad rows got an empty label ({reasons}); rows: {shown}"
        return text


def detect_format(path: str | Path, given: str | None = None) -> str:
    if given:
        if given not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {given!r}")
        return given
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise ValueError(f"cannot tell the format of {path} from {suffix!r}; expected .csv, .jsonl or .parquet, or pass a format")
    return _EXTENSIONS[suffix]


# --------------------------------------------------------------------------- reading


def count_rows(path: Path, fmt: str) -> int | None:
    """Rows in the file, for the progress bar (cheap: Parquet metadata or a newline count)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        return pq.ParquetFile(path).metadata.num_rows
    lines = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            lines += block.count(b"\n")
    return max(lines - (1 if fmt == "csv" else 0), 0)


def columns_of(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        return list(pq.ParquetFile(path).schema_arrow.names)
    if fmt == "csv":
        with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return next(csv.reader(fh), [])
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line.decode("utf-8", "surrogateescape"))
                except ValueError:
                    return []
                return list(obj) if isinstance(obj, dict) else []
    return []


def read_chunks(path: Path, fmt: str, chunk_rows: int) -> Iterator[list[dict]]:
    """Rows as dicts, ``chunk_rows`` at a time. Undecodable bytes survive as surrogate escapes."""
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pylist()
        return
    chunk: list[dict] = []
    if fmt == "csv":
        with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
            for row in csv.DictReader(fh):
                chunk.append(row)
                if len(chunk) == chunk_rows:
                    yield chunk
                    chunk = []
    else:
        with path.open("rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
                try:
                    obj = json.loads(text)
                except ValueError:
                    obj = None
                chunk.append(obj if isinstance(obj, dict) else {"_unparsed_line": text})
                if len(chunk) == chunk_rows:
                    yield chunk
                    chunk = []
    if chunk:
        yield chunk


def row_text(row: dict, column: str) -> tuple[str | None, str | None]:
    """The row's text, or ``(None, reason)`` when it has none usable."""
    if "_unparsed_line" in row:
        return None, "broken JSON"
    value = row.get(column)
    if value is None:
        return None, "missing text"
    if not isinstance(value, str):
        return None, f"non-string text ({type(value).__name__})"
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return None, "undecodable bytes"
    if not value.strip():
        return None, "empty text"
    return value, None


# --------------------------------------------------------------------------- writing


def _score_columns(probs: np.ndarray | None, labels: list[str]) -> dict:
    if probs is None:
        return {"label": "", "score": None, **{lab: None for lab in labels}}
    top = int(np.argmax(probs))
    return {"label": labels[top], "score": float(probs[top]), **{lab: float(p) for lab, p in zip(labels, probs, strict=True)}}


def _format_csv_value(value: object) -> object:
    return "" if value is None else (f"{value:.6f}" if isinstance(value, float) else value)


def write_part(rows: list[dict], path: Path, fmt: str, header: bool, schema=None) -> None:
    """Write one chunk to ``path`` atomically (temp + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "csv":
        with tmp.open("w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [], extrasaction="ignore")
            if header:
                writer.writeheader()
            for row in rows:
                writer.writerow({k: _format_csv_value(v) for k, v in row.items()})
    elif fmt == "jsonl":
        with tmp.open("wb") as fh:
            for row in rows:
                # surrogateescape writes undecodable input bytes back exactly as they came
                fh.write((json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8", "surrogateescape"))
    else:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        text_fields = {f.name for f in schema if pa.types.is_string(f.type)} if schema is not None else set()
        clean = [{k: _parquet_value(v, k in text_fields) for k, v in row.items()} for row in rows]
        table = pa.Table.from_pylist(clean, schema=schema)
        pq.write_table(table, tmp)
    os.replace(tmp, path)


def _parquet_value(value: object, as_text: bool) -> object:
    """Parquet strings must be valid UTF-8 (undecodable bytes become U+FFFD there), and a text
    column holding a stray number or object keeps it as its JSON text.
    """
    if isinstance(value, str):
        if any("\udc80" <= ch <= "\udcff" for ch in value):
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return value
    if as_text and value is not None:
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def merge_parts(parts: list[Path], target: Path, fmt: str) -> None:
    """Stream the parts into ``target`` (constant memory)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        writer = None
        try:
            for part in parts:
                table = pq.read_table(part)
                if writer is None:
                    writer = pq.ParquetWriter(target, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            target.write_bytes(b"")
        return
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)


# --------------------------------------------------------------------------- the job


def _fingerprint(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _parquet_schema(in_path: Path, in_fmt: str, labels: list[str]):
    import pyarrow as pa  # noqa: PLC0415

    added = [pa.field("label", pa.string()), pa.field("score", pa.float64())] + [pa.field(lab, pa.float64()) for lab in labels]
    if in_fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        base = pq.ParquetFile(in_path).schema_arrow
        names = set(added_name.name for added_name in added)
        return pa.schema([f for f in base if f.name not in names] + added)
    return None  # inferred from the first chunk


def classify_file(
    input_path: str | Path,
    output_path: str | Path,
    classifier=None,
    text_column: str = "text",
    in_format: str | None = None,
    out_format: str | None = None,
    chunk_rows: int = 2048,
    batch_size: int = 64,
    resume: bool = False,
    strict: bool = False,
    progress: bool | None = None,
    scored_chunks: Iterator[list[dict]] | None = None,
) -> Report:
    """Score every row of ``input_path`` into ``output_path``; see the module docstring.

    ``scored_chunks`` (rows already scored elsewhere, e.g. by Ray actors, in input order and
    ``chunk_rows`` at a time) replaces the local classifier.
    """
    import time  # noqa: PLC0415

    from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

    started = time.perf_counter()
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise FileNotFoundError(f"input file {src} does not exist")
    if src.resolve() == dst.resolve():
        raise ValueError(f"output {dst} is the input file; choose another path")
    in_fmt, out_fmt = detect_format(src, in_format), detect_format(dst, out_format)
    if not isinstance(chunk_rows, int) or chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be an int > 0, got {chunk_rows!r}")
    columns = columns_of(src, in_fmt)
    if in_fmt != "jsonl" and text_column not in columns:
        raise ValueError(f"{src} has no column {text_column!r}; its columns are {columns}")
    if in_fmt == "jsonl" and columns and text_column not in columns:
        raise ValueError(f"{src} has no field {text_column!r} in its first row; its fields are {columns}")

    labels = list(LABELS)
    if scored_chunks is None:
        clf = classifier if classifier is not None else EmotionClassifier.load()
        labels = list(clf.labels)

    parts_dir = dst.with_name(dst.name + ".parts")
    manifest = {
        "input": _fingerprint(src),
        "in_format": in_fmt,
        "out_format": out_fmt,
        "text_column": text_column,
        "chunk_rows": chunk_rows,
    }
    done_parts = _prepare_parts(parts_dir, manifest, resume)
    report = Report(str(src), str(dst), resumed_from_row=done_parts * chunk_rows)
    schema = _parquet_schema(src, in_fmt, labels) if out_fmt == "parquet" else None
    if out_fmt == "parquet" and schema is None and done_parts:
        import pyarrow.parquet as pq  # noqa: PLC0415

        schema = pq.read_schema(parts_dir / "part-000000.parquet")  # the schema the earlier run chose
    bar = _bar(count_rows(src, in_fmt), progress, done_parts * chunk_rows)
    try:
        source = read_chunks(src, in_fmt, chunk_rows) if scored_chunks is None else scored_chunks
        for index, rows in enumerate(source):
            first_row = index * chunk_rows + 1
            if index < done_parts:
                # Already written by an earlier run: only re-count its bad rows for the report.
                _collect_bad(rows, text_column, first_row, report, strict=False)
                report.rows += len(rows)
                continue
            good = _collect_bad(rows, text_column, first_row, report, strict)
            if scored_chunks is None:
                probs = clf.predict_proba([t for _, t in good], batch_size=batch_size) if good else []
                by_row = {i: p for (i, _), p in zip(good, probs, strict=True)}
                scored = [{**row, **_score_columns(by_row.get(i), labels)} for i, row in enumerate(rows)]
            else:
                scored = rows
            if out_fmt == "parquet" and schema is None:
                schema = _infer_schema(scored)
            write_part(scored, parts_dir / f"part-{index:06d}.{out_fmt}", out_fmt, header=index == 0, schema=schema)
            report.rows += len(rows)
            if bar is not None:
                bar.update(len(rows))
    except BadRowError:
        shutil.rmtree(parts_dir, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    parts = sorted(parts_dir.glob(f"part-*.{out_fmt}"))
    tmp = dst.with_name(dst.name + ".tmp")
    merge_parts(parts, tmp, out_fmt)
    os.replace(tmp, dst)
    shutil.rmtree(parts_dir, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _prepare_parts(parts_dir: Path, manifest: dict, resume: bool) -> int:
    """Create the parts directory or, resuming, check it belongs to this job; returns whole parts."""
    manifest_path = parts_dir / "manifest.json"
    if parts_dir.exists() and not resume:
        raise FileExistsError(
            f"{parts_dir} holds an interrupted run; continue it with --resume, or delete that directory to start over"
        )
    if resume and parts_dir.exists():
        try:
            old = json.loads(manifest_path.read_text("utf-8"))
        except (OSError, ValueError):
            old = None
        if old != manifest:
            raise ValueError(
                f"cannot resume: {parts_dir} was made for another input or settings ({old}); expected {manifest}"
            )
        for tmp in parts_dir.glob("*.tmp"):
            tmp.unlink()  # a chunk cut short by the crash; it is redone
        parts = sorted(parts_dir.glob(f"part-*.{manifest['out_format']}"))
        # Parts are written in order; keep only the unbroken run from part 0.
        count = 0
        for part in parts:
            if part.name != f"part-{count:06d}.{manifest['out_format']}":
                break
            count += 1
        for part in parts[count:]:
            part.unlink()
        return count
    parts_dir.mkdir(parents=True)
    tmp = manifest_path.with_name("manifest.json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, manifest_path)
    return 0


def _collect_bad(rows: list[dict], column: str, first_row: int, report: Report, strict: bool) -> list[tuple[int, str]]:
    good = []
    for i, row in enumerate(rows):
        text, reason = row_text(row, column)
        if text is None:
            if strict:
                raise BadRowError(f"row {first_row + i}: {reason} in column {column!r}")
            report.add_bad(first_row + i, reason)
        else:
            good.append((i, text))
    return good


def _infer_schema(rows: list[dict]):
    import pyarrow as pa  # noqa: PLC0415

    fields = []
    for name in rows[0]:
        if name in ("score", *LABELS):
            fields.append(pa.field(name, pa.float64()))
        elif name == "label":
            fields.append(pa.field(name, pa.string()))
        else:
            kinds = {type(r.get(name)) for r in rows if r.get(name) is not None}
            if len(kinds) == 1:
                fields.append(pa.Table.from_pylist([{name: r.get(name)} for r in rows]).schema.field(name))
            else:  # mixed types (or all null): keep as text
                fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


def _bar(total: int | None, wanted: bool | None, initial: int):
    if wanted is False or (wanted is None and not sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(total=total, initial=initial, unit="row", file=sys.stderr, smoothing=0.1)


def report_json(report: Report) -> str:
    return json.dumps(asdict(report))
