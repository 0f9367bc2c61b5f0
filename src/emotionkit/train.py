"""Fine-tune an encoder for the six emotions with the Hugging Face Trainer.

>>> from emotionkit.config import ModelSettings, TrainConfig
>>> train(ModelSettings(), TrainConfig(data=("../shared/data/emotion",), output_dir="runs/m"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from emotionkit.config import ModelSettings, TrainConfig, cache_dir, parse_data_spec, resolve_base_model
from emotionkit.data import DataError, Dataset, Example, load_dataset, read_texts, with_partial_labels
from emotionkit.decision import Decision, softmax
from emotionkit.evaluate import plot_confusion_matrix, plot_reliability, plot_training_curve, write_json
from emotionkit.head import check_head_settings, loss_weights, new_model, output_labels, training_target
from emotionkit.hidden_distill import HiddenTeacher, check_hidden_settings
from emotionkit.labels import LABELS
from emotionkit.losses import NO_LABEL
from emotionkit.textnorm import normalize
from emotionkit.trainer import SourceMetrics, epoch_log, trainer_class, training_args

log = logging.getLogger(__name__)

META_FILE = "emotionkit.json"  # our one small file beside the Hugging Face ones
SELECTION_RULE = "mean over the training sources of validation macro-F1"


class _Encoded:
    """A list of tokenized rows the Trainer can index (and measure for length grouping)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def _encode(tokenizer, examples: list[Example], settings: ModelSettings, soft_targets: np.ndarray | None = None,
            negatives: float = 1.0) -> _Encoded:
    """Token ids and targets of ``examples``; ``negatives`` < 1: rows carry per-output loss weights (``loss_weights``)."""
    texts = [normalize(ex.text, settings.normalize) for ex in examples]
    enc = tokenizer(texts, truncation=True, max_length=settings.max_length)
    rows = [
        {"input_ids": ids, "attention_mask": mask, "labels": training_target(ex, settings)}
        for ids, mask, ex in zip(enc["input_ids"], enc["attention_mask"], examples, strict=True)
    ]
    if settings.multi_label and negatives < 1:
        for row, ex in zip(rows, examples, strict=True):
            row["label_weights"] = loss_weights(ex, negatives)
    if soft_targets is not None:
        for row, target in zip(rows, soft_targets.tolist(), strict=True):
            row["teacher_probs"] = target
    return _Encoded(rows)


def teacher_targets(teachers: tuple[str, ...] | list[str], texts: list[str], temperature: float,
                    labels: tuple[str, ...] = LABELS, multi_label: bool = False) -> np.ndarray:
    """The teachers' mean probabilities at ``temperature`` for ``texts``, ``[n, len(labels)]`` in the
    student's output order: a softmax over the six, or for a multi-label student each output's own
    sigmoid (the teachers must then be multi-label models with the same outputs).

    Each teacher reads the texts the way it was trained to (its own normalization), and each
    distinct text is scored once.
    """
    from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

    unique = list(dict.fromkeys(texts))
    total = np.zeros((len(unique), len(labels)))
    for path in teachers:
        clf = EmotionClassifier.load(path, engine="torch")
        if list(clf.labels) != list(labels) or clf.decision.multi_label != multi_label:
            kind = "multi-label" if multi_label else "single-label"
            raise ValueError(f"teacher {path} has labels {list(clf.labels)} (multi-label: {clf.decision.multi_label}); "
                             f"expected a {kind} model with {list(labels)}")
        logits = _teacher_logits(clf, unique) / temperature
        total += 1 / (1 + np.exp(-logits)) if multi_label else softmax(logits)
    index = {text: i for i, text in enumerate(unique)}
    return (total / len(teachers))[[index[t] for t in texts]]


