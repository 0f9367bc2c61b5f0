"""Training end to end on tiny random models: every seed preset, resume, several sources, the card."""

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml
from conftest import GOEMOTIONS_NAMES, STYLESET

from emotionkit.config import PRESETS
from emotionkit.data import DataError, goemotions_mapping
from emotionkit.labels import LABELS
from emotionkit.predict import EmotionClassifier
from emotionkit.train import train

pytestmark = pytest.mark.slow

ARCH = {
    "distilbert-base-uncased-emotion": "distilbert",
    "bert-base-uncased-emotion": "bert",
    "roberta-base-emotion": "roberta",
    "albert-base-v2-emotion": "albert",
    "emotion-classification-model": "distilbert",
    "distilbert-base-uncased-finetuned-emotion": "distilbert",
    "bert-finetuned-emotion": "bert",
}


@pytest.mark.parametrize("preset", sorted(ARCH))
def test_every_seed_preset_runs(preset, tiny_models, tiny_data, tmp_path):
    recipe = PRESETS[preset]
    out = train(
        replace(recipe.model, base_model=str(tiny_models[ARCH[preset]]), max_length=32),
        replace(recipe.train, data=(str(tiny_data),), output_dir=str(tmp_path / "m"), max_steps=2, eval_batch_size=16),
        test=False,
    )
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): label for i, label in enumerate(LABELS)}
    assert config["model_type"] == ARCH[preset]
    meta = json.loads((out / "emotionkit.json").read_text())
    assert meta["train"]["learning_rate"] == recipe.train.learning_rate
    assert meta["train"]["batch_size"] == recipe.train.batch_size
    result = EmotionClassifier.load(out, engine="torch")("a short test")
    assert result.label in LABELS and abs(sum(s["score"] for s in result.scores) - 1) < 1e-5


def test_trained_dir_is_standard_and_pipeline_agrees(trained_tiny):
    from transformers import pipeline

    names = {p.name for p in trained_tiny.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "emotionkit.json",
            "test_metrics.json", "training_curve.png"} <= names
    assert not list(trained_tiny.rglob("*.bin")) and not list(trained_tiny.rglob("*.pkl"))
    texts = ["what a wonderful day", "i am so worried about the exam", "leave me alone"]
    pipe = pipeline("text-classification", model=str(trained_tiny), top_k=None)
    ours = EmotionClassifier.load(trained_tiny, engine="torch")(texts)
    for theirs, mine in zip(pipe(texts), ours, strict=True):
        assert [d["label"] for d in theirs] == [d["label"] for d in mine.scores]
        assert [d["score"] for d in theirs] == pytest.approx([d["score"] for d in mine.scores], abs=1e-5)


def test_card_states_the_metrics_file(trained_tiny):
    metrics = json.loads((trained_tiny / "test_metrics.json").read_text())
    card = (trained_tiny / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    results = header["model-index"][0]["results"]
    assert [r["dataset"]["name"] for r in results] == list(metrics)  # one entry per dataset
    for entry in results:
        m = metrics[entry["dataset"]["name"]]
        values = {x["name"]: x["value"] for x in entry["metrics"]}
        assert values["Accuracy"] == round(m["accuracy"], 4)
        assert values["F1 Macro"] == round(m["f1_macro"], 4)
        assert values["F1 Weighted"] == round(m["f1_weighted"], 4)
        assert values["Loss"] == round(m["loss"], 4)
        assert f"| {m['accuracy'] * 100:.2f} | {m['f1_macro'] * 100:.2f} |" in card
    meta = json.loads((trained_tiny / "emotionkit.json").read_text())
    assert len(meta["training_log"]) == 2  # one row per epoch
    for row in meta["training_log"]:
        assert f"| {row['epoch']:g} | {row['step']} | {row['training_loss']:.4f} | {row['validation_loss']:.4f} |" in card
    assert "| learning_rate | 0.0001 |" in card
    assert "## Framework versions" in card and "- transformers " in card
    assert "![training curve](training_curve.png)" in card
    assert "styleset" in metrics and "| review |" in card  # accuracy per style


def test_resume_continues_an_interrupted_run(tiny_models, tiny_data, tmp_path):
    from transformers import TrainerCallback

    from emotionkit.config import ModelSettings, TrainConfig

    class Crash(Exception):
        pass

    class CrashAfterFirstSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise Crash(f"simulated crash at step {state.global_step}")

    settings = ModelSettings(base_model=str(tiny_models["bert"]), max_length=32)
    config = TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "m"), epochs=2, batch_size=8)
    with pytest.raises(Crash):
        train(settings, config, test=False, callbacks=[CrashAfterFirstSave()])
    assert not (tmp_path / "m" / "model.safetensors").exists()  # nothing half-written as the final model
    # the card would record settings the first part of the run was not trained with: refused
    with pytest.raises(ValueError, match=r"started with other settings \(train.learning_rate: 0.0001 then, 0.03 now; "
                                         r"train.batch_size: 8 then, 4 now\)"):
        train(settings, replace(config, learning_rate=0.03, batch_size=4), resume=True, test=False)
    out = train(settings, config, resume=True, test=False)
    meta = json.loads((out / "emotionkit.json").read_text())
    assert [row["epoch"] for row in meta["training_log"]] == [1, 2]
    assert meta["training_log"][1]["step"] == 2 * meta["training_log"][0]["step"]


