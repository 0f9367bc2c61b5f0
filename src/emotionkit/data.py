"""Load labelled text datasets: dair-ai/emotion style directories, GoEmotions, hub ids.

A dataset is a directory with up to three splits (``train``, ``validation``,
``test``), each one file in one of these formats:

* JSON lines: ``{"text": ..., "label": ...}`` per line (an optional ``"style"``
  field tags the row's group, used to report accuracy per style);
* CSV with a header that has ``text`` and ``label`` columns;
* the original CARER ``text;label`` text files (``train.txt``, ``val.txt``);
* the GoEmotions TSVs (a directory with ``emotions.txt`` and ``train.tsv``),
  whose 27 labels are mapped onto our six by ``resources/goemotions_to_six.json``.

Labels may be names (``"joy"``) or ids (``1``). A bad row stops loading with a
:class:`DataError` that names the file, the line and the problem.

>>> ds = load_dataset("../shared/data/emotion")          # doctest: +SKIP
>>> len(ds.splits["train"]), ds.splits["train"][0].label  # doctest: +SKIP
(16000, 0)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from emotionkit.labels import LABELS, parse_label

# A text is as long as it is: the csv module's default 131,072-character field limit is no rule of ours.
csv.field_size_limit(sys.maxsize)
log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
# File stems that mean each split, in the order we look for them.
_SPLIT_STEMS = {"train": ("train",), "validation": ("validation", "val", "dev"), "test": ("test",)}
_EXTENSIONS = (".jsonl", ".json", ".csv", ".txt", ".tsv")


class DataError(ValueError):
    """A dataset file could not be read; the message names file, line and problem."""


MIXED = -1  # ``Example.label`` of a multi-label row that is not exactly one emotion


@dataclass(frozen=True)
class Example:
    """One labelled text. ``style`` is an optional group tag (e.g. ``"review"``).

    A single-label row has ``label`` (an id of the six) and ``labels`` None. A multi-label row has
    ``labels``, the ids of the emotions it carries (possibly none, possibly several), and ``neutral``,
    whether its raters called it emotion-free; its ``label`` is its one emotion when it has exactly one
    and is not neutral, else ``MIXED``. ``kind`` is an optional tag of hand-written rows (``neutral``,
    ``mixed``, ``mild``) that evaluation reports on.
    """

    text: str
    label: int
    style: str | None = None
    labels: tuple[int, ...] | None = None
    neutral: bool = False
    kind: str | None = None

    @property
    def tag(self) -> str:
        """The row's gold answer as text: ``joy``, ``joy+fear``, ``neutral``, or ``none`` (no emotion, not neutral)."""
        if self.labels is None:
            return LABELS[self.label]
        names = [LABELS[i] for i in self.labels] + (["neutral"] if self.neutral else [])
        return "+".join(names) or "none"


