"""Weight interpolation of a model and a run continued from it (emotionkit mix) on tiny trained models."""

import json

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
    out = interpolate(trained_tiny_multi, continued_multi, 0.25, tmp_path / "mix", reproduce="emotionkit mix (test)")
    a, b, got = _weights(trained_tiny_multi), _weights(continued_multi), _weights(out)
    expected = {k: 0.75 * a[k] + 0.25 * b[k] for k in a}
    differ = {k for k in a if not torch.allclose(got[k], expected[k], atol=1e-6)}
    # Everything but the output layer is the interpolation; the output layer carries the new calibration.
    assert differ == {"classifier.weight", "classifier.bias"}
    meta = json.loads((out / "emotionkit.json").read_text())
    mix = meta["interpolation"]
    assert mix["alpha"] == 0.25 and mix["a"]["path"] == str(trained_tiny_multi) and mix["b"]["path"] == str(continued_multi)
    parents = [json.loads((p / "emotionkit.json").read_text()) for p in (trained_tiny_multi, continued_multi)]
    assert mix["a"]["calibration"] == parents[0]["calibration"] and mix["b"]["decision"] == parents[1]["decision"]
    # Its own calibration and decision, fitted on validation after the interpolation.
    assert set(meta["calibration"]["slope"]) == set(meta["decision"]["thresholds"]) == set(EmotionClassifier.load(
        out, engine="torch").labels)
    assert meta["calibration"] != parents[0]["calibration"]
    assert "cpu_engine" not in meta and "training_log" not in meta
    # The recorded validation score is what the saved weights score.
    clf = EmotionClassifier.load(out, engine="torch")
    sources = [load_dataset(d, multi_label=True) for d in (tiny_data, tiny_multi_data)]
    f1 = [evaluate(clf, ds.split("validation"), batch_size=128)["f1_macro"] for ds in sources]
    assert mix["validation"]["selection_score"] == pytest.approx(sum(f1) / 2, abs=1e-9) == meta["best_selection_score"]
    card = (out / "README.md").read_text()
    assert "### Weight interpolation" in card and "emotionkit mix (test)" in card and str(continued_multi) in card
    assert (out / "test_metrics.json").is_file() and not (out / ".staging").exists()


def test_single_label_interpolation_through_the_cli(trained_tiny, tiny_models, tiny_data, tmp_path, capsys):
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
    assert not (tmp_path / "y" / "model.safetensors").exists()
    assert sorted(p.name for p in trained_tiny.iterdir()) == before