def test_resume_without_checkpoint_is_an_error(tiny_models, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig

    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        train(ModelSettings(base_model=str(tiny_models["bert"])),
              TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "m")), resume=True)


def test_two_sources_are_validated_separately(tiny_models, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig

    second = tmp_path / "second"
    second.mkdir()
    for split in ("train", "validation", "test"):
        (second / f"{split}.jsonl").write_text((tiny_data / f"{split}.jsonl").read_text())
    out = train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32),
        TrainConfig(data=(str(tiny_data), f"{second}:0.5"), output_dir=str(tmp_path / "m"), epochs=1, batch_size=8),
    )
    meta = json.loads((out / "emotionkit.json").read_text())
    row = meta["training_log"][0]
    assert {f"{tiny_data.name}_f1_macro", "second_f1_macro"} <= set(row)
    assert row["f1_macro"] == pytest.approx((row[f"{tiny_data.name}_f1_macro"] + row["second_f1_macro"]) / 2)
    assert meta["datasets"][1]["train_rows_sampled"] == round(0.5 * 72)
    assert set(json.loads((out / "test_metrics.json").read_text())) == {tiny_data.name, "second"}
    assert STYLESET.is_file()


def test_distill_loss_is_cross_entropy_plus_scaled_kl():
    import torch
    import torch.nn.functional as F

    from emotionkit.losses import distill_loss

    torch.manual_seed(0)
    logits, labels = torch.randn(4, 6), torch.tensor([0, 3, 5, 1])
    teacher = torch.softmax(torch.randn(4, 6), dim=-1)
    ce = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert distill_loss(logits, labels, teacher, 0.0, 2.0, 0.1) == pytest.approx(ce.item())
    # A teacher that agrees with the student (at the same temperature) adds nothing.
    own = torch.softmax(logits / 2.0, dim=-1)
    assert distill_loss(logits, labels, own, 1.0, 2.0) == pytest.approx(0.0, abs=1e-6)
    kl = (teacher * (teacher.log() - F.log_softmax(logits / 2.0, dim=-1))).sum(-1).mean()
    assert distill_loss(logits, labels, teacher, 0.5, 2.0, 0.1) == pytest.approx(0.5 * ce.item() + 0.5 * 4 * kl.item(), rel=1e-5)


