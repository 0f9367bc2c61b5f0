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
    ],
)
def test_train_config_validation_quotes_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


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
