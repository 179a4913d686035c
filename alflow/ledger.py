"""Campaign state: immutable records in the store, and the state derived from them.

Layout under `<bucket>/<campaign>/` (docs/VENDORS.md is the vendor's view of it):

    ledger/round-0001/round.json          the round's decision: metrics, stop reason, batch ids (commit)
    ledger/round-0001/claim-0001.json     a run's claim on the round, with a lease (expires)
    ledger/round-0001/ingest-<sha>.json   one per delivery file content: labels accepted, rows rejected
    ledger/round-0001/writeoff-<sha>.json items of the batch given up on (`alflow write-off`): not waited for
    ledger/round-0001/autolabels-<sha>.json   items the model labeled itself   } written before round.json,
    ledger/round-0001/items-<sha>.csv     batch items not in the pool (synthetic, } which names them; an
                                          stream arrivals), with their features  } unnamed one is ignored
    batches/round-0001/<batch file>       the batch for the vendor  } written after round.json;
    batches/round-0001/batch.json         count, checksum, classes  } _READY last, so the vendor
    batches/round-0001/_READY             completion marker         } never sees half a batch
    deliveries/round-0001/<label files>   the vendor's labels       } written by the vendor,
    deliveries/round-0001/_DONE           completion marker         } _DONE last
    quarantine/round-0001/<sha>-<file>    rejected rows (or the whole file), with
    quarantine/round-0001/<sha>-<file>.reason.json    the machine-readable reasons beside them

Every record is written once. A crash leaves either the old state or the new one, and re-running
a step finds its record already there and changes nothing. Labels are counted from the ingest
records: an item's first accepted label wins, so a label is never counted twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from alflow.errors import AlreadyExistsError, RoundConflictError
from alflow.store import Store

READY = "_READY"
DONE = "_DONE"
CRASH_ENV = "ALFLOW_CRASH_AT"  # tests only: SIGKILL this process at the named step boundary
PAUSE_ENV = "ALFLOW_PAUSE_AT"  # tests only: `name:seconds` sleeps there (to start a race)
LEASE = timedelta(hours=2)  # a claim older than this no longer blocks the round


def crash_point(name: str) -> None:
    """A step boundary. Tests make the process die here as abruptly as a power cut
    (`ALFLOW_CRASH_AT=name`) or pause here (`ALFLOW_PAUSE_AT=name:seconds`); otherwise a no-op."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.rpartition(":")[0] == name:
        time.sleep(float(pause.rpartition(":")[2]))


def round_dir(round_: int) -> str:
    return f"round-{round_:04d}"


def batch_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/batches/{round_dir(round_)}/"


def delivery_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/deliveries/{round_dir(round_)}/"


def ledger_key(campaign: str, round_: int, name: str) -> str:
    return f"{campaign}/ledger/{round_dir(round_)}/{name}"


def quarantine_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/quarantine/{round_dir(round_)}/"


def ingest_key(campaign: str, round_: int, digest: str) -> str:
    """The ingest record of a delivery file, keyed by its content: the same bytes twice are one delivery."""
    return ledger_key(campaign, round_, f"ingest-{digest[:32]}.json")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def _round_of(key: str) -> int | None:
    for part in key.split("/"):
        if part.startswith("round-") and part[6:].isdigit():
            return int(part[6:])
    return None


