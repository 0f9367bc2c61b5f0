"""Greedy weight averaging of runs (emotionkit soup) on tiny trained models."""

import json
import shutil

import pytest
import torch
from conftest import GOEMOTIONS_NAMES
from safetensors.torch import load_file

from emotionkit.card import collect_facts, render
from emotionkit.cli import main
from emotionkit.config import ModelSettings, TrainConfig
from emotionkit.data import load_dataset, with_partial_labels
from emotionkit.evaluate import evaluate
from emotionkit.predict import EmotionClassifier
from emotionkit.soup import SoupError, average, data_changes, make_soup, run_count
from emotionkit.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def second_run(tiny_models, tiny_data, tmp_path_factory):
    """Same recipe and seed as ``trained_tiny``, another data order."""
    out = tmp_path_factory.mktemp("second") / "model"
    return train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32),
        TrainConfig(data=(str(tiny_data),), output_dir=str(out), epochs=2, batch_size=8, logging_steps=2, data_seed=7),
        test=False,
    )


def _weights(path):
    return {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}


def test_data_seed_changes_the_run(trained_tiny, second_run):
    a, b = _weights(trained_tiny), _weights(second_run)
    assert json.loads((second_run / "emotionkit.json").read_text())["train"]["data_seed"] == 7
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_soup_is_the_average_of_the_runs_it_keeps(trained_tiny, second_run, tiny_data, tmp_path):
    out = make_soup([trained_tiny, second_run], tmp_path / "soup", reproduce="emotionkit soup (test)")
    meta = json.loads((out / "emotionkit.json").read_text())
    soup = meta["soup"]
    kept = [r["path"] for r in soup["runs"] if r["in_soup"]]
    ranked = [r["validation"]["selection_score"] for r in soup["runs"]]
    assert ranked == sorted(ranked, reverse=True)
    assert kept[0] == soup["runs"][0]["path"]  # the best run is always in
    # Greedy: the average is never worse on validation than the best single run.
    assert soup["validation"]["selection_score"] >= soup["runs"][0]["validation"]["selection_score"]
    expected = {k: torch.stack([_weights(type(out)(p))[k] for p in kept]).mean(0) for k in _weights(trained_tiny)}
    got = _weights(out)
    for key, value in expected.items():
        assert torch.allclose(got[key], value, atol=1e-6), key
    # The recorded validation score is what the saved weights score.
    clf = EmotionClassifier.load(out, engine="torch")
    measured = evaluate(clf, load_dataset(tiny_data).split("validation"))["f1_macro"]
    assert measured == pytest.approx(soup["validation"]["selection_score"], abs=1e-9)
    card = (out / "README.md").read_text()
    assert "Weight averaging" in card and "emotionkit soup (test)" in card
    assert (out / "test_metrics.json").is_file() and (out / "tokenizer.json").is_file()


def test_a_soup_offered_to_a_soup_counts_as_the_runs_it_averages(trained_tiny, second_run, tmp_path):
    inner = make_soup([trained_tiny, second_run], tmp_path / "inner", test=False)
    inner_meta = json.loads((inner / "emotionkit.json").read_text())
    inner_kept = [r["path"] for r in inner_meta["soup"]["runs"] if r["in_soup"]]
    assert run_count(inner_meta) == len(inner_kept)

    # An ingredient's CPU engine choice is about its own weights; the soup does not inherit it.
    inner_meta.update(cpu_engine="onnx", cpu_engine_reason="its int8 graph missed parity")
    (inner / "emotionkit.json").write_text(json.dumps(inner_meta))
    outer = make_soup([inner, second_run], tmp_path / "outer", test=False)
    outer_meta = json.loads((outer / "emotionkit.json").read_text())
    assert "cpu_engine" not in outer_meta and "cpu_engine_reason" not in outer_meta
    soup = outer_meta["soup"]
    entry = next(r for r in soup["runs"] if r["path"] == str(inner))
    assert entry["weight"] == len(inner_kept) and entry["soup_of"] == inner_kept
    # A greedy soup scores at least its best run on validation, so it ranks first; the training log
    # shown is then that of a real run, never the inner soup's.
    assert soup["runs"][0]["path"] == str(inner)
    assert soup["training_log_of"] == inner_meta["soup"]["training_log_of"] != str(inner)
    kept = [r for r in soup["runs"] if r["in_soup"]]
    total = sum(r["weight"] for r in kept)
    expected = {k: sum(_weights(type(outer)(r["path"]))[k] * r["weight"] for r in kept) / total
                for k in _weights(trained_tiny)}
    got = _weights(outer)
    for key, value in expected.items():
        assert torch.allclose(got[key], value, atol=1e-6), key


