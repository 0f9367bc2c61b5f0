"""Weight averaging ("model soup", Wortsman et al., ICML 2022) of fine-tuned runs, chosen on validation.

Runs fine-tuned from the same pretrained encoder with the same ``seed`` (so the same classifier
head initialisation) and different ``data_seed`` usually lie in one basin of the loss, where the
average of their weights scores better than each run. Greedy soup: sort the runs by validation
score, start from the best, and add each next run to the average only if the average's
validation score does not drop. Test splits are scored once, on the saved result.

A soup may itself be a run of a new soup: it then counts as the runs it averages (its weight is
their number), so souping a shipped soup with new runs gives the uniform average of all the runs
underneath, as if the original runs had been offered again.

    emotionkit soup models/candidate-seed13 models/candidate-ds42 --output-dir models/soup
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from emotionkit.data import load_dataset, with_partial_labels
from emotionkit.evaluate import evaluate, write_json

log = logging.getLogger(__name__)

META_FILE = "emotionkit.json"
WEIGHTS_FILE = "model.safetensors"
# Files a model directory carries besides weights, metadata, card and plots.
COPIED_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
           "vocab.json", "merges.txt", "spiece.model", "added_tokens.json")
SELECTION_RULE = "mean over the training sources of validation macro-F1"


class SoupError(ValueError):
    """The runs cannot be averaged (different architecture, labels, tokenizer or data)."""


def read_run(path: Path) -> dict:
    from safetensors.torch import load_file  # noqa: PLC0415

    if not (path / WEIGHTS_FILE).is_file() or not (path / META_FILE).is_file():
        raise SoupError(f"{path}: expected an emotionkit model directory with {WEIGHTS_FILE} and {META_FILE}")
    meta = json.loads((path / META_FILE).read_text("utf-8"))
    state = {k: v.float() for k, v in load_file(str(path / WEIGHTS_FILE)).items()}
    config = json.loads((path / "config.json").read_text("utf-8"))
    tokenizer = (path / "tokenizer.json").read_bytes() if (path / "tokenizer.json").is_file() else b""
    return {"path": path, "meta": meta, "state": state, "config": config, "tokenizer": tokenizer,
            "weight": run_count(meta)}


def run_count(meta: dict) -> int:
    """How many fine-tuned runs a model directory averages: 1 for a run, the runs it kept for a soup."""
    soup = meta.get("soup")
    if not soup:
        return 1
    return sum(r["in_soup"] * r.get("weight", 1) for r in soup["runs"])


def check_aligned(first: dict, run: dict) -> None:
    """Raise :class:`SoupError` unless ``run``'s weights line up with ``first``'s (names, shapes, labels, tokenizer)."""
    where = f"{run['path']} vs {first['path']}"
    if run["state"].keys() != first["state"].keys():
        diff = sorted(run["state"].keys() ^ first["state"].keys())[:5]
        raise SoupError(f"{where}: different weight names, e.g. {diff}")
    for key, tensor in run["state"].items():
        if tensor.shape != first["state"][key].shape:
            raise SoupError(f"{where}: {key} has shape {tuple(tensor.shape)}, expected {tuple(first['state'][key].shape)}")
    if run["config"].get("id2label") != first["config"].get("id2label"):
        raise SoupError(f"{where}: different labels {run['config'].get('id2label')} vs {first['config'].get('id2label')}")
    if run["tokenizer"] != first["tokenizer"]:
        raise SoupError(f"{where}: different tokenizers")


def copy_model_files(source: Path, target: Path) -> None:
    """Copy a model directory's config and tokenizer files (those it has) into ``target``."""
    for name in COPIED_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)


def save_state(state: dict, directory: Path, save_dtype: str) -> None:
    """Write ``state`` as ``directory``'s weights in the precision a run of it is saved in."""
    import torch  # noqa: PLC0415
    from safetensors.torch import save_file  # noqa: PLC0415

    directory.mkdir(exist_ok=True)
    save_file({k: v.to(getattr(torch, save_dtype)).contiguous() for k, v in state.items()},
              str(directory / WEIGHTS_FILE), metadata={"format": "pt"})