def test_distill_loss_gives_unlabelled_rows_only_the_teachers_term():
    import torch
    import torch.nn.functional as F

    from emotionkit.losses import NO_LABEL, distill_loss

    torch.manual_seed(0)
    logits = torch.randn(4, 6)
    teacher = torch.softmax(torch.randn(4, 6), dim=-1)
    kl = (teacher * (teacher.log() - F.log_softmax(logits / 2.0, dim=-1))).sum(-1)
    none = torch.full((4,), NO_LABEL)
    assert distill_loss(logits, none, teacher, 0.9, 2.0, 0.1) == pytest.approx(0.9 * 4 * kl.mean().item(), rel=1e-5)
    # Two labelled rows of four: their cross-entropy is summed and divided by the whole batch.
    labels = torch.tensor([2, NO_LABEL, 5, NO_LABEL])
    ce = F.cross_entropy(logits[[0, 2]], labels[[0, 2]], reduction="sum")
    expected = 0.5 * ce.item() / 4 + 0.5 * 4 * kl.mean().item()
    assert distill_loss(logits, labels, teacher, 0.5, 2.0) == pytest.approx(expected, rel=1e-5)


def test_distill_loss_gives_untaught_rows_the_cross_entropy_alone():
    import torch
    import torch.nn.functional as F

    from emotionkit.losses import distill_loss

    torch.manual_seed(0)
    logits, labels = torch.randn(4, 6), torch.tensor([0, 3, 5, 1])
    teacher = torch.softmax(torch.randn(4, 6), dim=-1)
    teacher[[1, 3]] = 0  # rows 1 and 3 come from a source the teachers do not teach
    ce = F.cross_entropy(logits, labels, label_smoothing=0.1, reduction="none")
    kl = (teacher[[0, 2]] * (teacher[[0, 2]].log() - F.log_softmax(logits[[0, 2]] / 2.0, dim=-1))).sum(-1)
    expected = (0.3 * ce[[0, 2]].sum() + 0.7 * 4 * kl.sum() + ce[[1, 3]].sum()) / 4
    assert distill_loss(logits, labels, teacher, 0.7, 2.0, 0.1) == pytest.approx(expected.item(), rel=1e-5)
    # No row taught at all: plain label-smoothed cross-entropy, whatever alpha says.
    none = torch.zeros(4, 6)
    assert distill_loss(logits, labels, none, 0.9, 2.0, 0.1) == pytest.approx(ce.mean().item(), rel=1e-5)


def test_taught_rows_follow_the_sources_and_their_weights(tiny_data):
    from emotionkit.data import Dataset, Example, load_dataset
    from emotionkit.train import sample_training_rows, taught_rows

    tweets = load_dataset(tiny_data)
    other = Dataset(name="reddit", source="x", splits={"train": [Example(f"comment {i}", i % 6) for i in range(10)]})
    sources = [(tweets, 1.0), (other, 1.5)]
    rows = sample_training_rows(sources, seed=4)
    mask = taught_rows(sources, ("reddit",), transfer=3)
    n = len(tweets.split("train"))
    assert len(mask) == len(rows) + 3 and len(rows) == n + 15
    assert not mask[:n].any() and mask[n:].all()  # tweets untaught; 15 reddit rows and 3 transfer rows taught
    assert [r.text.startswith("comment") for r in rows] == list(mask[:len(rows)])
    assert taught_rows(sources, (), transfer=0).all()
    with pytest.raises(ValueError, match=r"teach_sources \['goemotions'\]: expected names of the training sources"):
        taught_rows(sources, ("goemotions",), transfer=0)


def test_transfer_rows_leave_out_held_texts_and_follow_the_weight(tiny_data, tmp_path):
    from emotionkit.data import DataError, load_dataset
    from emotionkit.train import NO_LABEL, transfer_rows

    source = load_dataset(tiny_data)
    held = source.split("test")[0].text
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"unlabelled message {i}\n" for i in range(10)) + f"\n{held}\nunlabelled message 3\n")
    rows = transfer_rows((str(texts),), [source], seed=0)
    assert sorted(r.text for r in rows) == sorted(f"unlabelled message {i}" for i in range(10))
    assert {r.label for r in rows} == {NO_LABEL}
    assert len(transfer_rows((f"{texts}:0.5",), [source], seed=0)) == 5
    assert len(transfer_rows((f"{texts}:2",), [source], seed=0)) == 20
    with pytest.raises(DataError, match="no unlabelled training texts"):
        transfer_rows((str(tiny_data),), [source], seed=0)
    # A transfer dataset that is also a training source is taken as loaded, not read again.
    source.unlabeled = {"train": ["a comment with no label of ours", held]}
    assert [r.text for r in transfer_rows((str(tiny_data),), [source], seed=0)] == ["a comment with no label of ours"]


