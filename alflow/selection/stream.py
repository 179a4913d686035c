"""Stream-based selective sampling: decide item by item whether to ask for a label.

The threshold adapts so that the share of items asked tracks a target labeling rate (a
Robbins-Monro quantile tracker: after each item, threshold += step * (asked - target_rate)), and
no item is asked once the budget is spent. The state is a small frozen value, so a stream can be
processed one micro-batch (or one arriving file) at a time and resumed anywhere: a stream-based
round (`alflow.round.arrivals`) resumes from the state its previous round recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from alflow.selection.measures import Measure, margin


@dataclass(frozen=True)
class StreamState:
    """Where a stream stands: the current threshold, items seen, labels asked, and the budget."""

    threshold: float
    budget: int
    seen: int = 0
    asked: int = 0

    @property
    def rate(self) -> float:
        return self.asked / self.seen if self.seen else 0.0


def start_stream(*, budget: int, threshold: float = 0.5) -> StreamState:
    """A fresh stream. Raises ValueError for a negative budget."""
    if budget < 0:
        raise ValueError(f"budget={budget} must be >= 0")
    return StreamState(threshold=threshold, budget=budget)


def decide(
    scores: np.ndarray, state: StreamState, *, target_rate: float, step: float = 0.02
) -> tuple[np.ndarray, StreamState]:
    """Which items of a micro-batch to ask for (a boolean mask), and the state after them.

    `scores` are uncertainty scores (higher = more worth a label), in arrival order.
    Raises ValueError unless 0 < target_rate <= 1.
    """
    if not 0 < target_rate <= 1:
        raise ValueError(f"target_rate={target_rate} must be in (0, 1]")
    ask = np.zeros(len(scores), dtype=bool)
    threshold, asked = state.threshold, state.asked
    for i, score in enumerate(np.asarray(scores, dtype=float)):
        ask[i] = score >= threshold and asked < state.budget
        asked += int(ask[i])
        threshold += step * (float(ask[i]) - target_rate)
    return ask, replace(state, threshold=threshold, seen=state.seen + len(ask), asked=asked)


def select_stream(
    model: Any, X: Any, state: StreamState, *, target_rate: float, measure: Measure = margin, step: float = 0.02
) -> tuple[np.ndarray, StreamState]:
    """`decide` on `measure` (an uncertainty of predict_proba, e.g. margin) of `model` for the items of X, in order."""
    return decide(measure(model.predict_proba(X)), state, target_rate=target_rate, step=step)
