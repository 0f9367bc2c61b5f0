"""Text normalization applied before tokenization, the same at training and prediction.

Each step is named, and a model directory records the steps it was trained
with (``emotionkit.json``), so prediction can never drift from training.

>>> normalize("so happy 😂", ("emoji",))
'so happy (face with tears of joy)'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"(?<!\w)@\w+")
# Three or more of the same letter ("soooo") become two ("soo").
_REPEAT = re.compile(r"([a-zA-Z])\1{2,}")


def _emoji(text: str) -> str:
    if text.isascii():  # no emoji possible: skip the scan (most texts)
        return text
    try:
        import emoji  # noqa: PLC0415 - core dependency, imported lazily for start-up time
    except ImportError:
        raise ImportError("the 'emoji' normalization step needs the 'emoji' package: pip install emoji") from None
    # The uncased BERT vocabulary has no emoji: they would reach the model as [UNK].
    # Their CLDR names ("face with tears of joy") are words the model knows. Only the names are
    # rewritten (underscores to spaces: "OK_hand" is "OK hand"); the text around them is not.
    named = emoji.replace_emoji(text, replace=lambda chars, data: f" ({data['en'].strip(':').replace('_', ' ')}) ")
    # Runs of spaces the names leave (the tokenizer splits on any whitespace, so this changes no token).
    return re.sub(r"\s{2,}", " ", named).strip()


STEPS: dict[str, Callable[[str], str]] = {
    "emoji": _emoji,
    "lowercase": str.lower,
    "urls": lambda t: _URL.sub("http", t),
    "mentions": lambda t: _MENTION.sub("@user", t),
    "repeats": lambda t: _REPEAT.sub(r"\1\1", t),
}


def check_steps(steps: Sequence[str]) -> tuple[str, ...]:
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown normalization step(s) {unknown}; expected any of {sorted(STEPS)}")
    return tuple(steps)


def normalize(text: str, steps: Sequence[str]) -> str:
    for step in steps:
        text = STEPS[step](text)
    return text
