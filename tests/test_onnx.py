"""ONNX export parity, engine choice, and the cache of derived graphs."""

import json
import shutil

import numpy as np
import pytest

from emotionkit import EmotionClassifier
from emotionkit.labels import LABELS
from emotionkit.onnx_engine import FP32, INT8, MANIFEST, ONNX_DIR, check_cache, export_onnx, graph_dir

pytestmark = pytest.mark.slow

TEXTS = ["so happy for you", "this is outrageous", "i miss him", "what?! no way", "hold me close", "i am terrified"]


@pytest.fixture
def model_copy(trained_tiny, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(trained_tiny, target, ignore=shutil.ignore_patterns(ONNX_DIR))
    return target


def test_export_writes_checked_graphs(model_copy):
    manifest = export_onnx(model_copy)
    assert (graph_dir(model_copy) / FP32).is_file() and (graph_dir(model_copy) / INT8).is_file()
    assert manifest["fp32_max_logit_diff"] <= manifest["fp32_tolerance"]
    assert manifest["int8_top_label_agreement"] >= manifest["int8_tolerance"]["min_agreement"]
    assert json.loads((graph_dir(model_copy) / MANIFEST).read_text()) == manifest
    assert check_cache(model_copy, FP32) is None and check_cache(model_copy, INT8) is None


def test_export_refuses_a_mismatching_graph(model_copy, monkeypatch):
    from emotionkit import onnx_engine

    monkeypatch.setattr(onnx_engine, "FP32_MAX_LOGIT_DIFF", -1.0)  # nothing can pass
    with pytest.raises(onnx_engine.ExportError, match="fp32 ONNX logits differ"):
        export_onnx(model_copy)
    assert not list(graph_dir(model_copy).glob("*.onnx*"))  # nothing written, no temp left


def test_an_int8_graph_that_misses_parity_leaves_fp32_usable(model_copy, monkeypatch, capsys):
    from emotionkit import onnx_engine
    from emotionkit.cli import main

    monkeypatch.setattr(onnx_engine, "INT8_MAX_PROB_DIFF", -1.0)  # no int8 graph can pass
    assert main(["export", "--model", str(model_copy)]) == 1
    assert "int8 refused" in capsys.readouterr().err
    manifest = json.loads((graph_dir(model_copy) / MANIFEST).read_text())
    assert manifest["int8_error"].startswith("int8 ONNX differs") and set(manifest["files"]) == {FP32}
    assert not (graph_dir(model_copy) / INT8).exists() and not list(graph_dir(model_copy).glob("*.tmp"))
    assert check_cache(model_copy, FP32) is None
    assert EmotionClassifier.load(model_copy, engine="onnx")("so happy").label in LABELS
    with pytest.raises(onnx_engine.ExportError, match="no int8 graph for this model"):
        EmotionClassifier.load(model_copy, engine="onnx-int8")
    # The CLI says so in one line, not with a traceback.
    capsys.readouterr()
    assert main(["predict", "--model", str(model_copy), "--engine", "onnx-int8", "so happy"]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "no int8 graph for this model" in err and "Traceback" not in err
    # auto falls back to the fp32 graph, and the recorded refusal is not exported again.
    capsys.readouterr()
    assert EmotionClassifier.load(model_copy, engine="auto", device="cpu").engine.name == "onnx-fp32"
    assert "exporting it now" not in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["onnx", "onnx-int8"])
def test_onnx_engines_match_torch(model_copy, engine):
    torch_probs = EmotionClassifier.load(model_copy, engine="torch").predict_proba(TEXTS)
    onnx_clf = EmotionClassifier.load(model_copy, engine=engine)
    assert onnx_clf.engine.name == ("onnx-fp32" if engine == "onnx" else "onnx-int8")
    probs = onnx_clf.predict_proba(TEXTS)
    tolerance = 1e-4 if engine == "onnx" else 0.05
    np.testing.assert_allclose(probs, torch_probs, atol=tolerance)


def test_auto_engine_is_int8_on_cpu(model_copy):
    assert EmotionClassifier.load(model_copy).engine.name == "onnx-int8"


def test_order_kept_with_length_sorting_onnx(model_copy):
    clf = EmotionClassifier.load(model_copy, engine="onnx")
    texts = [("very " * n) + "happy" for n in (20, 0, 7, 3, 15, 1)]
    together = clf.predict_proba(texts, batch_size=2)
    alone = np.concatenate([clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_missing_graph_is_built_on_first_use(model_copy, capsys):
    EmotionClassifier.load(model_copy, engine="onnx-int8")
    assert "is missing; exporting it now" in capsys.readouterr().err
    EmotionClassifier.load(model_copy, engine="onnx-int8")
    assert "exporting" not in capsys.readouterr().err  # cached the second time


def test_corrupt_graph_is_rebuilt_not_used(model_copy, capsys):
    export_onnx(model_copy)
    graph = graph_dir(model_copy) / INT8
    graph.write_bytes(graph.read_bytes()[:1000])  # a truncated file
    assert check_cache(model_copy, INT8).startswith("corrupt")
    clf = EmotionClassifier.load(model_copy, engine="onnx-int8")
    assert "corrupt" in capsys.readouterr().err
    assert check_cache(model_copy, INT8) is None
    assert clf.predict_proba(["fine"]).shape == (1, 6)


def test_stale_graph_is_rebuilt(model_copy, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    export_onnx(model_copy)
    weights = load_file(model_copy / "model.safetensors")
    key = next(k for k in weights if k.startswith("classifier") and k.endswith("bias"))
    weights[key] = weights[key] + torch.tensor([5.0, 0, 0, 0, 0, 0])  # new weights: sadness favoured
    save_file(weights, model_copy / "model.safetensors", metadata={"format": "pt"})
    assert check_cache(model_copy, FP32).startswith("stale")
    probs = EmotionClassifier.load(model_copy, engine="onnx").predict_proba(TEXTS)
    assert "stale" in capsys.readouterr().err
    torch_probs = EmotionClassifier.load(model_copy, engine="torch").predict_proba(TEXTS)
    np.testing.assert_allclose(probs, torch_probs, atol=1e-4)


def test_int8_graph_of_another_recipe_is_rebuilt(model_copy, monkeypatch, capsys):
    import json

    from emotionkit import onnx_engine

    export_onnx(model_copy)
    manifest = graph_dir(model_copy) / onnx_engine.MANIFEST
    record = json.loads(manifest.read_text())
    record["int8_recipe"] = "an older recipe"
    manifest.write_text(json.dumps(record))
    assert check_cache(model_copy, INT8).startswith("stale (built by another int8 recipe)")
    assert check_cache(model_copy, FP32) is None  # the fp32 graph does not depend on the recipe
    EmotionClassifier.load(model_copy, engine="onnx-int8")
    assert "another int8 recipe" in capsys.readouterr().err
    assert check_cache(model_copy, INT8) is None
    assert json.loads(manifest.read_text())["int8_recipe"] == onnx_engine.INT8_RECIPE


def test_export_cli(model_copy, capsys):
    from emotionkit.cli import main

    assert main(["export", "--model", str(model_copy)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["files"]) == {FP32, INT8}


def _listing(directory):
    return sorted((str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*"))


def test_graphs_go_to_the_per_user_cache_not_the_model(model_copy, tmp_path, monkeypatch):
    cache = tmp_path / "elsewhere"
    monkeypatch.setenv("EMOTIONKIT_CACHE", str(cache))
    before = _listing(model_copy)
    model_copy.chmod(0o555)  # read-only (binding for a non-root user; the listing check below binds for all)
    try:
        probs = EmotionClassifier.load(model_copy, engine="onnx").predict_proba(TEXTS)
    finally:
        model_copy.chmod(0o755)
    assert _listing(model_copy) == before  # nothing written beside the weights
    assert graph_dir(model_copy).parent.parent == cache and check_cache(model_copy, FP32) is None
    np.testing.assert_allclose(probs, EmotionClassifier.load(model_copy, engine="torch").predict_proba(TEXTS), atol=1e-4)
    # Another copy of the model at another path has its own graphs: two models never share one.
    other = tmp_path / "other" / model_copy.name
    shutil.copytree(model_copy, other)
    assert graph_dir(other) != graph_dir(model_copy) and check_cache(other, FP32) == "missing"


def test_export_cli_writes_where_asked(model_copy, tmp_path, capsys):
    from emotionkit.cli import main

    target = tmp_path / "graphs"
    assert main(["export", "--model", str(model_copy), "--output-dir", str(target)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p.name for p in target.iterdir()} == {FP32, INT8, MANIFEST}
    assert json.loads((target / MANIFEST).read_text()) == out
    assert not graph_dir(model_copy).exists()  # the cache is left alone


def test_reduce_range_keeps_int8_weights_to_7_bits(model_copy, tmp_path):
    """7-bit weights (benchmarks/int8_reduce_range.py) for CPUs without VNNI, whose u8s8 kernels saturate."""
    import onnx
    from onnx import numpy_helper

    from emotionkit.onnx_engine import int8_nodes, quantize_int8

    export_onnx(model_copy)
    fp32 = graph_dir(model_copy) / FP32

    def widest_weight(reduce_range: bool) -> int:
        out = tmp_path / f"rr{int(reduce_range)}.onnx"
        quantize_int8(fp32, out, model_copy, reduce_range=reduce_range)
        graph = onnx.load(str(out)).graph
        weights = [numpy_helper.to_array(i) for i in graph.initializer if i.data_type == onnx.TensorProto.INT8]
        assert weights, "no int8 weights in the graph"
        return max(int(np.abs(w.astype(np.int32)).max()) for w in weights)

    assert int8_nodes(fp32)
    assert widest_weight(True) <= 64 < widest_weight(False)


def test_int8_graph_rounds_no_matmul_output_and_gives_each_matmul_its_own_copy(model_copy, tmp_path):
    """Session 30's recipe: every weighted MatMul but layer 0's is int8, no MatMul output is rounded, and each
    quantized MatMul reads a rounded copy of its own input (Q/K/V one each, so the residual Add beside them reads
    the fp32 tensor). The one other reader of a rounded copy is the feed-forward block's residual Add, which ONNX
    Runtime hands the copy of its MatMul's input; ``fp32_readers=True`` rewires it to the fp32 tensor."""
    import onnx

    from emotionkit.onnx_engine import int8_nodes, is_ffn_output, quantize_int8, weighted_matmuls

    export_onnx(model_copy)
    fp32 = graph_dir(model_copy) / FP32
    chosen = set(int8_nodes(fp32))
    assert chosen and any(is_ffn_output(n) for n in chosen) and not any("layer.0/" in n for n in chosen)
    assert chosen == {n for n in weighted_matmuls(fp32) if "layer.0/" not in n}
    rewired = tmp_path / "fp32_readers.onnx"
    quantize_int8(fp32, rewired, model_copy, fp32_readers=True)

    def readers_of_copies(path):
        graph = onnx.load(str(path)).graph
        producer = {out: node for node in graph.node for out in node.output}
        readers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                readers.setdefault(name, []).append(node)
        for node in graph.node:
            if node.op_type == "MatMul" and node.name in chosen:
                assert all(r.op_type != "QuantizeLinear" for r in readers[node.output[0]]), f"{node.name}: output rounded"
                assert producer[node.input[0]].op_type == "DequantizeLinear", node.name
        copies = [n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"
                  and producer.get(n.input[0]) is not None and producer[n.input[0]].op_type == "QuantizeLinear"]
        return [sorted(r.op_type for r in readers[c]) for c in copies]

    shipped = readers_of_copies(graph_dir(model_copy) / INT8)
    assert all(r.count("MatMul") == 1 for r in shipped)  # each copy serves one MatMul
    assert ["Add", "MatMul"] in shipped and all(r in (["MatMul"], ["Add", "MatMul"]) for r in shipped)
    assert all(r == ["MatMul"] for r in readers_of_copies(rewired))
