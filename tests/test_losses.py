"""Per-output loss weights: a multi-label model learning from single-label rows (single_label_negatives)."""

import json

import pytest

from emotionkit.config import ModelSettings, TrainConfig
from emotionkit.data import Example
from emotionkit.head import check_head_settings, loss_weights
from emotionkit.labels import LABELS


def test_loss_weights_lower_only_a_single_label_rows_other_emotions():
    joy = LABELS.index("joy")
    weights = loss_weights(Example("so happy", joy), 0.25)
    assert weights[joy] == 1.0 and weights[-1] == 1.0  # its own emotion, and neutral (it is emotional)
    assert [w for i, w in enumerate(weights[:-1]) if i != joy] == [0.25] * (len(LABELS) - 1)
    multi = Example("joy and fear", -1, labels=(joy, LABELS.index("fear")))
    assert loss_weights(multi, 0.25) == [1.0] * (len(LABELS) + 1)
    assert loss_weights(Example("meeting at 3", -1, labels=(), neutral=True), 0.0) == [1.0] * (len(LABELS) + 1)


def test_weighted_bce_weights_each_output():
    import torch
    import torch.nn.functional as F

    from emotionkit.losses import weighted_bce

    torch.manual_seed(0)
    logits, labels = torch.randn(3, 7), torch.randint(0, 2, (3, 7)).float()
    plain = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(-1)
    assert torch.allclose(weighted_bce(logits, labels), plain)
    assert torch.allclose(weighted_bce(logits, labels, torch.ones(3, 7)), plain)
    weights = torch.ones(3, 7)
    weights[:, 2] = 0.0
    moved = logits.clone()
    moved[:, 2] += 5.0  # an output with weight 0 does not change the loss
    assert torch.allclose(weighted_bce(logits, labels, weights), weighted_bce(moved, labels, weights))
    assert not torch.allclose(weighted_bce(logits, labels), weighted_bce(moved, labels))


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan"), "0.5", True])
def test_single_label_negatives_must_be_a_weight(value):
    with pytest.raises(ValueError, match="single_label_negatives"):
        TrainConfig(data=("x",), single_label_negatives=value)


def test_single_label_negatives_is_for_multi_label_models():
    config = TrainConfig(data=("x",), single_label_negatives=0.5)
    with pytest.raises(ValueError, match="single_label_negatives weighs a multi-label model"):
        check_head_settings(ModelSettings(), config)
    check_head_settings(ModelSettings(multi_label=True), config)  # allowed
    check_head_settings(ModelSettings(), TrainConfig(data=("x",)))  # the default is no weighting


def test_a_run_started_before_the_setting_existed_resumes(tmp_path):
    from emotionkit.train import RUN_FILE, check_run_settings, run_settings

    settings, config = ModelSettings(multi_label=True), TrainConfig(data=("x",))
    old = run_settings(settings, config)
    del old["train"]["single_label_negatives"]
    (tmp_path / RUN_FILE).write_text(json.dumps(old))
    check_run_settings(tmp_path, settings, config)  # its absence reads as the default
    with pytest.raises(ValueError, match="single_label_negatives: 1.0 then, 0.5 now"):
        check_run_settings(tmp_path, settings, TrainConfig(data=("x",), single_label_negatives=0.5))


@pytest.mark.slow
def test_training_uses_the_weights(tiny_models, tiny_data, tiny_multi_data, tmp_path, monkeypatch):
    from emotionkit import train as train_module
    from emotionkit import trainer as trainer_module

    seen = []
    real = trainer_module.weighted_bce

    def spy(logits, labels, weights=None):
        seen.append(None if weights is None else sorted({round(float(w), 4) for w in weights.flatten()}))
        return real(logits, labels, weights)

    monkeypatch.setattr(trainer_module, "weighted_bce", spy)
    out = train_module.train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32, multi_label=True),
        TrainConfig(data=(str(tiny_data), str(tiny_multi_data)), output_dir=str(tmp_path / "model"), epochs=1,
                    batch_size=8, max_steps=4, logging_steps=2, learning_rate=1e-3, single_label_negatives=0.25),
        test=False, reproduce="emotionkit train --single-label-negatives 0.25 (test)",
    )
    assert seen and all(s is not None and set(s) <= {0.25, 1.0} for s in seen)
    assert any(0.25 in s for s in seen)  # the tiny tweets (single-label rows) were down-weighted
    meta = json.loads((out / "emotionkit.json").read_text())
    assert meta["train"]["single_label_negatives"] == 0.25