def check_compatible(runs: list[dict]) -> None:
    """Raise :class:`SoupError` unless every run has the same shapes, labels, tokenizer, settings and data."""
    first = runs[0]
    for run in runs[1:]:
        where = f"{run['path']} vs {first['path']}"
        check_aligned(first, run)
        # A setting added later (keep_layers, ffn_size) at its default equals its absence in an older run.
        theirs, ours = ({k: v for k, v in r["meta"]["model"].items() if not (k in ("keep_layers", "ffn_size") and not v)}
                        for r in (run, first))
        if theirs.pop("base_model") != ours.pop("base_model"):
            # A run continued from a soup of runs of the same encoder is still averageable; greedy
            # soup keeps it only if validation says so.
            log.warning("%s: different base models %s vs %s", where, run["meta"]["model"]["base_model"],
                        first["meta"]["model"]["base_model"])
        if theirs != ours:
            raise SoupError(f"{where}: different model settings {run['meta']['model']} vs {first['meta']['model']}")
        cuts = [(r["meta"].get("ffn_pruned") or {}).get("kept_sha256") for r in (run, first)]
        if cuts[0] != cuts[1]:  # narrowed on other samples (emotionkit.prune): the neurons do not line up
            raise SoupError(f"{where}: narrowed to different feed-forward neurons (ffn_pruned.kept_sha256 "
                            f"{cuts[0]} vs {cuts[1]}), so their weights do not line up")
        if run["meta"]["train"]["data"] != first["meta"]["train"]["data"]:
            theirs, ours = run["meta"]["train"]["data"], first["meta"]["train"]["data"]
            raise SoupError(f"{where}: trained on different data {theirs} vs {ours}")
        if run["meta"]["train"]["seed"] != first["meta"]["train"]["seed"]:
            log.warning("%s: different seeds, so different classifier-head initialisations; their average may "
                        "score worse than either (greedy soup then leaves one out)", where)


def average(states: list[dict], dtype: str = "float32", weights: list[int] | None = None) -> dict:
    """Average of state dicts (uniform, or by ``weights``), rounded to ``dtype`` (the precision it is saved in)."""
    import torch  # noqa: PLC0415

    w = torch.tensor(weights if weights is not None else [1] * len(states), dtype=torch.float32)
    if w.shape != (len(states),) or bool((w <= 0).any()):
        raise SoupError(f"expected one positive weight per run ({len(states)}), got {weights}")
    w = w / w.sum()
    out = {}
    for key in states[0]:
        mean = torch.einsum("r,r...->...", w, torch.stack([s[key] for s in states]))
        out[key] = mean.to(getattr(torch, dtype)).float()
    return out


def _average_runs(runs: list[dict], dtype: str) -> dict:
    return average([r["state"] for r in runs], dtype, [r["weight"] for r in runs])


def _data_paths(meta: dict) -> list[str]:
    from emotionkit.config import parse_data_spec  # noqa: PLC0415

    return [parse_data_spec(spec)[0] for spec in meta["train"]["data"]]


def _validation_scores(clf, state: dict, datasets: list) -> dict:
    """Load ``state`` into the classifier's PyTorch model and score every source's validation split."""
    result = clf.engine.model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise SoupError(f"weights the model does not have: {result.unexpected_keys[:5]}")
    return validation_scores(clf, datasets)


def validation_scores(clf, datasets: list) -> dict:
    """Accuracy and macro-F1 of every source's validation split, and their selection score (what training uses)."""
    scores = {}
    for ds in datasets:
        m = evaluate(clf, ds.split("validation"), batch_size=128)
        scores[f"{ds.name}_accuracy"], scores[f"{ds.name}_f1_macro"] = m["accuracy"], m["f1_macro"]
    scores["selection_score"] = float(np.mean([scores[f"{ds.name}_f1_macro"] for ds in datasets]))
    return scores


def data_changes(meta: dict, datasets: list) -> list[str]:
    """How the training data a run saw differs from ``datasets`` as they are now; empty when it is the same.

    Runs record a fingerprint of each training split; runs from before fingerprints are compared by their
    training label counts, which catches added or relabelled rows but not edited texts.
    """
    partial = meta.get("train", {}).get("partial_labels", False)
    current = {ds.name: with_partial_labels(ds) if partial else ds for ds in datasets}
    changes = []
    for seen in meta.get("datasets", []):
        ds = current.get(seen["name"])
        if ds is None or "train" not in ds.splits:
            continue
        then = seen.get("fingerprints", {}).get("train")
        same = (then == ds.fingerprint("train") if then
                else seen.get("label_counts", {}).get("train") == ds.label_counts("train"))
        if not same:
            rows_then = sum(seen.get("label_counts", {}).get("train", {}).values())
            changes.append(f"{seen['name']}: {rows_then:,} training rows then, {len(ds.split('train')):,} now")
    return changes


