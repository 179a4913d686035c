"""Auto-labeling: let the model label the items it is sure of, at a confidence calibrated on held-out data.

Off by default. The round (alflow.round.autolabel) keeps auto-labels in their own ledger
record: they never enter the human labels, the model is not trained on them, and they are
counted apart from the labeling budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confidence_threshold(
    proba: np.ndarray,
    y_true: np.ndarray,
    classes: np.ndarray,
    *,
    target_accuracy: float,
    min_items: int = 20,
    z: float = 1.645,
) -> float | None:
    """The lowest confidence t such that held-out predictions with max proba >= t are at least
    `target_accuracy` accurate (over at least `min_items` of them); None if no t qualifies.

    "Accurate" is judged by the Wilson score lower bound at `z` (1.645: one-sided 95 %), not by
    the observed share, so that a small held-out set does not license a threshold it cannot
    support; z=0 judges by the observed share. `proba` (n, C) and `y_true` (n,) are held-out data
    the model was not fit on.
    """
    confidence = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == np.asarray(y_true)
    order = np.argsort(-confidence, kind="stable")
    n = np.arange(1, len(order) + 1)
    share = np.cumsum(correct[order]) / n
    lower = (share + z**2 / (2 * n) - z * np.sqrt(share * (1 - share) / n + z**2 / (4 * n**2))) / (1 + z**2 / n)
    # a cut inside a run of equal confidences would label the whole run, checked or not
    ends_a_tie = np.r_[confidence[order][:-1] != confidence[order][1:], True]
    ok = np.flatnonzero((lower >= target_accuracy - 1e-12) & (n >= min_items) & ends_a_tie)
    if ok.size == 0:
        return None
    # the largest prefix that still meets the target: cover as many items as the target allows
    return float(confidence[order][ok[-1]])


def auto_labels(model: Any, X: Any, ids: np.ndarray, *, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, predicted classes, confidences) of the items whose max probability is >= threshold."""
    proba = model.predict_proba(X)
    confidence = proba.max(axis=1)
    keep = confidence >= threshold
    predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
    return np.asarray(ids)[keep], predicted[keep], confidence[keep]
