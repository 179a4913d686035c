"""How a selection runs, besides the model and the data: one frozen value, checked once where it is built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alflow.selection import checks
from alflow.selection.registry import AUTO, Strategy


@dataclass(frozen=True)
class SelectionOptions:
    """The strategy and its settings, the same for every batch they choose.

    `strategy`: a name of alflow.selection.registry, `auto`, an import path of a strategy
    (`package.module:attribute`) or a Strategy spec (`alflow.make_strategy`). `oversample` is the
    candidate factor m of `combined` (top k*m by margin, then k diverse); `class_balance` favours
    items predicted for under-represented classes; `committee` (estimators) or else
    `committee_size` bootstrap refits of the model serve the qbc strategies; `chunk_size` rows of
    an in-memory pool are scored at a time. `class_seconds` (cost-aware selection): the expected
    seconds to label an item of each class (by the class's name as text); an item's score is divided
    by its predicted class's (a class without one costs the median of the others), so cheap
    informative items go first; for strategies whose scores are >= 0. Raises TypeError or ValueError
    naming a count that is not a whole number >= 1, or a class's seconds that are not > 0.
    """

    strategy: str | Strategy = AUTO
    oversample: int = 10
    class_balance: bool = False
    committee: Sequence[Any] | None = None
    committee_size: int = 5
    chunk_size: int = 50_000
    class_seconds: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        for name in ("oversample", "chunk_size", "committee_size"):
            object.__setattr__(self, name, checks.positive(getattr(self, name), name))
        if self.committee is not None:
            object.__setattr__(self, "committee", tuple(self.committee))
        if self.class_seconds is not None:
            object.__setattr__(self, "class_seconds", checks.class_costs(self.class_seconds))
