"""Multi-label query measures: one score per item from its per-label probabilities, higher first.

`P` has shape (n, n_labels): the probability that each label (tag) applies, each column on its
own (a one-vs-rest or multi-output model). As in modAL's multi-label strategies, a label's
decision value is f = 2p - 1 (the sign says whether the tag is predicted, the size how sure):

- binary minimum (Brinker 2006): the label nearest its boundary, 1 - min_l |f_l|;
- max loss (Li et al. 2004): the hinge loss sum_l max(0, 1 - y_l f_l) against y = +1 for the
  most likely label and -1 for every other;
- mean max loss (Li et al. 2004): the same loss against the predicted labels y = sign(f), i.e.
  the mean over labels of 1 - |f_l|;
- minimum confidence: 1 - min_l p_l; average confidence: the mean of p_l (modAL's avg_confidence,
  which asks for the items whose labels are on average most likely).

Every score is at least 0: the batch pick weighs candidates by it (weighted k-means).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alflow.selection.arrays import n_rows


def label_proba(model: Any, X: Any) -> np.ndarray:
    """(n, n_labels) per-label probabilities: alflow's LabelModel, a one-vs-rest model, or a
    multi-output classifier (a list of (n, 2) arrays, as RandomForestClassifier gives)."""
    own = getattr(model, "label_proba", None)
    proba = own(X) if own is not None else model.predict_proba(X)
    if isinstance(proba, list):
        columns = [p[:, -1] if p.shape[1] > 1 else np.zeros(n_rows(X)) for p in proba]
        return np.column_stack(columns) if columns else np.zeros((n_rows(X), 0))
    return np.asarray(proba, dtype=float)


def binary_minimum(P: np.ndarray) -> np.ndarray:
    return 1 - np.abs(2 * P - 1).min(axis=1)


def max_loss(P: np.ndarray) -> np.ndarray:
    f = 2 * P - 1
    y = -np.ones_like(f)
    y[np.arange(len(P)), P.argmax(axis=1)] = 1.0
    return np.maximum(0.0, 1 - y * f).sum(axis=1)


def mean_max_loss(P: np.ndarray) -> np.ndarray:
    return (1 - np.abs(2 * P - 1)).mean(axis=1)


def min_confidence(P: np.ndarray) -> np.ndarray:
    return 1 - P.min(axis=1)


def avg_confidence(P: np.ndarray) -> np.ndarray:
    return P.mean(axis=1)