def make_soup(runs: list[str | Path], output_dir: str | Path, test: bool = True, reproduce: str = "") -> Path:
    """Greedy soup of ``runs`` into ``output_dir`` (a standard model directory with card).

    Multi-label runs each carry their own calibration (folded into the output layer) and thresholds, so every
    average is calibrated and decided anew on validation before it is scored, and the soup saved is the
    calibrated average that was scored (or, when no other run joins, the best run as it stands).
    """
    from emotionkit.train import check_output_dir, evaluate_and_card, publish  # noqa: PLC0415

    if len(runs) < 2:
        raise SoupError(f"a soup needs at least two runs, got {len(runs)}")
    out = Path(output_dir)
    paths = [Path(p) for p in runs]
    if out.resolve() in {p.resolve() for p in paths}:
        raise SoupError(f"--output-dir {out} is one of the runs; write the soup elsewhere")
    try:
        # The soup replaces a model directory's files (README.md, onnx/, ...): never a directory of something else.
        check_output_dir(out, overwrite=True)
    except FileExistsError as err:
        raise SoupError(str(err)) from None
    loaded = [read_run(p) for p in paths]
    check_compatible(loaded)
    multi = bool(loaded[0]["meta"].get("model", {}).get("multi_label"))
    save_dtype = loaded[0]["meta"]["train"].get("save_dtype", "float32")
    datasets = [load_dataset(p, multi_label=multi) for p in _data_paths(loaded[0]["meta"])]

    staging, existed = out / ".staging", out.is_dir()
    with tempfile.TemporaryDirectory(prefix="emotionkit-soup-") as scratch:
        scorer = _Scorer(loaded[0], datasets, Path(scratch), save_dtype)
        for run in loaded:
            run["validation"] = scorer.score_run(run)
            run["data_changes"] = data_changes(run["meta"], datasets)
            log.info("%s: validation %s", run["path"], run["validation"])
            if run["data_changes"]:
                log.warning("%s was trained on other data than the soup validates on: %s", run["path"],
                            "; ".join(run["data_changes"]))
        ranked = sorted(loaded, key=lambda r: r["validation"]["selection_score"], reverse=True)
        scorer.template = ranked[0]  # averages carry the best run's config and tokenizer files, as the soup does
        chosen, best, saved_dir, steps = _greedy(ranked, scorer)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            copy_model_files(ranked[0]["path"], staging)
            shutil.copy2(saved_dir / WEIGHTS_FILE, staging / WEIGHTS_FILE)
            meta = _soup_meta(loaded, ranked, chosen, best, steps, reproduce)
            # The calibration and decision of the weights saved: the best run's own, or those fitted to the average.
            meta |= _decision_record(saved_dir)
            write_json(meta, staging / META_FILE)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # nothing half-made is left; a model already at out is untouched
            if not existed:
                out.rmdir()
            raise
    publish(staging, out)
    if (ranked[0]["path"] / "training_curve.png").is_file():
        shutil.copy2(ranked[0]["path"] / "training_curve.png", out / "training_curve.png")
    if test:
        extra = [load_dataset(p, multi_label=multi) for p in meta["train"].get("extra_test", [])]
        evaluate_and_card(out, datasets, extra)
    return out


class _Scorer:
    """Validation scores of runs and of averages. A single-label average is loaded into one PyTorch model;
    a multi-label one is written to a scratch model directory and calibrated and decided there first."""

    def __init__(self, template: dict, datasets: list, scratch: Path, save_dtype: str):
        from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

        self.template, self.datasets, self.scratch, self.save_dtype = template, datasets, scratch, save_dtype
        self.multi = bool(template["meta"].get("model", {}).get("multi_label"))
        self.clf = None if self.multi else EmotionClassifier.load(template["path"], engine="torch")
        self.trials = 0

    def score_run(self, run: dict) -> dict:
        """A run as it stands (its own weights, calibration and decision)."""
        from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

        if self.multi:
            return validation_scores(EmotionClassifier.load(run["path"], engine="torch"), self.datasets)
        return _validation_scores(self.clf, run["state"], self.datasets)

    def average(self, state: dict) -> tuple[dict, Path | None]:
        """An average's scores, and (multi-label) the scratch directory holding it calibrated and decided.
        An average no decision can be chosen for (``calibrate`` raises) scores None and is left out."""
        if not self.multi:
            return _validation_scores(self.clf, state, self.datasets), None
        from emotionkit.calibrate import calibrate  # noqa: PLC0415
        from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

        self.trials += 1
        trial = self.scratch / f"average-{self.trials}"
        save_state(state, trial, self.save_dtype)
        copy_model_files(self.template["path"], trial)
        write_json({k: v for k, v in self.template["meta"].items() if k not in ("calibration", "decision")},
                   trial / META_FILE)
        try:
            calibrate(trial, self.datasets)
        except ValueError as err:
            log.warning("an average could not be calibrated and decided, so it is left out: %s", err)
            shutil.rmtree(trial)
            return {"selection_score": None, "error": str(err)}, None
        return validation_scores(EmotionClassifier.load(trial, engine="torch"), self.datasets), trial