def _teacher_logits(clf, texts: list[str]) -> np.ndarray:
    """A teacher's logits for distinct ``texts``. A local teacher's logits are kept in the cache under
    the hash of its weights and reading settings, so a second student scores only texts it has not seen."""
    weights = Path(clf.model_dir) / "model.safetensors"
    if not weights.is_file():
        log.info("teacher %s: scoring %d distinct texts", clf.model_dir, len(texts))
        return clf.logits(texts, batch_size=128)
    digest = hashlib.sha256(json.dumps([list(clf.normalize_steps), clf.max_length]).encode())
    with weights.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    file = cache_dir() / "teacher-logits" / f"{digest.hexdigest()}.npz"
    known: dict[str, np.ndarray] = {}
    if file.is_file():
        try:
            with np.load(file) as saved:  # texts as UTF-8 JSON bytes: a numpy string array pads every text to the longest
                known = dict(zip(json.loads(saved["texts"].tobytes()), saved["logits"], strict=True))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            log.warning("teacher cache %s is unreadable (%s): scoring every text again", file, err)
    missing = [t for t in texts if t not in known]
    log.info("teacher %s: %d distinct texts, %d already scored in %s", clf.model_dir, len(texts),
             len(texts) - len(missing), file)
    if missing:
        known.update(zip(missing, clf.logits(missing, batch_size=128), strict=True))
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f"{file.stem}.{os.getpid()}.partial.npz")  # never a half-written cache file
        texts_json = np.frombuffer(json.dumps(list(known), ensure_ascii=False).encode(), dtype=np.uint8)
        np.savez(partial, texts=texts_json, logits=np.stack(list(known.values())))
        os.replace(partial, file)
    return np.stack([known[t] for t in texts])


def _weighted(rows: list, weight: float, rng: random.Random) -> list:
    """``sampled_count(len(rows), weight)`` of ``rows``: whole copies, then a seeded sample for the fraction."""
    copies, fraction = divmod(weight, 1.0)
    return rows * int(copies) + rng.sample(rows, round(fraction * len(rows)))


def sampled_count(n: int, weight: float) -> int:
    """How many rows an epoch samples from a source of ``n`` rows at ``weight`` (what ``_weighted`` takes)."""
    copies, fraction = divmod(weight, 1.0)
    return int(copies) * n + round(fraction * n)


def sample_training_rows(datasets: list[tuple[Dataset, float]], seed: int) -> list[Example]:
    """Mix the sources' train splits; weight w takes ``sampled_count(n, w)`` rows of a source of n rows."""
    rng = random.Random(seed)
    return [row for dataset, weight in datasets for row in _weighted(dataset.split("train"), weight, rng)]


def taught_rows(datasets: list[tuple[Dataset, float]], teach_sources: tuple[str, ...], transfer: int) -> np.ndarray:
    """Which rows of ``sample_training_rows(datasets) + transfer rows`` the teachers teach, as a bool mask.

    Every row when ``teach_sources`` is empty; else the rows sampled from those sources, and the
    unlabelled transfer rows, which have nothing else to learn from.
    """
    names = [ds.name for ds, _ in datasets]
    unknown = sorted(set(teach_sources) - set(names))
    if unknown:
        raise ValueError(f"teach_sources {unknown}: expected names of the training sources {names}")
    mask = []
    for dataset, weight in datasets:
        sampled = len(_weighted(dataset.split("train"), weight, random.Random(0)))  # the count needs no seed
        mask += [not teach_sources or dataset.name in teach_sources] * sampled
    return np.array(mask + [True] * transfer, dtype=bool)


def transfer_rows(specs: tuple[str, ...], sources: list[Dataset], seed: int) -> list[Example]:
    """Unlabelled texts for the teachers to teach (a transfer set), as rows labelled ``NO_LABEL``.

    Each spec is ``SOURCE`` or ``SOURCE:WEIGHT``. SOURCE is a text file (one text per line) or a dataset
    whose loader reads texts that carry none of our six labels; for GoEmotions those are the train
    comments its mapping leaves out. A text found in any split of a training source, or in the transfer
    dataset's own validation or test split, is left out, so no held-out text is trained on.
    """
    if not specs:
        return []
    rng = random.Random(seed)
    held: set[str] = {ex.text for ds in sources for rows in ds.splits.values() for ex in rows}
    loaded = {Path(ds.source).resolve(): ds for ds in sources}  # a training source is not read a second time
    out: list[Example] = []
    for spec in specs:
        path, weight = parse_data_spec(spec)
        if Path(path).is_file():
            texts = read_texts(Path(path))
        else:
            dataset = loaded.get(Path(path).resolve()) or load_dataset(path)
            texts = dataset.unlabeled.get("train", [])
            if not texts:
                raise DataError(
                    f"{path}: no unlabelled training texts; a transfer source is a text file (one text per line) "
                    "or a dataset whose loader leaves texts without one of our six labels, such as GoEmotions"
                )
            held |= {ex.text for split, rows in dataset.splits.items() if split != "train" for ex in rows}
            held |= {t for split, rows in dataset.unlabeled.items() if split != "train" for t in rows}
        distinct = list(dict.fromkeys(texts))
        fresh = [Example(text, NO_LABEL) for text in distinct if text not in held]
        taken = _weighted(fresh, weight, rng)
        log.info("transfer set %s: %d distinct texts, %d of them left out as they occur in a labelled or held-out "
                 "split, %d taken", path, len(distinct), len(distinct) - len(fresh), len(taken))
        out.extend(taken)
    return out


