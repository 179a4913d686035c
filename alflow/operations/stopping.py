"""Where stopping rules stop a replayed campaign (`alflow.operations.simulate`, a stop set's predictions).

The stabilising-predictions rule is the round's own arithmetic (`round.stability.cohen_kappa`,
`ledger.stopset.window_mean`) over the replay's predictions on its stop set; the holdout rules
read the replay's test metric as a round reads its holdout's.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from alflow.ledger.stopset import window_mean
from alflow.round.stability import cohen_kappa


def successive_kappas(predictions: Sequence[np.ndarray]) -> list[float]:
    """Cohen's kappa of each round's predictions with the previous round's (one fewer than rounds)."""
    return [cohen_kappa(before, after) for before, after in pairwise(predictions)]


def stable_stop(predictions: Sequence[np.ndarray], *, kappa: float, rounds: int) -> int | None:
    """The first round (index into the replay's curve) whose mean kappa over `rounds` comparisons is
    at least `kappa`, or None when the rule never stops the replay."""
    kappas = successive_kappas(predictions)
    for i in range(len(kappas)):
        mean = window_mean(kappas[: i + 1], rounds)
        if mean is not None and mean >= kappa:
            return i + 1
    return None


def target_stop(curve: Sequence[tuple[int, float]], target: float) -> int | None:
    """The first round whose metric reaches `target` (stopping.target), or None."""
    return next((i for i, (_, metric) in enumerate(curve) if metric >= target), None)


def patience_stop(curve: Sequence[tuple[int, float]], patience: int, min_delta: float = 0.0) -> int | None:
    """The first round after which the metric has not beaten the best before by more than
    `min_delta` for `patience` rounds (stopping.patience), or None."""
    metrics = [metric for _, metric in curve]
    for i in range(patience, len(metrics)):
        if max(metrics[i - patience + 1 : i + 1]) <= max(metrics[: i - patience + 1]) + min_delta:
            return i
    return None
