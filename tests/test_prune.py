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
    biases = [(lay.intermediate.dense.bias.clone(), lay.output.dense.bias.clone())
              for lay in model.base_model.encoder.layer]
    record = prune_ffn(model, 4, importance)
    assert model.config.intermediate_size == 4
    kept = ([0, 1, 2, 3], list(range(width - 4, width)))
    for (inner, outer), (b_in, b_out), lay, keep in zip(before, biases, model.base_model.encoder.layer, kept, strict=True):
        assert torch.equal(lay.intermediate.dense.weight, inner[keep])
        assert torch.equal(lay.intermediate.dense.bias, b_in[keep])
        assert torch.equal(lay.output.dense.weight, outer[:, keep])
        assert torch.equal(lay.output.dense.bias, b_out)  # the output's bias is per hidden unit: unchanged
        assert lay.intermediate.dense.out_features == 4 and lay.output.dense.in_features == 4
    assert record["from"] == width and record["to"] == 4 and len(record["kept_sha256"]) == 64
    # Other neurons kept, another fingerprint (emotionkit soup refuses to average such runs).
    other, _ = _tiny(trained_tiny_multi)
    assert prune_ffn(other, 4, [torch.arange(width, dtype=torch.float32) for _ in before])["kept_sha256"] != record["kept_sha256"]


def test_importance_sums_over_batches_of_different_lengths(trained_tiny_multi):
    import torch

    from emotionkit.prune import ffn_importance

    model, tok = _tiny(trained_tiny_multi)
    texts = [("so happy " * (1 + i % 7)).strip() for i in range(40)]  # two batches (32 + 8), padded differently
    together = ffn_importance(model, tok, texts)
    # The mean over every real token is the token-weighted mean of the parts' means.
    first, second = ffn_importance(model, tok, texts[:32]), ffn_importance(model, tok, texts[32:])
    n1 = int(tok(texts[:32], padding=True, return_tensors="pt")["attention_mask"].sum())
    n2 = int(tok(texts[32:], padding=True, return_tensors="pt")["attention_mask"].sum())
    for t, a, b in zip(together, first, second, strict=True):
        assert torch.allclose(t, (a * n1 + b * n2) / (n1 + n2), rtol=1e-4, atol=1e-6)


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
    assert meta["model"]["ffn_size"] == 8 and meta["ffn_pruned"]["from"] == 32 and meta["ffn_pruned"]["to"] == 8
    assert f"cut from 32 to the 8 neurons that added most to the layer's output on {meta['ffn_pruned']['texts']:,} texts" \
        in write_card(out).read_text()
    texts = ["i am thrilled", "the invoice is attached"]
    ours = EmotionClassifier.load(out, engine="torch").predict_proba(texts)
    pipe = pipeline("text-classification", model=str(out), top_k=None)
    labels = EmotionClassifier.load(out, engine="torch").labels
    theirs = np.array([[{d["label"]: d["score"] for d in row}[name] for name in labels] for row in pipe(texts)])
    assert np.allclose(ours, theirs, atol=1e-4)


def test_a_cut_as_wide_as_the_base_is_refused_before_any_data_is_read(trained_tiny_multi, tmp_path):
    from emotionkit.train import train

    with pytest.raises(ValueError, match="ffn_size: expected a whole number of neurons in 1..31"):
        train(ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True, ffn_size=32),
              TrainConfig(data=(str(tmp_path / "no-such-data"),), output_dir=str(tmp_path / "out")), test=False)
    assert not (tmp_path / "out").exists()


def test_layers_kept_and_narrowed_learn_from_the_layers_they_were_cut_from(trained_tiny_multi, tiny_data):
    from emotionkit.data import load_dataset
    from emotionkit.train import _model

    rows = load_dataset(str(tiny_data)).split("train")
    config = TrainConfig(data=("x",), teachers=(str(trained_tiny_multi),), distill_hidden=1.0)
    _, _, model, hidden, pruned = _model(ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True,
                                                       keep_layers=(1,), ffn_size=8), config, rows, 3)
    assert hidden.pairs == [(1, 2)]
    assert model.config.num_hidden_layers == 1 and model.config.intermediate_size == 8
    assert pruned["from"] == 32 and pruned["to"] == 8 and pruned["texts"] == min(len(rows), 1024)
    # The same rows and data seed choose the same neurons (a resumed run rebuilds the same model).
    again = _model(ModelSettings(base_model=str(trained_tiny_multi), max_length=32, multi_label=True,
                                 keep_layers=(1,), ffn_size=8), config, rows, 3)[4]
    assert again == pruned


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
