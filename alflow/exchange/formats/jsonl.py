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
from alflow.exchange.formats.base import ID, VOTE_COLUMNS, Format, ReadOptions, jsonl_bytes, kind_of, plain_row
from alflow.exchange.formats.reading import ANNOTATOR, LABEL, META_COLUMNS, vote
from alflow.kinds import LabelKind, json_number, tags
from alflow.values import plain


def write_batch(
    items: pd.DataFrame, *, model_version: str, text_column: str | None, kind: LabelKind | None = None
) -> bytes:
    return jsonl_bytes(plain_row(row) for _, row in items.iterrows())


def batch_ids(data: bytes) -> list[str]:
    return [str(json.loads(line)[ID]) for line in data.decode().splitlines() if line.strip()]


def _votes(stream: IO[bytes], *, tag_lists: bool = False) -> Iterator[dict[str, Any]]:
    for number, line, bad in reading.json_objects(stream):
        if bad is not None:
            yield bad
        elif line is not None:
            label = reading.tag_text(line.get(LABEL)) if tag_lists else line.get(LABEL)
            yield vote(number, line.get(ID), label, line.get(ANNOTATOR), **{m: line.get(m) for m in META_COLUMNS})


def read_delivery(stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """One object per vote, in chunks."""
    return reading.frames(_votes(stream, tag_lists=options.kind == "multi"))


def _label(text: Any, kind: str) -> Any:
    """A label as the one JSON spelling of its kind: a list of tags, a number, else the text."""
    if kind == "multi" and isinstance(text, str):
        return list(tags(text))
    return json_number(text) if kind == "number" and isinstance(text, str) else plain(text)


def write_delivery(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    job_name: str,
    created_at: str,
    kind: LabelKind | None = None,
) -> tuple[str, bytes]:
    columns = [c for c in VOTE_COLUMNS if c in votes.columns]
    name = kind_of(kind)
    return "labels.jsonl", jsonl_bytes(
        {c: _label(row[c], name) if c == LABEL else plain(row[c]) for c in columns} for _, row in votes.iterrows()
    )


FORMAT = Format("jsonl", "items.jsonl", ".jsonl", write_batch, batch_ids, read_delivery, write_delivery)
