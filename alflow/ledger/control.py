"""Pausing a campaign (`alflow pause`, `alflow resume`): records in its ledger, each written once.

The records are numbered (`ledger/control/0001-pause.json`, `0002-resume.json`, ...) and the last
one says whether the campaign is paused (`CampaignState.paused`). A paused campaign's round ingests
what the vendor delivered (no label waits unrecorded in the bucket) but trains, asks and exports
nothing, and says why; the delivery watcher announces no delivery of it, so no round is started
for it; a round started anyway (a schedule, `alflow serve`) does nothing but say so.
"""

from __future__ import annotations

from alflow.errors import AlreadyExistsError, RoundConflictError
from alflow.exchange import layout
from alflow.exchange.store import Store
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import ControlRecord, now, who
from alflow.ledger.state import read_record

PAUSE, RESUME = "pause", "resume"


def controls(store: Store, campaign: str) -> tuple[ControlRecord, ...]:
    """A campaign's pauses and resumes in order, from one listing of their folder only."""
    keys = store.list(layout.control_prefix(campaign))
    return tuple(sorted((read_record(store, key, ControlRecord) for key in keys), key=lambda c: c.seq))


def paused(store: Store, campaign: str) -> ControlRecord | None:
    """The pause in force, or None (what the watcher asks before announcing a delivery)."""
    found = controls(store, campaign)
    return found[-1] if found and found[-1].action == PAUSE else None


def set_paused(
    ledger: Ledger, pause: bool, *, reason: str | None = None, by: str | None = None
) -> ControlRecord | None:
    """Pause (or resume) the campaign; returns the record written, or None when it already was
    paused (or running): nothing is written then. `by` names a rule that pauses (the gold rule,
    alflow.intake.gold) instead of the person running this. Raises RoundConflictError when another
    pause or resume was recorded at the same moment."""
    state = ledger.state()
    if pause == (state.paused is not None):
        return None
    record = ControlRecord(
        seq=len(state.controls) + 1,
        action=PAUSE if pause else RESUME,
        round=state.next_round,
        at=now(),
        by=by or who(),
        reason=reason,
    )
    try:
        ledger.store.write_once(layout.control_key(ledger.campaign, record.seq, record.action), record.to_json())
    except AlreadyExistsError:
        raise RoundConflictError(
            f"another pause or resume of campaign {ledger.campaign!r} was recorded meanwhile; "
            "run `alflow status` to see which, then try again"
        ) from None
    return record
