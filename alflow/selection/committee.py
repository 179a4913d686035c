"""Committees for query-by-committee: bootstrap refits of one estimator, or a given list of estimators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alflow.selection.arrays import n_rows, take


def bootstrap_rows(y: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """A bootstrap sample of row indices that keeps at least one item of every class."""
    one_each = np.array([rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)])
    rest = rng.integers(0, len(y), size=max(len(y) - one_each.size, 0))
    return np.concatenate([one_each, rest])


def fit_committee(
    model: Any,
    X_labeled: Any,
    y_labeled: np.ndarray,
    *,
    members: Sequence[Any] | None = None,
    size: int = 5,
    rng: np.random.Generator,
) -> list[Any]:
    """Fitted committee members: clones of `members` fit on all labels, or `size` bootstrap refits of `model`."""
    from sklearn.base import clone  # scikit-learn costs a second to import: only when a committee is fit

    y = np.asarray(y_labeled)
    if members:
        return [clone(m).fit(X_labeled, y) for m in members]
    committee = []
    for _ in range(size):
        rows = bootstrap_rows(y, rng=rng)
        committee.append(clone(model).fit(take(X_labeled, rows), y[rows]))
    return committee


def committee_proba(committee: Sequence[Any], X: Any, classes: np.ndarray) -> np.ndarray:
    """Stacked member probabilities, shape (n_members, n, len(classes)), columns in `classes` order.

    A member that never saw a class gives it probability 0.
    """
    classes = np.asarray(classes)
    stacked = np.zeros((len(committee), n_rows(X), classes.size))
    for m, member in enumerate(committee):
        columns = np.searchsorted(classes, member.classes_)
        stacked[m][:, columns] = member.predict_proba(X)
    return stacked
