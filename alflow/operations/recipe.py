"""The round's recipe, written once: the Prefect flow (flows/round.py, over the tasks) and the plain
round (alflow.operations.plain, over the library's functions) both run `round_recipe` over their `Stages`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alflow.config import CampaignConfig
from alflow.ledger.records import RoundRecord, Tracking
from alflow.reporting.reports import RoundReport
from alflow.round.autolabel import AutoLabels
from alflow.round.context import RoundContext
from alflow.round.decide import Batch, Decision
from alflow.round.train import Trained


@dataclass(frozen=True)
class Stages:
    """One callable per stage of a round, in the order the recipe calls them.

    The summary and the event come after the round is committed and exported: a namespace makes
    their failure harmless (the flow's tasks return their state instead of raising) or leaves them
    out (no-ops). `report_round` also reports a round that had nothing to do.
    """

    open_round: Callable[..., RoundContext]
    claim_round: Callable[[RoundContext], Any]
    train_model: Callable[[RoundContext], Trained]
    auto_label: Callable[[RoundContext, Trained], AutoLabels]
    decide_round: Callable[[RoundContext, Trained, AutoLabels], Decision]
    select_batch: Callable[[RoundContext, Trained, Decision], Decision]
    log_round: Callable[[RoundContext, Trained, Decision], Tracking]
    commit_round: Callable[[RoundContext, Decision, Tracking], RoundRecord]
    export_batch: Callable[[RoundContext, RoundRecord, Batch | None], str | None]
    publish_round_summary: Callable[[RoundContext, RoundRecord], Any]
    ask_for_another_batch: Callable[[RoundContext, RoundRecord], Any]
    report_round: Callable[..., RoundReport]


def round_recipe(
    stages: Stages, campaign: str | Path | CampaignConfig, *, arrivals: str | None = None, target_rate: float = 0.1
) -> RoundReport:
    """One round of `campaign` (a campaign file, or its config) by `stages`; its report.

    One guard, on the context's verdict (stopped, the vendor's hands full, no new arrivals): every
    other decision is made inside a stage.
    """
    ctx = stages.open_round(campaign, arrivals=arrivals, target_rate=target_rate)
    if not ctx.has_work:
        return stages.report_round(ctx)
    stages.claim_round(ctx)
    trained = stages.train_model(ctx)
    auto = stages.auto_label(ctx, trained)
    decision = stages.decide_round(ctx, trained, auto)
    decision = stages.select_batch(ctx, trained, decision)
    tracked = stages.log_round(ctx, trained, decision)
    record = stages.commit_round(ctx, decision, tracked)
    location = stages.export_batch(ctx, record, decision.batch)
    stages.publish_round_summary(ctx, record)  # committed and exported by now: best effort
    stages.ask_for_another_batch(ctx, record)
    return stages.report_round(ctx, record, location)
