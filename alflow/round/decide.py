"""What a trained round does next: stop (and why), or how many labels to ask for, within the budget."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from alflow.config import CampaignConfig
from alflow.intake.gold import pool_share
from alflow.ledger.budget import Budget
from alflow.ledger.records import GoldMix, RepeatMix, StreamRecord
from alflow.ledger.state import CampaignState
from alflow.ledger.stopset import STOP_REASON
from alflow.round.autolabel import AutoLabels
from alflow.round.context import RoundContext
from alflow.round.stability import Measured, measure
from alflow.round.train import Evaluation, Trained


@dataclass(frozen=True)
class Batch:
    """The items a round asks the vendor for, best first.

    `items` has columns id, score, predicted, origin ("pool", "synthetic" or "stream:<file>"), then
    the features of items that are not pool rows. A stream round's batch carries where it left the
    stream (`stream`), even when it asks for nothing. A pool batch says which strategy chose it and
    why (`auto` decides each round); its `rows` are the pool rows of its pool items (the id and
    model columns) as scoring read them, so exporting them reads the pool no more.
    """

    items: pd.DataFrame = field(repr=False)
    stream: StreamRecord | None = None
    rows: pd.DataFrame | None = field(default=None, repr=False)
    strategy: str | None = None
    reason: str | None = None

    @property
    def size(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Decision:
    """What the round measured and what it does next: stop, or ask for up to `batch_size` labels.

    `budget` is the budget before this round's batch; `batch` is filled in by the selection stage
    (alflow.round.select) with the items actually chosen, which may be fewer than `batch_size`.
    """

    round: int
    labels_used: int
    stop_reason: str | None
    batch_size: int
    promote: bool  # the metric beat every earlier round: move the champion alias
    budget: Budget
    evaluation: Evaluation
    class_counts: dict[str, int]
    model: str
    auto_labels: AutoLabels = field(default_factory=AutoLabels)
    batch: Batch | None = None
    measured: Measured | None = None  # agreement with the previous model (stopping.stable_predictions)
    gold: GoldMix | None = None  # gold items mixed into the batch (alflow.round.mixing)
    repeats: RepeatMix | None = None  # labeled items asked again, inside `batch` (alflow.round.repeats)

    @property
    def asked(self) -> int:
        """Labels this round asks for: the items of its batch and its gold items (the vendor charges them)."""
        return (self.batch.size if self.batch else 0) + (len(self.gold.ids) if self.gold else 0)

    @property
    def spent(self) -> Budget:
        """The budget once this round's batch is asked for."""
        return self.budget.ask(self.asked)


def stop_reason(
    config: CampaignConfig,
    state: CampaignState,
    metrics: dict[str, float],
    *,
    budget: int,
    unlabeled: int | None,
    agreement: float | None = None,
) -> str | None:
    """Why the campaign stops after this round, or None. Rules in order of precedence;
    `unlabeled` is None for a stream round, whose items come from arrivals, not the pool;
    `agreement` is the mean kappa of successive models over stable_predictions' window (None
    until there are that many comparisons)."""
    rules = config.stopping
    value = metrics.get(rules.metric, math.nan)
    if budget == 0:
        return "budget_spent"
    if rules.target is not None and value >= rules.target:
        return "target_reached"
    if rules.patience is not None:
        history = [r.metrics.get(rules.metric, math.nan) for _, r in sorted(state.rounds.items())]
        history = [m for m in [*history, value] if not math.isnan(m)]
        if len(history) > rules.patience:
            before, recent = history[: -rules.patience], history[-rules.patience :]
            if max(recent) <= max(before) + rules.min_delta:
                return "no_improvement"
    stable = rules.stable_predictions
    if stable is not None and agreement is not None and agreement >= stable.kappa:
        return STOP_REASON
    if unlabeled == 0:
        return "pool_exhausted"
    return None


def unlabeled_left(ctx: RoundContext, auto: AutoLabels) -> int:
    """Pool items not labeled, asked or auto-labeled yet, this round's auto-labels included."""
    return ctx.pool_left - len(set(auto.labels) - ctx.taken)


def _improves(state: CampaignState, metric: str, current: float) -> bool:
    """Whether `current` beats every earlier round's metric (NaN never does)."""
    earlier = [m for r in state.rounds.values() if not math.isnan(m := r.metrics.get(metric, math.nan))]
    return not math.isnan(current) and (not earlier or current > max(earlier))


def decide(ctx: RoundContext, trained: Trained, auto: AutoLabels) -> Decision:
    """Apply the stopping rules and the budget to a trained round. A stream round (ctx.arrivals)
    is not stopped by the pool running out: its items come from the arrivals."""
    config, budget = ctx.config, ctx.budget
    unlabeled = unlabeled_left(ctx, auto) if ctx.arrivals is None else None
    metrics = trained.evaluation.metrics
    measured = measure(ctx, trained)
    agreement = measured.stability.mean if measured else None
    stop = stop_reason(config, ctx.state, metrics, budget=budget.left, unlabeled=unlabeled, agreement=agreement)
    size = 0 if stop else min(config.strategy.batch_size, budget.left, budget.left if unlabeled is None else unlabeled)
    if config.gold is not None and ctx.arrivals is None:  # room for the gold items mixed in (alflow.round.mixing)
        size = min(pool_share(min(config.strategy.batch_size, budget.left), config.gold.rate), size)
    metric = config.stopping.metric
    return Decision(
        round=ctx.round,
        labels_used=len(ctx.labeled),
        stop_reason=stop,
        batch_size=size,
        promote=_improves(ctx.state, metric, metrics.get(metric, math.nan)),
        budget=budget,
        evaluation=trained.evaluation,
        class_counts=trained.class_counts,
        model=trained.name,
        auto_labels=auto,
        measured=measured,
    )
