"""What a strategy may know besides the pool: the model, the labeled set, and one chunk at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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

    def embed(self, X: Any) -> np.ndarray:
        """The space distances are measured in (see `embed`)."""
        return embed(self.model, X, fitted=self.fitted)


@dataclass(frozen=True)
class Chunk:
    """What a per-row prefilter sees of one pool chunk.

    `proba` is the model's predict_proba of X (None when nothing is fitted), `reference` the
    embedded pool sample density compares against, `rng` the generator uniform draws come from.
    """

    X: Any
    proba: np.ndarray | None
    context: Context
    reference: np.ndarray | None
    rng: np.random.Generator


def is_fitted(model: Any) -> bool:
    """Whether `model` has been fit on at least two classes.

    An unfitted estimator raises NotFittedError (an AttributeError) for `classes_`: getattr's default.
    """
    classes = getattr(model, "classes_", None)
    return classes is not None and len(classes) >= 2


def is_cold(model: Any, y_labeled: Any) -> bool:
    """No usable model or fewer than two labeled classes: only diversity can choose."""
    if y_labeled is not None and np.unique(np.asarray(y_labeled)).size < 2:
        return True
    return not is_fitted(model)


def embed(model: Any, X: Any, *, fitted: bool) -> np.ndarray:
    """The fitted pipeline's transformed features (everything before its last step), else X as floats."""
    _, head = split_pipeline(model)
    Z = head.transform(X) if head is not None and fitted else X
    return Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z, dtype=float)
