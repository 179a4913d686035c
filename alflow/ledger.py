"""Campaign state: immutable records in the store, and the state derived from them.

Layout under `<bucket>/<campaign>/` (docs/ARCHITECTURE.md has the picture):

    ledger/round-0001/round.json      the round's decision: metrics, stop reason, batch ids (commit)
    batches/round-0001/items.csv      the batch for the vendor  } written after round.json;
    batches/round-0001/batch.json     count, checksum, classes  } _READY last, so the vendor
    batches/round-0001/_READY         completion marker         } never sees half a batch
    deliveries/round-0001/*.csv       the vendor's labels       } written by the vendor,
    deliveries/round-0001/_DONE       completion marker         } _DONE last
    ledger/round-0001/ingest.json     the labels accepted from that delivery (commit)

Every record is written once. A crash leaves either the old state or the new one, and re-running
a step finds its record already there and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alflow.errors import AlreadyExistsError, RoundConflictError
from alflow.store import Store

READY = "_READY"
DONE = "_DONE"


def round_dir(round_: int) -> str:
    return f"round-{round_:04d}"


def batch_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/batches/{round_dir(round_)}/"


def delivery_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/deliveries/{round_dir(round_)}/"


def ledger_key(campaign: str, round_: int, name: str) -> str:
    return f"{campaign}/ledger/{round_dir(round_)}/{name}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def _round_of(key: str) -> int | None:
    for part in key.split("/"):
        if part.startswith("round-") and part[6:].isdigit():
            return int(part[6:])
    return None


@dataclass(frozen=True)
class CampaignState:
    """What the records say. `rounds` are round.json records, `ingested` maps round -> labels."""

    campaign: str
    rounds: dict[int, dict] = field(default_factory=dict)
    exported: frozenset[int] = frozenset()
    delivered: frozenset[int] = frozenset()
    ingested: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def next_round(self) -> int:
        return max(self.rounds, default=0) + 1

    @property
    def stop_reason(self) -> str | None:
        last = self.rounds.get(max(self.rounds, default=0))
        return last.get("stop_reason") if last else None

    def batch_ids(self, round_: int) -> list[str]:
        return list((self.rounds[round_].get("batch") or {}).get("ids", []))

    @property
    def outstanding(self) -> list[int]:
        """Rounds whose batch was asked for and whose labels are not ingested yet."""
        return [r for r in sorted(self.rounds) if self.batch_ids(r) and r not in self.ingested]

    @property
    def unexported(self) -> list[int]:
        """Rounds that chose a batch but crashed before its completion marker was written."""
        return [r for r in self.outstanding if r not in self.exported]

    @property
    def labels_asked(self) -> int:
        return sum(len(self.batch_ids(r)) for r in self.rounds)

    def human_labels(self) -> dict[str, str]:
        """Every label ingested from the vendor, id -> label."""
        labels: dict[str, str] = {}
        for round_ in sorted(self.ingested):
            labels.update(self.ingested[round_])
        return labels


def load_state(store: Store, campaign: str) -> CampaignState:
    """Derive the campaign state from one listing of its records."""
    keys = store.list(f"{campaign}/")
    rounds, ingested = {}, {}
    exported, delivered = set(), set()
    for key in keys:
        round_ = _round_of(key)
        if round_ is None:
            continue
        if key == ledger_key(campaign, round_, "round.json"):
            rounds[round_] = json.loads(store.read(key))
        elif key == ledger_key(campaign, round_, "ingest.json"):
            ingested[round_] = json.loads(store.read(key))["labels"]
        elif key == batch_prefix(campaign, round_) + READY:
            exported.add(round_)
        elif key == delivery_prefix(campaign, round_) + DONE:
            delivered.add(round_)
    return CampaignState(campaign, rounds, frozenset(exported), frozenset(delivered), ingested)


def record_round(store: Store, campaign: str, record: dict) -> None:
    """Commit a round's decision. Raises RoundConflictError if another run committed it first."""
    key = ledger_key(campaign, record["round"], "round.json")
    try:
        store.write_once(key, _json({**record, "recorded_at": now()}))
    except AlreadyExistsError:
        raise RoundConflictError(
            f"round {record['round']} of campaign {campaign!r} was recorded by another run "
            "while this one was working; nothing of this run was kept: run `alflow status` to see it"
        ) from None


def record_ingest(store: Store, campaign: str, round_: int, labels: dict[str, str], files: list[str]) -> bool:
    """Commit the labels accepted from a delivery. False if they were already committed."""
    record = {"round": round_, "labels": labels, "count": len(labels), "files": files, "ingested_at": now()}
    try:
        store.write_once(ledger_key(campaign, round_, "ingest.json"), _json(record))
    except AlreadyExistsError:
        return False  # a retry or a concurrent run got here first: the labels are in, once
    return True


def write_batch(store: Store, campaign: str, round_: int, items: bytes, metadata: dict) -> str:
    """Write a batch's items, metadata and marker (last). Safe to re-run after a crash."""
    prefix = batch_prefix(campaign, round_)
    digest = sha256(items)
    for name, data in (
        ("items.csv", items),
        ("batch.json", _json({**metadata, "sha256": digest, "items": "items.csv"})),
        (READY, _json({"sha256": digest, "count": metadata["count"]})),
    ):
        try:
            store.write_once(prefix + name, data)
        except AlreadyExistsError:
            pass  # written by an earlier attempt of this same export
    return f"{store.uri}/{prefix}"


def delivery_files(store: Store, campaign: str, round_: int) -> list[str]:
    """The label files of a completed delivery (every .csv under its prefix), sorted."""
    return [k for k in store.list(delivery_prefix(campaign, round_)) if k.lower().endswith(".csv")]
