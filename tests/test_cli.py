import json

import pytest

from emotionkit.cli import main


def test_predict_prints_one_json_per_text(trained_tiny, capsys, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("from a file\n\nsecond line\n")
    assert main(["predict", "hello there", "--file", str(texts), "--model", str(trained_tiny), "--engine", "torch"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["text"] for o in objs] == ["hello there", "from a file", "second line"]
    assert all(len(o["scores"]) == 6 and o["label"] == o["scores"][0]["label"] for o in objs)


def test_predict_without_texts_is_an_error(trained_tiny):
    with pytest.raises(SystemExit, match="give texts"):
        main(["predict", "--model", str(trained_tiny)])


def test_evaluate_json(trained_tiny, tiny_data, capsys, tmp_path):
    png = tmp_path / "cm.png"
    rc = main(["evaluate", "--model", str(trained_tiny), "--engine", "torch", "--data", str(tiny_data),
               "--split", "test", "--json", "--plot", str(png)])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_micro", "f1_weighted",
                "precision_weighted", "loss", "runtime", "samples_per_second", "confusion_matrix",
                "joy_precision", "joy_recall", "joy_f1", "joy_support"):
        assert key in m
    assert m["support"] == 24 and sum(map(sum, m["confusion_matrix"])) == 24
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_reports_styles(trained_tiny, capsys, tmp_path):
    from conftest import STYLESET

    main(["evaluate", "--model", str(trained_tiny), "--engine", "torch", "--data", str(STYLESET), "--json",
          "--plot", str(tmp_path / "x.png")])
    m = json.loads(capsys.readouterr().out)
    assert m["n_style_review"] >= 40 and 0 <= m["accuracy_style_chat_emoji"] <= 1


def test_evaluate_multi_label_reads_goemotions_whole_for_a_single_label_model(trained_tiny, capsys, tmp_path):
    from conftest import GOEMOTIONS_NAMES

    goe = tmp_path / "goe"
    goe.mkdir()
    (goe / "emotions.txt").write_text("\n".join(GOEMOTIONS_NAMES), "utf-8")
    # joy; neutral; joy and fear; approval only (a dropped label: no emotion, not neutral)
    rows = "so glad\t17\ta\nit is tuesday\t27\tb\nyay but scary\t17,14\tc\nagreed\t4\td\n"
    for split in ("train", "dev", "test"):
        (goe / f"{split}.tsv").write_text(rows, "utf-8")
    args = ["evaluate", "--model", str(trained_tiny), "--engine", "torch", "--data", str(goe), "--json",
            "--plot", str(tmp_path / "x.png")]
    assert main(args) == 0
    strict = json.loads(capsys.readouterr().out)
    assert strict["support"] == 1  # the strict single-label reading keeps only the one-emotion comment
    assert main([*args, "--multi-label"]) == 0
    whole = json.loads(capsys.readouterr().out)
    # Every comment is read; a model with no neutral output never says neutral, and never names two emotions.
    assert whole["neutral_support"] == 1 and whole["neutral_f1"] == 0.0 and whole["exact_match"] <= 0.5
    assert whole["reliability_png"].endswith("x.png") and whole["multi_label_reading"] and not strict["multi_label_reading"]


def test_bad_data_gives_clear_error(trained_tiny, capsys, tmp_path):
    bad = tmp_path / "test.jsonl"
    bad.write_text('{"text": "x", "label": "meh"}\n')
    assert main(["evaluate", "--model", str(trained_tiny), "--engine", "torch", "--data", str(bad)]) == 2
    assert "test.jsonl:1: unknown label" in capsys.readouterr().err


def test_train_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--learning-rate", "--label-smoothing", "--preset", "--resume", "--base-model", "--normalize", "--data"):
        assert flag in out


def test_bad_bench_and_plot_arguments_are_clear_errors(trained_tiny, tiny_data, capsys, tmp_path):
    common = ["--model", str(trained_tiny), "--data", str(tiny_data)]
    assert main(["bench", *common, "--contenders", "emotionkit-onnx-int9", "--results-dir", str(tmp_path)]) == 2
    assert "unknown contenders ['emotionkit-onnx-int9']; expected some of" in capsys.readouterr().err
    for limit in ("0", "-1000"):
        assert main(["bench", *common, "--limit", limit, "--results-dir", str(tmp_path)]) == 2
        assert f"limit must be None (every text) or >= 1, got {limit}" in capsys.readouterr().err
    assert not list(tmp_path.glob("bench-*.json"))
    for plot in (str(tmp_path / "myplot"), str(tmp_path)):
        assert main(["evaluate", *common, "--engine", "torch", "--plot", plot]) == 2
        assert "a plot path must be a file name ending in .png" in capsys.readouterr().err
    assert not (tmp_path / "myplot.png").exists() and not list(tmp_path.glob("*.png"))
