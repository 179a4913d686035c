"""The exchange formats, one module each, and their registry.

    csv           items.csv out; label files *.csv in (id,label[,annotator])
    jsonl         items.jsonl out; label files *.jsonl in
    ground_truth  SageMaker Ground Truth input manifest out; output manifest in
    label_studio  Label Studio import tasks (and label_config.xml) out; its JSON export in
    labelbox      Labelbox data rows out; its export v2 NDJSON in
    doccano       a doccano text-classification dataset out; its JSONL export in

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