@dataclass(frozen=True)
class CampaignState:
    """What the records say: `rounds` are round.json records, `ingests` the ingest records per round."""

    campaign: str
    rounds: dict[int, dict] = field(default_factory=dict)
    exported: frozenset[int] = frozenset()
    delivered: frozenset[int] = frozenset()
    ingests: dict[int, list[dict]] = field(default_factory=dict)
    auto_labels: dict[int, dict[str, str]] = field(default_factory=dict)  # round -> labels the model gave
    written_off: dict[int, frozenset[str]] = field(default_factory=dict)  # round -> items not waited for
    # The ingest records the call that returned this state wrote: for reporting only, so not
    # part of what the state *is* (two states with the same records are equal).
    ingested_now: tuple[dict, ...] = field(default=(), compare=False)

    @property
    def next_round(self) -> int:
        return max(self.rounds, default=0) + 1

    @property
    def stop_reason(self) -> str | None:
        last = self.rounds.get(max(self.rounds, default=0))
        return last.get("stop_reason") if last else None

    def batch_ids(self, round_: int) -> list[str]:
        return list((self.rounds[round_].get("batch") or {}).get("ids", []))

    # Derived views are computed once per state (the state never changes): `alflow status` reads
    # them once per round, which would otherwise re-sort every ingest record each time.
    @cached_property
    def ingested(self) -> dict[int, dict[str, str]]:
        """Round -> the labels accepted for its batch (first accepted label per item wins)."""
        return {r: accepted_labels(records) for r, records in sorted(self.ingests.items()) if records}

    def missing(self, round_: int) -> list[str]:
        """Ids of a round's batch without an accepted label yet, and not written off."""
        labels, given_up = self.ingested.get(round_, {}), self.written_off.get(round_, frozenset())
        return [i for i in self.batch_ids(round_) if i not in labels and i not in given_up]

    @property
    def outstanding(self) -> list[int]:
        """Rounds whose batch has items still waiting for an accepted label."""
        return [r for r in sorted(self.rounds) if self.missing(r)]

    @property
    def unexported(self) -> list[int]:
        """Rounds that chose a batch but crashed before its completion marker was written."""
        return [r for r in sorted(self.rounds) if self.batch_ids(r) and r not in self.exported]

    @cached_property
    def asked_ids(self) -> list[str]:
        """Every item ever sent to the vendor, in round order."""
        return [i for r in sorted(self.rounds) for i in self.batch_ids(r)]

    @property
    def labels_asked(self) -> int:
        return len(self.asked_ids)

    @cached_property
    def outside_ids(self) -> set[str]:
        """Asked items that are not pool items (synthetic, or from stream arrivals)."""
        return {i for r in self.rounds.values() for i in ((r.get("batch") or {}).get("outside") or {}).get("ids", [])}

    def auto_labeled(self) -> dict[str, str]:
        """Every label the model gave itself (auto-labeling), id -> label; never part of human_labels."""
        return {i: label for r in sorted(self.auto_labels) for i, label in self.auto_labels[r].items()}

    def human_labels(self) -> dict[str, str]:
        """Every label ingested from the vendor, id -> label."""
        labels: dict[str, str] = {}
        for round_labels in self.ingested.values():
            labels.update(round_labels)
        return labels


def accepted_labels(records: list[dict]) -> dict[str, str]:
    """id -> label over ingest records in commit order; an item's first accepted label wins."""
    labels: dict[str, str] = {}
    for record in sorted(records, key=lambda r: (r.get("ingested_at", ""), r.get("sha256", ""))):
        for id_, label in record.get("labels", {}).items():
            labels.setdefault(id_, label)
    return labels


def load_state(store: Store, campaign: str) -> CampaignState:
    """Derive the campaign state from one listing of its records."""
    keys = store.list(f"{campaign}/")
    rounds: dict[int, dict] = {}
    ingests: dict[int, list[dict]] = {}
    exported, delivered = set(), set()
    written_off: dict[int, set[str]] = {}
    for key in keys:
        round_ = _round_of(key)
        if round_ is None:
            continue
        if key == ledger_key(campaign, round_, "round.json"):
            rounds[round_] = json.loads(store.read(key))
        elif key.startswith(ledger_key(campaign, round_, "ingest-")) and key.endswith(".json"):
            ingests.setdefault(round_, []).append(json.loads(store.read(key)))
        elif key.startswith(ledger_key(campaign, round_, "writeoff-")):
            written_off.setdefault(round_, set()).update(json.loads(store.read(key))["ids"])
        elif key == batch_prefix(campaign, round_) + READY:
            exported.add(round_)
        elif key == delivery_prefix(campaign, round_) + DONE:
            delivered.add(round_)
    # a round that auto-labeled nothing names no file
    named = {r: (rec.get("auto_labels") or {}).get("key") for r, rec in rounds.items()}
    auto = {r: json.loads(store.read(key))["labels"] for r, key in named.items() if key}
    given_up = {r: frozenset(ids) for r, ids in written_off.items()}
    return CampaignState(campaign, rounds, frozenset(exported), frozenset(delivered), ingests, auto, given_up)


def write_attachment(store: Store, campaign: str, round_: int, name: str, suffix: str, data: bytes) -> str:
    """Write a file that the round record will name, keyed by its content; returns its key.

    Written before round.json: a crash in between leaves a file no record names, which is ignored,
    and a re-run writing the same content finds it there.
    """
    key = ledger_key(campaign, round_, f"{name}-{sha256(data)[:32]}{suffix}")
    try:
        store.write_once(key, data)
    except AlreadyExistsError:
        pass
    return key


