"""A smaller student: a trained model with some of its layers kept, distilled from a multi-label teacher."""

import json
from pathlib import Path

import numpy as np
import pytest

from emotionkit.predict import EmotionClassifier


def test_multi_label_distill_loss_is_bce_with_labels_and_teacher():
    import torch
    import torch.nn.functional as F

    from emotionkit.losses import distill_loss

    torch.manual_seed(0)
    logits = torch.randn(4, 7)
    labels = torch.tensor([[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1],
                           [0, 0, 0, 1, 0, 0, 0]], dtype=torch.float32)
    teacher = torch.sigmoid(torch.randn(4, 7))
    hard = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(-1)
    soft = F.binary_cross_entropy_with_logits(logits / 2.0, teacher, reduction="none").mean(-1)
    assert distill_loss(logits, labels, teacher, 0.0, 2.0) == pytest.approx(hard.mean().item(), rel=1e-5)
    assert distill_loss(logits, labels, teacher, 0.5, 2.0) == pytest.approx((0.5 * hard + 0.5 * 4 * soft).mean().item(),
                                                                            rel=1e-5)
    # Rows 1 and 3 untaught (their source is not taught): the label term alone, at full weight.
    teacher[[1, 3]] = 0
    expected = (0.3 * hard[[0, 2]].sum() + 0.7 * 4 * soft[[0, 2]].sum() + hard[[1, 3]].sum()) / 4
    assert distill_loss(logits, labels, teacher, 0.7, 2.0) == pytest.approx(expected.item(), rel=1e-5)


def test_shrink_keeps_the_chosen_layers_embeddings_and_head(trained_tiny_multi, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    from emotionkit.student import shrink

    out = shrink(trained_tiny_multi, [1], tmp_path / "start")
    teacher = AutoModelForSequenceClassification.from_pretrained(str(trained_tiny_multi), dtype=torch.float32)
    student = AutoModelForSequenceClassification.from_pretrained(str(out))
    assert student.config.num_hidden_layers == 1 and len(student.bert.encoder.layer) == 1
    assert student.config.problem_type == teacher.config.problem_type == "multi_label_classification"
    ts, ss = teacher.state_dict(), student.state_dict()
    assert torch.equal(ss["bert.encoder.layer.0.attention.self.query.weight"],
                       ts["bert.encoder.layer.1.attention.self.query.weight"])
    assert not torch.equal(ss["bert.encoder.layer.0.attention.self.query.weight"],
                           ts["bert.encoder.layer.0.attention.self.query.weight"])
    for name in ("bert.embeddings.word_embeddings.weight", "classifier.weight", "bert.pooler.dense.weight"):
        assert torch.equal(ss[name], ts[name])
    # It loads and predicts with the teacher's reading settings and decision (an untrained student).
    result = EmotionClassifier.load(out, engine="torch")("a short test")
    assert len(result.scores) == 7
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize(("layers", "message"), [([], "at least one"), ([2], "indices in 0..1"), ([0, 0], "each layer once"),
                                                 ([0, 1], "is a copy")])
def test_keep_only_layers_refuses_bad_layers(trained_tiny_multi, layers, message):
    from transformers import AutoModelForSequenceClassification

    from emotionkit.student import keep_only_layers

    model = AutoModelForSequenceClassification.from_pretrained(str(trained_tiny_multi))
    with pytest.raises(ValueError, match=message):
        keep_only_layers(model, layers)
    assert len(model.bert.encoder.layer) == 2 and model.config.num_hidden_layers == 2  # untouched


def test_shrink_never_overwrites_and_cleans_up_a_failed_write(trained_tiny_multi, tmp_path, monkeypatch):
    from transformers import PreTrainedModel

    from emotionkit.student import shrink

    (tmp_path / "start").mkdir()
    (tmp_path / "start" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="choose a new directory"):
        shrink(trained_tiny_multi, [0], tmp_path / "start")
    assert (tmp_path / "start" / "keep.txt").read_text() == "mine"

    def disk_full(self, path, *args, **kwargs):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "model.safetensors").write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", disk_full)
    with pytest.raises(OSError, match="No space"):
        shrink(trained_tiny_multi, [0], tmp_path / "other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["start"]  # no .other.partial, no other


def test_keep_layers_setting_reads_command_line_strings_and_refuses_bad_ones():
    from emotionkit.config import ModelSettings

    assert ModelSettings(keep_layers=("0", "2", "5")).keep_layers == (0, 2, 5)
    for bad in (("a",), (-1,), (1, 1)):
        with pytest.raises(ValueError, match="keep_layers"):
            ModelSettings(keep_layers=bad)


def test_student_distilled_from_a_multi_label_teacher(trained_tiny_multi, tiny_data, tiny_multi_data, tmp_path):
    from emotionkit.card import write_card
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.train import train

    out = train(
        ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True, keep_layers=(1,)),
        TrainConfig(data=(str(tiny_data), str(tiny_multi_data)), output_dir=str(tmp_path / "student"), epochs=1,
                    batch_size=8, logging_steps=2, learning_rate=1e-3, teachers=(str(trained_tiny_multi),),
                    distill_temperature=1.0),
        test=False, reproduce="emotionkit train --preset emotionkit-student (test)",
    )
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["problem_type"] == "multi_label_classification"
    meta = json.loads((out / "emotionkit.json").read_text())
    assert meta["model"]["keep_layers"] == [1]
    # The chain: the teacher's own command, then the student's (its start came from the same teacher).
    assert meta["reproduce"].splitlines() == ["emotionkit train --multi-label (test fixture)",
                                              "emotionkit train --preset emotionkit-student (test)"]
    result = EmotionClassifier.load(out, engine="torch")("a short test")
    assert len(result.scores) == 7 and all(0 <= s["score"] <= 1 for s in result.scores)
    card = write_card(out).read_text()
    assert "binary cross-entropy with the teachers' mean sigmoid scores" in card and "layers [1] kept" in card


