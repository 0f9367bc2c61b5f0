"""Batch scoring on Ray Data: ``map_batches`` over a pool of actors, each loading the model once.

>>> import ray
>>> ds = ray.data.read_parquet("s3://bucket/posts/")                      # doctest: +SKIP
>>> scored = classify_dataset(ds, model="models/emotionkit-minilm", num_actors=8)  # doctest: +SKIP
>>> scored.write_parquet("s3://bucket/posts_scored/")                      # doctest: +SKIP

``classify_file_ray`` does the same for one file and writes it through the same
chunked, resumable writer as the single-process path, so both give the same file.
"""

from __future__ import annotations

from pathlib import Path

from emotionkit.batch import (
    Report,
    classify_file,
    columns_of,
    detect_format,
    empty_columns,
    prediction_columns,
    row_text,
    score_column_names,
)
from emotionkit.labels import LABELS


def _ray():
    try:
        import ray  # noqa: PLC0415
        import ray.data  # noqa: F401, PLC0415
    except ImportError:
        raise ImportError("--engine ray needs Ray Data: pip install 'emotionkit[ray]'") from None
    return ray


class _Scorer:
    """One Ray actor: loads the classifier once, scores pyarrow batches."""

    def __init__(self, model: str | None, engine: str, threads: int | None, text_column: str, batch_size: int):
        from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

        self.clf = EmotionClassifier.load(model, engine=engine, threads=threads)
        self.text_column = text_column
        self.batch_size = batch_size

    def __call__(self, batch):
        import numpy as np  # noqa: PLC0415
        import pyarrow as pa  # noqa: PLC0415

        rows = batch.to_pylist()
        texts = [row_text(r, self.text_column)[0] for r in rows]
        good = [i for i, t in enumerate(texts) if t is not None]
        probs = (self.clf.predict_proba([texts[i] for i in good], batch_size=self.batch_size) if good
                 else np.zeros((0, len(self.clf.labels))))
        names = score_column_names(list(self.clf.labels))
        values = {name: [empty_columns(list(self.clf.labels))[name]] * len(rows) for name in names}
        for i, cols in zip(good, prediction_columns(self.clf, probs), strict=True):
            for name in names:
                values[name][i] = cols[name]
        columns = {name: pa.array(v, pa.string() if name in ("label", "emotions") else pa.float64())
                   for name, v in values.items()}
        table = batch
        for name, values in columns.items():
            if name in table.column_names:
                table = table.drop_columns([name])
            table = table.append_column(name, values)
        return table


def classify_dataset(
    ds,
    model: str | Path | None = None,
    text_column: str = "text",
    num_actors: int = 2,
    batch_size: int = 256,
    threads_per_actor: int | None = 1,
    engine: str = "auto",
    forward_batch_size: int = 64,
):
    """Add ``label``, ``score`` and one column per emotion to a ``ray.data.Dataset``.

    Runs as ``map_batches`` over ``num_actors`` actors, ``batch_size`` rows per call; each
    actor loads the model once, uses ``threads_per_actor`` threads (actors x threads should
    not exceed the cores) and runs ``forward_batch_size`` texts per forward pass.
    """
    ray = _ray()
    if num_actors < 1 or batch_size < 1 or forward_batch_size < 1:
        raise ValueError(f"num_actors, batch_size and forward_batch_size must be >= 1, "
                         f"got {num_actors}, {batch_size} and {forward_batch_size}")
    _prepare_model(model, engine)
    return ds.map_batches(
        _Scorer,
        fn_constructor_args=(None if model is None else str(model), engine, threads_per_actor, text_column,
                             forward_batch_size),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=threads_per_actor or 1,
    )


def _prepare_model(model, engine: str) -> None:
    """Build the ONNX cache once in the driver, so actors do not all export at the same time."""
    if engine in ("auto", "onnx", "onnx-int8"):
        from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

        EmotionClassifier.load(model, engine=engine)


def _read(path: Path, fmt: str):
    ray = _ray()
    if fmt == "csv":
        import pyarrow as pa  # noqa: PLC0415
        from pyarrow import csv as pacsv  # noqa: PLC0415

        # Every column as text, as the single-process path reads CSV: no type guessing.
        columns = columns_of(path, fmt)
        options = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=False)
        return ray.data.read_csv(str(path), convert_options=options)
    if fmt == "jsonl":
        return ray.data.read_json(str(path), lines=True)
    return ray.data.read_parquet(str(path))


def classify_file_ray(
    input_path: str | Path,
    output_path: str | Path,
    model: str | Path | None = None,
    address: str | None = None,
    num_actors: int = 2,
    threads_per_actor: int | None = 1,
    engine: str = "auto",
    text_column: str = "text",
    in_format: str | None = None,
    out_format: str | None = None,
    chunk_rows: int = 2048,
    batch_size: int = 64,
    resume: bool = False,
    strict: bool = False,
) -> Report:
    """``classify_file`` with the scoring done by Ray actors (``address`` joins a cluster)."""
    ray = _ray()
    src = Path(input_path)
    fmt = detect_format(src, in_format)
    columns = columns_of(src, fmt)
    if fmt != "jsonl" and text_column not in columns:
        raise ValueError(f"{src} has no column {text_column!r}; its columns are {columns}")
    from emotionkit.decision import Decision  # noqa: PLC0415
    from emotionkit.predict import default_model_dir  # noqa: PLC0415

    labels = list(Decision.load(model if model is not None else default_model_dir()).labels)
    clash = [c for c in columns if c in score_column_names(labels)]
    if clash:  # before Ray starts: the actors would replace these columns
        written = ", ".join(score_column_names(labels))
        raise ValueError(f"{src} already has the column(s) {clash}, which scoring writes ({written}); "
                         "rename them in the input so that nothing in it is overwritten")
    started_here = not ray.is_initialized()
    if started_here:
        local = {}
        if address is None:
            from emotionkit.runtime import cpu_threads  # noqa: PLC0415

            # Ray counts logical CPUs: the actors reserve actors x threads, and the file-reading
            # tasks need one more, or they wait forever behind the actors on a small machine.
            local["num_cpus"] = max(cpu_threads(), num_actors * (threads_per_actor or 1) + 1)
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, **local)
    try:
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        ds = classify_dataset(_read(src, fmt), model, text_column, num_actors, max(batch_size, 256),
                              threads_per_actor, engine, forward_batch_size=batch_size)
        # Rows come back in input order, chunk_rows at a time: the same parts as the local path.
        chunks = (b.to_pylist() for b in ds.iter_batches(batch_size=chunk_rows, batch_format="pyarrow"))
        return classify_file(
            src, output_path, text_column=text_column, in_format=fmt, out_format=out_format,
            chunk_rows=chunk_rows, resume=resume, strict=strict, scored_chunks=chunks, labels=labels,
        )
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["LABELS", "classify_dataset", "classify_file_ray"]
