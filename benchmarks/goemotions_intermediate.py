"""Intermediate task: fine-tune the encoder on all 28 GoEmotions labels before the six-way recipe.

The six-way recipe sees only the GoEmotions comments whose labels map onto our six (16,905 of 43,410 train
comments with the partial-label rule). This stage lets the encoder learn from every train comment, neutral and
the dropped labels included, with each comment's full label set: a 28-way softmax trained with cross-entropy
against the comment's labels, weighted equally (a comment with two labels has target 0.5 on each). A first try
with sigmoid outputs and binary cross-entropy learned almost nothing in one epoch (dev loss 0.1454 against
0.1492 for predicting the label frequencies; micro-F1 0 at threshold 0.5).

It saves the encoder (without the 28-way head) and its tokenizer as a directory that ``emotionkit train
--base-model DIR`` fine-tunes like any base model. Only the train split is trained on; the dev split's score
(how often the top label is one of the comment's labels) is printed for the log and chooses nothing. Tried in
session 16 and not kept: see docs/experiments.md.

    python benchmarks/goemotions_intermediate.py ../shared/data/goemotions --output-dir models/candidate-inter-goe28
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from emotionkit.data import goemotions_rows


def read_multilabel(path: Path, names: list[str]) -> tuple[list[str], np.ndarray]:
    """Texts and multi-hot label rows (one column per name in ``names``) of one GoEmotions TSV."""
    texts, rows = [], []
    index = {name: i for i, name in enumerate(names)}
    for _, comment, labels in goemotions_rows(path, names):
        hot = np.zeros(len(names), dtype=np.float32)
        hot[[index[name] for name in labels]] = 1.0
        texts.append(comment)
        rows.append(hot)
    return texts, np.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("goemotions", type=Path, help="directory with train.tsv, dev.tsv and emotions.txt")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--base-model", default="minilm")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from emotionkit.config import ModelSettings, resolve_base_model
    from emotionkit.textnorm import normalize

    set_seed(args.seed)
    settings = ModelSettings()  # the shipped recipe's normalization and max length
    names = (args.goemotions / "emotions.txt").read_text("utf-8").splitlines()
    base = resolve_base_model(args.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(names),
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
    )

    def encode(stem: str) -> list[dict]:
        texts, hot = read_multilabel(args.goemotions / f"{stem}.tsv", names)
        enc = tokenizer([normalize(t, settings.normalize) for t in texts], truncation=True,
                        max_length=settings.max_length)
        return [{"input_ids": ids, "attention_mask": mask, "labels": labels}
                for ids, mask, labels in zip(enc["input_ids"], enc["attention_mask"], hot, strict=True)]

    train_rows, dev_rows = encode("train"), encode("dev")
    print(f"train {len(train_rows)} comments, dev {len(dev_rows)}, {len(names)} labels", flush=True)

    def metrics(pred) -> dict:
        logits, labels = pred
        return {"top_label_in_set": float(labels[np.arange(len(labels)), logits.argmax(axis=1)].mean())}

    class SoftTargetTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            hot = inputs.pop("labels")
            outputs = model(**inputs)
            target = hot / hot.sum(dim=1, keepdim=True)
            loss = torch.nn.functional.cross_entropy(outputs.logits, target)
            return (loss, outputs) if return_outputs else loss

    if args.output_dir.exists():
        raise FileExistsError(f"{args.output_dir} exists; give a new --output-dir")
    args.output_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="goe28-"))  # Trainer's scratch directory; nothing is checkpointed there
    trainer = SoftTargetTrainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(work), num_train_epochs=args.epochs, learning_rate=args.learning_rate,
            per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=128,
            warmup_steps=0.1,  # transformers 5: a float < 1 is a ratio of all steps
            weight_decay=0.01, train_sampling_strategy="group_by_length", save_strategy="no", eval_strategy="no",
            logging_steps=200, report_to=[], seed=args.seed, disable_tqdm=True,
        ),
        train_dataset=train_rows,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics,
    )
    result = trainer.train()
    dev = trainer.evaluate(dev_rows)
    print(json.dumps({"train_runtime": result.metrics["train_runtime"], **dev}, indent=1), flush=True)
    # Written beside the target and renamed when complete, so a crash leaves no half-written encoder behind.
    encoder_dir = Path(tempfile.mkdtemp(prefix=f".{args.output_dir.name}-", dir=args.output_dir.parent))
    # Forget the 28 label names in the saved config: the six-way recipe names its own.
    model.config.id2label, model.config.label2id = {0: "LABEL_0", 1: "LABEL_1"}, {"LABEL_0": 0, "LABEL_1": 1}
    model.base_model.save_pretrained(encoder_dir)  # the encoder alone: the six-way recipe adds its own head
    tokenizer.save_pretrained(encoder_dir)
    (encoder_dir / "intermediate.json").write_text(json.dumps({
        "task": "GoEmotions train, 28 labels, softmax cross-entropy against the label set", "base_model": args.base_model,
        "epochs": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
        "seed": args.seed, "train_comments": len(train_rows), "dev": dev}, indent=1))
    encoder_dir.rename(args.output_dir)
    shutil.rmtree(work, ignore_errors=True)
    print(f"saved the encoder to {args.output_dir}", flush=True)


if __name__ == "__main__":
    main()
