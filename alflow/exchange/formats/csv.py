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
from alflow.exchange.formats.reading import META_COLUMNS, bad_row
from alflow.kinds import LabelKind


def write_batch(
    items: pd.DataFrame, *, model_version: str, text_column: str | None, kind: LabelKind | None = None
) -> bytes:
    """The batch as the vendor sees it: one row per item, best first."""
    return items.to_csv(index=False).encode()


def batch_ids(data: bytes) -> list[str]:
    return pd.read_csv(io.BytesIO(data), dtype={ID: str})[ID].tolist()


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


def _chunks(stream: IO[bytes], source: str) -> Iterator[pd.DataFrame]:
    """The file's votes in chunks: one row per record, a bad row for a record that cannot be one."""
    lines = reading.TextLines(stream)
    records = csv.reader(lines)
    columns, width = _header(_records(records), source)
    numbers: list[int] = []
    fields: list[list[str]] = []
    bad: list[dict[str, Any]] = []
    number, last_line = 0, records.line_num
    for record in _records(records):
        first, last_line = last_line + 1, records.line_num
        too_long = lines.too_long and lines.too_long.intersection(range(first, last_line + 1))
        if not record and not too_long:
            continue
        number += 1
        if record is _ERROR or too_long:
            why = f"the record at line {first} is over {reading.MAX_LINE} bytes"
            bad.append(bad_row(number, reading.TOO_LONG, why, _head_id(lines.heads.get(first), columns[ID])))
        elif len(record) > width:
            bad.append(bad_row(number, reading.MALFORMED, f"line {first} has {len(record)} fields, the header {width}"))
        else:
            numbers.append(number)
            fields.append(record if len(record) == width else record + [""] * (width - len(record)))
        if len(numbers) + len(bad) >= reading.CHUNK_ROWS:
            yield _frame(numbers, fields, bad, columns)
            numbers, fields, bad = [], [], []
    if numbers or bad:
        yield _frame(numbers, fields, bad, columns)


def _frame(
    numbers: list[int], fields: list[list[str]], bad: list[dict[str, Any]], columns: dict[str, int]
) -> pd.DataFrame:
    """One chunk: the good records' columns normalised at once (`reading.texts`), the bad rows after them."""
    frame = pd.DataFrame({reading.ROW: numbers}, dtype=object)
    problem: list[str | None] = [None] * len(numbers)
    detail: list[str | None] = [None] * len(numbers)
    for name in reading.COLUMNS[1:-2]:
        if name not in columns:
            frame[name] = None
            continue
        values, problems = reading.texts([f[columns[name]] for f in fields])
        if name == reading.SECONDS:  # time spent, written as text: seconds, or none
            frame[name] = pd.Series([reading.seconds(v) for v in values], dtype=object)
            continue
        frame[name] = pd.Series(values, dtype=object)
        if name in VOTE_COLUMNS and any(problems):
            for n, trouble in enumerate(problems):
                if trouble and not problem[n]:
                    problem[n], detail[n] = trouble, f"{name} is not valid UTF-8 text"
    frame[reading.PROBLEM] = pd.Series(problem, dtype=object)
    frame[reading.DETAIL] = pd.Series(detail, dtype=object)
    if not bad:
        return frame
    return pd.concat([frame, pd.DataFrame(bad, columns=reading.COLUMNS, dtype=object)], ignore_index=True)


def _head_id(head: bytes | None, position: int) -> str | None:
    """The id field of a record too long to read, when its head holds that field whole."""
    if head is None:
        return None
    fields = next(csv.reader([head.decode("utf-8", "replace")]), [])
    return fields[position].strip() or None if len(fields) > position + 1 else None


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
    return _chunks(stream, source)


def write_delivery(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    job_name: str,
    created_at: str,
    kind: LabelKind | None = None,
) -> tuple[str, bytes]:
    """A label file as a person writes one: labels in their one spelling (tags `a;b`, a decimal)."""
    return "labels.csv", votes[[c for c in VOTE_COLUMNS if c in votes.columns]].to_csv(index=False).encode()


FORMAT = Format("csv", "items.csv", ".csv", write_batch, batch_ids, read_delivery, write_delivery)