def train(
    settings: ModelSettings,
    config: TrainConfig,
    resume: bool = False,
    test: bool = True,
    reproduce: str = "",
    callbacks: list | None = None,
    overwrite: bool = False,
) -> Path:
    """Fine-tune, keep the best epoch by validation macro-F1, save a model directory with card.

    Returns the model directory (``config.output_dir``). A directory that already holds a trained
    model is replaced only with ``overwrite=True``; one that holds anything else is refused.
    """
    from transformers import DataCollatorWithPadding, set_seed  # noqa: PLC0415

    out = Path(config.output_dir)
    ckpt_dir = out / "checkpoints"
    _check_start(settings, config, out, resume, overwrite)
    set_seed(config.seed)

    multi = settings.multi_label
    sources, extra_test = _sources(config, multi)
    data_seed = config.seed if config.data_seed < 0 else config.data_seed  # -1: one seed for all, as before
    transfer = transfer_rows(config.transfer, [ds for ds, _ in sources], data_seed)
    train_rows = sample_training_rows(sources, data_seed) + transfer
    base, tokenizer, model, hidden, pruned = _model(settings, config, train_rows, data_seed)
    if config.qat:  # trained through the int8 rounding of its CPU graph (emotionkit.qat)
        from emotionkit import qat  # noqa: PLC0415

        int8_meta = qat.prepare(model, tokenizer, tuple(settings.normalize), settings.max_length)
        log.info("quantization-aware: %d linear modules compute with int8 weights and uint8 inputs",
                 int8_meta["modules"])
    soft = _soft_targets(config, settings, sources, train_rows, len(transfer)) if config.teachers else None
    train_data = _encode(tokenizer, train_rows, settings, soft, config.single_label_negatives)
    eval_sources = {ds.name: _encode(tokenizer, ds.split("validation"), settings) for ds, _ in sources}
    decision = Decision(output_labels(settings), multi_label=multi)  # thresholds 0.5 until calibration
    source_metrics = {ds.name: SourceMetrics(ds.split("validation"), decision) for ds, _ in sources}
    mix = ", ".join(f"{ds.name} x{w}" for ds, w in sources)
    log.info("training on %d rows: %s, and %d unlabelled transfer texts", len(train_rows), mix, len(transfer))

    trainer = trainer_class()(
        model=model,
        args=training_args(config, ckpt_dir),
        train_dataset=train_data,
        eval_dataset=next(iter(eval_sources.values())),  # our evaluate() scores every source
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=next(iter(source_metrics.values())),
        eval_sources=eval_sources,
        source_metrics=source_metrics,
        distill={"alpha": config.distill_alpha, "temperature": config.distill_temperature,
                 "label_smoothing": config.label_smoothing} if config.teachers else None,
        weighted=settings.multi_label and config.single_label_negatives < 1,
        hidden=hidden,
        hidden_weight=config.distill_hidden,
        callbacks=callbacks,
    )
    if not resume:
        # Recorded only now, when every input has passed its checks: a run refused earlier leaves nothing.
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_settings(settings, config), ckpt_dir / RUN_FILE)
    trainer.train(resume_from_checkpoint=True if resume else None)

    meta = _run_meta(settings, config, base, trainer.state, sources, len(transfer), reproduce)
    if pruned:
        meta["ffn_pruned"] = pruned
    if config.qat:  # saved and calibrated as the plain fp32 model
        qat.detach(trainer.model)
        meta["qat"] = int8_meta
    _save(out, trainer.model, tokenizer, meta, config.save_dtype, [ds for ds, _ in sources] if multi else None)
    # Checkpoints exist only for --resume; they hold Trainer pickles (optimizer, RNG, args), so a
    # finished model directory does not keep them.
    shutil.rmtree(ckpt_dir, ignore_errors=True)

    if meta["training_log"]:
        plot_training_curve(meta["training_log"], out / "training_curve.png")
    if test:
        evaluate_and_card(out, [ds for ds, _ in sources], extra_test)
    return out


