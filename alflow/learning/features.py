"""The features a model reads, checked before a round does any work: numbers (or texts), none missing.

scikit-learn refuses NaN, infinity and strings deep inside `fit` or `predict_proba`, after a round
has validated, trained and logged; these checks find the first bad value in one streamed pass and
name its row and id instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from alflow.errors import DataValidationError

FIX = "fix or drop those items, or leave the column out with pool.feature_columns"


def _where(frame: pd.DataFrame, position: int, offset: int, id_column: str | None) -> str:
    row = f"row {offset + position + 1}"
    if id_column and id_column in frame.columns:
        return f"{row} (id {frame[id_column].iloc[position]!r})"
    return row


def _numeric_problem(column: pd.Series) -> tuple[int, str] | None:
    """(position, what is wrong) of the first value a model cannot read as a number, or None."""
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
    frame: pd.DataFrame, features: list[str], *, text: bool, id_column: str | None = None, offset: int = 0
) -> str | None:
    """The first bad feature value of `frame`, as a phrase naming the column, row and id; None if all are fine.

    Rows are numbered from 1 after the header, `offset` rows into the file. With `text`, the
    features are texts and only a missing one is a problem.
    """
    for name in features:
        column = frame[name]
        if text:
            empty = column.isna().to_numpy()
            if empty.any():
                where = _where(frame, int(np.flatnonzero(empty)[0]), offset, id_column)
                return f"text column {name!r} is empty in {where}; give every item a text"
            continue
        problem = _numeric_problem(column)
        if problem:
            position, what = problem
            return f"feature column {name!r} {what} in {_where(frame, position, offset, id_column)}; {FIX}"
    return None


def check_features(
    frames: Iterable[pd.DataFrame], features: list[str], *, text: bool, id_column: str | None, source: str
) -> None:
    """Raise DataValidationError (rule_failed) at the first bad feature value of the frames, read in order."""
    offset = 0
    for frame in frames:
        problem = first_problem(frame, features, text=text, id_column=id_column, offset=offset)
        if problem:
            raise DataValidationError(f"{source}: {problem}")
        offset += len(frame)