def test_data_changes_tells_which_data_a_run_saw(tiny_data):
    ds = load_dataset(tiny_data)
    counts, n = ds.label_counts("train"), len(ds.split("train"))
    now = {"name": ds.name, "label_counts": {"train": counts}, "fingerprints": {"train": ds.fingerprint("train")}}
    assert data_changes({"datasets": [now]}, [ds]) == []
    # Same label counts, one text edited: only the fingerprint sees it.
    edited = [*ds.split("train")]
    edited[0] = type(edited[0])(edited[0].text + "!", edited[0].label, edited[0].style)
    ds_edited = type(ds)(ds.name, ds.source, {**ds.splits, "train": edited})
    assert ds_edited.label_counts("train") == counts and ds_edited.fingerprint("train") != ds.fingerprint("train")
    assert data_changes({"datasets": [now]}, [ds_edited]) == [f"{ds.name}: {n:,} training rows then, {n:,} now"]
    # A run from before fingerprints is compared by its training label counts.
    assert data_changes({"datasets": [{"name": ds.name, "label_counts": {"train": counts}}]}, [ds]) == []
    fewer = {**counts, "joy": counts["joy"] - 1}
    older = {"datasets": [{"name": ds.name, "label_counts": {"train": fewer}}]}
    assert data_changes(older, [ds]) == [f"{ds.name}: {n - 1:,} training rows then, {n:,} now"]


def test_data_changes_knows_a_run_trained_with_the_partial_label_rule(tmp_path):
    (tmp_path / "emotions.txt").write_text("\n".join(GOEMOTIONS_NAMES), "utf-8")
    (tmp_path / "train.tsv").write_text("so funny lol\t1\ta1\nwow thanks\t15,26\ta2\n", "utf-8")
    strict = load_dataset(tmp_path)
    loose = with_partial_labels(strict)
    seen = {"name": "goemotions", "fingerprints": {"train": loose.fingerprint("train")},
            "label_counts": {"train": loose.label_counts("train")}}
    # The soup reloads the strict split; a partial-label run saw the loose one, and that is no change.
    assert data_changes({"train": {"partial_labels": True}, "datasets": [seen]}, [strict]) == []
    assert data_changes({"train": {"partial_labels": False}, "datasets": [seen]}, [strict]) == [
        "goemotions: 2 training rows then, 1 now"]


def test_soup_names_runs_trained_on_other_data(trained_tiny, second_run, tmp_path):
    meta = json.loads((trained_tiny / "emotionkit.json").read_text())
    name = meta["datasets"][0]["name"]
    assert meta["datasets"][0]["fingerprints"]["train"]  # every run records what it trained on
    older = tmp_path / "older"
    shutil.copytree(second_run, older)
    older_meta = json.loads((older / "emotionkit.json").read_text())
    older_meta["datasets"][0]["fingerprints"]["train"] = "0" * 16  # as if trained on another version
    (older / "emotionkit.json").write_text(json.dumps(older_meta))
    out = make_soup([trained_tiny, older], tmp_path / "soup", test=False, reproduce="emotionkit soup (test)")
    runs = {r["path"]: r for r in json.loads((out / "emotionkit.json").read_text())["soup"]["runs"]}
    rows = sum(meta["datasets"][0]["label_counts"]["train"].values())
    assert "data_changes" not in runs[str(trained_tiny)]
    assert runs[str(older)]["data_changes"] == [f"{name}: {rows:,} training rows then, {rows:,} now"]
    card = render(collect_facts(out))
    assert f"`{older}` ({name}: {rows:,} training rows then, {rows:,} now)" in card
    assert f"`{trained_tiny}` (" not in card