@dataclass
class Dataset:
    """The splits of one source, plus what loading noticed about them.

    ``unlabeled`` holds, per split, texts that were read but carry none of our six labels
    (GoEmotions comments the mapping leaves out); distillation can use them as a transfer set.
    ``partial`` holds, per split, the left-out rows whose mapped labels all name one emotion while
    another of their labels is dropped (GoEmotions "joy, admiration" -> joy); training may add
    them to its train split (:func:`with_partial_labels`); validation and test never do.
    ``label_mapping`` is the mapping a source with labels of its own (GoEmotions) was read through.
    """

    name: str
    source: str
    splits: dict[str, list[Example]]
    notes: list[str] = field(default_factory=list)
    unlabeled: dict[str, list[str]] = field(default_factory=dict)
    partial: dict[str, list[Example]] = field(default_factory=dict)
    label_mapping: dict | None = None

    def split(self, name: str) -> list[Example]:
        if name not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {name!r}; it has {sorted(self.splits)}")
        return self.splits[name]

    def label_counts(self, split: str) -> dict[str, int]:
        """Rows per emotion (a multi-label row counts once for each of its emotions), and per
        ``neutral`` / ``none`` where the split has multi-label rows."""
        counts = Counter(i for ex in self.split(split) for i in (ex.labels if ex.labels is not None else (ex.label,)))
        out = {label: counts.get(i, 0) for i, label in enumerate(LABELS)}
        rows = self.split(split)
        if any(ex.labels is not None for ex in rows):
            out["neutral"] = sum(ex.neutral for ex in rows)
            out["none"] = sum(1 for ex in rows if ex.labels == () and not ex.neutral)
            out["several"] = sum(1 for ex in rows if ex.labels is not None and len(ex.labels) > 1)
        return out

    @property
    def multi_label(self) -> bool:
        """Whether the rows carry sets of emotions (GoEmotions read whole, our mixed messages)."""
        return any(ex.labels is not None for rows in self.splits.values() for ex in rows[:1000])

    def fingerprint(self, split: str) -> str:
        """A short SHA-256 of the split's texts and labels in order: which version of the data a model saw."""
        digest = hashlib.sha256()
        for ex in self.split(split):
            digest.update(f"{ex.tag}\t{ex.text}\n".encode())
        return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- files


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Lines of a UTF-8 file as (1-based line number, text); bad bytes name their line."""
    raw = path.read_bytes()
    out = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            # utf-8-sig on the first line: a byte-order mark (Excel's "CSV UTF-8") is not text.
            out.append((number, line.decode("utf-8-sig" if number == 1 else "utf-8")))
        except UnicodeDecodeError as err:
            raise DataError(f"{path}:{number}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    return out


def read_texts(path: Path) -> list[str]:
    """The texts of a plain text file, one per line; blank lines are skipped."""
    return [text for _, line in _read_lines(path) if (text := line.strip())]


def _example(path: Path, line: int, text: object, label: object, style: object = None) -> Example:
    if text is None:
        raise DataError(f"{path}:{line}: missing text")
    if not isinstance(text, str):
        raise DataError(f"{path}:{line}: text must be a string, got {type(text).__name__} {text!r}")
    if not text.strip():
        raise DataError(f"{path}:{line}: empty text")
    if label is None or label == "":
        raise DataError(f"{path}:{line}: missing label")
    try:
        label_id = parse_label(label)
    except ValueError as err:
        raise DataError(f"{path}:{line}: unknown label: {err}") from None
    return Example(text, label_id, None if style in (None, "") else str(style))


def read_jsonl(path: Path) -> list[Example]:
    rows = []
    for number, line in _read_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: broken JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        if "labels" in obj:
            rows.append(_multi_example(path, number, obj.get("text"), obj["labels"], obj.get("style"), obj.get("kind")))
        else:
            rows.append(_example(path, number, obj.get("text"), obj.get("label"), obj.get("style")))
    return rows


def _multi_example(path: Path, line: int, text: object, labels: object, style: object = None, kind: object = None) -> Example:
    """A multi-label row: ``labels`` is a list of emotion names; ``[]`` or ``["neutral"]`` is an emotion-free text."""
    if not isinstance(labels, list):
        raise DataError(f"{path}:{line}: 'labels' must be a list of label names, got {type(labels).__name__} {labels!r}")
    names = [str(x).strip().lower() for x in labels]
    neutral = not names or names == ["neutral"]
    if "neutral" in names and not neutral:
        raise DataError(f"{path}:{line}: 'neutral' cannot stand beside emotions, got {labels!r}")
    ids = []
    for name in [] if neutral else names:
        try:
            ids.append(parse_label(name))
        except ValueError as err:
            raise DataError(f"{path}:{line}: unknown label: {err}") from None
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}:{line}: a label repeats in {labels!r}")
    base = _example(path, line, text, ids[0] if ids else 0, style)
    return replace(base, label=ids[0] if len(ids) == 1 else MIXED, labels=tuple(sorted(ids)), neutral=neutral,
                   kind=None if kind in (None, "") else str(kind))


def read_csv(path: Path) -> list[Example]:
    text = "\n".join(line for _, line in _read_lines(path))
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if "text" not in columns or "label" not in columns:
        raise DataError(f"{path}:1: expected a header with 'text' and 'label' columns, got {columns}")
    # DictReader counts physical lines; the header is line 1.
    try:
        return [
            _example(path, reader.line_num, row.get("text"), row.get("label"), row.get("style"))
            for row in reader
        ]
    except csv.Error as err:
        raise DataError(f"{path}:{reader.line_num + 1}: not valid CSV ({err})") from None


def read_semicolon(path: Path) -> list[Example]:
    """The original CARER files: ``text;label`` per line, split on the last ``;``."""
    rows = []
    for number, line in _read_lines(path):
        if not line.strip():
            continue
        if ";" not in line:
            raise DataError(f"{path}:{number}: expected 'text;label', got {line[:60]!r}")
        text, label = line.rsplit(";", 1)
        if number == 1 and label.strip() in ("label", "label_name", "emotion"):
            continue  # a header line
        rows.append(_example(path, number, text, label.strip()))
    return rows


def read_file(path: str | Path) -> list[Example]:
    """Read one split file, choosing the reader by extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".txt":
        return read_semicolon(path)
    raise DataError(f"{path}: unknown format {suffix!r}; expected one of .jsonl .json .csv .txt")


