"""A round as plain library calls, without Prefect: the recipe of flows/round.py, step for step.

For notebooks, tests and benchmarks that want a round without a Prefect API (no retries, no
Prefect summary, no flow-run hooks). Keep it in step with flows/round.py.
"""

from __future__ import annotations

from pathlib import Path

from alflow.config import CampaignConfig
from alflow.reporting import reports, round_run
from alflow.reporting.reports import RoundReport
from alflow.round import autolabel, commit, decide, export, opening, select, train


def plain_round(campaign: str | Path | CampaignConfig) -> RoundReport:
    """One pool round of `campaign` (a campaign file or its config); its report."""
    ctx = opening.open_round(campaign)
    if not ctx.has_work:
        return reports.round_report(ctx)
    opening.claim_round(ctx)
    trained = train.train_model(ctx)
    auto = autolabel.auto_label(ctx, trained)
    decision = select.select_batch(ctx, trained, decide.decide(ctx, trained, auto))
    tracked = round_run.log_round(ctx, trained, decision)
    record = commit.commit_round(ctx, decision, tracked)
    return reports.round_report(ctx, record, export.export_batch(ctx, record, decision.batch))
