"""Small helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alflow.config import CampaignConfig
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.tools.demo import SimulatedVendor


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: to assert that nothing changed."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def vendor_for(campaign: CampaignConfig, answers_csv: Path) -> SimulatedVendor:
    answers = pd.read_csv(answers_csv, dtype=str)
    labels = dict(zip(answers["id"], answers["label"], strict=True))
    return SimulatedVendor(open_store(campaign.vendor.bucket), campaign.campaign, labels)


def deliver(campaign: CampaignConfig, round_: int, text: str, *, name: str = "labels.csv") -> None:
    """Deliver a hand-written label file for a round, as a vendor would (marker last)."""
    store = open_store(campaign.vendor.bucket)
    prefix = layout.delivery_prefix(campaign.campaign, round_)
    store.write_once(prefix + name, text.encode())
    store.write_once(prefix + layout.DONE, b"")


def library_round(campaign: str | Path | CampaignConfig):
    """The flow's recipe (flows/round.py) as plain library calls, without Prefect; its report."""
    from alflow.reporting import reports, round_run
    from alflow.round import autolabel, commit, decide, export, opening, select, train

    ctx = opening.open_round(campaign)
    if not ctx.has_work:
        return reports.round_report(ctx)
    opening.claim_round(ctx)
    trained = train.train_model(ctx)
    auto = autolabel.auto_label(ctx, trained)
    decision = select.select_batch(ctx, trained, decide.decide(ctx, trained, auto))
    tracked = round_run.log_round(ctx, trained, decision)
    record = commit.commit_round(ctx, decision, tracked)
    return reports.round_report(ctx, record, export.export_batch(ctx, record))
