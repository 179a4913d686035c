"""Regression query measures: one score per item for a model that predicts a number, higher first.

- committee variance (query by committee for regression; modAL's max-std, Burbidge et al. 2007):
  the variance of the predictions of `size` copies of the model, each fit on a bootstrap sample
  of the labeled set (the same samples for every chunk, so chunked scoring equals whole); a fitted
  bagging ensemble (RandomForestRegressor, ExtraTreesRegressor, BaggingRegressor, alone or ending a
  Pipeline) whose members saw resampled rows or columns (or, for ExtraTrees, random splits) is its
  own committee: the variance over its members' predictions, nothing refit (its members are fixed,
  so chunked scoring equals whole here too);
- iGS, improved greedy sampling (Wu, Lin & Huang 2019): the distance to the labeled set in the
  inputs times the distance of the prediction to the labels, min_m ||x - x_m|| |f(x) - y_m|, with
  the inputs standardised by the labeled set;
- GSx, greedy sampling in the inputs (Yu & Kim 2010), needs no model: it is k-center greedy from
  the labeled set (alflow.selection.diversity), the registry's pick.

A model is alflow's LabelModel (its `fitted_` regressor reads the numbers, `target` turns label
text into them) or any scikit-learn regressor with the labels as numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alflow.selection.arrays import take

COMMITTEE_SEED = 20_190_101
"""The bootstrap samples' seed: fixed, so every chunk of a pool is scored by the same members."""


def _base(model: Any, y_labeled: Any) -> tuple[Any, np.ndarray]:
    """(the unfitted regressor, the labels as numbers)."""
    if hasattr(model, "target") and hasattr(model, "estimator"):
        return model.estimator, np.asarray(model.target(y_labeled), dtype=float)
    return model, np.asarray(y_labeled, dtype=float)


def predictions(model: Any, X: Any) -> np.ndarray:
    own = getattr(model, "predict_target", None)
    return np.asarray(own(X) if own is not None else model.predict(X), dtype=float).ravel()


def ensemble_members(model: Any) -> tuple[Any, Any | None] | None:
    """(a fitted bagging ensemble, the pipeline steps before it or None), or None when the model
    (alflow's LabelModel: its `fitted_`) is not a fitted RandomForestRegressor, ExtraTreesRegressor
    or BaggingRegressor, alone or ending a Pipeline, with members that differ (`_resampled`)."""
    from sklearn.ensemble import BaggingRegressor, ExtraTreesRegressor, RandomForestRegressor

    from alflow.selection.measures import split_pipeline

    final, before = split_pipeline(getattr(model, "fitted_", model))
    bagging = isinstance(final, RandomForestRegressor | ExtraTreesRegressor | BaggingRegressor)
    if not bagging or len(getattr(final, "estimators_", ())) < 2:
        return None
    return (final, before) if isinstance(final, ExtraTreesRegressor) or _resampled(final) else None


def _resampled(ensemble: Any) -> bool:
    """Whether an ensemble's members saw different data (bootstrap samples, subsets of rows or columns):
    without it a forest's trees are near copies and a bagging of a deterministic model exact ones, whose
    spread says nothing (ExtraTrees' members differ by their random splits, so they count)."""
    if getattr(ensemble, "bootstrap", False) or getattr(ensemble, "bootstrap_features", False):
        return True
    return any(getattr(ensemble, name, None) not in (None, 1.0) for name in ("max_features", "max_samples"))


def member_predictions(ensemble: Any, X: Any) -> np.ndarray:
    """(members, n) each member's predictions of X, on the inputs it was fit on (a BaggingRegressor's
    members may each see a subset of the columns)."""
    Z = X.to_numpy() if hasattr(X, "columns") else X  # the members were fit on arrays
    members = ensemble.estimators_
    columns = getattr(ensemble, "estimators_features_", None) or [slice(None)] * len(members)
    return np.asarray([m.predict(Z[:, c]) for m, c in zip(members, columns, strict=True)], dtype=float).reshape(
        len(members), -1
    )


def committee_variance(model: Any, X: Any, X_labeled: Any, y_labeled: Any, *, size: int) -> np.ndarray:
    """The variance of the predictions of X by a fitted bagging ensemble's own members, or else by
    `size` bootstrap refits of the model."""
    from sklearn.base import clone

    own = ensemble_members(model)
    if own is not None:  # its members are the committee: fit on resampled data already, nothing refit
        ensemble, before = own
        return np.var(member_predictions(ensemble, before.transform(X) if before is not None else X), axis=0)
    base, y = _base(model, y_labeled)
    rng = np.random.default_rng(COMMITTEE_SEED)
    members = []
    for _ in range(size):
        rows = rng.integers(0, len(y), len(y))
        if np.unique(y[rows]).size < 2:  # a sample of one value teaches nothing: take all
            rows = np.arange(len(y))
        members.append(clone(base).fit(take(X_labeled, rows), y[rows]).predict(X))
    return np.var(np.asarray(members, dtype=float).reshape(size, -1), axis=0)


def improved_greedy(model: Any, X: Any, X_labeled: Any, y_labeled: Any) -> np.ndarray:
    """iGS: min over labeled items of (input distance x output distance)."""
    _, y = _base(model, y_labeled)
    L = np.asarray(X_labeled, dtype=float)
    mean, std = L.mean(axis=0), L.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    Z, ZL = (np.asarray(X, dtype=float) - mean) / std, (L - mean) / std
    f = predictions(model, X)
    squared = (Z**2).sum(axis=1)[:, None] - 2 * Z @ ZL.T + (ZL**2).sum(axis=1)[None, :]
    distance = np.sqrt(np.maximum(squared, 0.0))
    return (distance * np.abs(f[:, None] - y[None, :])).min(axis=1)