def test_teacher_targets_average_the_teachers(trained_tiny):
    from emotionkit.train import teacher_targets

    clf = EmotionClassifier.load(trained_tiny, engine="torch")
    texts = ["what a wonderful day", "leave me alone", "what a wonderful day"]
    targets = teacher_targets([str(trained_tiny), str(trained_tiny)], texts, temperature=3.0)
    logits = clf.logits(texts) / 3.0
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert targets.shape == (3, len(LABELS))
    assert targets == pytest.approx(expected, abs=1e-6)


def test_teacher_logits_are_cached_by_weights_and_only_new_texts_are_scored(trained_tiny, monkeypatch, tmp_path):
    from emotionkit.train import teacher_targets

    scored: list[list[str]] = []
    real = EmotionClassifier.logits

    def counting(self, texts, batch_size=32):
        scored.append(list(texts))
        return real(self, texts, batch_size)

    monkeypatch.setattr(EmotionClassifier, "logits", counting)
    first = teacher_targets([str(trained_tiny)], ["calm sea", "angry sky"], temperature=2.0)
    assert scored == [["calm sea", "angry sky"]]
    assert len(list((tmp_path / "cache" / "teacher-logits").glob("*.npz"))) == 1
    second = teacher_targets([str(trained_tiny)], ["angry sky", "new text", "calm sea"], temperature=2.0)
    assert scored[1:] == [["new text"]]  # the cached two were not scored again
    assert second[[2, 0]] == pytest.approx(first, abs=1e-6)
    again = teacher_targets([str(trained_tiny)], ["new text"], temperature=2.0)
    assert len(scored) == 2 and again[0] == pytest.approx(second[1], abs=1e-6)
    cache = tmp_path / "cache" / "teacher-logits"
    assert not list(cache.glob("*.partial*"))
    file = next(cache.glob("*.npz"))
    for damage in (b"not a zip", file.read_bytes()[:-40]):  # a damaged cache file is scored again, not trusted
        file.write_bytes(damage)
        assert teacher_targets([str(trained_tiny)], ["new text"], temperature=2.0)[0] == pytest.approx(second[1], abs=1e-6)
        assert scored[-1] == ["new text"]
    assert len(scored) == 4


def test_distilled_run_records_its_teachers_and_their_commands(trained_tiny, tiny_models, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.data import load_dataset

    transfer = tmp_path / "unlabelled.txt"  # a transfer set, taught by the teachers alone
    transfer.write_text("".join(f"an unlabelled note, number {i}\n" for i in range(12)))

    out = train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32),
        TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "student"), epochs=1, batch_size=8,
                    teachers=(str(trained_tiny),), distill_alpha=0.7, logging_steps=2, transfer=(str(transfer),),
                    teach_sources=(load_dataset(tiny_data).name,)),
        test=False, reproduce="emotionkit train --teachers T (student)",
    )
    meta = json.loads((out / "emotionkit.json").read_text())
    assert meta["train"]["teachers"] == [str(trained_tiny)] and meta["train"]["distill_alpha"] == 0.7
    assert meta["transfer_rows"] == 12
    assert meta["reproduce"].splitlines() == ["emotionkit train (test fixture)", "emotionkit train --teachers T (student)"]
    assert meta["training_log"][0]["training_loss"] > 0  # the distillation loss was logged
    assert EmotionClassifier.load(out, engine="torch")("a short test").label in LABELS
    from emotionkit.card import write_card

    card = write_card(out).read_text()
    assert "Distilled from 1 teacher(s)" in card and "0.3 x cross-entropy with the labels + 0.7 x T^2" in card
    assert f"each epoch has 12 unlabelled texts from `{transfer}`" in card
    assert f"The teachers teach only the rows of `{load_dataset(tiny_data).name}`" in card