def _greedy(ranked: list[dict], scorer: _Scorer) -> tuple[list[dict], dict, Path, list[dict]]:
    """Add each run to the average while the validation score does not drop. Returns the runs kept, the
    best scores, the directory whose weights (and, multi-label, calibration and decision) are saved, and the steps."""
    chosen, best, saved_dir, steps = [ranked[0]], ranked[0]["validation"], ranked[0]["path"], []
    if not scorer.multi:  # the saved weights are the average rounded to the saved precision
        saved_dir = scorer.scratch / "average"
        save_state(_average_runs([ranked[0]], scorer.save_dtype), saved_dir, scorer.save_dtype)
    for run in ranked[1:]:
        state = _average_runs([*chosen, run], scorer.save_dtype)
        scores, trial_dir = scorer.average(state)
        kept = scores["selection_score"] is not None and scores["selection_score"] >= best["selection_score"]
        steps.append({"added": str(run["path"]), "validation": scores, "kept": kept})
        log.info("adding %s: validation %s -> %s", run["path"], scores["selection_score"], "kept" if kept else "left out")
        if not kept:
            if trial_dir is not None:
                shutil.rmtree(trial_dir)  # one model's worth of scratch space each
            continue
        chosen.append(run)
        best = scores  # the average just scored is the one saved
        if trial_dir is None:
            save_state(state, saved_dir, scorer.save_dtype)
        else:
            if saved_dir.parent == scorer.scratch:
                shutil.rmtree(saved_dir)  # an earlier average, now replaced (never a run's own directory)
            saved_dir = trial_dir
    return chosen, best, saved_dir, steps


def _decision_record(model_dir: Path) -> dict:
    """The calibration and decision stored beside a model's weights (none for a single-label average)."""
    meta_path = model_dir / META_FILE
    meta = json.loads(meta_path.read_text("utf-8")) if meta_path.is_file() else {}
    return {k: v for k, v in meta.items() if k in ("calibration", "decision")}


def _soup_meta(loaded: list[dict], ranked: list[dict], chosen: list[dict], best: dict, steps: list[dict],
               reproduce: str) -> dict:
    meta = dict(ranked[0]["meta"])
    # The CPU engine chosen for a run (e.g. ONNX fp32 where its int8 graph missed parity) is a fact
    # about that run's weights, not the average's: the soup starts from the default and is checked anew.
    # Its calibration and decision are set by the caller, from the weights saved.
    # An interpolation's record (emotionkit mix) describes that run's making, not the soup's.
    for key in ("cpu_engine", "cpu_engine_reason", "calibration", "decision", "interpolation"):
        meta.pop(key, None)
    nested = " (a soup counts as the runs it averages)" if any(r["weight"] > 1 for r in loaded) else ""
    recalibrated = (" (each multi-label average calibrated and its thresholds chosen on validation before it is "
                    "scored)" if meta.get("model", {}).get("multi_label") else "")
    meta["selection_rule"] = (f"greedy weight averaging of {len(loaded)} runs{nested} (each run's best epoch by "
                              f"{SELECTION_RULE}); a run joins the average only if the average's validation score "
                              f"does not drop{recalibrated}")
    meta["best_selection_score"] = best["selection_score"]
    # A run continued from another run of the soup repeats that run's commands: list each once, in order.
    lines = [line for r in loaded for line in r["meta"].get("reproduce", "").splitlines() if line.strip()]
    meta["reproduce"] = "\n".join(dict.fromkeys([*lines, reproduce.strip()])).strip()
    meta["soup"] = {
        "runs": [{"path": str(r["path"]), "weight": r["weight"], "seed": r["meta"]["train"]["seed"],
                  "data_seed": r["meta"]["train"].get("data_seed", -1), "epochs": r["meta"]["train"]["epochs"],
                  "partial_labels": bool(r["meta"]["train"].get("partial_labels")),
                  "validation": r["validation"], "in_soup": any(r is c for c in chosen),
                  **({"data_changes": r["data_changes"]} if r["data_changes"] else {}),
                  **({"soup_of": [x["path"] for x in r["meta"]["soup"]["runs"] if x["in_soup"]]}
                     if r["meta"].get("soup") else {})}
                 for r in ranked],
        "greedy_steps": steps,
        "validation": best,
        # The training log in the metadata is the best run's own, or (for a soup) the one it carries.
        "training_log_of": ranked[0]["meta"].get("soup", {}).get("training_log_of", str(ranked[0]["path"])),
    }
    return meta