def test_average_weights_runs_and_refuses_bad_weights():
    a, b = {"w": torch.zeros(2)}, {"w": torch.ones(2)}
    assert torch.allclose(average([a, b], weights=[3, 1])["w"], torch.full((2,), 0.25))
    assert torch.allclose(average([a, b])["w"], torch.full((2,), 0.5))
    with pytest.raises(SoupError, match="one positive weight per run"):
        average([a, b], weights=[1])
    with pytest.raises(SoupError, match="one positive weight per run"):
        average([a, b], weights=[1, 0])


def test_soup_refuses_runs_that_do_not_fit(trained_tiny, second_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(second_run, other)
    config = json.loads((other / "config.json").read_text())
    config["id2label"] = {str(i): f"label{i}" for i in range(6)}
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(SoupError, match="different labels"):
        make_soup([trained_tiny, other], tmp_path / "soup")
    with pytest.raises(SoupError, match="is one of the runs"):
        make_soup([trained_tiny, second_run], second_run)
    with pytest.raises(SoupError, match="at least two runs"):
        make_soup([trained_tiny], tmp_path / "soup")
    with pytest.raises(SoupError, match="expected an emotionkit model directory"):
        make_soup([trained_tiny, tmp_path], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()
    # a directory of something else is never written into: its files stay as they were
    project = tmp_path / "project"
    (project / "onnx").mkdir(parents=True)
    (project / "README.md").write_text("mine")
    with pytest.raises(SoupError, match="is not an emotionkit model directory"):
        make_soup([trained_tiny, second_run], project)
    assert sorted(x.name for x in project.iterdir()) == ["README.md", "onnx"]
    assert (project / "README.md").read_text() == "mine"


def test_soup_refuses_runs_narrowed_to_other_neurons(trained_tiny, second_run, tmp_path):
    copies = []
    for i, (run, digest) in enumerate(((trained_tiny, "a" * 64), (second_run, "b" * 64))):
        copy = tmp_path / f"run{i}"
        shutil.copytree(run, copy)
        meta = json.loads((copy / "emotionkit.json").read_text())
        meta["ffn_pruned"] = {"from": 32, "to": 32, "kept_sha256": digest, "texts": 10}
        (copy / "emotionkit.json").write_text(json.dumps(meta))
        copies.append(copy)
    with pytest.raises(SoupError, match="different feed-forward neurons"):
        make_soup(copies, tmp_path / "soup")
    with pytest.raises(SoupError, match="different feed-forward neurons"):  # one narrowed, one not
        make_soup([trained_tiny, copies[1]], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_soup_cli_reports_a_bad_run_clearly(trained_tiny, tmp_path, capsys):
    code = main(["soup", str(trained_tiny), str(tmp_path / "missing"), "--output-dir", str(tmp_path / "s")])
    assert code != 0
    assert "expected an emotionkit model directory" in capsys.readouterr().err


def test_a_continued_run_lists_the_chain_and_can_join_a_soup(trained_tiny, second_run, tiny_data, tmp_path):
    # One more short epoch from a finished run: its card must give the commands that made the base.
    continued = train(
        ModelSettings(base_model=str(trained_tiny), max_length=32),
        TrainConfig(data=(str(tiny_data),), output_dir=str(tmp_path / "cont"), epochs=1, batch_size=8,
                    learning_rate=2e-5),
        test=False,
        reproduce="emotionkit train --base-model (test)",
    )
    meta = json.loads((continued / "emotionkit.json").read_text())
    assert meta["reproduce"].splitlines() == ["emotionkit train (test fixture)", "emotionkit train --base-model (test)"]
    # Another base model is allowed in a soup (a warning), other model settings are not.
    out = make_soup([second_run, continued], tmp_path / "soup", test=False)
    assert (out / "model.safetensors").is_file()
    # Souped with its own base, the base's command is listed once, ahead of the continued run's.
    with_base = make_soup([trained_tiny, continued], tmp_path / "soup_base", test=False, reproduce="emotionkit soup (test)")
    lines = json.loads((with_base / "emotionkit.json").read_text())["reproduce"].splitlines()
    assert lines == ["emotionkit train (test fixture)", "emotionkit train --base-model (test)", "emotionkit soup (test)"]
    shorter = tmp_path / "shorter"
    shutil.copytree(continued, shorter)
    meta["model"]["max_length"] = 16
    (shorter / "emotionkit.json").write_text(json.dumps(meta))
    with pytest.raises(SoupError, match="different model settings"):
        make_soup([second_run, shorter], tmp_path / "soup2", test=False)


@pytest.fixture(scope="module")
def second_multi_run(tiny_models, tiny_data, tiny_multi_data, tmp_path_factory):
    """Same multi-label recipe and seed as ``trained_tiny_multi``, another data order."""
    out = tmp_path_factory.mktemp("second_multi") / "model"
    return train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32, multi_label=True),
        TrainConfig(data=(str(tiny_data), str(tiny_multi_data)), output_dir=str(out), epochs=2, batch_size=8,
                    logging_steps=2, learning_rate=1e-3, data_seed=7),
        test=False,
    )


def test_a_multi_label_soup_is_calibrated_and_decided_as_it_was_scored(trained_tiny_multi, second_multi_run,
                                                                      tiny_data, tiny_multi_data, tmp_path):
    runs = [trained_tiny_multi, second_multi_run]
    out = make_soup(runs, tmp_path / "soup", reproduce="emotionkit soup (multi-label test)")
    meta = json.loads((out / "emotionkit.json").read_text())
    soup, got = meta["soup"], _weights(out)
    kept = [type(out)(r["path"]) for r in soup["runs"] if r["in_soup"]]
    labels = EmotionClassifier.load(out, engine="torch").labels
    assert set(meta["calibration"]["slope"]) == set(meta["decision"]["thresholds"]) == set(labels)
    if len(kept) == 1:  # no average beat the best run: the soup is that run as it stands
        own = json.loads((kept[0] / "emotionkit.json").read_text())
        assert meta["calibration"] == own["calibration"] and meta["decision"] == own["decision"]
        assert all(torch.equal(got[k], v) for k, v in _weights(kept[0]).items())
    else:  # the average, with a calibration of its own folded into the output layer
        mean = {k: torch.stack([_weights(p)[k] for p in kept]).mean(0) for k in got}
        slope = torch.tensor([meta["calibration"]["slope"][n] for n in labels])
        shift = torch.tensor([meta["calibration"]["intercept"][n] for n in labels])
        for key in got:
            if key.startswith("classifier."):
                continue
            assert torch.allclose(got[key], mean[key], atol=1e-6), key
        assert torch.allclose(got["classifier.weight"], mean["classifier.weight"] * slope[:, None], atol=1e-5)
        assert torch.allclose(got["classifier.bias"], mean["classifier.bias"] * slope + shift, atol=1e-5)
    # Every average tried was calibrated before it was scored, and the recorded score is the saved model's.
    assert len(soup["greedy_steps"]) == 1 and "calibrated" in meta["selection_rule"]
    clf = EmotionClassifier.load(out, engine="torch")
    sources = [load_dataset(d, multi_label=True) for d in (tiny_data, tiny_multi_data)]
    f1 = [evaluate(clf, ds.split("validation"), batch_size=128)["f1_macro"] for ds in sources]
    assert soup["validation"]["selection_score"] == pytest.approx(sum(f1) / 2, abs=1e-9)
    assert (out / "README.md").is_file() and "Weight averaging" in (out / "README.md").read_text()


def test_a_multi_label_soup_that_keeps_one_run_is_that_run_as_it_stands(trained_tiny_multi, second_multi_run,
                                                                       tmp_path, monkeypatch):
    from emotionkit import soup as soup_module

    real = soup_module._Scorer.average

    def worse(self, state):  # the average is really built and calibrated, then scored as worse than any run
        scores, trial = real(self, state)
        return {**scores, "selection_score": -1.0}, trial

    monkeypatch.setattr(soup_module._Scorer, "average", worse)
    out = make_soup([trained_tiny_multi, second_multi_run], tmp_path / "soup", test=False)
    meta = json.loads((out / "emotionkit.json").read_text())
    kept = [type(out)(r["path"]) for r in meta["soup"]["runs"] if r["in_soup"]]
    assert len(kept) == 1 and meta["soup"]["greedy_steps"][0]["kept"] is False
    own = json.loads((kept[0] / "emotionkit.json").read_text())
    assert meta["calibration"] == own["calibration"] and meta["decision"] == own["decision"]
    assert all(torch.equal(_weights(out)[k], v) for k, v in _weights(kept[0]).items())
    assert meta["best_selection_score"] == meta["soup"]["runs"][0]["validation"]["selection_score"]


def test_a_multi_label_soup_saves_the_average_it_kept_and_leaves_no_scratch(trained_tiny_multi, second_multi_run,
                                                                            tmp_path, monkeypatch):
    import tempfile

    from emotionkit import soup as soup_module

    third = tmp_path / "third"
    shutil.copytree(second_multi_run, third)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    real, calls = soup_module._Scorer.average, []

    def first_kept_then_worse(self, state):  # both averages really built and calibrated; the second one scored worse
        scores, trial = real(self, state)
        calls.append(trial)
        return {**scores, "selection_score": 10.0 if len(calls) == 1 else -1.0}, trial

    monkeypatch.setattr(soup_module._Scorer, "average", first_kept_then_worse)
    out = make_soup([trained_tiny_multi, second_multi_run, third], tmp_path / "soup", test=False)
    meta = json.loads((out / "emotionkit.json").read_text())
    assert [s["kept"] for s in meta["soup"]["greedy_steps"]] == [True, False]
    kept = [type(out)(r["path"]) for r in meta["soup"]["runs"] if r["in_soup"]]
    assert len(kept) == 2 and meta["best_selection_score"] == 10.0
    got, labels = _weights(out), EmotionClassifier.load(out, engine="torch").labels
    mean = {k: torch.stack([_weights(p)[k] for p in kept]).mean(0) for k in got}
    slope = torch.tensor([meta["calibration"]["slope"][n] for n in labels])
    shift = torch.tensor([meta["calibration"]["intercept"][n] for n in labels])
    body = [k for k in got if not k.startswith("classifier.")]
    assert body and all(torch.allclose(got[k], mean[k], atol=1e-6) for k in body)
    assert torch.allclose(got["classifier.weight"], mean["classifier.weight"] * slope[:, None], atol=1e-5)
    assert torch.allclose(got["classifier.bias"], mean["classifier.bias"] * slope + shift, atol=1e-5)
    assert list(scratch.iterdir()) == [] and not (out / ".staging").exists()  # every average's scratch copy is gone


def test_an_average_that_cannot_be_decided_is_left_out(trained_tiny_multi, second_multi_run, tmp_path, monkeypatch):
    def no_decision(*args, **kwargs):
        raise ValueError("no fallback calls few enough texts emotion-free")

    monkeypatch.setattr("emotionkit.calibrate.calibrate", no_decision)
    out = make_soup([trained_tiny_multi, second_multi_run], tmp_path / "soup", test=False)
    meta = json.loads((out / "emotionkit.json").read_text())
    step = meta["soup"]["greedy_steps"][0]
    assert step["kept"] is False and "no fallback" in step["validation"]["error"]
    best = type(out)(meta["soup"]["runs"][0]["path"])
    assert meta["decision"] == json.loads((best / "emotionkit.json").read_text())["decision"]
    assert "Weight averaging" in render(collect_facts(out))
