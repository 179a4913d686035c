"""Opening a round: everything before the claim. Read the campaign, validate its inputs, ingest what
the vendor delivered, finish interrupted exports, and list a stream round's new files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from alflow import progress
from alflow.config import CampaignConfig, load_campaign
from alflow.intake.gold import GOLD_RULE, gold_rule
from alflow.intake.ingest import ingest_campaign
from alflow.ledger import claims
from alflow.ledger.changes import record_change
from alflow.ledger.control import set_paused
from alflow.ledger.crash import crash_point
from alflow.ledger.ledger import Ledger
from alflow.round.arrivals import check_target_rate, pending_arrivals
from alflow.round.context import Arrivals, RoundContext
from alflow.round.export import finish_exports
from alflow.round.inputs import validate_inputs
from alflow.round.stability import with_stop_set


def open_round(
    campaign: str | Path | CampaignConfig, *, arrivals: str | None = None, target_rate: float = 0.1
) -> RoundContext:
    """The context a round starts from (`campaign`: a campaign file, or its config). Settings that
    changed since the ledger last recorded them are recorded (alflow.ledger.changes).

    Pool-based by default; with `arrivals` (a folder or s3:// prefix where CSV files land) the
    round is stream-based, asking for about `target_rate` of the arriving items. Bad delivery rows
    and files are quarantined and reported, never raised; a bad pool, label file, arrival file or
    option raises an AlflowError before anything is claimed.
    """
    check_target_rate(target_rate)
    config = campaign if isinstance(campaign, CampaignConfig) else load_campaign(campaign)
    with progress.activity("validating the pool and labels (Great Expectations)"):
        inputs = validate_inputs(config)
    with progress.activity("ingesting the vendor's deliveries"):
        state = ingest_campaign(config)
    if change := record_change(Ledger.of(config), config, state=state):  # settings no record holds yet
        state = replace(state, changes=(*state.changes, change))
    if (rule := gold_rule(config, state)) is not None:  # the vendor's accuracy on gold holds exports, or no more
        pause, why = rule
        if control := set_paused(Ledger.of(config), pause, reason=why, by=GOLD_RULE):
            state = replace(state, controls=(*state.controls, control))
    ctx = RoundContext(config, inputs, state)
    resumed = tuple(finish_exports(ctx))
    if arrivals is not None:
        ctx = replace(ctx, arrivals=Arrivals(arrivals, tuple(pending_arrivals(ctx, arrivals)), target_rate))
    return with_stop_set(replace(ctx, resumed=resumed))


def claim_round(ctx: RoundContext) -> int:
    """Claim the round for this run; RoundConflictError if a live run holds it."""
    claims.claim_round(ctx.ledger, ctx.round)
    crash_point("round:after_claim")
    return ctx.round


def release_claims(campaign: str | Path | CampaignConfig | None) -> int:
    """Stop this process's claim heartbeats for the campaign (a round that failed after its claim:
    its claim then goes stale, and a retry on any host takes over). Never raises."""
    try:
        config = campaign if isinstance(campaign, CampaignConfig) else load_campaign(str(campaign))
    except Exception:  # noqa: BLE001 - a campaign that cannot be read claimed nothing: stop them all
        return claims.stop_heartbeats()
    return claims.stop_heartbeats(config.campaign)
