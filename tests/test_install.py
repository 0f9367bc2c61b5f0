"""The wheel: built from the repository, installed apart from the checkout, read-only, run from elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
from conftest import DEFAULT_MODEL, ROOT
from test_serve import Server

pytestmark = pytest.mark.slow

TEXT = "I can't believe you remembered my birthday, thank you!"
MAX_WHEEL_MB = 60
PACKAGED = "emotionkit/models/emotionkit-minilm/"  # where the wheel carries the default model
PROBE = """
import json, sys
import emotionkit
from emotionkit import EmotionClassifier
from emotionkit.predict import default_model_dir

clf = EmotionClassifier.load()
result = clf(sys.argv[1])
reference = EmotionClassifier.load(engine="torch")(sys.argv[1])
print(json.dumps({"file": emotionkit.__file__, "model_dir": str(default_model_dir()), "engine": clf.engine.name,
                  "label": result.label, "score": result.score, "torch_label": reference.label,
                  "torch_score": reference.score}))
"""


def _pip(*args: str, cwd: Path) -> None:
    # --no-index / --no-build-isolation: the venv's setuptools builds it, nothing is fetched.
    subprocess.run([sys.executable, "-m", "pip", *args, "--no-index", "--quiet"], cwd=cwd, check=True)


def _listing(directory: Path) -> list[tuple]:
    return sorted((str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel --no-deps .`` on a copy of the files the build reads, so the shared tree gets no build/ or egg-info."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (source / "models").mkdir()
    (source / "models" / DEFAULT_MODEL.name).symlink_to(DEFAULT_MODEL)
    out = tmp_path_factory.mktemp("dist")
    _pip("wheel", "--no-deps", "--no-build-isolation", ".", "-w", str(out), cwd=source)
    (built,) = out.glob("emotionkit-*.whl")
    return built


def test_wheel_carries_the_default_model_and_nothing_derived(wheel):
    size_mb = wheel.stat().st_size / 1e6
    print(f"\nwheel {wheel.name}: {size_mb:.1f} MB")
    assert size_mb < MAX_WHEEL_MB
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n.removeprefix(PACKAGED) for n in names if n.startswith(PACKAGED)}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md",
            "emotionkit.json"} <= packaged
    assert not [n for n in packaged if "/" in n or n.endswith(".onnx")]  # no onnx/, no checkpoints
    with zipfile.ZipFile(wheel) as archive:  # the very weights of the checkout
        assert archive.read(PACKAGED + "model.safetensors") == (DEFAULT_MODEL / "model.safetensors").read_bytes()


def test_read_only_install_classifies_from_another_directory(wheel, tmp_path):
    site, cache, work = tmp_path / "site", tmp_path / "cache", tmp_path / "work"
    work.mkdir()
    _pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp_path)
    for path in [site, *site.rglob("*")]:  # chmod -R a-w
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = _listing(site)
    env = {k: v for k, v in os.environ.items() if k not in ("EMOTIONKIT_MODEL", "PYTHONPATH")}
    # PYTHONPATH comes before the editable install's .pth, so the copy under site/ is the one imported (checked
    # below). Bytecode is not written: as root a-w binds nothing, and it must not pass for a written file.
    env.update(PYTHONPATH=str(site), EMOTIONKIT_CACHE=str(cache), PYTHONDONTWRITEBYTECODE="1")
    try:
        probe = subprocess.run([sys.executable, "-c", PROBE, TEXT], check=False, cwd=work, env=env,
                               capture_output=True, text=True)
        assert probe.returncode == 0, probe.stderr[-3000:]
        ran = json.loads(probe.stdout.strip().splitlines()[-1])
        assert Path(ran["file"]).is_relative_to(site) and Path(ran["model_dir"]) == site / PACKAGED
        assert ran["engine"].startswith("onnx") and ran["label"] == ran["torch_label"]
        # The model's CPU default may be the int8 graph: within the export's parity limit of PyTorch fp32.
        assert ran["score"] == pytest.approx(ran["torch_score"], abs=1e-3 if ran["engine"] == "onnx-fp32" else 0.15)
        assert "exporting it now" in probe.stderr  # the first use built the graph ...
        graphs = list(cache.glob("onnx/*/model.onnx"))
        assert len(graphs) == 1 and (graphs[0].parent / "manifest.json").is_file()  # ... into the cache
        cli = subprocess.run([str(site / "bin" / "emotionkit"), "predict", TEXT], check=False, cwd=work, env=env,
                             capture_output=True, text=True)
        assert cli.returncode == 0, cli.stderr[-3000:]
        assert json.loads(cli.stdout)["label"] == ran["label"] and "exporting" not in cli.stderr  # cached graph reused
        server = Server(None, program=(str(site / "bin" / "emotionkit"),), env=env, cwd=work)
        try:  # the installed server, the default model on its CPU engine, answers as the Python API did
            scores = httpx.post(server.url + "/predict", json={"inputs": TEXT}, timeout=30).json()
            info = httpx.get(server.url + "/info", timeout=30).json()
        finally:
            assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
        assert {d["label"]: d["score"] for d in scores}[ran["label"]] == pytest.approx(ran["score"], abs=1e-6)
        assert info["model_dir"] == str(site / PACKAGED)
        assert _listing(site) == before  # nothing written into the install
        assert not list(work.iterdir())  # nor into the working directory
    finally:
        for path in [site, *site.rglob("*")]:  # let pytest clean up
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