def _check_start(settings: ModelSettings, config: TrainConfig, out: Path, resume: bool, overwrite: bool) -> None:
    """Every check that can refuse a run before any data is read; clears an interrupted run ``overwrite`` replaces."""
    ckpt_dir = out / "checkpoints"
    if resume and not any(ckpt_dir.glob("checkpoint-*")):
        raise FileNotFoundError(f"--resume: no checkpoint to resume from in {ckpt_dir}")
    if not resume:
        check_output_dir(out, overwrite)
        shutil.rmtree(ckpt_dir, ignore_errors=True)  # an interrupted run that overwrite replaces
    if resume:
        check_run_settings(ckpt_dir, settings, config)
    check_head_settings(settings, config)
    check_hidden_settings(settings.keep_layers, config.teachers, config.distill_hidden, settings.ffn_size)
    if settings.ffn_size:  # the base must be wider than the cut
        from emotionkit.prune import check_base_width  # noqa: PLC0415

        check_base_width(resolve_base_model(settings.base_model), settings.ffn_size)


def _sources(config: TrainConfig, multi: bool) -> tuple[list[tuple[Dataset, float]], list[Dataset]]:
    """The training sources with their weights (each with train and validation splits, the partial-label
    rule applied when asked), and the extra test sets."""
    sources = [(load_dataset(path, multi_label=multi), weight) for path, weight in map(parse_data_spec, config.data)]
    # Read now, not after training: a typo in --extra-test must not cost a finished run.
    extra_test = [load_dataset(p, multi_label=multi) for p in config.extra_test]
    names = [ds.name for ds, _ in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"datasets must have distinct names, got {names}")
    for ds, _ in sources:
        for split in ("train", "validation"):
            ds.split(split)  # raises a clear KeyError when a split is missing
        if not multi and ds.multi_label:
            raise ValueError(f"{ds.name} has rows with no emotion or several; train a multi-label model (--multi-label) "
                             "to learn from them")
    if config.partial_labels:
        if not any(ds.partial.get("train") for ds, _ in sources):
            raise ValueError(f"partial_labels: none of the datasets {names} has train rows that the partial-label "
                             "rule would add (only a dataset read through a label mapping, such as GoEmotions, has)")
        sources = [(with_partial_labels(ds), weight) for ds, weight in sources]
    return sources, extra_test


