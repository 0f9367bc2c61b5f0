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

from emotionkit.data import read_file
from emotionkit.evaluate import evaluate, write_json
from emotionkit.predict import EmotionClassifier

EMOJISET = Path("data/emojiset/validation.jsonl")


def check(model: str, by_cue: dict[str, list]) -> dict:
    """Each cue's messages scored by ``evaluate`` (top emotion of the six; the share the decision calls
    emotion-free), as every other source is."""
    clf = EmotionClassifier.load(model, engine="torch")
    out = {}
    for cue, examples in by_cue.items():
        m = evaluate(clf, examples)
        out[cue] = {"messages": len(examples), "top_emotion_right": round(m["accuracy"] * len(examples)),
                    "called_emotion_free": round(m.get("emotion_free_share", 0.0) * len(examples))}  # six-way: none
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    examples = read_file(EMOJISET)  # the loader keeps text, label and style; the cue is read beside it
    cues = [json.loads(line)["cue"] for line in EMOJISET.read_text("utf-8").splitlines() if line.strip()]
    by_cue = {cue: [ex for ex, c in zip(examples, cues, strict=True) if c == cue] for cue in sorted(set(cues))}
    out = {"data": str(EMOJISET), "models": {m: check(m, by_cue) for m in args.models}}
    for model, cues in out["models"].items():
        summary = ", ".join(f"{cue}: {c['top_emotion_right']}/{c['messages']} right, {c['called_emotion_free']} emotion-free"
                            for cue, c in cues.items())
        print(f"{model}: {summary}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print("written", write_json(out, Path("benchmarks/results") / f"emoji-check-{stamp}.json"))


if __name__ == "__main__":
    main()
