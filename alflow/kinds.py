"""The kind of label a campaign asks for, and the one way each kind is spelled as text.

- `class`: one class of the class set per item (the default);
- `multi`: a set of classes per item (tags). Spelled as the tags joined by `;` in the class set's
  order (`cat;dog`); the empty set, where the campaign allows it, as `[]`. A CSV cell holds that
  text; a JSON Lines label may also be a JSON list of tags (`["cat", "dog"]`, `[]`);
- `number`: a decimal number (`3.5`, `-2`, `1e3`), within optional bounds, in an optional unit.

Labels travel as text everywhere (label files, the ledger, the records): `LabelKind.parse` turns
what a vendor or a seed file wrote into that canonical text, or a reason to refuse the row
(REASONS); `tags` and `number` read canonical text back for training.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("class", "multi", "number")
SEPARATOR = ";"
EMPTY = "[]"

LABEL_NOT_IN_CLASS_SET = "label_not_in_class_set"
TAG_NOT_IN_CLASS_SET = "tag_not_in_class_set"
EMPTY_NOT_ALLOWED = "empty_tags_not_allowed"
NOT_A_NUMBER = "not_a_number"
OUT_OF_RANGE = "out_of_range"
REASONS = (LABEL_NOT_IN_CLASS_SET, TAG_NOT_IN_CLASS_SET, EMPTY_NOT_ALLOWED, NOT_A_NUMBER, OUT_OF_RANGE)
"""Why a label of a campaign's kind is refused (a delivery row's reason; a seed file's rule)."""

CLASS_INSTRUCTIONS = "Label each item with exactly one class from the class set."
"""What a single-class campaign's vendor is told (batch.json's `instructions`, `vendor.instructions`)."""

MAIN_METRIC = {"class": "accuracy", "multi": "f1_macro", "number": "r2"}
"""The metric a campaign of each kind stops on and forecasts by default."""
STOP_METRICS = {
    "class": ("accuracy", "f1_macro"),
    "multi": ("f1_macro", "f1_micro", "subset_accuracy"),
    "number": ("r2",),
}
"""The metrics `stopping.metric` may name, per kind: each higher-is-better, at most 1."""

MEANINGS = {
    LABEL_NOT_IN_CLASS_SET: "a label outside the class set",
    TAG_NOT_IN_CLASS_SET: "a tag outside the class set",
    EMPTY_NOT_ALLOWED: "an empty set of tags, which this campaign does not allow (labels.allow_empty)",
    NOT_A_NUMBER: "a value that is not a decimal number",
    OUT_OF_RANGE: "a number outside the campaign's bounds",
}


@dataclass(frozen=True)
class LabelKind:
    """A campaign's kind of label with its rules (the campaign file's `labels` section and `classes`)."""

    kind: str = "class"
    classes: tuple[str, ...] = ()
    allow_empty: bool = False
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    rating: bool = False  # a number entered as a rating (stars 1..maximum) where a tool offers one

    @property
    def is_class(self) -> bool:
        return self.kind == "class"

    def parse(self, value: object) -> tuple[str | None, str | None]:
        """(canonical text, None) for a valid label, (None, reason) for one to refuse; (None, None) when empty."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None, None
        if isinstance(value, list | tuple) and self.kind == "multi":
            return self._tags(value)
        text = str(value).strip()
        if not text:
            return None, None
        if self.kind == "multi":
            return self._tags([] if text == EMPTY else text.split(SEPARATOR))
        if self.kind == "number":
            return self._number(text)
        return (text, None) if text in self.classes else (None, LABEL_NOT_IN_CLASS_SET)

    def _tags(self, tags: Iterable[object]) -> tuple[str | None, str | None]:
        given = {_nfc(str(t).strip()) for t in tags} - {""}
        named = {_nfc(c): c for c in self.classes}
        if not given <= set(named):
            return None, TAG_NOT_IN_CLASS_SET
        given = {named[t] for t in given}
        if not given and not self.allow_empty:
            return None, EMPTY_NOT_ALLOWED
        return spell_tags(c for c in self.classes if c in given), None

    def _number(self, text: str) -> tuple[str | None, str | None]:
        if "_" in text:  # Python's float reads "3_5" as 35: a decimal has no underscores
            return None, NOT_A_NUMBER
        try:
            value = float(text)
        except ValueError:
            return None, NOT_A_NUMBER
        if not math.isfinite(value):
            return None, NOT_A_NUMBER
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            return None, OUT_OF_RANGE
        return spell_number(value), None

    def parse_column(self, values: pd.Series) -> tuple[pd.Series, pd.Series]:
        """`parse` over a column: (canonical texts, reasons), both object Series on `values`' index."""
        if self.kind == "class":
            texts = values.astype(object)
            reasons = pd.Series(None, index=values.index, dtype=object)
            reasons[texts.notna() & ~texts.isin(self.classes)] = LABEL_NOT_IN_CLASS_SET
            return texts, reasons
        parsed = [self.parse(v) for v in values.tolist()]
        return (
            pd.Series([p[0] for p in parsed], index=values.index, dtype=object),
            pd.Series([p[1] for p in parsed], index=values.index, dtype=object),
        )

    def instructions(self) -> str:
        """What the vendor is told to give each item (batch.json's `instructions`, unless the campaign says)."""
        if self.kind == "multi":
            empty = "; none that applies: []" if self.allow_empty else "; at least one"
            return f"Label each item with every class from the class set that applies (its tags){empty}."
        if self.kind == "number":
            low = "" if self.minimum is None else f" from {self.minimum:g}"
            high = "" if self.maximum is None else f" to {self.maximum:g}"
            unit = f" ({self.unit})" if self.unit else ""
            return f"Give each item one number{low}{high}{unit}, a decimal written with a point: 3.5, not 3,5."
        return CLASS_INSTRUCTIONS

    def describe(self) -> str:
        """The kind in a few words, for `alflow check` and reports."""
        if self.kind == "multi":
            empty = ", the empty set allowed" if self.allow_empty else ""
            return f"several classes per item (tags) of {len(self.classes)}{empty}"
        if self.kind == "number":
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            high = "inf" if self.maximum is None else f"{self.maximum:g}"
            unit = f" {self.unit}" if self.unit else ""
            return f"a number in [{low}, {high}]{unit}"
        return f"one class of {len(self.classes)} per item"


