"""doccano both ways: a text-classification dataset to import out; the project's JSONL export in.

Out: `items.jsonl`, one example per line as doccano imports it: `text` (the item's text, or its
features as inline JSON text), `label` an empty list (doccano's import wants its label column in
the file; an empty list creates no label), and the item's id, score and the model's guess as extra
keys, which doccano keeps as the example's metadata (`alflow_id`, `alflow_score`, `alflow_predicted`). In: the
export, one example per line, `label` a list of category names (older versions: `labels`), the
item's id back in `alflow_id`. An example nobody labeled yet (an empty list) is no vote; several
categories for a single-choice item are `multiple_labels`. doccano writes one file per annotator
(`<user>.jsonl`) unless the project shares annotations (`all.jsonl`): the file's name is then the
annotator, and the ingest reads a delivery's new files as one set of votes (`read_together`).

Tags (alflow.kinds): a text-classification project without "allow single label" exports the
categories chosen, which are the item's tags. doccano writes the same empty list for an example
nobody labeled and for one labeled with no category, so an empty list is never the empty set: the
item stays outstanding. Numbers: doccano has no numeric project type; a sequence-to-sequence
project's export holds each example's typed answers in the same `label` list, and its one answer
is the number (two answers for one item are `multiple_labels`, words are `not_a_number`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import pandas as pd

from alflow.exchange.formats import reading
from alflow.exchange.formats.base import ID, LABEL, Format, ReadOptions, jsonl_bytes, kind_of, plain_row
from alflow.exchange.formats.reading import bad_row, vote
from alflow.kinds import LabelKind, tags

ITEM_KEY = "alflow_id"  # doccano's own `id` is its example number: the item's id travels beside it
SHARED = "all"  # the export of a project whose annotations are shared: no one annotator
# doccano's import (1.8, backend/data_import/pipeline/makers.py) wants its label column in the file,
# else it reports "Column label not found in the file": an empty list there imports no label.
LABEL_COLUMN = "label"


def _meta(value: Any) -> Any:
    """A metadata value doccano keeps: no guess (a cold start) is "", never null, which its import
    (pandas) turns into NaN, JSON its API cannot send."""
    return "" if value is None else value


def write_batch(
    items: pd.DataFrame, *, model_version: str, text_column: str | None, kind: LabelKind | None = None
) -> bytes:
    lines = []
    for _, row in items.iterrows():
        fields = plain_row(row)
        if text_column and text_column in fields:
            text = fields[text_column]
        else:
            text = json.dumps({k: v for k, v in fields.items() if k not in (ID, "score", "predicted")}, sort_keys=True)
        lines.append(
            {"text": text, LABEL_COLUMN: [], ITEM_KEY: str(fields[ID]), "alflow_score": _meta(fields.get("score")),
             "alflow_predicted": _meta(fields.get("predicted")), "alflow_model": model_version}
        )  # fmt: skip
    return jsonl_bytes(lines)


def batch_ids(data: bytes) -> list[str]:
    return [str(json.loads(line)[ITEM_KEY]) for line in data.decode().splitlines() if line.strip()]


def _annotator(source: str) -> str | None:
    stem = source.rsplit("/", 1)[-1].removesuffix(".jsonl")
    return None if stem in (SHARED, "") else stem


def _votes(stream: IO[bytes], source: str, kind: str = "class") -> Iterator[dict[str, Any]]:
    who = _annotator(source)
    for number, line, bad in reading.json_objects(stream, (ITEM_KEY,)):
        if bad is not None:
            yield bad
        elif line is not None:
            labels = line.get("label", line.get("labels"))
            item = line.get(ITEM_KEY)
            if labels in (None, []):
                continue  # not labeled yet: no vote
            if not isinstance(labels, list):
                yield bad_row(number, reading.MALFORMED, f"line {number}: `label` is not a list of categories", item)
            elif kind == "multi":
                yield vote(number, item, reading.tag_text(labels), who, human_annotated="yes")
            elif len(labels) > 1:
                what = "categories for a single-choice item" if kind == "class" else "answers for one number"
                yield bad_row(number, reading.MULTIPLE_LABELS, f"line {number}: {len(labels)} {what}", item)
            else:
                yield vote(number, item, labels[0], who, human_annotated="yes")


def read_delivery(stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """A JSONL export, in chunks of votes: one per labeled example."""
    return reading.frames(_votes(stream, source, options.kind))


def write_delivery(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    job_name: str,
    created_at: str,
    kind: LabelKind | None = None,
) -> tuple[str, bytes]:
    """An export as doccano writes it for a project that shares annotations: one vote per line
    (tags as the categories chosen, a number as the one typed answer of a sequence-to-sequence project)."""
    multi = kind_of(kind) == "multi"
    lines = [
        {
            "id": n,
            "text": "",
            ITEM_KEY: str(row[ID]),
            "label": list(tags(str(row[LABEL]))) if multi else [str(row[LABEL])],
        }
        for n, (_, row) in enumerate(votes.iterrows(), start=1)
    ]
    return f"{SHARED}.jsonl", jsonl_bytes(lines)


def _together(key: str) -> bool:
    return key.lower().endswith(".jsonl")


FORMAT = Format(
    "doccano", "items.jsonl", ".jsonl", write_batch, batch_ids, read_delivery, write_delivery, read_together=_together
)
