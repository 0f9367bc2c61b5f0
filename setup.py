"""Build hook: the wheel carries the shipped default model as ``emotionkit/models/emotionkit-minilm``.

Everything else about the package is in pyproject.toml. The model's files are copied from
``models/emotionkit-minilm`` when the wheel is built (by name pattern, so a retrained model with the
same layout ships unchanged); derived files (``onnx/``, checkpoints) are left out: they are built
into the per-user cache on first use. An editable install keeps reading ``models/emotionkit-minilm``.

    pip wheel --no-deps . -w dist
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODEL_DIR = Path(__file__).resolve().parent / "models" / "emotionkit-minilm"
PACKAGED = ("emotionkit", "models", "emotionkit-minilm")  # same name as in the checkout: /info shows it
# Weights (fp16 safetensors), config, tokenizer, emotionkit.json, test metrics, the card and its plots.
PATTERNS = ("*.json", "*.safetensors", "*.txt", "README.md", "*.png")
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "emotionkit.json", "README.md")


def model_files(model_dir: Path = MODEL_DIR) -> list[Path]:
    """The default model's files that ship in the wheel (top level only: no onnx/, no checkpoints)."""
    missing = [name for name in REQUIRED if not (model_dir / name).is_file()]
    if missing:
        raise SystemExit(f"cannot build the wheel: the default model at {model_dir} lacks {missing}")
    found = {p for pattern in PATTERNS for p in model_dir.glob(pattern) if p.is_file() and not p.name.startswith(".")}
    return sorted(found)


class BuildPyWithModel(build_py):
    """``build_py`` that also copies the default model into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads models/ in the checkout
            return
        target = Path(self.build_lib, *PACKAGED)
        if target.exists():
            shutil.rmtree(target)  # a model file removed since the last build must not linger
        target.mkdir(parents=True)
        for path in model_files():
            shutil.copy2(path, target / path.name)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(Path(self.build_lib, *PACKAGED, p.name)) for p in model_files()]


setup(cmdclass={"build_py": BuildPyWithModel})
