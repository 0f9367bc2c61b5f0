"""How much faster a narrower model is, before any training: the shipped model with every layer's feed-forward
block cut to 768, 512 and 384 of its 1,536 neurons (emotionkit.prune), against the stock pipeline, in one run.

    python benchmarks/prune_speed.py [MODEL]      # default: the shipped model

For each width: the validation tweets' top-emotion accuracy straight after the cut (ONNX fp32; how much
there is for distillation to win back), and the ONNX Runtime sessions alone, fp32 and static int8 (the
export's recipe, whatever the parity check would say of an untrained cut), timed as
benchmarks/engine_ceiling.py times them: inputs tokenized beforehand, the 2,000 test tweets in
length-sorted batches of 32, and 200 single texts. The neurons are chosen on 1,024 tweets of the train split.

Writes benchmarks/results/prune-speed-<time>.json.

Its int8 graphs are built as the recipe before session 30 built them (``ROUNDING_BEFORE_SESSION_30``: MatMul
outputs rounded, one rounded copy shared by every reader; ``nodes_before_session_30``), so it reproduces the
results recorded with that recipe.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from engine_ceiling import time_pipeline  # benchmarks/engine_ceiling.py
from ort_timing import time_session, tweet_inputs  # benchmarks/ort_timing.py

from emotionkit.data import load_dataset
from emotionkit.evaluate import write_json
from emotionkit.onnx_engine import ROUNDING_BEFORE_SESSION_30, export_onnx, graph_dir, nodes_before_session_30, quantize_int8
from emotionkit.predict import EmotionClassifier
from emotionkit.prune import IMPORTANCE_TEXTS, ffn_importance, prune_ffn
from emotionkit.student import save_beside

SIZES = (768, 512, 384)


def narrowed(model: Path, size: int, texts: list[str], root: Path) -> Path:
    """``model`` cut to ``size`` neurons per feed-forward block, saved under ``root`` with its ONNX graphs."""
    import torch  # noqa: PLC0415
    from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: PLC0415

    net = AutoModelForSequenceClassification.from_pretrained(str(model), dtype=torch.float32)
    prune_ffn(net, size, ffn_importance(net, AutoTokenizer.from_pretrained(str(model)), texts))
    out = save_beside(net, model, root / f"ffn{size}")
    export_onnx(out)
    if not (graph_dir(out) / "model_int8.onnx").is_file():  # refused by the parity check: time it all the same
        quantize_int8(graph_dir(out) / "model.onnx", graph_dir(out) / "model_int8.onnx", out,
                      nodes=nodes_before_session_30(graph_dir(out) / "model.onnx"), **ROUNDING_BEFORE_SESSION_30)
    return out


def main() -> None:
    model = Path(sys.argv[1] if len(sys.argv) > 1 else "models/emotionkit-minilm")
    tweets = load_dataset("../shared/data/emotion")
    train = [e.text for e in tweets.split("train")]
    random.Random(0).shuffle(train)
    val = tweets.split("validation")
    gold = np.array([e.label for e in val])
    root = Path(tempfile.mkdtemp(prefix="prune-speed-"))
    clf = EmotionClassifier.load(model, engine="onnx-int8")  # exports the shipped model's graphs when missing
    texts, singles, batches = tweet_inputs(clf.tokenizer, singles=200)
    rows = {"pipeline": time_pipeline(model, texts)}
    dirs = {"shipped": model} | {f"ffn{size}": narrowed(model, size, train[:IMPORTANCE_TEXTS], root) for size in SIZES}
    for name, d in dirs.items():
        probs = EmotionClassifier.load(d, engine="onnx").predict_proba([e.text for e in val])
        accuracy = float((probs[:, :6].argmax(1) == gold).mean() * 100)
        for graph in ("model.onnx", "model_int8.onnx"):
            timed = time_session(graph_dir(d) / graph, singles, batches, warm_batches=len(batches))
            rows[f"{name}/{graph}"] = {"validation_tweets_accuracy": accuracy,
                                       **{k: v for k, v in timed.items() if k != "logits"}}
    base = rows["pipeline"]
    for name, row in rows.items():
        row["speedup_vs_pipeline"] = row["samples_per_second"] / base["samples_per_second"]
        row["latency_p50_vs_pipeline"] = row["latency_p50_ms"] / base["latency_p50_ms"]
        acc = f"{row['validation_tweets_accuracy']:.2f}%" if "validation_tweets_accuracy" in row else ""
        print(f"{name:>24}: {row['samples_per_second']:7.1f} texts/s ({row['speedup_vs_pipeline']:.2f}x), "
              f"p50 {row['latency_p50_ms']:.2f} ms ({row['latency_p50_vs_pipeline']:.2f}x) {acc}")
    for name, d in dirs.items():
        if name != "shipped":  # the narrowed models' cached graphs go with them
            shutil.rmtree(graph_dir(d), ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = {"model": str(model), "texts": len(texts), "batch_size": 32, "singles": 200, "sizes": list(SIZES),
           "importance_texts": IMPORTANCE_TEXTS, "rows": rows}
    print("written", write_json(out, Path("benchmarks/results") / f"prune-speed-{stamp}.json"))


if __name__ == "__main__":
    main()