def test_multi_label_student_refuses_a_single_label_teacher(trained_tiny, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings
    from emotionkit.head import output_labels
    from emotionkit.train import teacher_targets

    labels = output_labels(ModelSettings(multi_label=True))
    with pytest.raises(ValueError, match="expected a multi-label model"):
        teacher_targets([str(trained_tiny)], ["some text"], 1.0, labels, multi_label=True)


def test_multi_label_teacher_targets_are_its_sigmoid_scores(trained_tiny_multi):
    from emotionkit.config import ModelSettings
    from emotionkit.head import output_labels
    from emotionkit.train import teacher_targets

    texts = ["what a day", "leave me alone"]
    got = teacher_targets([str(trained_tiny_multi)], texts, 1.0, output_labels(ModelSettings(multi_label=True)), True)
    expected = EmotionClassifier.load(trained_tiny_multi, engine="torch").predict_proba(texts)
    assert got.shape == (2, 7)
    assert got == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(got.sum(axis=1), 1.0)  # independent scores, not a softmax


def test_a_refused_student_run_leaves_nothing_and_a_rerun_starts(trained_tiny_multi, tiny_data, tmp_path):
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.train import train

    out = tmp_path / "student"
    config = TrainConfig(data=(str(tiny_data),), output_dir=str(out), epochs=1, batch_size=8, max_steps=1)
    with pytest.raises(ValueError, match="indices in 0..1"):
        train(ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True, keep_layers=(7,)),
              config, test=False)
    assert not out.exists() or not any(out.rglob("*.safetensors"))
    again = train(ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True, keep_layers=(0,)),
                  config, test=False)
    assert json.loads((again / "config.json").read_text())["num_hidden_layers"] == 1


def test_multi_label_student_refuses_a_transfer_set():
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.head import check_head_settings

    with pytest.raises(ValueError, match="transfer"):
        check_head_settings(ModelSettings(multi_label=True), TrainConfig(teachers=("t",), transfer=("x.txt",)))