def _nfc(text: str) -> str:
    """`text` in Unicode's composed form: "Zürich" typed as u + a combining diaeresis (macOS file names,
    some keyboards) is the same tag as the class set's "Zürich"."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def hint(label: object, kind: LabelKind) -> str | None:
    """Why a label of a campaign of tags or numbers was refused, when a likely slip explains it: a tag
    that is a class spelled otherwise ("did you mean"), tags given by position, a decimal comma; None otherwise."""
    text = str(label).strip()
    if kind.kind == "number":
        digits = text.replace(",", "").replace(".", "").replace(" ", "").lstrip("+-")
        if "," in text and " " not in text and digits.isdigit():
            return "a comma in a number: write decimals with a point and no thousands separator (3.5, 1234.5)"
        return None
    if kind.kind != "multi":
        return None
    given = sorted({_nfc(t.strip()) for t in text.split(SEPARATOR)} - {""})
    by_position = index_hint(given, kind.classes)
    if by_position is not None:
        return by_position
    folded = {_nfc(c).casefold(): c for c in kind.classes}
    meant = []
    for tag in given:
        if tag in kind.classes:
            continue
        close = difflib.get_close_matches(tag.casefold(), list(folded), n=1, cutoff=0.75)
        if not close:
            return None
        meant.append(f"{tag!r}: did you mean {folded[close[0]]!r}?")
    return "; ".join(sorted(meant)) or None


def index_hint(given: Iterable[str], classes: tuple[str, ...]) -> str | None:
    """For labels written as numbers where the class set has names (a tool's index, or a row number of the
    class list): what they would name by position from 0, never taken as such (0- or 1-based is a guess).
    None when a label is not a whole number, is a class, or no position holds it."""
    given = list(given)
    if not given or not classes or any(g in classes or not (g.isascii() and g.isdecimal()) for g in given):
        return None
    if any(_has_digit(c) for c in classes) or any(int(g) >= len(classes) for g in given):
        return None  # "1 star" .. "5 stars", "-1"/"+1", "2.0": a number may well be a class's name slipped
    named = ", ".join(f"{g} = {classes[int(g)]!r}" for g in sorted(given, key=int))
    return f"classes are written by name, not by position (from 0, {named}): write the names"


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def spell_tags(tags: Iterable[str]) -> str:
    """A set of tags as label text: joined by `;`, or `[]` for none."""
    return SEPARATOR.join(tags) or EMPTY


def spell_number(value: float) -> str:
    """A number as label text: an integer without a decimal point, else the shortest exact decimal."""
    value = float(value)  # a numpy float's repr would name its type
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def json_number(text: str) -> float | int | str:
    """Label text as a JSON number (`7` -> 7, `3.5` -> 3.5); text that is not a finite number as it is."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def tags(text: str) -> tuple[str, ...]:
    """The tags of canonical label text (`cat;dog` -> ("cat", "dog"); `[]` -> ())."""
    return () if text == EMPTY else tuple(text.split(SEPARATOR))


def indicator(labels: Iterable[str], classes: tuple[str, ...]) -> np.ndarray:
    """Canonical tag texts as a 0/1 matrix, one column per class in `classes`' order."""
    column = {c: j for j, c in enumerate(classes)}
    labels = list(labels)
    out = np.zeros((len(labels), len(classes)), dtype=np.int64)
    for i, text in enumerate(labels):
        for tag in tags(text):
            out[i, column[tag]] = 1
    return out


def numbers(labels: Iterable[str]) -> np.ndarray:
    """Canonical number texts as floats."""
    return np.asarray([float(v) for v in labels], dtype=float)
