"""Class balance for tags: favour items predicted to carry tags the labeled set holds few of.

Each tag t gets the weight single-class balance gives a class, v_t = (1 + mean count) / (1 + c_t),
where c_t is the number of labeled items carrying t and the mean is over tags. An item's weight is
the expected weight of its most favoured tag,

    w(x) = max_t (1 + p_t(x) (v_t - 1)),

with p_t(x) the model's probability that x carries t: 1 when no tag is likely or every likely tag is
common, up to v_t for an item sure to carry a rare tag. It is never below 1: items are raised for
rare tags, not lowered for common ones, and a one-hot p gives the predicted tag's weight whenever
that tag is rare (single-class balance's rule). Probabilities, not the 0/1 prediction, because a
rare tag is the one the model hardly ever predicts.

How the weight enters a selection: a strategy's score is multiplied by it (the tag strategies'
weighted k-means then leans to the rare-tag items); a strategy that draws a uniform sample for a
diversity pick (typiclust, kcenter, kmeans, random) draws a weighted sample instead (Efraimidis
and Spirakis 2006: key u^(1/w)), of batch_size x oversample items, so the pick covers items that
carry rare tags more often than the pool does.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def tag_indicator(model: Any, y_labeled: Any) -> np.ndarray | None:
    """The labeled set as a 0/1 (n, n_tags) matrix, or None when the model is not a model of tags.

    alflow's LabelModel of tags reads label text (`target`); a plain scikit-learn multi-label model is
    given the matrix itself.
    """
    if y_labeled is None:
        return None
    if getattr(model, "label_task", None) == "multi":
        return np.asarray(model.target(np.asarray(y_labeled)), dtype=float)
    y = np.asarray(y_labeled)
    return y.astype(float) if y.ndim == 2 else None


def tag_weights(Y: np.ndarray) -> np.ndarray:
    """v_t = (1 + mean count) / (1 + count of tag t), one per column of the 0/1 matrix `Y`."""
    counts = np.asarray(Y, dtype=float).sum(axis=0)
    return (1.0 + counts.mean()) / (1.0 + counts)


def item_weights(P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """w(x) = max_t (1 + p_t (v_t - 1)) for each row of the (n, n_tags) probabilities `P`; at least 1."""
    if P.shape[1] == 0:
        return np.ones(P.shape[0])
    expected = 1.0 + np.asarray(P, dtype=float) * (weights[None, :] - 1.0)
    return np.maximum(expected.max(axis=1), 1.0)


def weighted_draws(draws: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Uniform draws in [0, 1) made keys of a weighted sample: the top m keys u^(1/w) are a sample
    without replacement with probabilities proportional to w (Efraimidis and Spirakis 2006)."""
    return np.power(np.clip(draws, 1e-300, 1.0), 1.0 / w)
