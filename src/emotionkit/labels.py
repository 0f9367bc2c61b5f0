"""The six emotions, in the dair-ai/emotion (CARER) id order."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("sadness", "joy", "love", "anger", "fear", "surprise")
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))
LABEL2ID: dict[str, int] = {name: i for i, name in ID2LABEL.items()}


def parse_label(value: object) -> int:
    """Turn a label name (any case) or id (int or digit string) into our id.

    >>> parse_label("Joy"), parse_label(3), parse_label("4")
    (1, 3, 4)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a label name {list(LABELS)} or id 0-5, got {value!r}")
    if isinstance(value, int):
        if 0 <= value < len(LABELS):
            return value
    elif isinstance(value, str):
        key = value.strip().lower()
        if key in LABEL2ID:
            return LABEL2ID[key]
        if key.isdigit() and int(key) < len(LABELS):
            return int(key)
    raise ValueError(f"expected a label name {list(LABELS)} or id 0-5, got {value!r}")
