"""The exchange formats, one module each, and their registry (`FORMATS`, below).

Adding a format is one module with a `FORMAT` spec (alflow.exchange.formats.base.Format), one
entry below, and its tests: the contract suite (tests/test_vendors.py) iterates `FORMATS`, and
the campaign file's `vendor.format` accepts exactly these names. docs/VENDORS.md shows each.
"""

from __future__ import annotations

from alflow.exchange.formats import csv, doccano, ground_truth, jsonl, label_studio, labelbox
from alflow.exchange.formats.base import Format

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (csv.FORMAT, jsonl.FORMAT, ground_truth.FORMAT, label_studio.FORMAT, labelbox.FORMAT, doccano.FORMAT)
}


def get(name: str) -> Format:
    """The format called `name`; ValueError naming the ones there are."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"format={name!r}: use one of {', '.join(FORMATS)}") from None
