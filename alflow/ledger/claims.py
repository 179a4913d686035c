"""Round claims: one run per round, so a second run stops before doing the work twice.

A claim (`claim-NNNN.json`) names the run holding the round and carries a lease; while the round
runs, a heartbeat renews it by writing `beat-NNNN-MMMMMM.json` beside it every `HEARTBEAT`. A claim
stops blocking when its lease expires, when its process is seen gone (same host), or when its
last heartbeat (by the store's clock) is older than `MISSED` beats: so a holder killed on any host,
container or pod is detected in about a minute and a half, not after the two-hour lease. The
heartbeat stops by itself once the round is committed, when the lease ends, or at the first
write that fails (the claim then goes stale; write-once round.json keeps a takeover safe); a
round that fails after its claim stops it (`stop_heartbeats`, the flow's failure hook).
Claims written before heartbeats existed (alflow 0.1.0) keep the old rule: lease, or pid on the
same host.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

from alflow.errors import AlreadyExistsError, RoundConflictError
from alflow.exchange.store import Store
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import Claim, json_bytes, now
from alflow.ledger.state import read_record

LEASE = timedelta(hours=2)  # a claim older than this no longer blocks the round
HEARTBEAT = timedelta(seconds=30)  # how often a running round renews its claim
MISSED = 3  # heartbeats missed before the holder counts as gone


def _pid_gone(claim: Claim) -> bool:
    """Whether the claim's process is known to be gone (only knowable on the same host)."""
    if claim.host != socket.gethostname():
        return False
    try:
        os.kill(claim.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _last_sign_of_life(store: Store, claim: Claim, keys: list[str], number: int) -> datetime:
    """When the holder last showed it was alive: its last heartbeat (store's clock), else its claim."""
    beats = [k for k in keys if k.rsplit("/", 1)[-1].startswith(f"beat-{number:04d}-")]
    if beats:
        try:
            return datetime.fromisoformat(store.modified(beats[-1]))
        except (FileNotFoundError, OSError, ValueError):
            pass
    return datetime.fromisoformat(claim.claimed_at)


def _blocks(claim: Claim, last_alive: datetime | None) -> bool:
    """Whether another run's claim still holds the round: not ours, not expired, not seen dead."""
    moment = datetime.now(UTC)
    if datetime.fromisoformat(claim.expires_at) <= moment:
        return False
    if claim.host == socket.gethostname() and claim.pid == os.getpid():
        return False
    if _pid_gone(claim):
        return False
    if claim.heartbeat_s and last_alive is not None:
        return moment - last_alive < timedelta(seconds=MISSED * claim.heartbeat_s)
    return True


_RUNNING: dict[tuple[str, str, int], Heartbeat] = {}  # (store, campaign, round) -> this process's heartbeat


def stop_heartbeats(campaign: str | None = None) -> int:
    """Stop this process's heartbeats (of one campaign, or all): for a round that failed after its
    claim, so the claim goes stale at once instead of blocking other hosts until its lease ends.
    Returns how many were stopped."""
    stopped = 0
    for key, beat in list(_RUNNING.items()):
        if campaign is None or key[1] == campaign:
            beat.stop()
            del _RUNNING[key]
            stopped += 1
    return stopped


class Heartbeat(threading.Thread):
    """Renews claim `number` of a round every `interval` until the round is committed or the lease ends."""

    def __init__(self, ledger: Ledger, round_: int, number: int, interval: timedelta, until: datetime):
        super().__init__(name=f"alflow-heartbeat-{ledger.campaign}-{round_}", daemon=True)
        self.ledger, self.round, self.number = ledger, round_, number
        self.interval, self.until = interval, until
        self.stopped = threading.Event()

    def run(self) -> None:
        store, committed = self.ledger.store, self.ledger.key(self.round, "round.json")
        beat = 0
        while not self.stopped.wait(self.interval.total_seconds()):
            try:
                if datetime.now(UTC) >= self.until or store.exists(committed):
                    return
                beat += 1
                key = self.ledger.key(self.round, f"beat-{self.number:04d}-{beat:06d}.json")
                store.write_once(key, json_bytes({"at": now(), "pid": os.getpid()}))
            except Exception:  # noqa: BLE001 - a beat that cannot be written ends the heartbeat; the claim goes stale
                return

    def stop(self) -> None:
        self.stopped.set()


def claim_round(ledger: Ledger, round_: int, *, lease: timedelta = LEASE, heartbeat: timedelta = HEARTBEAT) -> Claim:
    """Claim round `round_` for this process, or raise RoundConflictError if a live run holds it.

    The claim's heartbeat starts at once (a daemon thread, see the module). Taking over writes the
    next claim number once, so two runs taking over at the same time: one wins.
    """
    store, campaign = ledger.store, ledger.campaign
    keys = store.list(ledger.key(round_, ""))
    prefix = ledger.key(round_, "claim-")
    claims = [k for k in keys if k.startswith(prefix)]
    if claims:
        last = read_record(store, claims[-1], Claim)
        alive = _last_sign_of_life(store, last, keys, len(claims)) if last.heartbeat_s else None
        if _blocks(last, alive):
            seen = f"; its last heartbeat was at {alive.isoformat(timespec='seconds')}" if alive else ""
            raise RoundConflictError(
                f"round {round_} of campaign {campaign!r} is being run by pid {last.pid} on {last.host} "
                f"since {last.claimed_at}{seen}; this run stops here. Wait for it, or retry after its lease "
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
        heartbeat_s=heartbeat.total_seconds(),
    )
    number = len(claims) + 1
    try:
        store.write_once(ledger.key(round_, f"claim-{number:04d}.json"), claim.to_json())
    except AlreadyExistsError:
        raise RoundConflictError(
            f"round {round_} of campaign {campaign!r} was claimed by another run at the same moment; "
            "this run stops here: run `alflow status` to see it"
        ) from None
    beat = Heartbeat(ledger, round_, number, heartbeat, started + lease)
    previous = _RUNNING.pop((store.uri, campaign, round_), None)
    if previous is not None:
        previous.stop()
    _RUNNING[(store.uri, campaign, round_)] = beat
    beat.start()
    return claim
