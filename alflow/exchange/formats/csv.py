"""CSV both ways: `items.csv` out; label files `*.csv` in, with columns id,label[,annotator].

In: UTF-8 text (a leading byte-order mark is fine), a header naming the columns, one vote per
record. Each physical line is decoded on its own, so a line with bytes that are not UTF-8 costs
its record only (`undecodable`); a record with more fields than the header is `malformed`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import pandas as pd

from alflow.errors import DataValidationError
from alflow.exchange.formats import reading
from alflow.exchange.formats.base import ID, LABEL, VOTE_COLUMNS, Format, ReadOptions
from alflow.exchange.formats.reading import ANNOTATOR, META_COLUMNS, bad_row, vote


def write_batch(items: pd.DataFrame, *, model_version: str, text_column: str | None) -> bytes:
    """The batch as the vendor sees it: one row per item, best first."""
    return items.to_csv(index=False).encode()


def batch_ids(data: bytes) -> list[str]:
    return pd.read_csv(io.BytesIO(data), dtype={ID: str})[ID].tolist()


class _Lines:
    """The file's physical lines as text for csv.reader; remembers which were too long to read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._lines = reading.lines(stream)
        self.too_long: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for number, line in self._lines:
            if line is None:
                self.too_long.add(number)
            yield ("" if line is None else line.decode("utf-8", "surrogateescape")) + "\n"


def _header(records: Iterator[list[str]], source: str) -> tuple[dict[str, int], int]:
    """(column name -> position, number of fields), from the first non-blank record;
    DataValidationError without id and label."""
    header = next((r for r in records if r), None)
    if header is None:
        raise DataValidationError(f"{source}: the file holds no header and no labels", reason="empty")
    names = [name.strip() for name in header]
    if any(reading.has_surrogates(n) or "\x00" in n for n in names):
        raise DataValidationError(
            f"{source}: not a readable CSV file (its header is not UTF-8 text); a label file is UTF-8 CSV",
            reason="unreadable",
        )
    missing = [c for c in (ID, LABEL) if c not in names]
    if missing:
        shown = ", ".join(repr(n[:40]) for n in names[:10])
        raise DataValidationError(
            f"{source}: required column {missing[0]!r} is missing (columns: {shown}); "
            "the header is id,label[,annotator]",
            reason="missing_column",
        )
    return {name: names.index(name) for name in (*VOTE_COLUMNS, *META_COLUMNS) if name in names}, len(names)


def _votes(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    lines = _Lines(stream)
    records = csv.reader(lines)
    columns, width = _header(_records(records), source)
    number, last_line = 0, records.line_num
    for record in _records(records):
        first, last_line = last_line + 1, records.line_num
        if record == []:
            continue
        number += 1
        if record is _ERROR or lines.too_long.intersection(range(first, last_line + 1)):
            yield bad_row(
                number, reading.TOO_LONG, f"the record at line {first} is longer than {reading.MAX_LINE} bytes"
            )
            continue
        if len(record) > width:
            yield bad_row(number, reading.MALFORMED, f"line {first} has {len(record)} fields, the header {width}")
            continue
        fields = {name: (record[i] if i < len(record) else None) for name, i in columns.items()}
        yield vote(number, fields[ID], fields[LABEL], fields.get(ANNOTATOR), **{m: fields.get(m) for m in META_COLUMNS})


_ERROR: list[str] = ["\x00error"]  # a record csv could not parse (a field over its limit)


def _records(records: Any) -> Iterator[list[str]]:
    while True:
        try:
            yield next(records)
        except StopIteration:
            return
        except csv.Error:
            yield _ERROR


def read_delivery(stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """A delivered CSV label file, everything kept as text, in chunks of votes."""
    return reading.frames(_votes(stream, source))


def write_delivery(
    votes: pd.DataFrame, *, classes: tuple[str, ...], job_name: str, created_at: str
) -> tuple[str, bytes]:
    return "labels.csv", votes[[c for c in VOTE_COLUMNS if c in votes.columns]].to_csv(index=False).encode()


FORMAT = Format("csv", "items.csv", ".csv", write_batch, batch_ids, read_delivery, write_delivery)
