"""Exchange formats with the labeling vendor: what goes out and what comes back."""

from __future__ import annotations

import io

import pandas as pd

from alflow.errors import DataValidationError


def items_csv(items: pd.DataFrame) -> bytes:
    """The batch as the vendor sees it: one row per item, best first."""
    return items.to_csv(index=False).encode()


ID, LABEL = "id", "label"  # the columns of items.csv and of every delivered label file


def read_labels_csv(data: bytes, *, source: str) -> pd.DataFrame:
    """A delivered label file (`id,label`): everything kept as text. Raises on unreadable CSV."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataValidationError(f"{source}: not a readable CSV file ({error})") from None
    return frame.rename(columns=str.strip)
