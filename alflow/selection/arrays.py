"""What selection needs of its inputs, whatever they are: frames, arrays, sparse matrices, text lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd


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
