"""Quantization-aware fine-tuning (emotionkit.qat, ``train --qat``) on tiny models."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from emotionkit import qat
from emotionkit.config import ModelSettings, TrainConfig
from emotionkit.onnx_engine import FP32, INT8, export_onnx, graph_dir
from emotionkit.train import train

TEXTS = ["i am so happy for you", "this is the worst day", "the meeting moved to 3pm", "i miss you so much"] * 4


def _load(path):
    return AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32,
                                                              attn_implementation="eager").eval()


def _logits(model, tok, texts=TEXTS):
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.numpy()


def test_attach_rounds_what_the_int8_graph_rounds_and_detach_restores_fp32(trained_tiny):
    model, tok = _load(trained_tiny), AutoTokenizer.from_pretrained(str(trained_tiny))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp32 = _logits(model, tok)
    ranges = qat.activation_ranges(model, tok, TEXTS)
    targets = qat.target_linears(model)
    assert targets and not any(".layer.0." in name for name in targets)  # layer 0 stays fp32, as in the graph
    assert set(ranges) == set(targets)

    # One target module's forward, against the rounding written out by hand.
    name, module = next(iter(targets.items()))
    scale, zero_point = qat.uint8_params(*ranges[name])
    assert 0 <= zero_point <= 255 and scale > 0
    x = torch.randn(3, 5, module.in_features) * 2
    assert qat.attach(model, ranges) == len(targets)
    with pytest.raises(ValueError, match="already attached"):
        qat.attach(model, ranges)
    got = module(x).detach().numpy()
    xq = (np.clip(np.rint(x.numpy() / scale) + zero_point, 0, 255) - zero_point) * scale
    w = module.weight.detach().numpy()
    w_scale = np.abs(w).max(axis=1, keepdims=True) / 127
    wq = np.clip(np.rint(w / w_scale), -127, 127) * w_scale
    np.testing.assert_allclose(got, xq @ wq.T + module.bias.detach().numpy(), atol=1e-4)

    rounded = _logits(model, tok)
    assert not np.allclose(rounded, fp32)
    assert qat.detach(model) == len(targets)
    np.testing.assert_array_equal(_logits(model, tok), fp32)
    after = model.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)


def test_attached_model_tracks_the_int8_graph_closer_than_fp32(trained_tiny, tmp_path):
    """The fake-quantized forward is the int8 graph's arithmetic: nearer its logits than the fp32 model is."""
    trained_tiny = Path(shutil.copytree(trained_tiny, tmp_path / "m"))  # its own graph cache
    export_onnx(trained_tiny)
    from emotionkit.onnx_engine import _encode, _session, calibration_texts  # noqa: PLC0415
    from emotionkit.textnorm import normalize  # noqa: PLC0415

    model, tok = _load(trained_tiny), AutoTokenizer.from_pretrained(str(trained_tiny))
    steps = tuple(json.loads((trained_tiny / "emotionkit.json").read_text())["model"]["normalize"])
    ids, mask = _encode(tok, TEXTS)
    graph = _session(graph_dir(trained_tiny) / INT8, None).run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    fp32 = _session(graph_dir(trained_tiny) / FP32, None).run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    qat.attach(model, qat.activation_ranges(model, tok, [normalize(t, steps) for t in calibration_texts()]))
    with torch.inference_mode():
        rounded = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    assert np.abs(rounded - graph).mean() < np.abs(fp32 - graph).mean()


def test_attach_refuses_missing_ranges(trained_tiny):
    model = _load(trained_tiny)
    with pytest.raises(ValueError, match="expected an activation range"):
        qat.attach(model, {})
    with pytest.raises(ValueError, match="expected a finite activation range"):
        qat.uint8_params(float("nan"), 1.0)


@pytest.mark.slow
def test_train_qat_saves_a_plain_model_and_records_it(trained_tiny, tiny_data, tmp_path):
    out = train(ModelSettings(base_model=str(trained_tiny), max_length=32),
                TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "q"), epochs=1, batch_size=8,
                            logging_steps=2, learning_rate=1e-4, qat=True),
                test=False, reproduce="emotionkit train --qat (test fixture)")
    meta = json.loads((out / "emotionkit.json").read_text())
    assert meta["train"]["qat"] is True and meta["qat"]["modules"] == len(qat.target_linears(_load(out)))
    base = _load(trained_tiny).state_dict()
    trained = _load(out).state_dict()
    assert set(trained) == set(base)  # no fake-quantization state left in the saved model
    assert any(not torch.equal(trained[k], base[k]) for k in base)
    with pytest.raises(ValueError, match="qat must be true or false"):
        TrainConfig(qat="yes")
