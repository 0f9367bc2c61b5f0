"""A narrower student: each feed-forward block cut to the neurons that add most to its layer's output."""

import json

import pytest

from emotionkit.config import ModelSettings, TrainConfig


def _tiny(trained_tiny_multi):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(trained_tiny_multi), dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(str(trained_tiny_multi))


def test_importance_is_activation_times_output_weight_norm(trained_tiny_multi):
    import torch

    from emotionkit.prune import ffn_importance

    model, tok = _tiny(trained_tiny_multi)
    texts = ["i feel so happy today", "the meeting moved to 3pm", "why would you do that"]
    scores = ffn_importance(model, tok, texts)
    assert len(scores) == model.config.num_hidden_layers
    assert all(s.shape == (model.config.intermediate_size,) and bool((s >= 0).all()) for s in scores)
    # By hand for layer 0: mean |activation| over the real tokens, times the column norm of the output weights.
    layer = model.base_model.encoder.layer[0]
    seen = []
    handle = layer.output.dense.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].detach()))
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        model(**{k: enc[k] for k in ("input_ids", "attention_mask")})
    handle.remove()
    mask = enc["attention_mask"].bool()
    expected = seen[0][mask].abs().mean(dim=0) * layer.output.dense.weight.norm(dim=0)
    assert torch.allclose(scores[0], expected, rtol=1e-4, atol=1e-6)


def test_prune_keeps_the_most_important_neurons_in_order(trained_tiny_multi):
    import torch

    from emotionkit.prune import prune_ffn

    model, _ = _tiny(trained_tiny_multi)
    width = model.config.intermediate_size
    before = [(lay.intermediate.dense.weight.clone(), lay.output.dense.weight.clone())
              for lay in model.base_model.encoder.layer]
    importance = [torch.arange(width, dtype=torch.float32).flip(0) for _ in before]  # neuron 0 matters most
    importance[1] = torch.arange(width, dtype=torch.float32)  # layer 1: the last ones do
    prune_ffn(model, 4, importance)
    assert model.config.intermediate_size == 4
    kept = ([0, 1, 2, 3], list(range(width - 4, width)))
    for (inner, outer), lay, keep in zip(before, model.base_model.encoder.layer, kept, strict=True):
        assert torch.equal(lay.intermediate.dense.weight, inner[keep])
        assert torch.equal(lay.output.dense.weight, outer[:, keep])
        assert lay.intermediate.dense.out_features == 4 and lay.output.dense.in_features == 4


def test_prune_refuses_bad_sizes(trained_tiny_multi):
    import torch

    from emotionkit.prune import prune_ffn

    model, _ = _tiny(trained_tiny_multi)
    width = model.config.intermediate_size
    scores = [torch.ones(width) for _ in range(model.config.num_hidden_layers)]
    for bad in (0, width, width + 1, 2.5, True):
        with pytest.raises(ValueError, match=f"1..{width - 1}"):
            prune_ffn(model, bad, scores)
    with pytest.raises(ValueError, match="importance vectors"):
        prune_ffn(model, 4, scores[:1])
    assert model.config.intermediate_size == width  # nothing was cut


def test_ffn_size_setting_reads_command_line_strings_and_refuses_bad_ones():
    assert ModelSettings(ffn_size="512").ffn_size == 512
    assert ModelSettings().ffn_size == 0
    for bad in (-1, "x", 1.5, True):
        with pytest.raises(ValueError, match="ffn_size"):
            ModelSettings(ffn_size=bad)


def test_a_narrow_student_trains_saves_and_loads_in_the_stock_pipeline(trained_tiny_multi, tiny_data, tiny_multi_data,
                                                                      tmp_path, monkeypatch):
    import numpy as np
    from transformers import pipeline

    from emotionkit import hidden_distill
    from emotionkit.card import write_card
    from emotionkit.predict import EmotionClassifier
    from emotionkit.train import train

    pairs_seen = []
    real = hidden_distill.hidden_loss

    def spy(student_states, teacher_states, pairs, attention_mask):
        pairs_seen.append(pairs)
        return real(student_states, teacher_states, pairs, attention_mask)

    monkeypatch.setattr(hidden_distill, "hidden_loss", spy)
    out = train(
        ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True, ffn_size=8),
        TrainConfig(data=(str(tiny_data), str(tiny_multi_data)), output_dir=str(tmp_path / "narrow"), epochs=1,
                    batch_size=8, max_steps=3, logging_steps=2, learning_rate=1e-3,
                    teachers=(str(trained_tiny_multi),), distill_temperature=1.0, distill_hidden=1.0),
        test=False, reproduce="emotionkit train --preset emotionkit-narrow (test)",
    )
    # Every layer kept, so each learns from the teacher layer of the same index.
    assert pairs_seen and all(p == [(1, 1), (2, 2)] for p in pairs_seen)
    config = json.loads((out / "config.json").read_text())
    assert config["intermediate_size"] == 8 and config["num_hidden_layers"] == 2
    meta = json.loads((out / "emotionkit.json").read_text())
    assert meta["model"]["ffn_size"] == 8
    assert "cut to the 8 neurons that added most" in write_card(out).read_text()
    texts = ["i am thrilled", "the invoice is attached"]
    ours = EmotionClassifier.load(out, engine="torch").predict_proba(texts)
    pipe = pipeline("text-classification", model=str(out), top_k=None)
    labels = EmotionClassifier.load(out, engine="torch").labels
    theirs = np.array([[{d["label"]: d["score"] for d in row}[name] for name in labels] for row in pipe(texts)])
    assert np.allclose(ours, theirs, atol=1e-4)


def test_hidden_distillation_needs_a_student_cut_from_its_teacher():
    from emotionkit.hidden_distill import check_hidden_settings

    check_hidden_settings((), ("t",), 1.0, ffn_size=512)  # a narrower copy: every layer learns from its own
    with pytest.raises(ValueError, match="or ffn_size"):
        check_hidden_settings((), ("t",), 1.0)


def test_the_narrow_preset_is_a_student_of_the_shipped_model():
    from emotionkit.config import PRESETS

    recipe = PRESETS["emotionkit-narrow"]
    assert recipe.model.ffn_size == 512 and recipe.model.base_model == "models/emotionkit-minilm"
    assert recipe.train.teachers == ("models/emotionkit-minilm",) and recipe.train.distill_hidden > 0
