"""The ``emotionkit`` command: a thin skin over the Python API.

    emotionkit predict "I miss you so much"
    emotionkit train --preset emotionkit-default --output-dir runs/default
    emotionkit evaluate --data ../shared/data/emotion --split test --json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
import types
import typing
from pathlib import Path

from emotionkit.bench import BenchError
from emotionkit.config import PRESETS, ModelSettings, TrainConfig, with_overrides
from emotionkit.onnx_engine import ExportError


def _add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per dataclass field, help from the field's doc; defaults come from the dataclass."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__, (cls.__doc__ or "").strip().splitlines()[0])
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # "int | None" -> int
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        default = f.default
        text = f"{f.metadata.get('help', '')} (default: {default!r})"
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif typing.get_origin(kind) is tuple:
            group.add_argument(flag, nargs="*", default=None, metavar="VALUE", help=text)
        else:
            group.add_argument(flag, type=kind, default=None, help=text)


def _dataclass_values(args: argparse.Namespace, cls: type) -> dict:
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        if value is not None:
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return values


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- commands


def cmd_predict(args: argparse.Namespace) -> int:
    from emotionkit.predict import EmotionClassifier

    texts = list(args.texts)
    if args.file:
        with open(args.file, encoding="utf-8") as fh:
            texts.extend(line.rstrip("\n") for line in fh if line.strip())
    for path in args.doc or ():
        texts.append(Path(path).read_text(encoding="utf-8"))
    if not texts:
        raise SystemExit("emotionkit predict: give texts as arguments, --file PATH (one text per line) or --doc PATH")
    clf = EmotionClassifier.load(args.model, engine=args.engine, long_text=args.long_text)
    # A text longer than the model's window is read whole: its result carries "sentences" (emotionkit.longdoc).
    for text, result in zip(texts, clf(texts, batch_size=args.batch_size), strict=True):
        _print_json({"text": text, **result.to_dict()})
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from emotionkit.explain import explain, readable
    from emotionkit.predict import EmotionClassifier

    if not args.texts:
        raise SystemExit("emotionkit explain: give one or more texts as arguments")
    clf = EmotionClassifier.load(args.model, engine=args.engine)
    results = explain(clf, list(args.texts), label=args.label, method=args.method, batch_size=args.batch_size)
    color = sys.stdout.isatty() if args.color is None else args.color
    for result in results:
        if args.json:
            _print_json(result.to_dict())
        else:
            print(readable(result, color))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from emotionkit.train import train

    recipe = PRESETS[args.preset]
    settings = with_overrides(recipe.model, **_dataclass_values(args, ModelSettings))
    config = with_overrides(recipe.train, **_dataclass_values(args, TrainConfig))
    command = "emotionkit " + shlex.join(sys.argv[1:])
    out = train(settings, config, resume=args.resume, test=not args.no_test, reproduce=command, overwrite=args.overwrite)
    print(f"model saved to {out}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from emotionkit.data import load_dataset
    from emotionkit.evaluate import evaluate, plot_confusion_matrix, plot_reliability, png_path
    from emotionkit.predict import EmotionClassifier

    if args.plot:
        png_path(args.plot)  # a bad plot path is an error before the scoring, not after
    clf = EmotionClassifier.load(args.model, engine=args.engine)
    dataset = load_dataset(args.data, multi_label=args.multi_label or clf.decision.multi_label)
    metrics = evaluate(clf, dataset.split(args.split), batch_size=args.batch_size, progress=True)
    metrics["dataset"], metrics["split"], metrics["model"] = dataset.name, args.split, str(clf.model_dir)
    metrics["engine"] = clf.engine.name
    metrics["multi_label_reading"] = bool(args.multi_label or clf.decision.multi_label)  # how GoEmotions was read
    if "confusion_matrix" in metrics:
        png = Path(args.plot or f"confusion_matrix_{dataset.name}_{args.split}.png")
        title = f"{dataset.name} {args.split}"
        metrics["confusion_matrix_png"] = str(plot_confusion_matrix(metrics["confusion_matrix"], png, title))
    else:  # a multi-label source: the reliability diagram of each output
        png = Path(args.plot or f"reliability_{dataset.name}_{args.split}.png")
        metrics["reliability_png"] = str(plot_reliability(metrics.pop("reliability"), png, f"{dataset.name} {args.split}"))
    if args.json:
        _print_json(metrics)
    else:
        keys = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "emotion_free_share",
                "exact_match", "f1_macro_emotions", "f1_micro", "neutral_f1", "ece_mean", "neutral_recognised",
                "mixed_both_found", "mild_emotion_found", "loss", "samples_per_second")
        for key in keys:
            if key in metrics:
                print(f"{key:>20}: {metrics[key]:.4f}")
        for key, value in metrics.items():
            if key.startswith("accuracy_style_"):
                print(f"{key:>20}: {value:.4f}")
        print(f"plot written to {png}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from emotionkit.train import test_model

    results = test_model(args.model)
    _print_json({name: {k: v for k, v in m.items() if isinstance(v, (int, float))} for name, m in results.items()})
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from emotionkit.calibrate import calibrate, choose_decision
    from emotionkit.config import parse_data_spec
    from emotionkit.data import load_dataset

    # PATH or PATH:WEIGHT, as emotionkit.json records the training sources (the weight does not matter here).
    datasets = [load_dataset(parse_data_spec(spec)[0], multi_label=True) for spec in args.data]
    record = (choose_decision if args.decision_only else calibrate)(args.model, datasets)
    record.get("decision", {}).pop("candidates", None)
    _print_json(record)
    return 0


def cmd_mix(args: argparse.Namespace) -> int:
    from emotionkit.interpolate import interpolate

    command = "emotionkit " + shlex.join(sys.argv[1:])
    out = interpolate(args.a, args.b, args.alpha, args.output_dir, test=not args.no_test, reproduce=command)
    print(f"interpolation saved to {out}", file=sys.stderr)
    return 0


def cmd_soup(args: argparse.Namespace) -> int:
    from emotionkit.soup import make_soup

    command = "emotionkit " + shlex.join(sys.argv[1:])
    out = make_soup(args.runs, args.output_dir, test=not args.no_test, reproduce=command)
    print(f"soup saved to {out}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from emotionkit.onnx_engine import export_onnx
    from emotionkit.predict import default_model_dir

    model_dir = Path(args.model) if args.model else default_model_dir()
    manifest = export_onnx(model_dir, log=lambda msg: print(msg, file=sys.stderr), out_dir=args.output_dir)
    _print_json(manifest)
    if manifest["int8_error"]:
        print(f"emotionkit export: fp32 graph written; int8 refused: {manifest['int8_error']}", file=sys.stderr)
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from emotionkit.bench import markdown_table, run_benchmark, save_results
    from emotionkit.predict import default_model_dir

    results = run_benchmark(
        args.model or default_model_dir(),
        args.data,
        split=args.split,
        batch_size=args.batch_size,
        repeats=args.repeats,
        latency_calls=args.latency_calls,
        contenders=tuple(args.contenders) if args.contenders else None,
        threads=args.threads,
        limit=args.limit,
        reference_model=args.reference_model,
        rounds=args.rounds,
    )
    path = save_results(results, args.results_dir)
    results["results_file"] = str(path)
    if args.json:
        _print_json(results)
    else:
        print(markdown_table(results))
        print(f"\nresults written to {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from emotionkit.serve import ServeSettings, serve

    serve(args.model, with_overrides(ServeSettings(), **_dataclass_values(args, ServeSettings)), engine=args.engine)
    return 0


def cmd_classify_file(args: argparse.Namespace) -> int:
    from emotionkit.batch import classify_file, report_json
    from emotionkit.predict import EmotionClassifier

    common = dict(
        text_column=args.text_column, in_format=args.in_format, out_format=args.out_format,
        chunk_rows=args.chunk_rows, batch_size=args.batch_size, resume=args.resume, strict=args.strict,
    )
    _check_report_args(args)
    if args.engine == "ray":
        from emotionkit.ray_batch import classify_file_ray

        report = classify_file_ray(
            args.input, args.output, model=args.model, address=args.address, num_actors=args.actors,
            threads_per_actor=args.threads, **common,
        )
        model_dir, engine = args.model, "ray"
    else:
        clf = EmotionClassifier.load(args.model, engine=args.engine, threads=args.threads)
        report = classify_file(args.input, args.output, classifier=clf, **common)
        model_dir, engine = clf.model_dir, clf.engine.name
    print(report.summary(), file=sys.stderr)
    _facts_and_report(args, model_dir, engine)
    if args.json:
        sys.stdout.write(report_json(report) + "\n")
    return 0


def _check_report_args(args: argparse.Namespace) -> None:
    """classify-file --report: a wrong folder or column is an error before the scoring, not after."""
    from emotionkit.batch import columns_of, detect_format

    if not args.report:
        return
    if not Path(args.report).parent.is_dir():
        raise FileNotFoundError(f"--report: the folder of {args.report} does not exist")
    fmt = detect_format(args.input, args.in_format)
    columns = columns_of(Path(args.input), fmt) if Path(args.input).is_file() else None
    for flag, column in (("--report-by", args.report_by), ("--report-time", args.report_time)):
        if column and columns is not None and fmt != "jsonl" and column not in columns:
            raise ValueError(f"{flag}: {args.input} has no column {column!r}; its columns are {columns}")


def _facts_and_report(args: argparse.Namespace, model_dir, engine: str) -> None:
    """classify-file: keep the run's facts beside OUTPUT (for a later `emotionkit report`); --report writes it now."""
    from emotionkit.predict import default_model_dir
    from emotionkit.report import model_facts, save_facts, write_report

    facts = model_facts(model_dir or default_model_dir(), engine, args.input)
    save_facts(args.output, facts)
    if args.report:
        write_report(args.output, args.report, by=args.report_by, time=args.report_time, facts=facts,
                     text_column=args.text_column)
        print(f"report written to {args.report}", file=sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    from emotionkit.report import aggregate, load_facts, write_report

    options = dict(text_column=args.text_column, in_format=args.in_format, threshold=args.confidence,
                   examples=args.examples)
    if args.json:
        _print_json(aggregate(args.scored_file, by=args.by, time=args.time, **options).to_dict())
    if args.output:
        facts = load_facts(args.scored_file)
        facts.update({k: v for k, v in (("model", args.model_name), ("input", args.input_name)) if v})
        write_report(args.scored_file, args.output, by=args.by, time=args.time, facts=facts, **options)
        print(f"report written to {args.output}", file=sys.stderr)
    if not (args.json or args.output):
        raise SystemExit("emotionkit report: give --output REPORT.html (or --json for the numbers)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotionkit",
        description="English emotion classification: six emotions, and none (neutral) or several where the model says so.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log progress details to stderr.")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=None, help="Model directory or hub id (default: the shipped model).")
        p.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx", "onnx-int8"], help="Inference engine.")
        p.add_argument("--batch-size", type=int, default=32, help="Texts per forward pass.")

    p = sub.add_parser("predict", help="Classify texts; one JSON object per text.")
    p.add_argument("texts", nargs="*", help="Texts to classify.")
    p.add_argument("--file", help="Read texts from this file, one per line.")
    p.add_argument("--doc", action="append", metavar="PATH", help="Read this whole file as one text (a long document).")
    p.add_argument("--long-text", default="split", choices=["split", "truncate"],
                   help="A text longer than the model's window: read whole in sentences, with each one's result "
                        "(split), or cut at the window (truncate).")
    model_args(p)
    p.set_defaults(func=cmd_predict)

    from emotionkit.explain import METHODS

    p = sub.add_parser("explain", help="Which words made a text's emotion: one signed weight per word.")
    p.add_argument("texts", nargs="*", help="Texts to explain.")
    p.add_argument("--label", default=None, help="Output to explain (default: each text's predicted label).")
    p.add_argument("--method", default=None, choices=METHODS, help="Attribution method (default: occlusion, "
                   "best on validation; the gradient methods need 'emotionkit[explain]').")
    p.add_argument("--json", action="store_true", help="One JSON object per text instead of coloured lines.")
    p.add_argument("--color", action=argparse.BooleanOptionalAction, default=None,
                   help="Colour the words (default: only when stdout is a terminal).")
    model_args(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("train", help="Fine-tune a model (a seed-card preset or the default recipe).")
    p.add_argument("--preset", default="emotionkit-default", choices=sorted(PRESETS), help="Starting recipe.")
    p.add_argument("--resume", action="store_true", help="Continue from the last checkpoint in OUTPUT_DIR.")
    p.add_argument("--overwrite", action="store_true", help="Replace a model (or an interrupted run) in OUTPUT_DIR.")
    p.add_argument("--no-test", action="store_true", help="Skip the test-split evaluation and card.")
    _add_dataclass_args(p, ModelSettings)
    _add_dataclass_args(p, TrainConfig)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="Score a model on a labelled split; metrics and a PNG (confusion matrix, "
                                        "or reliability diagram on a multi-label source).")
    p.add_argument("--data", required=True, help="Dataset directory, file or hub id.")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--json", action="store_true", help="Print one JSON object.")
    p.add_argument("--multi-label", action="store_true",
                   help="Read GoEmotions through the multi-label mapping (every comment, neutral included) whatever "
                        "the model's kind, so a six-way model is scored on issue 25's terms; a multi-label model "
                        "always reads it so.")
    p.add_argument("--plot", help="PNG path (default: confusion_matrix_<data>_<split>.png, or "
                                  "reliability_<data>_<split>.png for a multi-label source).")
    model_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("calibrate", help="Calibrate a multi-label model and choose its thresholds on validation (in place).")
    p.add_argument("model", help="Model directory (multi-label).")
    p.add_argument("--data", nargs="+", required=True, help="The training sources; their validation splits are read.")
    p.add_argument("--decision-only", action="store_true",
                   help="Keep the calibration; choose the thresholds and fallback again.")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("test", help="Score a trained model once on its sources' test splits; write metrics, plots, card.")
    p.add_argument("model", help="Model directory (trained with --no-test, or to score again).")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("export", help="Build the ONNX fp32 and int8 graphs (checked against PyTorch) into the per-user cache.")
    p.add_argument("--model", default=None, help="Model directory (default: the shipped model).")
    p.add_argument("--output-dir", default=None,
                   help="Write the graphs and their manifest here instead (default: the cache the engines read, "
                        "$EMOTIONKIT_CACHE or the platform's cache dir).")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("soup", help="Average the weights of runs of one recipe (greedy soup, chosen on validation).")
    p.add_argument("runs", nargs="+", help="Trained model directories (same recipe and seed, different --data-seed), "
                   "or soups of such runs (each counts as the runs it averages).")
    p.add_argument("--output-dir", required=True, help="Where the averaged model goes (not one of the runs).")
    p.add_argument("--no-test", action="store_true", help="Skip the test-split evaluation and card.")
    p.set_defaults(func=cmd_soup)

    p = sub.add_parser("mix", help="Interpolate the weights of a model and a run fine-tuned from it (WiSE-FT); "
                       "a multi-label result is calibrated anew on validation.")
    p.add_argument("a", help="Model directory whose training sources are validated on (weight 1 - alpha).")
    p.add_argument("b", help="Model directory fine-tuned from A, or otherwise of the same shapes and labels (weight alpha).")
    p.add_argument("--alpha", type=float, required=True, help="Weight of B, strictly between 0 and 1.")
    p.add_argument("--output-dir", required=True, help="Where the interpolated model goes (not A or B).")
    p.add_argument("--no-test", action="store_true", help="Skip the test-split evaluation and card.")
    p.set_defaults(func=cmd_mix)

    p = sub.add_parser("bench", help="Benchmark the transformers pipeline and emotionkit's engines side by side.")
    p.add_argument("--model", default=None, help="Model directory (default: the shipped model).")
    p.add_argument("--data", required=True, help="Dataset directory or file (its test split is scored).")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--batch-size", type=int, default=32, help="Batch size for every contender.")
    p.add_argument("--repeats", type=int, default=3, help="Timed passes over the split (median reported).")
    p.add_argument("--latency-calls", type=int, default=200, help="Single-text calls for latency percentiles.")
    p.add_argument("--rounds", type=int, default=1,
                   help="Run every contender this many times, the order reversed every other round; each timing "
                        "and ratio is the median over rounds, each ratio taken within its round (N times as long).")
    p.add_argument("--threads", type=int, default=None, help="Threads per emotionkit engine (default: all cores).")
    p.add_argument("--limit", type=int, default=None, help="Use only the first N texts (quick runs).")
    p.add_argument("--contenders", nargs="*", help="Subset of contenders to run.")
    p.add_argument("--reference-model", default=None,
                   help="Also run the stock pipeline on this model (the one a smaller student replaces) and give "
                        "every row its ratios against it.")
    p.add_argument("--results-dir", default="benchmarks/results", help="Where the JSON results file goes.")
    p.add_argument("--json", action="store_true", help="Print the results JSON instead of the table.")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("classify-file", help="Score a CSV, JSON lines or Parquet file in chunks (resumable).")
    p.add_argument("input", help="Input file (.csv, .jsonl or .parquet).")
    p.add_argument("output", help="Output file; its extension picks the format.")
    p.add_argument("--text-column", default="text", help="Column (or JSON field) holding the text.")
    p.add_argument("--in-format", choices=["csv", "jsonl", "parquet"], help="Override the input format.")
    p.add_argument("--out-format", choices=["csv", "jsonl", "parquet"], help="Override the output format.")
    p.add_argument("--chunk-rows", type=int, default=2048, help="Rows per chunk (the unit of resume).")
    p.add_argument("--resume", action="store_true", help="Continue an interrupted run from its last whole chunk.")
    p.add_argument("--strict", action="store_true", help="Stop at the first bad row instead of skipping it.")
    p.add_argument("--model", default=None, help="Model directory (default: the shipped model).")
    p.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx", "onnx-int8", "ray"],
                   help="Inference engine; 'ray' scores on a Ray cluster (pip install 'emotionkit[ray]').")
    p.add_argument("--batch-size", type=int, default=64, help="Texts per forward pass.")
    p.add_argument("--threads", type=int, default=None, help="Threads per engine (per Ray actor with --engine ray).")
    p.add_argument("--actors", type=int, default=2, help="Ray: number of scoring actors.")
    p.add_argument("--address", default=None, help="Ray: cluster address (default: start Ray locally).")
    p.add_argument("--json", action="store_true", help="Print the report as JSON.")
    p.add_argument("--report", default=None, metavar="HTML", help="Also write the emotion report of OUTPUT here.")
    p.add_argument("--report-by", default=None, metavar="COLUMN", help="--report: emotions per value of this column.")
    p.add_argument("--report-time", default=None, metavar="COLUMN", help="--report: emotions over time by this column.")
    p.set_defaults(func=cmd_classify_file)

    # ---- emotion report (emotionkit.report)
    p = sub.add_parser("report", help="Write the HTML emotion report of a scored file (charts, examples, bad rows).")
    p.add_argument("scored_file", help="A file written by classify-file (.csv, .jsonl or .parquet).")
    p.add_argument("--output", "-o", default=None, help="The report's path (one self-contained HTML file).")
    p.add_argument("--by", default=None, metavar="COLUMN", help="Emotions per value of this column (product, channel...).")
    p.add_argument("--time", default=None, metavar="COLUMN", help="Emotions over time by this column (ISO 8601 or epoch).")
    p.add_argument("--text-column", default="text", help="Column holding the text (for the examples).")
    p.add_argument("--in-format", choices=["csv", "jsonl", "parquet"], help="Override the scored file's format.")
    p.add_argument("--confidence", type=float, default=0.5, help="Report the share of rows whose top score is below this.")
    p.add_argument("--examples", type=int, default=3, help="Example rows per emotion.")
    p.add_argument("--model-name", default=None, help="The model to name in the header (default: from SCORED_FILE.facts.json).")
    p.add_argument("--input-name", default=None, help="The input file to name in the header (default: from the facts).")
    p.add_argument("--json", action="store_true", help="Print the aggregated numbers as JSON.")
    p.set_defaults(func=cmd_report)

    from emotionkit.serve import ServeSettings

    p = sub.add_parser("serve", help="Run the HTTP service and web page (FastAPI on uvicorn).")
    p.add_argument("--model", default=None, help="Model directory (default: the shipped model).")
    p.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx", "onnx-int8"], help="Inference engine.")
    _add_dataclass_args(p, ServeSettings)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (ValueError, TypeError, KeyError, OSError, ImportError, ExportError, BenchError) as err:
        # ExportError: e.g. --engine onnx-int8 on a model whose int8 graph failed parity.
        print(f"emotionkit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
