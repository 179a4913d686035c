"""What selection needs of its inputs, whatever they are: frames, arrays, sparse matrices, text lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd


def as_rows(X: Any) -> Any:
    """X with rows that `take` and `stack` can index: a list or tuple becomes an array (texts a 1-D
    object array, numbers a float array); frames, series, arrays and sparse matrices stay as they are."""
    if not isinstance(X, list | tuple):
        return X
    rows = np.asarray(X)
    return rows.astype(object) if rows.dtype.kind in "USO" else rows


def is_text(X: Any) -> bool:
    """Whether X holds one string per row (a text series or a 1-D array of strings)."""
    if hasattr(X, "tocsr") or getattr(X, "ndim", 1) != 1 or not n_rows(X):
        return False
    return isinstance(X.iloc[0] if hasattr(X, "iloc") else X[0], str)


def n_rows(X: Any) -> int:
    """Rows of a frame, array, sparse matrix or list."""
    return X.shape[0] if hasattr(X, "shape") else len(X)


def take(X: Any, rows: np.ndarray) -> Any:
    """The rows at positions `rows` (an integer array), in that order, of the same kind as X."""
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def stack(parts: list[Any]) -> Any:
    """Rows of several parts of one kind, in order (frames, sparse matrices or arrays)."""
    if hasattr(parts[0], "iloc"):
        return pd.concat(parts, ignore_index=True)
    if hasattr(parts[0], "tocsr"):
        import scipy.sparse as sp

        return sp.vstack(parts).tocsr()
    return np.concatenate(parts)


def chunked(X: Any, size: int) -> Iterator[tuple[np.ndarray, Any]]:
    """`(row positions, rows)` pairs over an in-memory pool, `size` rows at a time."""
    n = n_rows(X)
    for start in range(0, n, size):
        rows = np.arange(start, min(start + size, n))
        yield rows, (X.iloc[start : start + size] if hasattr(X, "iloc") else X[start : start + size])
