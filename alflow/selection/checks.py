"""Validation at the edge of selection: the batch size, the randomness, the rows and the model.

Everything inside `alflow.selection` assumes these checks were made (`select`, `ActiveLearner`
and the round's selection stage make them); each error names the argument, its value and what
would do instead.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alflow.errors import ModelError
from alflow.selection.arrays import as_rows

RandomState = int | Sequence[int] | np.random.Generator | np.random.RandomState | None


def batch_size(k: Any, n: int) -> int:
    """`k` as an int if it is a whole number in 1..n; TypeError or ValueError naming it otherwise."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"batch_size={k!r} must be an integer (got {type(k).__name__}); pass int(batch_size)")
    size = int(k)
    if not 0 < size <= n:
        raise ValueError(f"batch_size={size} must be between 1 and the pool size {n}; lower it")
    return size


def positive(value: Any, name: str) -> int:
    """`value` as an int if it is a whole number >= 1; TypeError or ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r} must be an integer (got {type(value).__name__})")
    if int(value) < 1:
        raise ValueError(f"{name}={value} must be at least 1")
    return int(value)


def generator(random_state: Any) -> np.random.Generator:
    """A numpy Generator from `random_state`: None, an int, a sequence of ints, a Generator or a RandomState.

    A RandomState (scikit-learn's convention) seeds a new Generator from its next draw, so the same
    RandomState state gives the same batch.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(int(random_state.randint(0, 2**31 - 1)))
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise TypeError(
            f"random_state={random_state!r} must be None, an int, a sequence of ints, "
            "a numpy Generator or a numpy RandomState"
        ) from None


def spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """`n` independent child generators of `rng` (numpy's `spawn`; drawn seeds for a bit generator
    that cannot spawn, e.g. one built around a legacy seed)."""
    try:
        return list(rng.spawn(n))
    except (TypeError, ValueError):
        return [np.random.default_rng(int(seed)) for seed in rng.integers(0, 2**63 - 1, size=n)]


def rows(X: Any, name: str = "X_pool") -> Any:
    """X in a form whose rows can be taken by position: sparse matrices become CSR, a list or
    tuple an array (texts a 1-D object array, see `alflow.selection.arrays.as_rows`).

    Raises TypeError naming `name` for a scalar or a string.
    """
    if X is None or isinstance(X, str | bytes) or (np.ndim(X) == 0 and not hasattr(X, "shape")):
        raise TypeError(f"{name}={X!r:.40} must be rows of items (an array, DataFrame, sparse matrix or list)")
    if hasattr(X, "tocsr") and not hasattr(X, "iloc"):
        return X.tocsr()  # COO, DIA and friends cannot be indexed by row
    return as_rows(X)


def model_kind(model: Any) -> str:
    """What selection can do with `model`: 'classifier', 'regressor' or 'other'.

    scikit-learn's tags decide for its estimators; any other object is a classifier if it has `classes_`.
    """
    from sklearn.base import is_classifier, is_regressor  # scikit-learn costs a second: only when selecting

    try:
        if is_regressor(model):
            return "regressor"
        if is_classifier(model):
            return "classifier"
    except (AttributeError, TypeError):  # not a scikit-learn estimator: duck typing
        pass
    return "classifier" if hasattr(model, "classes_") else "other"


def has_proba(model: Any) -> bool:
    """Whether `model` offers predict_proba (SVC() does not; SVC(probability=True) does)."""
    return hasattr(model, "predict_proba")


def check_model(model: Any, *, strategy: str, reads_model: bool, fitted: bool, n_classes: int | None) -> None:
    """Raise ModelError when `strategy` cannot work with `model`, before any row is read.

    A strategy that reads the model (`reads_model`: it scores predict_proba) needs a classifier
    that offers predict_proba; diversity-only strategies read the features alone and take any
    model. A classifier that is not fitted while `y_labeled` holds two or more classes is a
    mistake whatever the strategy (an unfitted model is for a cold start).
    """
    name, kind = type(model).__name__, model_kind(model)
    if reads_model and kind == "regressor":
        raise ModelError(
            f"strategy {strategy!r} needs a classifier; {name} is a regressor: alflow selects for "
            "classification (kcenter, kmeans, typiclust and random read only the features)"
        )
    if reads_model and fitted and not has_proba(model):
        raise ModelError(
            f"strategy {strategy!r} needs predict_proba, which {name} does not offer "
            "(for SVC: SVC(probability=True)); kcenter, kmeans, typiclust and random do without"
        )
    if kind != "regressor" and not fitted and n_classes is not None and n_classes >= 2:
        raise ModelError(
            f"the model ({name}) is not fitted, but y_labeled holds {n_classes} classes: "
            "fit it on X_labeled, y_labeled first (an unfitted model is for a cold start only)"
        )


def class_costs(seconds: Mapping[str, float]) -> dict[str, float]:
    """Expected seconds per class, each a finite number > 0; ValueError naming the class otherwise."""
    out = {}
    for name, value in seconds.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"class_seconds[{name!r}]={value!r} must be a number of seconds > 0")
        out[str(name)] = float(value)
    return out


def check_balance(model: Any) -> None:
    """Raise ValueError when class balance cannot apply: a model of numbers has no classes to balance."""
    if getattr(model, "label_task", None) == "number" or model_kind(model) == "regressor":
        raise ValueError("class_balance balances classes or tags; a model of numbers has none: leave class_balance off")