def test_bad_distillation_settings_are_refused():
    from emotionkit.config import TrainConfig

    with pytest.raises(ValueError, match="distill_alpha must be in"):
        TrainConfig(teachers=("m",), distill_alpha=1.5)
    with pytest.raises(ValueError, match="distill_temperature must be > 0"):
        TrainConfig(distill_temperature=0)
    with pytest.raises(ValueError, match="need teachers; none given"):
        TrainConfig(transfer=("texts.txt",))
    with pytest.raises(ValueError, match=r"teach_sources \['goemotions'\] names sources for teachers to teach; no teachers"):
        TrainConfig(teach_sources="goemotions")


def test_partial_label_rule_adds_goemotions_train_rows_and_the_card_says_so(tiny_models, tiny_data, tmp_path):
    from emotionkit.card import write_card
    from emotionkit.config import ModelSettings, TrainConfig
    names = GOEMOTIONS_NAMES
    goe = tmp_path / "goemotions"
    goe.mkdir()
    (goe / "emotions.txt").write_text("\n".join(names), "utf-8")
    for split, stem in (("train", "train"), ("validation", "dev"), ("test", "test")):
        rows = [json.loads(line) for line in (tiny_data / f"{split}.jsonl").read_text().splitlines()]
        lines = [f"{r['text']}\t{names.index(LABELS[r['label']] if isinstance(r['label'], int) else r['label'])}\tid"
                 for r in rows]
        # Each split gets two rows with a dropped label beside a mapped one: partial-label rows.
        lines += [f"{split} thanks, so happy\t{names.index('joy')},{names.index('gratitude')}\tp1",
                  f"{split} wow, did not see that\t{names.index('surprise')},{names.index('neutral')}\tp2"]
        (goe / f"{stem}.tsv").write_text("\n".join(lines) + "\n", "utf-8")

    out = train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32),
        TrainConfig(data=(str(goe),), output_dir=str(tmp_path / "m"), epochs=1, batch_size=8, partial_labels=True),
    )
    meta = json.loads((out / "emotionkit.json").read_text())
    seen = meta["datasets"][0]
    assert meta["train"]["partial_labels"] is True
    assert sum(seen["label_counts"]["train"].values()) == 72 + 2  # tiny_data's 72 train rows and the two partial ones
    assert sum(seen["label_counts"]["validation"].values()) == 24  # validation keeps the strict rule
    assert any("2 rows added by the partial-label rule" in note for note in seen.get("notes", []))
    card = write_card(out).read_text()
    assert "Trained with the partial-label rule (`partial_labels`): the train split also holds" in card
    # The run records the mapping it was read through, and its card prints that one, even after the
    # package's mapping has moved on.
    assert seen["label_mapping"] == goemotions_mapping()
    assert "| surprise | surprise | " in card
    seen["label_mapping"]["mapping"]["surprise"]["labels"] = ["surprise", "realization"]
    (out / "emotionkit.json").write_text(json.dumps(meta), "utf-8")
    assert "| surprise | surprise, realization | " in write_card(out).read_text()
    del seen["label_mapping"]  # a run from before runs recorded it: the package's, said so
    (out / "emotionkit.json").write_text(json.dumps(meta), "utf-8")
    card = write_card(out).read_text()
    assert "| surprise | surprise | " in card and "This run did not record its mapping" in card


def test_partial_label_rule_without_a_mapped_dataset_is_refused(tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig

    with pytest.raises(ValueError, match="partial_labels: none of the datasets .* has train rows"):
        train(ModelSettings(), TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "m"), partial_labels=True))
    assert not (tmp_path / "m").exists()  # refused before anything was written