# --------------------------------------------------------------------------- GoEmotions


def goemotions_mapping() -> dict:
    """The GoEmotions -> six emotions mapping, as kept in the package."""
    text = resources.files("emotionkit.resources").joinpath("goemotions_to_six.json").read_text("utf-8")
    return json.loads(text)


def _is_goemotions(directory: Path) -> bool:
    return (directory / "emotions.txt").is_file() and (directory / "train.tsv").is_file()


@dataclass
class GoEmotionsSplit:
    """One GoEmotions TSV as read: the kept rows, why the others were left out, and those others."""

    kept: list[Example]
    skipped: Counter
    left_out: list[str]  # texts of the rows left out
    partial: list[Example]  # left-out rows whose mapped labels agree, labelled by them (a dropped label beside)


def goemotions_rows(path: Path, names: list[str]) -> Iterator[tuple[int, str, list[str]]]:
    """(row number, comment, label names) of one GoEmotions TSV, all 28 labels as written."""
    text = "\n".join(line for _, line in _read_lines(path))
    # csv.reader with default quoting undoes the CSV-style quoting some rows have.
    reader = csv.reader(io.StringIO(text), delimiter="\t")
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataError(f"{path}:{number + 1}: not a valid TSV row ({err})") from None
        number += 1
        if len(row) != 3:
            raise DataError(f"{path}:{number}: expected 3 tab-separated fields, got {len(row)}")
        comment, label_ids, _ = row
        ids = [int(i) for i in label_ids.split(",") if i.strip().lstrip("-").isdigit()]
        if len(ids) != len(label_ids.split(",")) or not all(0 <= i < len(names) for i in ids):
            raise DataError(f"{path}:{number}: bad label ids {label_ids!r}; expected ids 0..{len(names) - 1}, "
                            "comma-separated")
        yield number, comment, [names[i] for i in ids]


def read_goemotions_tsv(path: Path, names: list[str], mapping: dict) -> GoEmotionsSplit:
    """Read one GoEmotions TSV by the mapping's multi-label rule (see ``goemotions_to_six.json``)."""
    to_six = {src: target for target, spec in mapping["mapping"].items() for src in spec["labels"]}
    kept, skipped, left_out, partial = [], Counter(), [], []
    for number, comment, labels in goemotions_rows(path, names):
        targets = {to_six.get(name) for name in labels}
        if None in targets or len(targets) > 1:
            skipped["has a dropped label" if None in targets else "labels map to several emotions"] += 1
            left_out.append(comment)
            if len(targets - {None}) == 1:
                partial.append(_example(path, number, comment, (targets - {None}).pop()))
        else:
            kept.append(_example(path, number, comment, targets.pop()))
    return GoEmotionsSplit(kept, skipped, left_out, partial)


