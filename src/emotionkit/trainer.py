"""The Hugging Face Trainer as emotionkit runs it: every validation source scored on its own, one selection
score over them, distillation and per-output loss weights, and the per-epoch log the card shows.

:func:`emotionkit.train.train` prepares the data and the model and saves the result; this module holds
what happens in between.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from emotionkit.config import TrainConfig
from emotionkit.data import Example
from emotionkit.decision import Decision
from emotionkit.evaluate import score_examples
from emotionkit.losses import distill_loss, weighted_bce

log = logging.getLogger(__name__)


def training_args(config: TrainConfig, ckpt_dir: Path):
    """The Trainer's arguments for ``config``: an evaluation and a checkpoint each epoch (or at ``max_steps``),
    the best by the selection score kept."""
    from transformers import TrainingArguments  # noqa: PLC0415

    by_epoch = config.max_steps < 0
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float < 1 is a ratio of all steps
        weight_decay=config.weight_decay,
        label_smoothing_factor=config.label_smoothing,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        seed=config.seed,
        data_seed=None if config.data_seed < 0 else config.data_seed,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        eval_strategy="epoch" if by_epoch else "steps",
        save_strategy="epoch" if by_epoch else "steps",
        eval_steps=None if by_epoch else config.max_steps,
        save_steps=None if by_epoch else config.max_steps,
        load_best_model_at_end=True,
        metric_for_best_model="selection_score",
        greater_is_better=True,
        save_total_limit=2,
        logging_steps=config.logging_steps,
        report_to=[],
        remove_unused_columns=False,  # keep teacher_probs, which the model's forward() does not take
        dataloader_num_workers=config.num_workers,
        disable_tqdm=not sys.stderr.isatty(),
        **_precision_args(config.mixed_precision),
    )


def _precision_args(choice: str) -> dict:
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        if choice in ("fp16", "bf16"):
            log.warning("mixed precision %s asked for, but there is no GPU: training in fp32", choice)
        return {}
    if choice == "auto":
        choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"bf16": choice == "bf16", "fp16": choice == "fp16"}


def trainer_class():
    """The Trainer subclass (built on first use: transformers is imported only when training)."""
    import torch  # noqa: PLC0415
    from transformers import Trainer  # noqa: PLC0415

    class MultiSourceTrainer(Trainer):
        """Evaluates every validation source separately and adds one selection score."""

        def __init__(self, *args, eval_sources: dict, source_metrics: dict, distill: dict | None = None,
                     weighted: bool = False, hidden=None, hidden_weight: float = 0.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.eval_sources = eval_sources
            self.source_metrics = source_metrics
            self.distill = distill  # alpha, temperature, label_smoothing; rows then carry teacher_probs
            self.hidden, self.hidden_weight = hidden, hidden_weight  # a HiddenTeacher (emotionkit.hidden_distill)
            if distill or weighted:  # training rows may carry label_weights
                self.loss_is_scaled_for_ga = False  # distill_loss and weighted_bce are per-batch means

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            teacher = inputs.pop("teacher_probs", None)
            weights = inputs.pop("label_weights", None)
            if teacher is None:  # plain fine-tuning, and evaluation
                if self.distill and model.training:
                    raise RuntimeError("distilling, but a training batch came without the teachers' probabilities")
                if weights is None:
                    return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
                labels = inputs.pop("labels")
                outputs = model(**inputs)
                loss = weighted_bce(outputs.logits, labels, weights).mean()
                return (loss, outputs) if return_outputs else loss
            labels = inputs.pop("labels")
            layers = self.hidden is not None and model.training
            outputs = model(**inputs, output_hidden_states=layers)
            loss = distill_loss(outputs.logits, labels, teacher.to(outputs.logits.dtype), label_weights=weights,
                                **self.distill)
            if layers:
                loss = loss + self.hidden_weight * self.hidden.loss(outputs.hidden_states, inputs)
            return (loss, outputs) if return_outputs else loss

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            if eval_dataset is not None:
                return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
            merged = {}
            for name, data in self.eval_sources.items():
                self.compute_metrics = self.source_metrics[name]  # each source is scored by its own rows' kind
                merged.update(super().evaluate(data, ignore_keys, f"{metric_key_prefix}_{name}"))
            score = float(np.mean([merged[f"{metric_key_prefix}_{n}_f1_macro"] for n in self.eval_sources]))
            merged[f"{metric_key_prefix}_selection_score"] = score
            self.log({f"{metric_key_prefix}_selection_score": score})
            return merged

        def _get_eval_sampler(self, eval_dataset):
            # In input order: each source's metrics read its examples (sets of emotions, kinds, styles) by position.
            return torch.utils.data.SequentialSampler(eval_dataset)

        def _get_train_sampler(self, train_dataset=None):
            # Trainer's length-grouped sampler draws from the global RNG (seeded by ``seed``), so
            # ``data_seed`` alone would not change the data order: give it its own generator.
            sampler = super()._get_train_sampler(train_dataset)
            if self.args.data_seed is not None and getattr(sampler, "generator", "absent") is None:
                sampler.generator = torch.Generator().manual_seed(self.args.data_seed)
            return sampler

    return MultiSourceTrainer


class SourceMetrics:
    """The Trainer's compute_metrics for one validation source: the same ``score_examples`` as the final
    test, at the default decision (thresholds 0.5 until calibration chooses them)."""

    def __init__(self, examples: list[Example], decision: Decision):
        self.examples, self.decision = examples, decision

    def __call__(self, eval_pred) -> dict:
        scores = self.decision.scores(eval_pred.predictions)
        metrics = score_examples(self.examples, scores, self.decision)
        metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}  # no matrices or diagram points
        metrics["ce_loss"] = metrics.pop("loss")  # the Trainer reports its own (smoothed) loss as "loss"
        return metrics


def epoch_log(log_history: list[dict], sources: list[str]) -> list[dict]:
    """One row per evaluation: epoch, step, mean training loss since the last one, validation scores.

    The Trainer logs each source's evaluation as its own entry; entries of one step are merged.
    """
    rows: dict[int, dict] = {}
    losses: list[float] = []
    for entry in log_history:
        if "loss" in entry:
            losses.append(entry["loss"])
            continue
        for s in sources:
            if f"eval_{s}_accuracy" not in entry:
                continue
            row = rows.setdefault(entry["step"], {"epoch": round(entry["epoch"], 2), "step": entry["step"]})
            if "training_loss" not in row:
                # None (JSON null) when no loss was logged before this evaluation: NaN is not JSON.
                row["training_loss"] = float(np.mean(losses)) if losses else None
                losses = []
            for key in ("ce_loss", "accuracy", "f1_macro", "f1_weighted"):
                row[f"{s}_{key}"] = entry[f"eval_{s}_{key}"]
    out = []
    for row in rows.values():
        if all(f"{s}_accuracy" in row for s in sources):
            # Averages over sources; f1_macro is what selection uses.
            row["validation_loss"] = float(np.mean([row[f"{s}_ce_loss"] for s in sources]))
            row["accuracy"] = float(np.mean([row[f"{s}_accuracy"] for s in sources]))
            row["f1_macro"] = float(np.mean([row[f"{s}_f1_macro"] for s in sources]))
            out.append(row)
    return out
