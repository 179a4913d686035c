"""The label budget: seed labels and every label asked of the vendor count against it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal

from alflow.config import BudgetConfig


def amount(labels: float, cost_per_label: float) -> float:
    """`labels` x `cost_per_label` computed in decimals, as the amounts were written: 140 x 0.08 is
    11.2, not 11.200000000000001 (the float nearest the exact amount). Infinity stays infinite."""
    if math.isinf(labels) or math.isnan(labels):
        return labels * cost_per_label
    return float(Decimal(repr(float(labels))) * Decimal(repr(float(cost_per_label))))


@dataclass(frozen=True)
class Budget:
    """A campaign's label budget at one moment: `asked` labels asked of the vendor so far.

    Labels asked count whether or not they were delivered: a batch is paid for when it is sent.
    Auto-labels cost nothing and are not counted here.
    """

    max_labels: int
    seed_labels: int
    asked: int = 0
    cost_per_label: float | None = None
    currency: str = "USD"

    @classmethod
    def of(cls, config: BudgetConfig, *, seed_labels: int, asked: int = 0) -> Budget:
        return cls(config.max_labels, seed_labels, asked, config.cost_per_label, config.currency)

    @property
    def left(self) -> int:
        """Labels that may still be asked for."""
        return max(0, self.max_labels - self.seed_labels - self.asked)

    @property
    def vendor_labels(self) -> int:
        """What the vendor may be asked for in all: the budget less the free seed labels."""
        return max(0, self.max_labels - self.seed_labels)

    def ask(self, n: int) -> Budget:
        """The budget after asking for `n` more labels."""
        return replace(self, asked=self.asked + n)

    def cost(self, labels: int) -> float | None:
        """What `labels` labels cost, or None without a cost per label."""
        return None if self.cost_per_label is None else amount(labels, self.cost_per_label)

    def figures(self) -> dict[str, float]:
        """labels_asked and labels_remaining, and with a cost per label spend and spend_remaining."""
        figures: dict[str, float] = {"labels_asked": self.asked, "labels_remaining": self.left}
        if self.cost_per_label is not None:
            figures["spend"] = amount(self.asked, self.cost_per_label)
            figures["spend_remaining"] = amount(self.left, self.cost_per_label)
        return figures
