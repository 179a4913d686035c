"""Claims with a heartbeat: a holder killed on another host stops blocking in minutes, not hours."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from alflow.errors import RoundConflictError
from alflow.exchange.local import LocalStore
from alflow.ledger import claims
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import Claim

from helpers import wait_until


def foreign_claim(store: LocalStore, round_: int, *, minutes_ago: float, heartbeat_s: float | None = 30.0) -> None:
    """A claim written by a run on another host (a container or pod that may since have died)."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    claim = Claim(
        host="pod-7f9c",
        pid=1,
        run="other",
        round=round_,
        claimed_at=at.isoformat(timespec="seconds"),
        expires_at=(at + claims.LEASE).isoformat(timespec="seconds"),
        heartbeat_s=heartbeat_s,
    )
    store.write_once(f"c/ledger/round-{round_:04d}/claim-0001.json", claim.to_json())


def beat(store: LocalStore, round_: int, *, minutes_ago: float, number: int = 1) -> None:
    key = f"c/ledger/round-{round_:04d}/beat-0001-{number:06d}.json"
    store.write_once(key, json.dumps({"at": "t"}).encode())
    stamp = time.time() - minutes_ago * 60
    os.utime(store.root / key, (stamp, stamp))


def test_a_holder_on_another_host_whose_heartbeat_stopped_is_taken_over(tmp_path):
    store = LocalStore(tmp_path)
    foreign_claim(store, 1, minutes_ago=5)  # claimed 5 minutes ago, never beat: killed at once
    assert claims.claim_round(Ledger(store, "c"), 1, heartbeat=timedelta(hours=1)).run != "other"

    foreign_claim(store, 2, minutes_ago=30)
    beat(store, 2, minutes_ago=20)
    beat(store, 2, minutes_ago=2, number=2)  # last beat 2 minutes ago: 3 beats of 30 s missed
    assert claims.claim_round(Ledger(store, "c"), 2, heartbeat=timedelta(hours=1)).round == 2


def test_a_holder_on_another_host_that_keeps_beating_blocks(tmp_path):
    store = LocalStore(tmp_path)
    foreign_claim(store, 1, minutes_ago=30)
    beat(store, 1, minutes_ago=0.2)
    with pytest.raises(RoundConflictError, match=r"pid 1 on pod-7f9c since .*; its last heartbeat was at"):
        claims.claim_round(Ledger(store, "c"), 1)


def test_a_claim_without_heartbeat_keeps_the_old_rule(tmp_path):
    store = LocalStore(tmp_path)
    foreign_claim(store, 1, minutes_ago=30, heartbeat_s=None)  # written by alflow 0.1.0
    with pytest.raises(RoundConflictError, match="being run by pid 1 on pod-7f9c"):
        claims.claim_round(Ledger(store, "c"), 1)


def test_the_heartbeat_renews_the_claim_until_the_round_is_committed(tmp_path):
    store = LocalStore(tmp_path)
    claims.claim_round(Ledger(store, "c"), 1, heartbeat=timedelta(seconds=0.05))
    beat = "a heartbeat written for the claim (one every 0.05 s)"
    wait_until(
        lambda: [k for k in store.list("c/ledger/round-0001/") if "beat-0001-" in k], what=beat, seconds=120, every=0.05
    )
    store.write_once("c/ledger/round-0001/round.json", b"{}")
    time.sleep(0.5)
    beats = [k for k in store.list("c/ledger/round-0001/") if "beat-" in k]
    time.sleep(0.5)
    assert [k for k in store.list("c/ledger/round-0001/") if "beat-" in k] == beats  # stopped once committed


def test_a_failed_round_stops_renewing_its_claim(tmp_path):
    claims.stop_heartbeats()  # those of the tests before
    store = LocalStore(tmp_path)
    claims.claim_round(Ledger(store, "c"), 1, heartbeat=timedelta(seconds=0.3))
    assert claims.stop_heartbeats("other") == 0
    assert claims.stop_heartbeats("c") == 1
    time.sleep(0.9)
    assert not [k for k in store.list("c/ledger/round-0001/") if "beat-" in k]
