"""Hidden-state distillation: a student's kept layers learn from the teacher layers they were cut from."""

import json

import pytest

from emotionkit.config import ModelSettings, TrainConfig
from emotionkit.hidden_distill import check_hidden_settings, hidden_loss, layer_pairs


def _states(seed: int, layers: int = 3, shape=(2, 5, 8)):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=gen) for _ in range(layers + 1))


def test_layer_pairs_skip_the_embeddings():
    assert layer_pairs((0, 2, 5)) == [(1, 1), (2, 3), (3, 6)]
    assert layer_pairs([1]) == [(1, 2)]
    # Named in any order, the layers sit in the student in the teacher's order (student.keep_only_layers).
    assert layer_pairs((5, 0, 2)) == layer_pairs((0, 2, 5))


def test_hidden_loss_is_zero_for_the_same_states_and_grows_with_the_difference():
    import torch

    mask = torch.ones(2, 5, dtype=torch.long)
    states = _states(0)
    pairs = [(1, 1), (2, 2)]
    assert float(hidden_loss(states, states, pairs, mask)) == pytest.approx(0.0, abs=1e-6)
    # The same directions at another scale: cosine ignores length.
    assert float(hidden_loss(states, tuple(3 * s for s in states), pairs, mask)) == pytest.approx(0.0, abs=1e-6)
    near = tuple(s + 0.1 * o for s, o in zip(states, _states(1), strict=True))
    far = _states(1)
    assert 0 < float(hidden_loss(near, states, pairs, mask)) < float(hidden_loss(far, states, pairs, mask)) <= 2


def test_hidden_loss_ignores_padding():
    import torch

    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    student, teacher = _states(0), _states(1)
    pairs = [(1, 2), (3, 3)]
    padded_elsewhere = tuple(s.clone() for s in student)
    for s in padded_elsewhere:
        s[0, 3:] = 100.0  # the padded positions of the first row
    assert float(hidden_loss(padded_elsewhere, teacher, pairs, mask)) == pytest.approx(
        float(hidden_loss(student, teacher, pairs, mask)), abs=1e-6)


@pytest.mark.parametrize("value", [-0.5, float("nan"), "1", True])
def test_distill_hidden_must_be_a_weight(value):
    with pytest.raises(ValueError, match="distill_hidden"):
        TrainConfig(data=("x",), teachers=("t",), distill_hidden=value)


def test_distill_hidden_needs_a_teacher_and_the_kept_layers():
    with pytest.raises(ValueError, match="distill_hidden must be >= 0, and 0 without teachers"):
        TrainConfig(data=("x",), distill_hidden=1.0)
    with pytest.raises(ValueError, match="expected one teacher"):
        check_hidden_settings((0, 2), ("a", "b"), 1.0)
    with pytest.raises(ValueError, match="expected keep_layers"):
        check_hidden_settings((), ("a",), 1.0)
    check_hidden_settings((), (), 0.0)  # off: nothing to check


def test_a_teacher_of_another_width_is_refused(trained_tiny_multi, tiny_models):
    from transformers import AutoConfig

    from emotionkit.hidden_distill import HiddenTeacher

    config = AutoConfig.from_pretrained(trained_tiny_multi)
    config.hidden_size += 8
    with pytest.raises(ValueError, match="must share the student's tokenizer and width"):
        HiddenTeacher(trained_tiny_multi, (0,), config)
    with pytest.raises(ValueError, match="does not have"):
        HiddenTeacher(trained_tiny_multi, (0, 9), AutoConfig.from_pretrained(trained_tiny_multi))


@pytest.mark.slow
def test_student_learns_from_the_teachers_layers(trained_tiny_multi, tiny_data, tiny_multi_data, tmp_path, monkeypatch):
    from emotionkit import hidden_distill
    from emotionkit.card import write_card
    from emotionkit.train import train

    seen = []
    real = hidden_distill.hidden_loss

    def spy(student_states, teacher_states, pairs, attention_mask):
        loss = real(student_states, teacher_states, pairs, attention_mask)
        seen.append((pairs, len(student_states), len(teacher_states), float(loss)))
        return loss

    monkeypatch.setattr(hidden_distill, "hidden_loss", spy)
    out = train(
        ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True, keep_layers=(1,)),
        TrainConfig(data=(str(tiny_data), str(tiny_multi_data)), output_dir=str(tmp_path / "student"), epochs=1,
                    batch_size=8, max_steps=4, logging_steps=2, learning_rate=1e-3,
                    teachers=(str(trained_tiny_multi),), distill_temperature=1.0, distill_hidden=1.0),
        test=False, reproduce="emotionkit train --preset emotionkit-student --distill-hidden 1 (test)",
    )
    # Every training batch (4 steps), and no evaluation batch: the student's one layer (hidden state 1)
    # against the teacher's layer 1 (hidden state 2), of a 1-layer student and a 2-layer teacher.
    assert len(seen) == 4
    assert all(pairs == [(1, 2)] and n_student == 2 and n_teacher == 3 and loss > 0
               for pairs, n_student, n_teacher, loss in seen)
    meta = json.loads((out / "emotionkit.json").read_text())
    assert meta["train"]["distill_hidden"] == 1.0 and meta["model"]["keep_layers"] == [1]
    card = write_card(out).read_text()
    assert "On every training row, plus 1 x the mean, over the kept layers and the real tokens, of one minus the cosine" in card


def test_a_teacher_trained_on_other_normalization_is_named(trained_tiny_multi, caplog):
    from transformers import AutoConfig

    from emotionkit.hidden_distill import HiddenTeacher

    theirs = json.loads((trained_tiny_multi / "emotionkit.json").read_text())["model"]["normalize"]
    config = AutoConfig.from_pretrained(trained_tiny_multi)
    with caplog.at_level("WARNING", logger="emotionkit.hidden_distill"):
        HiddenTeacher(trained_tiny_multi, (0,), config, tuple(theirs))
    assert not [r for r in caplog.records if r.name == "emotionkit.hidden_distill"]
    other = () if theirs else ("emoji",)
    with caplog.at_level("WARNING", logger="emotionkit.hidden_distill"):
        HiddenTeacher(trained_tiny_multi, (0,), config, other)
    assert "was trained on text normalized" in caplog.text


def test_a_student_not_cut_from_its_teacher_is_named(tiny_models, trained_tiny_multi, caplog):
    from emotionkit.train import _model, _same_model

    assert _same_model(str(trained_tiny_multi), str(trained_tiny_multi / ".." / trained_tiny_multi.name))
    assert not _same_model(str(tiny_models["bert"]), str(trained_tiny_multi))
    config = TrainConfig(data=("x",), teachers=(str(trained_tiny_multi),), distill_hidden=1.0)
    with caplog.at_level("WARNING", logger="emotionkit.train"):
        _model(ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True, keep_layers=(1,)),
               config)
    assert "not from its teacher" not in caplog.text
    with caplog.at_level("WARNING", logger="emotionkit.train"):
        *_, hidden, _pruned = _model(ModelSettings(base_model=str(tiny_models["bert"]), max_length=32, multi_label=True,
                                          keep_layers=(1,)), config)
    assert "not from its teacher" in caplog.text and hidden.pairs == [(1, 2)]
