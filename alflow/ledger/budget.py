"""The label budget: seed labels and every label asked of the vendor count against it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from alflow.config import BudgetConfig


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
        return None if self.cost_per_label is None else labels * self.cost_per_label

    def figures(self) -> dict[str, float]:
        """labels_asked and labels_remaining, and with a cost per label spend and spend_remaining."""
        figures: dict[str, float] = {"labels_asked": self.asked, "labels_remaining": self.left}
        if self.cost_per_label is not None:
            figures["spend"] = self.asked * self.cost_per_label
            figures["spend_remaining"] = self.left * self.cost_per_label
        return figures
