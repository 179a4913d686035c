"""What a strategy may know besides the pool: the model, the labeled set, and one chunk at a time."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from alflow.selection.checks import has_proba, model_kind
from alflow.selection.measures import split_pipeline


@dataclass(frozen=True)
class Context:
    """The fitted model and the labeled set, resolved once per selection.

    `fitted` is False at cold start (no usable model, or fewer than two labeled classes): then
    `classes` and every model-derived field are None and only diversity can choose.
    """

    model: Any
    fitted: bool
    classes: np.ndarray | None
    X_labeled: Any
    y_labeled: np.ndarray | None
    class_weights: np.ndarray | None
    committee: list[Any] | None

    def space(self, sample: Any) -> Space:
        """The space distances are measured in for this selection, fit on `sample` (pool rows) and the labeled items."""
        return fit_space(self.model, sample, self.X_labeled if self.has_labels else None, fitted=self.fitted)

    @property
    def has_labels(self) -> bool:
        return self.X_labeled is not None and self.y_labeled is not None and len(self.y_labeled) > 0


@dataclass(frozen=True)
class Space:
    """Where distances are measured: a fitted pipeline's transformed features (already scaled by
    it), or else the raw features standardised by a pool sample and the labeled items. Missing
    values sit at the mean (0 after standardising), so a NaN feature neither attracts nor repels."""

    model: Any
    fitted: bool
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __call__(self, X: Any) -> np.ndarray:
        Z = embed(self.model, X, fitted=self.fitted)
        if self.mean is not None and self.std is not None:
            Z = (Z - self.mean) / self.std
        return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)


def fit_space(model: Any, sample: Any, X_labeled: Any = None, *, fitted: bool) -> Space:
    """The distance space of one selection: standardisation statistics from `sample` and `X_labeled`."""
    if getattr(model, "steps", None) and fitted:
        return Space(model, fitted)
    parts = [embed(model, sample, fitted=fitted)]
    if X_labeled is not None:
        parts.append(embed(model, X_labeled, fitted=fitted))
    Z = np.concatenate(parts)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: mean 0, scale 1
        mean, std = np.nanmean(Z, axis=0), np.nanstd(Z, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return Space(model, fitted, mean, std)


@dataclass(frozen=True)
class Chunk:
    """What a per-row prefilter sees of one pool chunk.

    `proba` is the model's predict_proba of X (None when the strategy does not score it),
    `reference` the pool sample density compares against, in `space`, and `rng` the generator
    uniform draws come from.
    """

    X: Any
    proba: np.ndarray | None
    context: Context
    reference: np.ndarray | None
    rng: np.random.Generator
    space: Space | None = None


def is_fitted(model: Any) -> bool:
    """Whether `model` is a classifier fit on at least two classes (a regressor never is).

    An unfitted estimator raises NotFittedError (an AttributeError) for `classes_`: getattr's default.
    """
    classes = getattr(model, "classes_", None)
    return classes is not None and len(classes) >= 2


def is_cold(model: Any, y_labeled: Any) -> bool:
    """No fitted classifier or fewer than two labeled classes: only diversity can choose."""
    if y_labeled is not None and np.unique(np.asarray(y_labeled)).size < 2:
        return True
    return not is_fitted(model)


def cold_reason(model: Any, y_labeled: Any) -> str | None:
    """Why strategies that score predict_proba cannot run (a sentence's clause), or None when they can."""
    name = type(model).__name__
    if model_kind(model) == "regressor":
        return f"{name} is a regressor"
    if y_labeled is not None and np.unique(np.asarray(y_labeled)).size < 2:
        return "the labeled set holds fewer than two classes"
    if not is_fitted(model):
        return f"{name} is not fitted"
    if not has_proba(model):
        return f"{name} offers no predict_proba"
    return None


def embed(model: Any, X: Any, *, fitted: bool) -> np.ndarray:
    """The fitted pipeline's transformed features (everything before its last step), else X as floats."""
    _, head = split_pipeline(model)
    Z = head.transform(X) if head is not None and fitted else X
    return Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z, dtype=float)