def goemotions_multilabel_mapping() -> dict:
    """The mapping the multi-label default model reads GoEmotions with (``goemotions_multilabel.json``)."""
    text = resources.files("emotionkit.resources").joinpath("goemotions_multilabel.json").read_text("utf-8")
    return json.loads(text)


def read_goemotions_whole(path: Path, names: list[str], mapping: dict) -> list[Example]:
    """Every comment of one GoEmotions TSV as a multi-label row (the mapping's ``multi_label_rule``)."""
    to_six = {src: target for target, spec in mapping["mapping"].items() for src in spec["labels"]}
    rows = []
    for number, comment, labels in goemotions_rows(path, names):
        ids = tuple(sorted({LABELS.index(to_six[name]) for name in labels if name in to_six}))
        base = _example(path, number, comment, ids[0] if ids else 0)
        rows.append(replace(base, label=ids[0] if len(ids) == 1 and "neutral" not in labels else MIXED,
                            labels=ids, neutral="neutral" in labels))
    return rows


def load_goemotions_whole(directory: Path, mapping: dict | None = None) -> Dataset:
    """GoEmotions with every comment kept, as multi-label rows (default mapping: ``goemotions_multilabel.json``)."""
    names = (directory / "emotions.txt").read_text("utf-8").splitlines()
    mapping = mapping or goemotions_multilabel_mapping()
    splits, notes = {}, []
    for split, stem in (("train", "train"), ("validation", "dev"), ("test", "test")):
        path = directory / f"{stem}.tsv"
        if path.is_file():
            splits[split] = read_goemotions_whole(path, names, mapping)
    dataset = Dataset("goemotions", str(directory), splits, notes, label_mapping=mapping)
    for split, rows in splits.items():
        counts = dataset.label_counts(split)
        notes.append(f"goemotions {split} (whole, multi-label): {len(rows)} comments; neutral {counts['neutral']}, "
                     f"no emotion of the six and not neutral {counts['none']}, several emotions {counts['several']}")
    return dataset


def load_goemotions(directory: Path, mapping: dict | None = None) -> Dataset:
    """GoEmotions read through ``mapping`` (default: the package's, ``goemotions_to_six.json``)."""
    names = (directory / "emotions.txt").read_text("utf-8").splitlines()
    mapping = mapping or goemotions_mapping()
    splits, notes, unlabeled, partial = {}, [], {}, {}
    for split, stem in (("train", "train"), ("validation", "dev"), ("test", "test")):
        path = directory / f"{stem}.tsv"
        if not path.is_file():
            continue
        read = read_goemotions_tsv(path, names, mapping)
        splits[split], unlabeled[split], partial[split] = read.kept, read.left_out, read.partial
        notes.append(
            f"goemotions {split}: kept {len(read.kept)} comments with one of our six emotions; left out "
            + ", ".join(f"{n} ({why})" for why, n in sorted(read.skipped.items()))
        )
    return Dataset("goemotions", str(directory), splits, notes, unlabeled, partial, mapping)


def with_partial_labels(dataset: Dataset) -> Dataset:
    """A copy of ``dataset`` whose train split also holds its ``partial`` train rows (the partial-label rule).

    Validation and test are left as they are, so their scores stay comparable with a strict-rule model's.
    """
    extra = dataset.partial.get("train", [])
    if not extra:
        return dataset
    note = (f"{dataset.name} train: {len(extra)} rows added by the partial-label rule (their mapped labels agree; "
            "a dropped label beside them); validation and test keep the strict rule")
    log.info(note)
    return replace(dataset, splits={**dataset.splits, "train": dataset.split("train") + extra},
                   notes=[*dataset.notes, note])


