"""Round claims: one run per round, with a lease, so a second run stops before doing the work twice."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from alflow.errors import AlreadyExistsError, RoundConflictError
from alflow.exchange import layout
from alflow.exchange.store import Store
from alflow.ledger.records import Claim
from alflow.ledger.state import read_record

LEASE = timedelta(hours=2)  # a claim older than this no longer blocks the round


def _alive(claim: Claim) -> bool:
    """Whether the claim's process may still be running (only knowable on the same host)."""
    if claim.host != socket.gethostname():
        return True
    try:
        os.kill(claim.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _blocks(claim: Claim) -> bool:
    """Whether another run's claim still holds the round: not ours, not expired, not seen dead."""
    expired = datetime.fromisoformat(claim.expires_at) <= datetime.now(UTC)
    ours = claim.host == socket.gethostname() and claim.pid == os.getpid()
    return not (expired or ours or not _alive(claim))


def claim_round(store: Store, campaign: str, round_: int, *, lease: timedelta = LEASE) -> Claim:
    """Claim round `round_` for this process, or raise RoundConflictError if a live run holds it.

    A claim blocks others until its lease expires or its process is seen dead (same host). Taking
    over writes the next claim number once, so two runs taking over at the same time: one wins.
    """
    prefix = layout.ledger_key(campaign, round_, "claim-")
    claims = [k for k in store.list(layout.ledger_key(campaign, round_, "")) if k.startswith(prefix)]
    if claims:
        last = read_record(store, claims[-1], Claim)
        if _blocks(last):
            raise RoundConflictError(
                f"round {round_} of campaign {campaign!r} is being run by pid {last.pid} on {last.host} "
                f"since {last.claimed_at}; this run stops here. Wait for it, or retry after its lease "
                f"expires at {last.expires_at}"
            )
    started = datetime.now(UTC)
    claim = Claim(
        host=socket.gethostname(),
        pid=os.getpid(),
        run=uuid.uuid4().hex,
        round=round_,
        claimed_at=started.isoformat(timespec="seconds"),
        expires_at=(started + lease).isoformat(timespec="seconds"),
    )
    try:
        store.write_once(layout.ledger_key(campaign, round_, f"claim-{len(claims) + 1:04d}.json"), claim.to_json())
    except AlreadyExistsError:
        raise RoundConflictError(
            f"round {round_} of campaign {campaign!r} was claimed by another run at the same moment; "
            "this run stops here: run `alflow status` to see it"
        ) from None
    return claim