def test_a_trained_model_is_replaced_only_when_asked(trained_tiny, tiny_models, tiny_data, tmp_path):
    import hashlib
    import shutil

    from emotionkit.config import ModelSettings, TrainConfig

    out = tmp_path / "m"
    shutil.copytree(trained_tiny, out)
    assert (out / "README.md").is_file() and (out / "test_metrics.json").is_file()
    settings = ModelSettings(base_model=str(tiny_models["bert"]), max_length=32)
    config = TrainConfig(data=(str(tiny_data),), output_dir=str(out), max_steps=2, batch_size=8, seed=7)
    before = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    with pytest.raises(FileExistsError, match="already holds a trained model; pass --overwrite"):
        train(settings, config, test=False)
    assert hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest() == before
    # a typo in --extra-test stops the run before training, and the model is untouched
    with pytest.raises(DataError, match="no_such_set: no such file or directory"):
        train(settings, replace(config, extra_test=(str(tmp_path / "no_such_set"),)), test=False, overwrite=True)
    assert hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest() == before
    train(settings, config, test=False, overwrite=True)
    assert hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest() != before
    # the old card and test metrics described the old weights: they are gone, not left beside the new ones
    assert not (out / "README.md").exists() and not (out / "test_metrics.json").exists()
    assert json.loads((out / "emotionkit.json").read_text())["train"]["seed"] == 7


def test_a_directory_of_other_files_is_never_trained_into(tiny_models, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig

    project = tmp_path / "project"
    (project / "checkpoints").mkdir(parents=True)
    (project / "README.md").write_text("mine")
    (project / "checkpoints" / "notes.txt").write_text("mine too")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="holds files that are not an emotionkit model"):
            train(ModelSettings(base_model=str(tiny_models["bert"]), max_length=32),
                  TrainConfig(data=(str(tiny_data),), output_dir=str(project), max_steps=1), test=False,
                  overwrite=overwrite)
    assert (project / "README.md").read_text() == "mine"
    assert (project / "checkpoints" / "notes.txt").read_text() == "mine too"


def test_max_length_beyond_the_encoder_is_refused(tiny_models, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig

    with pytest.raises(ValueError, match=r"max_length 1024 is over what .* reads \(max_position_embeddings 512\)"):
        train(ModelSettings(base_model=str(tiny_models["bert"]), max_length=1024),
              TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "m"), max_steps=1), test=False)
    assert not (tmp_path / "m" / "model.safetensors").exists()
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())  # a refused run leaves nothing behind


def test_the_card_says_how_rows_were_sampled_and_batched(trained_tiny, tmp_path):
    import random
    import shutil

    from emotionkit.card import collect_facts, render
    from emotionkit.train import _weighted, sampled_count

    for weight in (0.5, 1, 1.5, 2.25, 3):
        assert len(_weighted(list(range(3)), weight, random.Random(0))) == sampled_count(3, weight)
    assert sampled_count(3, 1.5) == 5  # round(1.5 * 3) would say 4
    card = render(collect_facts(trained_tiny))
    assert "linear schedule with warm-up, dynamic padding, length-grouped batches" in card
    plain = tmp_path / "plain"
    shutil.copytree(trained_tiny, plain)
    meta = json.loads((plain / "emotionkit.json").read_text())
    meta["train"].update(warmup_ratio=0.0, group_by_length=False)
    first = meta["training_log"][0]
    first["training_loss"] = None  # no loss logged before the first evaluation
    (plain / "emotionkit.json").write_text(json.dumps(meta))
    card = render(collect_facts(plain))
    assert f"| {first['epoch']:g} | {first['step']} | - | {first['validation_loss']:.4f} |" in card
    assert "linear schedule without warm-up, dynamic padding, batches in random order" in card
    assert "length-grouped" not in card


def test_an_epoch_without_a_logged_loss_is_null_not_nan(tmp_path):
    from emotionkit.evaluate import plot_training_curve
    from emotionkit.trainer import epoch_log

    evaluation = {"eval_a_ce_loss": 0.5, "eval_a_accuracy": 0.8, "eval_a_f1_macro": 0.7, "eval_a_f1_weighted": 0.75}
    rows = epoch_log([{**evaluation, "epoch": 1.0, "step": 5}, {"loss": 0.9, "step": 8},
                      {**evaluation, "epoch": 2.0, "step": 10}], ["a"])
    assert [r["training_loss"] for r in rows] == [None, 0.9]
    json.dumps(rows, allow_nan=False)  # strict JSON: no NaN anywhere
    assert plot_training_curve(rows, tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
