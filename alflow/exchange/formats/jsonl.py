"""JSON Lines both ways: `items.jsonl` out; label files `*.jsonl` in, objects {"id", "label"[, "annotator"]}.

In: one object per line; a line that is not one (not UTF-8, not JSON, another value) is one bad row.
A label is text or a number; in a multi-label campaign (alflow.kinds) a JSON list of tags.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import pandas as pd

from alflow.exchange.formats import reading
from alflow.exchange.formats.base import ID, VOTE_COLUMNS, Format, ReadOptions, jsonl_bytes, plain_row
from alflow.exchange.formats.reading import ANNOTATOR, LABEL, META_COLUMNS, vote
from alflow.values import plain


def write_batch(items: pd.DataFrame, *, model_version: str, text_column: str | None) -> bytes:
    return jsonl_bytes(plain_row(row) for _, row in items.iterrows())


def batch_ids(data: bytes) -> list[str]:
    return [str(json.loads(line)[ID]) for line in data.decode().splitlines() if line.strip()]


def _tag_list(label: Any) -> Any:
    """A JSON list of tags as alflow.kinds spells it (`a;b`, `[]`); anything else as it is (`vote` judges it)."""
    if not isinstance(label, list) or not all(type(t) is str and ";" not in t and t != "[]" for t in label):
        return label
    return ";".join(t.strip() for t in label) or "[]"


def _votes(stream: IO[bytes], *, tag_lists: bool = False) -> Iterator[dict[str, Any]]:
    for number, line, bad in reading.json_objects(stream):
        if bad is not None:
            yield bad
        elif line is not None:
            label = _tag_list(line.get(LABEL)) if tag_lists else line.get(LABEL)
            yield vote(number, line.get(ID), label, line.get(ANNOTATOR), **{m: line.get(m) for m in META_COLUMNS})


def read_delivery(stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """One object per vote, in chunks."""
    return reading.frames(_votes(stream, tag_lists=options.kind == "multi"))


def write_delivery(
    votes: pd.DataFrame, *, classes: tuple[str, ...], job_name: str, created_at: str
) -> tuple[str, bytes]:
    columns = [c for c in VOTE_COLUMNS if c in votes.columns]
    return "labels.jsonl", jsonl_bytes({c: plain(row[c]) for c in columns} for _, row in votes.iterrows())


FORMAT = Format("jsonl", "items.jsonl", ".jsonl", write_batch, batch_ids, read_delivery, write_delivery)
