"""What an item is besides numeric columns: its text, its embedding vector, its reference.

A *text* is what the annotator reads (and what a text model reads); a *vector* is an embedding the
team's own foundation model made (a Parquet `list<float>` or fixed-size list column, or JSON text
`[0.1, ...]` in a CSV file), the model's features; a *reference* is where the item itself is, an
`s3://` or local URI of an image, a scan or a document, which the vendor gets as `source-ref`.

The checks here run a chunk at a time, so a pool of any size is checked in bounded memory, and
raise DataValidationError with one line naming the file, the column, the rule and an example row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alflow.config import PoolConfig
from alflow.errors import DataValidationError
from alflow.exchange.bucket import open_store

REMOTE = ("http://", "https://")
"""References served over HTTP are passed to the vendor as they are; nothing here can fetch them."""


def _as_list(value: Any) -> Any:
    """One cell of a vector column as a sequence of numbers, or None when it is not one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, np.ndarray | list | tuple):
        return value
    return None


def vectors(values: Iterable[Any]) -> np.ndarray:
    """The (n, d) float matrix of a vector column (validation by `check_chunk` is assumed)."""
    rows = [np.asarray(_as_list(v), dtype=float) for v in values]
    return np.stack(rows) if rows else np.empty((0, 0))


def _shown(value: Any) -> Any:
    """A cell as an error message shows it: long texts and vectors cut short."""
    if isinstance(value, np.ndarray | list | tuple):
        return f"[{', '.join(f'{float(v):g}' for v in list(value)[:3])}, ... {len(value)} values]"
    if isinstance(value, str) and len(value) > 60:
        return value[:57] + "..."
    return value


def _fail(frame: pd.DataFrame, bad: np.ndarray, column: str, rule: str, what: str, *, source: str, offset: int):
    """The one-line error for `bad` rows (a boolean mask over `frame`), naming the first of them."""
    first = int(np.flatnonzero(bad)[0])
    row = {k: _shown(v) for k, v in frame.iloc[first].to_dict().items()}
    return DataValidationError(
        f"{source}: column {column!r} {what} ({rule}, {int(bad.sum())} row(s) in rows "
        f"{offset + 1}-{offset + len(frame)}); e.g. row {offset + first + 1}: {row}"
    )


def _missing(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy()


def check_texts(frame: pd.DataFrame, column: str, *, source: str, offset: int = 0) -> None:
    """Every row has a non-blank text."""
    values = frame[column]
    bad = _missing(values) | (values.astype(str).str.strip() == "").to_numpy()
    if bad.any():
        raise _fail(frame, bad, column, "text_not_empty", "must hold a non-empty text", source=source, offset=offset)


def vector_length(value: Any) -> int | None:
    """The length of one vector cell, or None when it is not a vector of finite numbers."""
    numbers = _as_list(value)
    if numbers is None or len(numbers) == 0:
        return None
    try:
        array = np.asarray(numbers, dtype=float)
    except (TypeError, ValueError):
        return None
    return len(array) if array.ndim == 1 and np.isfinite(array).all() else None


def check_vectors(
    frame: pd.DataFrame, column: str, *, dimensions: int | None, source: str, offset: int = 0
) -> int | None:
    """Every row is a vector of `dimensions` finite numbers (None: of the first row's length);
    returns the length, for the next chunk and the holdout."""
    lengths = [vector_length(v) for v in frame[column]]
    bad = np.array([n is None for n in lengths], dtype=bool)
    if bad.any():
        what = "must hold a vector of finite numbers (no NaN, no empty row)"
        raise _fail(frame, bad, column, "vector_finite", what, source=source, offset=offset)
    if dimensions is None and lengths:
        dimensions = lengths[0]
    wrong = np.array([n != dimensions for n in lengths], dtype=bool)
    if wrong.any():
        what = f"must hold vectors of one length, {dimensions} like the pool's first row"
        raise _fail(frame, wrong, column, "vector_length", what, source=source, offset=offset)
    return dimensions


def resolve(reference: str, base: str) -> str:
    """A reference as the vendor gets it: URIs as they are; a relative path is relative to `base`,
    the pool file's folder (a local folder, or an s3:// prefix), and a local one is made absolute."""
    reference = reference.strip()
    if "://" in reference:
        return reference
    if base.startswith("s3://"):
        return f"{base.rstrip('/')}/{reference}"
    path = Path(reference).expanduser()
    return str(path if path.is_absolute() else (Path(base) / path).resolve())


def base_of(uri: str) -> str:
    """The folder relative references are read against: the pool file's own."""
    return uri.rsplit("/", 1)[0] if uri.startswith("s3://") else str(Path(uri).parent)


def _unresolved(references: list[str]) -> np.ndarray:
    """Which references name nothing: a local file that does not exist, an s3:// key that is not
    listed (one listing per folder-like prefix, not one request per item), or another scheme."""
    bad = np.zeros(len(references), dtype=bool)
    folders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, ref in enumerate(references):
        if ref.startswith("s3://"):
            bucket, _, key = ref.removeprefix("s3://").partition("/")
            folders[(bucket, key.rpartition("/")[0])].append(i)
        elif ref.startswith("file://"):
            bad[i] = not Path(ref.removeprefix("file://")).is_file()
        elif not ref.startswith(REMOTE):
            bad[i] = "://" in ref or not Path(ref).is_file()
    for (bucket, folder), rows in folders.items():
        try:
            keys = set(open_store(f"s3://{bucket}").list(f"{folder}/" if folder else ""))
        except OSError:
            keys = set()
        for i in rows:
            bad[i] = references[i].removeprefix(f"s3://{bucket}/") not in keys
    return bad


def check_references(frame: pd.DataFrame, column: str, *, base: str, source: str, offset: int = 0) -> None:
    """Every row names an item that exists: a local file, an s3:// object (http(s) URLs are not checked)."""
    values = frame[column]
    empty = _missing(values) | (values.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        what = "must hold where the item is (an s3:// URI or a path)"
        raise _fail(frame, empty, column, "reference_not_empty", what, source=source, offset=offset)
    bad = _unresolved([resolve(str(v), base) for v in values])
    if bad.any():
        what = "must name an item that exists (a local file or an s3:// object), but this one does not resolve"
        raise _fail(frame, bad, column, "reference_resolves", what, source=source, offset=offset)


def content_columns(pool: PoolConfig) -> list[str]:
    """The pool's text, vector and reference columns that are set, in that order."""
    return [c for c in (pool.text_column, pool.vector_column, pool.reference_column) if c]


def check_chunk(
    frame: pd.DataFrame, pool: PoolConfig, *, dimensions: int | None, base: str, source: str, offset: int = 0
) -> int | None:
    """Check one chunk's texts, vectors and references; returns the vector length (None without vectors)."""
    if pool.text_column:
        check_texts(frame, pool.text_column, source=source, offset=offset)
    if pool.vector_column:
        dimensions = check_vectors(frame, pool.vector_column, dimensions=dimensions, source=source, offset=offset)
    if pool.reference_column:
        check_references(frame, pool.reference_column, base=base, source=source, offset=offset)
    return dimensions


def check_items(
    chunks: Iterable[pd.DataFrame], pool: PoolConfig, *, base: str, source: str, dimensions: int | None = None
) -> int | None:
    """`check_chunk` over a file read in chunks; returns the vector length found (None without vectors)."""
    offset = 0
    for chunk in chunks:
        dimensions = check_chunk(chunk, pool, dimensions=dimensions, base=base, source=source, offset=offset)
        offset += len(chunk)
    return dimensions
