"""Plain values at the edges: what a cell of a vendor's file or a frame becomes in JSON."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy numbers become Python ones; NaN and pandas' NA become None."""
    if hasattr(value, "item"):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def text(value: Any) -> str | None:
    """A cell as stripped text, or None when it is empty (None, NaN, NA or only blanks)."""
    value = plain(value)
    if value is None:
        return None
    return str(value).strip() or None


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 label', '2 labels', '0 labels' (`plural` for nouns that take more than an s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
