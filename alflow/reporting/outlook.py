"""Where a campaign stands and where it is heading: the four questions, answered in one place.

How good (the stopping metric), how many labels (used, of the budget), what they cost (spend, of
what the budget allows), when it ends (the stop reason, or the forecast). The round's line,
`alflow status`, the Prefect summary and the MLflow descriptions all read an `Outlook`, so they
say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from alflow.config import CampaignConfig
from alflow.ledger.budget import Budget
from alflow.reporting.forecast import Estimate, Forecast, forecast_campaign

STOP_REASONS = {
    "budget_spent": "the label budget is spent",
    "target_reached": "the target was reached",
    "no_improvement": "no improvement for the patience rounds",
    "pool_exhausted": "the pool has no unlabeled items left",
    "predictions_stable": "successive models agree on the stop set (stopping.stable_predictions)",
}


def money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _count(value: float) -> str:
    return "beyond reach" if math.isinf(value) else f"{value:,.0f}"


@dataclass(frozen=True)
class Outlook:
    """A campaign after one round. `budget` counts that round's batch as asked (paid when sent);
    seed labels are free. `value` is NaN before the model could be scored (cold start)."""

    campaign: str
    round: int
    metric: str
    value: float
    labels_used: int
    budget: Budget
    forecast: Forecast | None
    stop_reason: str | None = None

    @property
    def spend(self) -> float | None:
        """What the labels asked so far cost; None without a cost per label."""
        return self.budget.cost(self.budget.asked)

    @property
    def allowed(self) -> float | None:
        """What all the labels the vendor may be asked for cost (seed labels are free)."""
        return self.budget.cost(self.budget.vendor_labels)

    def labels_text(self) -> str:
        b = self.budget
        return f"{self.labels_used}/{b.max_labels} labels ({b.seed_labels} seed, {b.asked} asked, {b.left} left)"

    def spend_text(self) -> str | None:
        """'spent 9.60 of 14.40 USD', or None without a cost per label."""
        if self.spend is None or self.allowed is None:
            return None
        return f"spent {self.spend:,.2f} of {money(self.allowed, self.budget.currency)}"

    def forecast_text(self) -> str | None:
        """The forecast in one phrase, or None while there are too few rounds to fit."""
        f = self.forecast
        if f is None or self.stop_reason:
            return None
        pct = f"{f.level:.0%}"
        parts = [
            f"{f.metric} {f.at_budget.value:.3f} expected at the {f.max_labels}-label budget "
            f"({pct} interval {f.at_budget.low:.3f}-{f.at_budget.high:.3f})"
        ]
        if f.target is not None and f.more_labels is not None and f.more_rounds is not None:
            parts.append(f"target {f.target:g}: {self._to_target(f.more_labels, f.more_rounds, f.more_spend, pct)}")
        return "; ".join(parts)

    def _to_target(self, labels: Estimate, rounds: Estimate, spend: Estimate | None, pct: str) -> str:
        if math.isinf(labels.value):
            return f"beyond reach (the curve levels off at {self.forecast.limit:.3f})" if self.forecast else ""
        cost = f", {money(spend.value, self.budget.currency)}" if spend is not None else ""
        within = "within" if labels.value <= self.budget.left else "beyond"
        return (
            f"{_count(labels.value)} more labels "
            f"({pct} of simulated futures: {_count(labels.low)}-{_count(labels.high)}), "
            f"{_count(rounds.value)} rounds{cost}: {within} the budget"
        )

    def plain(self) -> dict:
        """The outlook as plain values for `--json` (inf as None)."""

        def finite(value: float | None) -> float | None:
            return None if value is None or not math.isfinite(value) else value

        forecast = None
        if (f := self.forecast) is not None:
            forecast = {k: finite(v) for k, v in f.figures().items()}
            forecast["level"] = f.level
            forecast["target_within_budget"] = f.target_within_budget
        return {
            "labels_used": self.labels_used,
            "max_labels": self.budget.max_labels,
            "seed_labels": self.budget.seed_labels,
            "labels_asked": self.budget.asked,
            "labels_left": self.budget.left,
            "spend": self.spend,
            "spend_allowed": self.allowed,
            "currency": self.budget.currency if self.spend is not None else None,
            "forecast": forecast,
        }


def outlook(
    config: CampaignConfig,
    history: Sequence[tuple[int, float]],
    *,
    round_: int,
    budget: Budget,
    stop_reason: str | None = None,
) -> Outlook:
    """The outlook after round `round_`; `history` is (labels used, stopping metric) per round so
    far, this one last. The forecast is seeded by the campaign's seed, so every surface that
    recomputes it from the same rounds gets the same numbers."""
    labels, values = [n for n, _ in history], [v for _, v in history]
    forecast = forecast_campaign(
        labels,
        values,
        metric=config.stopping.metric,
        max_labels=budget.max_labels,
        batch_size=config.strategy.batch_size,
        target=config.stopping.target,
        cost_per_label=budget.cost_per_label,
        committed=budget.seed_labels + budget.asked,
        seed=config.seed,
    )
    last_labels, last_value = history[-1] if history else (0, math.nan)
    return Outlook(
        config.campaign, round_, config.stopping.metric, last_value, last_labels, budget, forecast, stop_reason
    )
