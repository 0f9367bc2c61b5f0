"""Weight interpolation of a model and a run fine-tuned from it (WiSE-FT, Wortsman et al., CVPR 2022).

A run continued from a model on other data or weights usually stays in that model's basin of the loss, so
``(1 - alpha) * A + alpha * B`` can keep part of what each does best (say, A's tweets and B's mixed
messages). Unlike ``emotionkit soup``, the two runs may have seen different data. A multi-label model's
calibration is folded into its output layer and its thresholds are its own, so the interpolation is
calibrated anew and its decision chosen again on the validation splits of A's training sources, by the
same :func:`emotionkit.calibrate.calibrate` training runs. Test splits are scored once, on the saved
result, unless ``test=False``.

    emotionkit mix models/emotionkit-minilm-n768 models/candidate-n768f --alpha 0.5 --output-dir models/mix
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from emotionkit.config import parse_data_spec
from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.soup import (
    META_FILE,
    SoupError,
    average,
    check_aligned,
    copy_model_files,
    read_run,
    save_state,
    validation_scores,
)

log = logging.getLogger(__name__)

# What a run's emotionkit.json says about its own weights, not the interpolation's: chosen anew.
_OWN = ("cpu_engine", "cpu_engine_reason", "calibration", "decision", "soup", "interpolation", "training_log",
        "train_runtime_s", "best_checkpoint")


def check_interpolable(a: dict, b: dict) -> None:
    """Raise :class:`SoupError` unless ``a`` and ``b`` (from ``read_run``) have weights that line up."""
    where = f"{b['path']} vs {a['path']}"
    check_aligned(a, b)
    kinds = ["multi-label" if r["meta"].get("model", {}).get("multi_label") else "single-label" for r in (a, b)]
    if kinds[0] != kinds[1]:
        raise SoupError(f"{where}: {b['path']} is {kinds[1]} and {a['path']} is {kinds[0]}; both must be one kind")
    norms = [r["meta"].get("model", {}).get("normalize") or [] for r in (a, b)]
    if norms[0] != norms[1]:
        raise SoupError(f"{where}: trained on text normalized differently ({norms[1]} vs {norms[0]})")
    lengths = [r["meta"].get("model", {}).get("max_length") for r in (a, b)]
    if lengths[0] != lengths[1]:
        log.warning("%s: max_length %s vs %s; the interpolation reads text as %s does", where, lengths[1], lengths[0],
                    a["path"])
    # Only the run that narrowed the feed-forward blocks records which neurons it kept; a run continued from it
    # records nothing. Two different records cannot line up; one record and none is the usual continued pair.
    cuts = [(r["meta"].get("ffn_pruned") or {}).get("kept_sha256") for r in (a, b)]
    if all(cuts) and cuts[0] != cuts[1]:
        raise SoupError(f"{where}: narrowed to different feed-forward neurons (ffn_pruned.kept_sha256 {cuts[1]} vs "
                        f"{cuts[0]}), so their weights do not line up")
    if any(cuts) and not all(cuts):
        log.warning("%s: only one records which feed-forward neurons it kept; the other must have been continued "
                    "from it for their weights to line up", where)


def _own_record(run: dict) -> dict:
    meta = run["meta"]
    return {"path": str(run["path"]), "data": meta["train"]["data"], "reproduce": meta.get("reproduce", ""),
            "best_selection_score": meta.get("best_selection_score"), "validation": run["validation"],
            **{k: meta[k] for k in ("calibration", "decision") if k in meta}}


def interpolate(a_dir: str | Path, b_dir: str | Path, alpha: float, output_dir: str | Path, test: bool = True,
                reproduce: str = "") -> Path:
    """Write ``(1 - alpha) * A + alpha * B`` into ``output_dir`` as a model directory (card and test
    scores unless ``test=False``); a multi-label result is calibrated and its decision chosen on validation."""
    from emotionkit.predict import EmotionClassifier  # noqa: PLC0415
    from emotionkit.train import check_output_dir, evaluate_and_card, publish  # noqa: PLC0415

    if not 0.0 < alpha < 1.0:
        raise SoupError(f"--alpha is the weight of B and must lie strictly between 0 and 1, got {alpha}")
    out, paths = Path(output_dir), [Path(a_dir), Path(b_dir)]
    if out.resolve() in {p.resolve() for p in paths}:
        raise SoupError(f"--output-dir {out} is one of the runs; write the interpolation elsewhere")
    try:
        check_output_dir(out, overwrite=True)  # replaces a model directory, never a directory of something else
    except FileExistsError as err:
        raise SoupError(str(err)) from None
    a, b = (read_run(p) for p in paths)
    check_interpolable(a, b)
    multi = bool(a["meta"].get("model", {}).get("multi_label"))
    state = average([a["state"], b["state"]], a["meta"]["train"].get("save_dtype", "float32"), [1.0 - alpha, alpha])
    datasets = [load_dataset(parse_data_spec(spec)[0], multi_label=multi) for spec in a["meta"]["train"]["data"]]

    # Each run scored as it stands (its own weights and decision) on A's validation splits, beside the mix.
    for run in (a, b):
        run["validation"] = validation_scores(EmotionClassifier.load(run["path"], engine="torch"), datasets)
    staging, existed = out / ".staging", out.is_dir()
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        scores = _stage(staging, a, b, alpha, state, datasets, reproduce)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-made is left; a model already at out is untouched
        if not existed:
            out.rmdir()
        if isinstance(err, ValueError):
            raise SoupError(f"the interpolation with --alpha {alpha:g} was not saved: {err}") from err
        raise
    log.info("interpolation %g of %s and %s: validation %s", alpha, *paths, scores)
    publish(staging, out)
    if test:
        meta = json.loads((out / META_FILE).read_text("utf-8"))
        extra = [load_dataset(p, multi_label=multi) for p in meta["train"].get("extra_test", [])]
        evaluate_and_card(out, datasets, extra)
    return out


def _stage(staging: Path, a: dict, b: dict, alpha: float, state: dict, datasets: list, reproduce: str) -> dict:
    """Write the interpolated model into ``staging`` (calibrated and decided when multi-label); its validation scores."""
    from emotionkit import __version__  # noqa: PLC0415
    from emotionkit.predict import EmotionClassifier  # noqa: PLC0415

    save_state(state, staging, a["meta"]["train"].get("save_dtype", "float32"))
    copy_model_files(a["path"], staging)
    multi = bool(a["meta"].get("model", {}).get("multi_label"))
    meta = {k: v for k, v in a["meta"].items() if k not in _OWN}
    meta["emotionkit_version"] = __version__
    meta["interpolation"] = {"alpha": alpha, "a": _own_record(a), "b": _own_record(b)}
    meta["selection_rule"] = (f"weight interpolation (1 - {alpha:g}) x `{a['path']}` + {alpha:g} x `{b['path']}` "
                              "(each run's own selection in its card)"
                              + ("; calibrated and thresholds chosen anew on validation" if multi else ""))
    meta["reproduce"] = "\n".join(dict.fromkeys(
        [line for r in (a, b) for line in r["meta"].get("reproduce", "").splitlines() if line.strip()]
        + [reproduce.strip()])).strip()
    write_json(meta, staging / META_FILE)
    if multi:
        from emotionkit.calibrate import calibrate  # noqa: PLC0415

        calibrate(staging, datasets)  # on validation; folded into the staged weights
    scores = validation_scores(EmotionClassifier.load(staging, engine="torch"), datasets)
    meta = json.loads((staging / META_FILE).read_text("utf-8"))
    meta["interpolation"]["validation"] = scores
    meta["best_selection_score"] = scores["selection_score"]
    write_json(meta, staging / META_FILE)
    return scores
