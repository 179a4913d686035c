"""A strategy of one's own, made with alflow.make_strategy: tests name it by import path, as a user's campaign would.

Importable as `custom_strategy` because pytest puts tests/ on the path (as it does for `helpers`).
"""

from __future__ import annotations

import numpy as np

import alflow
from alflow.selection.measures import margin


def squared_margin(proba: np.ndarray) -> np.ndarray:
    """margin squared: the same order as margin, other scores (so a test can tell which ran)."""
    return margin(proba) ** 2


SQUARED_MARGIN = alflow.make_strategy(squared_margin)
NOT_A_STRATEGY = squared_margin
