"""Weight interpolation of a model and a run continued from it (emotionkit mix) on tiny trained models."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from emotionkit.card import collect_facts, render
from emotionkit.cli import main
from emotionkit.config import ModelSettings, TrainConfig
from emotionkit.data import load_dataset
from emotionkit.evaluate import evaluate
from emotionkit.interpolate import interpolate
from emotionkit.predict import EmotionClassifier
from emotionkit.soup import SoupError
from emotionkit.train import train

pytestmark = pytest.mark.slow


def _weights(path):
    return {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}


def _continue(base, data, out, multi):
    """One more epoch from ``base`` on another data order: the fine-tuned run B of an interpolation."""
    return train(ModelSettings(base_model=str(base), max_length=32, multi_label=multi),
                 TrainConfig(data=tuple(str(d) for d in data), output_dir=str(out), epochs=1, batch_size=8,
                             logging_steps=2, learning_rate=1e-3, data_seed=7),
                 test=False, reproduce="emotionkit train (continued, test fixture)")


@pytest.fixture(scope="module")
def continued_multi(trained_tiny_multi, tiny_data, tiny_multi_data, tmp_path_factory):
    return _continue(trained_tiny_multi, (tiny_data, tiny_multi_data), tmp_path_factory.mktemp("cont_multi") / "m", True)


def test_multi_label_interpolation_is_the_weighted_average_calibrated_anew(trained_tiny_multi, continued_multi,
                                                                          tiny_data, tiny_multi_data, tmp_path):
    # A carries facts about its own weights (its CPU engine) that must not pass to the interpolation.
    a_dir = tmp_path / "a"
    shutil.copytree(trained_tiny_multi, a_dir)
    a_meta = json.loads((a_dir / "emotionkit.json").read_text())
    (a_dir / "emotionkit.json").write_text(json.dumps({**a_meta, "cpu_engine": "onnx",
                                                       "cpu_engine_reason": "its int8 graph missed parity"}))
    out = interpolate(a_dir, continued_multi, 0.25, tmp_path / "mix", reproduce="emotionkit mix (test)")
    a, b, got = _weights(a_dir), _weights(continued_multi), _weights(out)
    expected = {k: 0.75 * a[k] + 0.25 * b[k] for k in a}
    differ = {k for k in a if not torch.allclose(got[k], expected[k], atol=1e-6)}
    # Everything but the output layer is the interpolation; the output layer carries the new calibration.
    assert differ == {"classifier.weight", "classifier.bias"}
    meta = json.loads((out / "emotionkit.json").read_text())
    labels = EmotionClassifier.load(out, engine="torch").labels
    slope = torch.tensor([meta["calibration"]["slope"][n] for n in labels])
    shift = torch.tensor([meta["calibration"]["intercept"][n] for n in labels])
    assert torch.allclose(got["classifier.weight"], expected["classifier.weight"] * slope[:, None], atol=1e-5)
    assert torch.allclose(got["classifier.bias"], expected["classifier.bias"] * slope + shift, atol=1e-5)
    mix = meta["interpolation"]
    assert mix["alpha"] == 0.25 and mix["a"]["path"] == str(a_dir) and mix["b"]["path"] == str(continued_multi)
    parents = [json.loads((p / "emotionkit.json").read_text()) for p in (a_dir, continued_multi)]
    assert mix["a"]["calibration"] == parents[0]["calibration"] and mix["b"]["decision"] == parents[1]["decision"]
    # Its own calibration and decision, fitted on validation after the interpolation.
    assert set(meta["calibration"]["slope"]) == set(meta["decision"]["thresholds"]) == set(labels)
    assert meta["calibration"] != parents[0]["calibration"]
    assert not {"cpu_engine", "cpu_engine_reason", "training_log", "train_runtime_s"} & meta.keys()
    # The recorded validation score is what the saved weights score.
    clf = EmotionClassifier.load(out, engine="torch")
    sources = [load_dataset(d, multi_label=True) for d in (tiny_data, tiny_multi_data)]
    f1 = [evaluate(clf, ds.split("validation"), batch_size=128)["f1_macro"] for ds in sources]
    assert mix["validation"]["selection_score"] == pytest.approx(sum(f1) / 2, abs=1e-9) == meta["best_selection_score"]
    # Each run is scored as it stands, on the same validation splits, for the card's comparison.
    a_f1 = [evaluate(EmotionClassifier.load(a_dir, engine="torch"), ds.split("validation"), batch_size=128)["f1_macro"]
            for ds in sources]
    assert mix["a"]["validation"]["selection_score"] == pytest.approx(sum(a_f1) / 2, abs=1e-9)
    card = (out / "README.md").read_text()
    assert "### Weight interpolation" in card and "emotionkit mix (test)" in card and str(continued_multi) in card
    assert (out / "test_metrics.json").is_file() and not (out / ".staging").exists()


def test_single_label_interpolation_through_the_cli(trained_tiny, tiny_data, tmp_path, capsys):
    b = _continue(trained_tiny, (tiny_data,), tmp_path / "b", False)
    out = tmp_path / "mix"
    assert main(["mix", str(trained_tiny), str(b), "--alpha", "0.5", "--output-dir", str(out), "--no-test"]) == 0
    a_w, b_w, got = _weights(trained_tiny), _weights(b), _weights(out)
    for key in a_w:  # no calibration: every weight is the average
        assert torch.allclose(got[key], (a_w[key] + b_w[key]) / 2, atol=1e-6), key
    meta = json.loads((out / "emotionkit.json").read_text())
    assert "calibration" not in meta and meta["interpolation"]["alpha"] == 0.5
    assert not (out / "README.md").exists()  # --no-test: no card yet
    assert "### Weight interpolation" in render(collect_facts(out))
    assert "interpolation saved to" in capsys.readouterr().err


def test_interpolation_refuses_what_it_cannot_mix(trained_tiny, trained_tiny_multi, tmp_path, capsys):
    with pytest.raises(SoupError, match="strictly between 0 and 1, got 1.0"):
        interpolate(trained_tiny, trained_tiny_multi, 1.0, tmp_path / "x")
    with pytest.raises(SoupError, match="is one of the runs"):
        interpolate(trained_tiny, trained_tiny_multi, 0.5, trained_tiny)
    # Six single-label outputs against six plus neutral: the heads do not line up, and nothing is written.
    before = sorted(p.name for p in trained_tiny.iterdir())
    assert main(["mix", str(trained_tiny), str(trained_tiny_multi), "--alpha", "0.5", "--output-dir",
                 str(tmp_path / "y")]) != 0
    assert "has shape" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    assert sorted(p.name for p in trained_tiny.iterdir()) == before


def test_a_failed_interpolation_leaves_the_model_already_there(trained_tiny_multi, continued_multi, tmp_path,
                                                               monkeypatch):
    out = tmp_path / "mix"
    interpolate(trained_tiny_multi, continued_multi, 0.5, out, test=False)
    saved = {p.name: p.read_bytes() for p in out.iterdir()}

    def no_decision(*args, **kwargs):
        raise ValueError("no fallback calls few enough texts emotion-free")

    monkeypatch.setattr("emotionkit.calibrate.choose_decision", no_decision)
    with pytest.raises(SoupError, match="--alpha 0.25 was not saved: no fallback"):
        interpolate(trained_tiny_multi, continued_multi, 0.25, out, test=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == saved  # no .staging, the earlier mix whole
    with pytest.raises(SoupError, match="was not saved"):
        interpolate(trained_tiny_multi, continued_multi, 0.25, tmp_path / "new", test=False)
    assert not (tmp_path / "new").exists()
