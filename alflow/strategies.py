"""Query strategies: each maps a probability matrix to one score per item.

`proba` has shape (n, n_classes), rows summing to 1. Scores have shape (n,) and one direction
everywhere: higher means "label this first". Scores are per row, so scoring a pool chunk by
chunk gives the same scores as scoring it whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Strategy = Callable[[np.ndarray], np.ndarray]


def least_confident(proba: np.ndarray) -> np.ndarray:
    """1 - max_c p(c|x): 0 for a one-hot row, 1 - 1/C for a uniform row."""
    return 1.0 - proba.max(axis=1)


def margin(proba: np.ndarray) -> np.ndarray:
    """1 - (p_first - p_second): 0 for a one-hot row, 1 when the top two classes tie."""
    if proba.shape[1] < 2:
        return np.zeros(proba.shape[0])
    top_two = np.partition(proba, -2, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats: 0 for a one-hot row, log(C) for a uniform row."""
    logs = np.log(proba, out=np.zeros_like(proba, dtype=float), where=proba > 0)
    return -(proba * logs).sum(axis=1)


UNCERTAINTY: dict[str, Strategy] = {
    "least_confident": least_confident,
    "margin": margin,
    "entropy": entropy,
}
