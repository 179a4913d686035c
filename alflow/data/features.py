"""The numeric features a model reads, checked before a round does any work: numbers, none missing.

scikit-learn refuses NaN, infinity and strings deep inside `fit` or `predict_proba`, after a round
has validated, trained and logged; these checks find the first bad value in one streamed pass and
name its row and id instead. (Texts, vectors and references are checked by alflow.data.content.)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from alflow.errors import DataValidationError

FIX = "fix or drop those items, or leave the column out with pool.feature_columns"


def _where(frame: pd.DataFrame, position: int, offset: int, id_column: str | None) -> str:
    row = f"row {offset + position + 1}"
    if id_column and id_column in frame.columns:
        return f"{row} (id {frame[id_column].iloc[position]!r})"
    return row


def _numeric_problem(column: pd.Series) -> tuple[int, str] | None:
    """(position, what is wrong) of the first value a model cannot read as a number, or None."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":  # the usual case: one pass, no copy
        if column.dtype.kind != "f" or np.isfinite(column.to_numpy()).all():
            return None
    values = column if pd.api.types.is_numeric_dtype(column) else pd.to_numeric(column, errors="coerce")
    not_numbers = values.isna() & column.notna()
    if not_numbers.any():
        position = int(np.flatnonzero(not_numbers.to_numpy())[0])
        return position, f"is not numeric: it holds {column.iloc[position]!r}"
    missing = values.isna().to_numpy()
    if missing.any():
        return int(np.flatnonzero(missing)[0]), "has an empty value (NaN)"
    infinite = np.isinf(values.to_numpy(dtype=float))
    if infinite.any():
        return int(np.flatnonzero(infinite)[0]), "holds infinity"
    return None


def first_problem(
    frame: pd.DataFrame, features: list[str], *, id_column: str | None = None, offset: int = 0
) -> str | None:
    """The first bad feature value of `frame`, as a phrase naming the column, row and id; None if all are fine.

    Rows are numbered from 1 after the header, `offset` rows into the file.
    """
    for name in features:
        problem = _numeric_problem(frame[name])
        if problem:
            position, what = problem
            return f"feature column {name!r} {what} in {_where(frame, position, offset, id_column)}; {FIX}"
    return None


def check_features(frames: Iterable[pd.DataFrame], features: list[str], *, id_column: str | None, source: str) -> None:
    """Raise DataValidationError (rule_failed) at the first bad feature value of the frames, read in order."""
    offset = 0
    for frame in frames:
        problem = first_problem(frame, features, id_column=id_column, offset=offset)
        if problem:
            raise DataValidationError(f"{source}: {problem}")
        offset += len(frame)


def check_feature_batches(
    batches: Iterable[pa.RecordBatch], features: list[str], *, id_column: str, source: str
) -> None:
    """`check_features` over a pool's Arrow batches (the id column and `features`), read in order.

    Only the features become pandas columns; the ids of a batch are converted only when it holds a
    bad value, to name its row's id (at 10^8 rows, converting every id would cost more than the check).
    """
    offset = 0
    names = [c for c in dict.fromkeys(features) if c != id_column]
    for batch in batches:
        if first_problem(batch.select(names).to_pandas(), names) is not None:
            problem = first_problem(batch.to_pandas(), features, id_column=id_column, offset=offset)
            raise DataValidationError(f"{source}: {problem}")
        offset += batch.num_rows
