"""CSV both ways: `items.csv` out; label files `*.csv` in, with columns id,label[,annotator]."""

from __future__ import annotations

import io

import pandas as pd

from alflow.errors import DataValidationError
from alflow.exchange.formats.base import ID, VOTE_COLUMNS, Format


def write_batch(items: pd.DataFrame, *, model_version: str, text_column: str | None) -> bytes:
    """The batch as the vendor sees it: one row per item, best first."""
    return items.to_csv(index=False).encode()


def batch_ids(data: bytes) -> list[str]:
    return pd.read_csv(io.BytesIO(data), dtype={ID: str})[ID].tolist()


def read_delivery(data: bytes, *, source: str, classes: tuple[str, ...]) -> pd.DataFrame:
    """A delivered CSV label file, everything kept as text (its columns are validated later)."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataValidationError(f"{source}: not a readable CSV file ({error})", reason="unreadable") from None
    return frame.rename(columns=str.strip)


def write_delivery(
    votes: pd.DataFrame, *, classes: tuple[str, ...], job_name: str, created_at: str
) -> tuple[str, bytes]:
    return "labels.csv", votes[[c for c in VOTE_COLUMNS if c in votes.columns]].to_csv(index=False).encode()


FORMAT = Format("csv", "items.csv", ".csv", write_batch, batch_ids, read_delivery, write_delivery)