def _model(settings: ModelSettings, config: TrainConfig, train_rows: list[Example] = (), data_seed: int = 0):
    """The resolved base, its tokenizer, the model to fine-tune (cut to ``keep_layers`` and narrowed to
    ``ffn_size`` for a student), the teacher whose layers it learns from (``distill_hidden``; else None),
    and what the narrowing cut (:func:`emotionkit.prune.prune_ffn`; else None). The neurons are chosen
    on a sample of ``train_rows`` drawn with ``data_seed``."""
    from transformers import AutoTokenizer  # noqa: PLC0415

    base = resolve_base_model(settings.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = new_model(base, settings)
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and settings.max_length > positions:
        # A longer max_length would train, then fail on the first text that fills it.
        raise ValueError(f"max_length {settings.max_length} is over what {settings.base_model} reads "
                         f"(max_position_embeddings {positions})")
    kept = settings.keep_layers or tuple(range(model.config.num_hidden_layers))
    if settings.keep_layers:  # a smaller student: the base with only these layers (emotionkit.student)
        from emotionkit.student import keep_only_layers  # noqa: PLC0415

        model = keep_only_layers(model, list(settings.keep_layers))
    pruned = None
    if settings.ffn_size:  # a narrower student: each feed-forward block cut to its most useful neurons
        from emotionkit.prune import IMPORTANCE_TEXTS, ffn_importance, prune_ffn  # noqa: PLC0415

        if not train_rows:
            raise ValueError("ffn_size: expected training rows to choose the neurons on, got none")
        sample = random.Random(data_seed).sample(list(train_rows), min(IMPORTANCE_TEXTS, len(train_rows)))
        texts = [normalize(ex.text, settings.normalize) for ex in sample]
        pruned = prune_ffn(model, settings.ffn_size, ffn_importance(model, tokenizer, texts, settings.max_length))
        pruned["texts"] = len(texts)
    hidden = None
    if config.distill_hidden:
        if not _same_model(base, resolve_base_model(config.teachers[0])):
            log.warning("distill_hidden: the student is cut from %s, not from its teacher %s; its layers learn from the "
                        "teacher's layers of the same index", base, config.teachers[0])
        hidden = HiddenTeacher(config.teachers[0], kept, model.config, tuple(settings.normalize))
    return base, tokenizer, model, hidden, pruned


def _same_model(a: str, b: str) -> bool:
    """Whether two model names (directories or hub ids) name the same model."""
    return Path(a).resolve() == Path(b).resolve() if Path(a).exists() and Path(b).exists() else a == b


def _soft_targets(config: TrainConfig, settings: ModelSettings, sources: list[tuple[Dataset, float]],
                  train_rows: list[Example], transfer: int) -> np.ndarray:
    """The teachers' probabilities per training row ``[rows, outputs]``; all zero for a row of a source
    the teachers do not teach, which then learns from its label alone."""
    taught = taught_rows(sources, config.teach_sources, transfer)
    if len(taught) != len(train_rows):
        raise RuntimeError(f"taught_rows gave {len(taught)} flags for {len(train_rows)} training rows")
    soft = np.zeros((len(train_rows), len(output_labels(settings))))
    soft[taught] = teacher_targets(config.teachers, [ex.text for ex, t in zip(train_rows, taught, strict=True) if t],
                                   config.distill_temperature, output_labels(settings), settings.multi_label)
    return soft


def _run_meta(settings: ModelSettings, config: TrainConfig, base: str, state, sources: list[tuple[Dataset, float]],
              transfer: int, reproduce: str) -> dict:
    """What ``emotionkit.json`` records of a finished run (the card is rendered from it)."""
    return {
        "emotionkit_version": _version(),
        "model": asdict(settings),
        "train": asdict(config),
        "base_model_resolved": base,
        "selection_rule": SELECTION_RULE,
        "best_checkpoint": state.best_model_checkpoint,
        "best_selection_score": state.best_metric,
        "datasets": [
            {
                "name": ds.name,
                "source": ds.source,
                "weight": w,
                "train_rows_sampled": sampled_count(len(ds.split("train")), w),
                "label_counts": {s: ds.label_counts(s) for s in ds.splits},
                "fingerprints": {s: ds.fingerprint(s) for s in ds.splits},
                "notes": ds.notes,
                **({"label_mapping": ds.label_mapping} if ds.label_mapping else {}),
            }
            for ds, w in sources
        ],
        "transfer_rows": transfer,
        "training_log": epoch_log(state.log_history, [ds.name for ds, _ in sources]),
        "train_runtime_s": state.log_history[-1].get("train_runtime"),
        "reproduce": "\n".join(dict.fromkeys([*_chain(base), *(line for t in config.teachers for line in _chain(t)),
                                              reproduce])).strip(),
    }


def _save(out: Path, model, tokenizer, meta: dict, save_dtype: str, calibrate_on: list[Dataset] | None) -> None:
    """Write the trained model into ``out``: staged, then moved in, so an interrupted save never leaves a
    half model. A multi-label model is calibrated on ``calibrate_on``'s validation splits first."""
    import torch  # noqa: PLC0415

    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.to(getattr(torch, save_dtype))
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    if save_dtype != "float32":
        # Stored in half precision to halve the size, but computed in fp32: transformers loads
        # with dtype="auto" from config.json, and fp16 matmuls on a CPU are slow.
        _set_config_dtype(staging / "config.json", "float32")
    write_json(meta, staging / META_FILE)
    if calibrate_on is not None:
        from emotionkit.calibrate import calibrate  # noqa: PLC0415

        calibrate(staging, calibrate_on)  # on validation; folded into the staged weights
    publish(staging, out)


def publish(staging: Path, out: Path) -> None:
    """Move a model staged in ``staging`` into ``out``. What an earlier model there derived from its weights
    (card, test metrics, plots, ONNX graphs) would describe the wrong model: gone before the new weights come in."""
    for stale in (*STALE_FILES, *(png.name for pattern in ("confusion_matrix_*.png", "reliability_*.png")
                                  for png in out.glob(pattern))):
        target = out / stale
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    for item in staging.iterdir():
        item.replace(out / item.name)
    staging.rmdir()


STALE_FILES = ("README.md", "test_metrics.json", "training_curve.png", "onnx")
RUN_FILE = "run.json"  # the settings an unfinished run was started with, beside its checkpoints


def run_settings(settings: ModelSettings, config: TrainConfig) -> dict:
    """The settings as JSON reads them back (tuples become lists), for comparison."""
    return json.loads(json.dumps({"model": asdict(settings), "train": asdict(config)}))


def check_run_settings(ckpt_dir: Path, settings: ModelSettings, config: TrainConfig) -> None:
    """A new run records its settings beside its checkpoints; --resume refuses other settings,
    since the card would record the new ones for weights trained partly with the old."""
    current = run_settings(settings, config)
    path = ckpt_dir / RUN_FILE
    if not path.is_file():
        log.warning("%s has no %s (a run from an older emotionkit): its settings cannot be checked", ckpt_dir, RUN_FILE)
        return
    started = json.loads(path.read_text("utf-8"))
    # A setting added later (single_label_negatives, keep_layers, distill_hidden, ffn_size) at its default equals its
    # absence in an older run.
    later = {"single_label_negatives": 1.0, "keep_layers": [], "distill_hidden": 0.0, "ffn_size": 0, "qat": False}
    changed = [f"{part}.{key}: {started[part].get(key, later.get(key))!r} then, {value!r} now"
               for part in ("model", "train") for key, value in current[part].items()
               if started[part].get(key, later.get(key)) != value]
    if changed:
        raise ValueError(f"--resume: the run in {ckpt_dir.parent} was started with other settings ({'; '.join(changed)}); "
                         "resume it with the same ones, or start over with --overwrite")


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Refuse to train into a directory that holds something other than a new model's place:
    another trained model (unless ``overwrite``), an interrupted run (continue it with --resume,
    or ``overwrite``), or files that are not a model at all.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--output-dir {out} is a file; expected a directory for the model")
    entries = {p.name for p in out.iterdir()} if out.is_dir() else set()
    if not entries:
        return
    if META_FILE not in entries and entries - {"checkpoints", ".staging"}:
        raise FileExistsError(f"--output-dir {out} holds files that are not an emotionkit model "
                              f"({', '.join(sorted(entries)[:5])}...), so it is not an emotionkit model directory "
                              "to replace; choose a new or empty directory")
    if not overwrite:
        what = "a trained model" if META_FILE in entries else "an interrupted run (continue it with --resume)"
        raise FileExistsError(f"--output-dir {out} already holds {what}; pass --overwrite to replace it, "
                              "or choose another directory")


def _chain(model: str) -> list[str]:
    """The commands that made ``model`` when it is an emotionkit model directory (a continued or
    distilled run's card then lists the whole chain, not just its last step), one per line."""
    meta = Path(model) / META_FILE
    if not meta.is_file():
        return []
    return [line for line in json.loads(meta.read_text("utf-8")).get("reproduce", "").splitlines() if line.strip()]


def _set_config_dtype(path: Path, dtype: str) -> None:
    config = json.loads(path.read_text("utf-8"))
    config["dtype"] = dtype
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def evaluate_and_card(model_dir: Path, datasets: list[Dataset], extra: list[Dataset] | tuple = ()) -> dict:
    """Score the saved model on each dataset's test split, save metrics and plots, render the card."""
    from emotionkit.card import write_card  # noqa: PLC0415
    from emotionkit.evaluate import evaluate  # noqa: PLC0415
    from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

    clf = EmotionClassifier.load(model_dir, engine="torch")
    results = {}
    for ds in [*datasets, *extra]:
        if "test" not in ds.splits:
            continue
        metrics = evaluate(clf, ds.split("test"))
        metrics["dataset"], metrics["source"] = ds.name, ds.source
        results[ds.name] = metrics
        if "confusion_matrix" in metrics:
            plot_confusion_matrix(metrics["confusion_matrix"], model_dir / f"confusion_matrix_{ds.name}.png", f"{ds.name} test")
        if "reliability" in metrics:
            plot_reliability(metrics["reliability"], model_dir / f"reliability_{ds.name}.png", f"{ds.name} test: reliability")
    write_json(results, model_dir / "test_metrics.json")
    write_card(model_dir)
    return results


def test_model(model_dir: str | Path) -> dict:
    """Score a trained model directory once on the test splits of the sources its ``emotionkit.json`` names
    (its training data and extra tests, read as it was trained), and write its metrics, plots and card:
    what ``train`` does at its end unless ``test=False`` (``--no-test``)."""
    model_dir = Path(model_dir)
    meta = json.loads((model_dir / META_FILE).read_text("utf-8"))
    multi = bool(meta.get("model", {}).get("multi_label"))
    sources = [load_dataset(parse_data_spec(spec)[0], multi_label=multi) for spec in meta["train"]["data"]]
    extra = [load_dataset(path, multi_label=multi) for path in meta["train"].get("extra_test", [])]
    return evaluate_and_card(model_dir, sources, extra)


def _version() -> str:
    from emotionkit import __version__  # noqa: PLC0415

    return __version__
