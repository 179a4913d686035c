"""`auto`: the strategy chosen from the data, each round (placeholder while the rule is measured)."""

from __future__ import annotations

from typing import Any

import numpy as np

from alflow.selection.registry import STRATEGIES, Choice

LABELS_PER_CLASS_FOR_UNCERTAINTY = 3


def choose(
    model: Any, X_labeled: Any, y_labeled: Any, *, k: int, unusable: str | None, rng: np.random.Generator
) -> Choice:
    """The strategy `auto` runs this time, and why."""
    if unusable is not None:
        return Choice(STRATEGIES["typiclust"], f"auto: {unusable}, so typical items of uncovered clusters")
    n_classes = len(model.classes_)
    n = 0 if y_labeled is None else len(y_labeled)
    if y_labeled is not None and n < LABELS_PER_CLASS_FOR_UNCERTAINTY * n_classes:
        return Choice(STRATEGIES["typiclust"], f"auto: {n} labels for {n_classes} classes, fewer than 3 per class")
    return Choice(STRATEGIES["combined"], "auto: margin + diversity")