# --------------------------------------------------------------------------- datasets


def _find_split_file(directory: Path, split: str) -> Path | None:
    for stem in _SPLIT_STEMS[split]:
        for ext in _EXTENSIONS:
            path = directory / f"{stem}{ext}"
            if path.is_file():
                return path
    return None


def _load_hub(hub_id: str) -> Dataset:
    try:
        import datasets  # noqa: PLC0415 - optional, only for hub ids
    except ImportError:
        raise ImportError(
            f"loading the hub dataset {hub_id!r} needs the 'datasets' package: pip install 'emotionkit[hub]'"
        ) from None
    loaded = datasets.load_dataset(hub_id)
    splits = {}
    for split in SPLITS:
        if split in loaded:
            part = loaded[split]
            label_names = getattr(part.features["label"], "names", None)
            splits[split] = [
                _example(Path(hub_id), i + 1, row["text"], label_names[row["label"]] if label_names else row["label"])
                for i, row in enumerate(part)
            ]
    return Dataset(hub_id.rsplit("/", maxsplit=1)[-1], hub_id, splits)


def load_dataset(source: str | Path, name: str | None = None, multi_label: bool = False) -> Dataset:
    """Load a dataset from a directory, a single split file (as ``test``) or a hub id.

    ``multi_label``: read GoEmotions whole, as sets of emotions plus neutral (the multi-label
    mapping); otherwise by the single-label strict rule. Other sources read as they are written.

    >>> ds = load_dataset("data/styleset")  # doctest: +SKIP
    """
    path = Path(source)
    if path.is_dir():
        if _is_goemotions(path):
            dataset = load_goemotions_whole(path) if multi_label else load_goemotions(path)
        else:
            splits = {}
            for split in SPLITS:
                found = _find_split_file(path, split)
                if found is not None:
                    splits[split] = read_file(found)
            if not splits:
                raise DataError(
                    f"{path}: no split files found; expected train/validation/test as "
                    f"{'/'.join(_EXTENSIONS)} (validation may be named val or dev)"
                )
            dataset = Dataset(path.name, str(path), splits)
    elif path.is_file():
        # "styleset/test.jsonl" is named after its directory, "reviews.csv" after itself.
        stems = {stem for names in _SPLIT_STEMS.values() for stem in names}
        derived = path.parent.name if path.stem in stems else path.stem
        dataset = Dataset(derived, str(path), {"test": read_file(path)})
    elif "/" in str(source) and not str(source).startswith((".", "/")) and str(source).count("/") == 1:
        dataset = _load_hub(str(source))
    else:
        raise DataError(f"{source}: no such file or directory (and not a hub id like 'dair-ai/emotion')")
    if name:
        dataset.name = name
    dataset.notes.extend(f"{dataset.name} {note}" for note in find_conflicts(dataset.splits))
    for note in dataset.notes:
        log.info(note)
    return dataset


def find_conflicts(splits: dict[str, list[Example]]) -> list[str]:
    """Describe texts that sit in two splits, or twice in one split with different labels.

    They are reported, never dropped: the public splits are used as published.
    """
    notes = []
    labels_by_split: dict[str, dict[str, set[str]]] = {}
    for split, rows in splits.items():
        seen: dict[str, set[str]] = defaultdict(set)
        for ex in rows:
            seen[ex.text].add(ex.tag)
        labels_by_split[split] = seen
        clashes = sum(1 for labels in seen.values() if len(labels) > 1)
        if clashes:
            notes.append(f"{split}: {clashes} texts occur more than once with different labels")
    names = list(labels_by_split)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = labels_by_split[a].keys() & labels_by_split[b].keys()
            if shared:
                differ = sum(1 for t in shared if labels_by_split[a][t] != labels_by_split[b][t])
                notes.append(f"{a}/{b}: {len(shared)} texts occur in both ({differ} with different labels)")
    return notes
