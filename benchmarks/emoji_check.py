"""Whether models read emoji: data/emojiset (validation only) per cue, side by side.

For each model: the top emotion of the six against the label, and the share called emotion-free (top label
"neutral"), for the messages whose emoji decide the emotion (cue ``emoji``) and those whose words carry it too
(``both``). PyTorch fp32, the engine the bars are read with.

    python benchmarks/emoji_check.py models/emotionkit-minilm models/candidate-emoji
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from emotionkit.evaluate import write_json
from emotionkit.labels import LABELS
from emotionkit.predict import EmotionClassifier

EMOJISET = Path("data/emojiset/validation.jsonl")


def check(model: str, rows: list[dict]) -> dict:
    clf = EmotionClassifier.load(model, engine="torch")
    results = clf([r["text"] for r in rows])
    out: dict = {}
    for cue in sorted({r["cue"] for r in rows}):
        picked = [(r, p) for r, p in zip(rows, results, strict=True) if r["cue"] == cue]
        top = [max((s for s in p.scores if s["label"] in LABELS), key=lambda s: s["score"])["label"] for _, p in picked]
        out[cue] = {"messages": len(picked),
                    "top_emotion_right": sum(t == r["label"] for t, (r, _) in zip(top, picked, strict=True)),
                    "called_emotion_free": sum(p.label == "neutral" for _, p in picked),
                    "missed": [r["text"] for t, (r, _) in zip(top, picked, strict=True) if t != r["label"]]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    rows = [json.loads(line) for line in EMOJISET.read_text("utf-8").splitlines() if line.strip()]
    out = {"data": str(EMOJISET), "models": {m: check(m, rows) for m in args.models}}
    for model, cues in out["models"].items():
        summary = ", ".join(f"{cue}: {c['top_emotion_right']}/{c['messages']} right, {c['called_emotion_free']} emotion-free"
                            for cue, c in cues.items())
        print(f"{model}: {summary}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json(out, Path("benchmarks/results") / f"emoji-check-{stamp}.json"))


if __name__ == "__main__":
    main()