def record_round(store: Store, campaign: str, record: dict) -> None:
    """Commit a round's decision. Raises RoundConflictError if another run committed it first."""
    key = ledger_key(campaign, record["round"], "round.json")
    try:
        store.write_once(key, json_bytes({**record, "recorded_at": now()}))
    except AlreadyExistsError:
        raise RoundConflictError(
            f"round {record['round']} of campaign {campaign!r} was recorded by another run "
            "while this one was working; nothing of this run was kept: run `alflow status` to see it"
        ) from None


def record_ingest(store: Store, campaign: str, round_: int, record: dict) -> bool:
    """Commit the ingest record of one delivery file. False if that content was already committed."""
    try:
        store.write_once(ingest_key(campaign, round_, record["sha256"]), json_bytes({**record, "round": round_}))
    except AlreadyExistsError:
        return False  # a retry, a duplicate event or a concurrent run got here first: counted once
    return True


def write_quarantine(store: Store, campaign: str, round_: int, name: str, data: bytes, reason: dict) -> str:
    """Keep rejected rows (or a whole file) with their reasons beside them; safe to re-run."""
    key = quarantine_prefix(campaign, round_) + name
    for target, payload in ((key, data), (key + ".reason.json", json_bytes(reason))):
        try:
            store.write_once(target, payload)
        except AlreadyExistsError:
            pass  # an earlier attempt of this same ingest wrote it
    return key


# --- round claims: one run per round ---------------------------------------------------------


def _holder() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "run": uuid.uuid4().hex}


def _alive(claim: dict) -> bool:
    """Whether the claim's process may still be running (only knowable on the same host)."""
    if claim.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(claim["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_round(store: Store, campaign: str, round_: int, *, lease: timedelta = LEASE) -> dict:
    """Claim round `round_` for this process, or raise RoundConflictError if a live run holds it.

    A claim blocks others until its lease expires or its process is seen dead (same host). Taking
    over writes the next claim number once, so two runs taking over at the same time: one wins.
    """
    prefix = ledger_key(campaign, round_, "claim-")
    claims = [k for k in store.list(ledger_key(campaign, round_, "")) if k.startswith(prefix)]
    if claims:
        last = json.loads(store.read(claims[-1]))
        expired = datetime.fromisoformat(last["expires_at"]) <= datetime.now(UTC)
        ours = last.get("host") == socket.gethostname() and last.get("pid") == os.getpid()
        if not (expired or ours or not _alive(last)):
            raise RoundConflictError(
                f"round {round_} of campaign {campaign!r} is being run by pid {last['pid']} on {last['host']} "
                f"since {last['claimed_at']}; this run stops here. Wait for it, or retry after its lease "
                f"expires at {last['expires_at']}"
            )
    number = len(claims) + 1
    started = datetime.now(UTC)
    claim = {
        **_holder(),
        "round": round_,
        "claimed_at": started.isoformat(timespec="seconds"),
        "expires_at": (started + lease).isoformat(timespec="seconds"),
    }
    try:
        store.write_once(ledger_key(campaign, round_, f"claim-{number:04d}.json"), json_bytes(claim))
    except AlreadyExistsError:
        raise RoundConflictError(
            f"round {round_} of campaign {campaign!r} was claimed by another run at the same moment; "
            "this run stops here: run `alflow status` to see it"
        ) from None
    return claim


def write_batch(store: Store, campaign: str, round_: int, name: str, items: bytes, metadata: dict) -> str:
    """Write a batch's items file, metadata and marker (last). Safe to re-run after a crash."""
    prefix = batch_prefix(campaign, round_)
    digest = sha256(items)
    for step, data in (
        (name, items),
        ("batch.json", json_bytes({**metadata, "sha256": digest, "items": name})),
        (READY, json_bytes({"sha256": digest, "count": metadata["count"]})),
    ):
        try:
            store.write_once(prefix + step, data)
        except AlreadyExistsError:
            pass  # written by an earlier attempt of this same export
        crash_point(f"export:after:{step}")
    return f"{store.uri}/{prefix}"


def delivery_keys(store: Store, campaign: str, round_: int) -> list[str]:
    """Everything the vendor put under a round's delivery prefix except the marker, sorted."""
    return [k for k in store.list(delivery_prefix(campaign, round_)) if k.rsplit("/", 1)[-1] != DONE]
