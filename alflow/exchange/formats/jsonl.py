"""JSON Lines both ways: `items.jsonl` out; label files `*.jsonl` in, objects {"id", "label"[, "annotator"]}."""

from __future__ import annotations

import json

import pandas as pd

from alflow.exchange.formats.base import ID, VOTE_COLUMNS, Format, json_lines, jsonl_bytes, plain_row
from alflow.values import plain


def write_batch(items: pd.DataFrame, *, model_version: str, text_column: str | None) -> bytes:
    return jsonl_bytes(plain_row(row) for _, row in items.iterrows())


def batch_ids(data: bytes) -> list[str]:
    return [str(json.loads(line)[ID]) for line in data.decode().splitlines() if line.strip()]


def read_delivery(data: bytes, *, source: str, classes: tuple[str, ...]) -> pd.DataFrame:
    """One object per vote (its columns are validated later)."""
    return pd.DataFrame(json_lines(data, source=source, what="JSON Lines"), dtype=object)


def write_delivery(
    votes: pd.DataFrame, *, classes: tuple[str, ...], job_name: str, created_at: str
) -> tuple[str, bytes]:
    columns = [c for c in VOTE_COLUMNS if c in votes.columns]
    return "labels.jsonl", jsonl_bytes({c: plain(row[c]) for c in columns} for _, row in votes.iterrows())


FORMAT = Format("jsonl", "items.jsonl", ".jsonl", write_batch, batch_ids, read_delivery, write_delivery)
