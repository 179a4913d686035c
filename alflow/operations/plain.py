"""A round as plain library calls, without Prefect: the round's recipe (alflow.operations.recipe) over the
library's stage functions.

For notebooks, tests and benchmarks that want a round without a Prefect API: no retries, no Prefect
summary, no `alflow.batch.wanted` event, no flow-run hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alflow.config import CampaignConfig
from alflow.operations.recipe import Stages, round_recipe
from alflow.reporting import reports, round_run
from alflow.reporting.reports import RoundReport
from alflow.round import autolabel, commit, decide, export, opening, select, train


def _nothing(*args: Any) -> None:
    """A stage the plain round leaves out."""


def plain_stages() -> Stages:
    """The library's stage functions, looked up when a round starts (so a function patched on its
    module, by a test or a benchmark's timer, is the one that runs)."""
    return Stages(
        open_round=opening.open_round,
        claim_round=opening.claim_round,
        train_model=train.train_model,
        auto_label=autolabel.auto_label,
        decide_round=decide.decide,
        select_batch=select.select_batch,
        log_round=round_run.log_round,
        commit_round=commit.commit_round,
        export_batch=export.export_batch,
        publish_round_summary=_nothing,  # a Prefect artifact
        ask_for_another_batch=_nothing,  # a Prefect event, for a deployment's trigger
        report_round=reports.round_report,
    )


def plain_round(
    campaign: str | Path | CampaignConfig, *, arrivals: str | None = None, target_rate: float = 0.1
) -> RoundReport:
    """One round of `campaign` (a campaign file or its config), pool-based unless `arrivals`; its report."""
    return round_recipe(plain_stages(), campaign, arrivals=arrivals, target_rate=target_rate)
