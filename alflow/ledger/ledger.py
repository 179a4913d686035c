"""A campaign's ledger: its bucket and name, and every write alflow makes there, each exactly once.

Every object is written once (`Store.write_once`). A crash leaves either the old state or the
new one, and re-running a step finds its object already there and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from alflow.config import CampaignConfig
from alflow.errors import AlreadyExistsError, ConfigError, RoundConflictError
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.exchange.store import Store
from alflow.ledger.crash import crash_point
from alflow.ledger.records import (
    BatchMetadata,
    DeliveryNotice,
    IngestRecord,
    ReviewRecord,
    ReviewVerdict,
    RoundRecord,
    StrayRecord,
    WriteOff,
    json_bytes,
    now,
    sha256,
)
from alflow.ledger.state import CampaignState, load_state

NOTICE = "notice.json"  # a round's DeliveryNotice, beside its records


def bucket(config: CampaignConfig) -> Store:
    """The campaign's vendor bucket: where its batches, deliveries and ledger live."""
    return open_store(config.vendor.bucket, sse=config.vendor.sse, kms_key_id=config.vendor.kms_key_id)


def campaign_state(config: CampaignConfig) -> CampaignState:
    """The campaign's state, from one listing of its bucket."""
    return Ledger.of(config).state()


@dataclass(frozen=True)
class BatchFiles:
    """A batch as it goes to the vendor: its items file (`name`, `items`), the files the vendor's
    tool needs beside it (`extras`), and its metadata (completed with the items' SHA-256 and name)."""

    name: str
    items: bytes
    metadata: BatchMetadata
    extras: dict[str, bytes] | None = None


@dataclass(frozen=True)
class OpenBatch:
    """A batch the vendor still holds: `outstanding` of its `items` have no label yet (nor a write-off)."""

    round: int
    items: int
    outstanding: int
    exported_at: str | None  # when its _READY marker was written; None while its export is unfinished

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if self.exported_at is None:
            return None
        return ((now or datetime.now(UTC)) - datetime.fromisoformat(self.exported_at)).total_seconds()


def _write_if_absent(store: Store, key: str, data: bytes) -> None:
    """Write once; an object already there is an earlier attempt of this same step (same content)."""
    try:
        store.write_once(key, data)
    except AlreadyExistsError:
        pass


@dataclass(frozen=True)
class Ledger:
    """One campaign's ledger: the bucket (`store`) and the campaign's name, its key prefix there.

    Reads go through `state` (one listing); every write is a method here, each written once.
    """

    store: Store
    campaign: str

    @classmethod
    def of(cls, config: CampaignConfig) -> Ledger:
        """The ledger of a campaign, in the bucket its config names."""
        return cls(bucket(config), config.campaign)

    def state(self) -> CampaignState:
        """The campaign's state, from one listing of its bucket."""
        return load_state(self.store, self.campaign)

    def key(self, round_: int, name: str) -> str:
        """The key of a round's ledger file `name` (the round's ledger folder for name "")."""
        return layout.ledger_key(self.campaign, round_, name)

    def ingest_key(self, round_: int, digest: str) -> str:
        """The ingest record of a delivery file, keyed by its content: the same bytes twice are one delivery."""
        return self.key(round_, f"ingest-{digest[:32]}.json")

    def write_attachment(self, round_: int, name: str, suffix: str, data: bytes) -> str:
        """Write a file that the round record will name, keyed by its content; returns its key.

        Written before round.json: a crash in between leaves a file no record names, which is ignored,
        and a re-run writing the same content finds it there.
        """
        key = self.key(round_, f"{name}-{sha256(data)[:32]}{suffix}")
        _write_if_absent(self.store, key, data)
        return key

    def record_round(self, record: RoundRecord) -> RoundRecord:
        """Commit a round's decision; returns it as committed (with `recorded_at`).

        Raises RoundConflictError if another run committed the round first.
        """
        committed = record.model_copy(update={"recorded_at": now()})
        try:
            self.store.write_once(self.key(record.round, "round.json"), committed.to_json())
        except AlreadyExistsError:
            raise RoundConflictError(
                f"round {record.round} of campaign {self.campaign!r} was recorded by another run "
                "while this one was working; nothing of this run was kept: run `alflow status` to see it"
            ) from None
        return committed

    def record_ingest(self, record: IngestRecord) -> bool:
        """Commit the ingest record of one delivery file. False if that content was already committed."""
        try:
            self.store.write_once(self.ingest_key(record.round, record.sha256), record.to_json())
        except AlreadyExistsError:
            return False  # a retry, a duplicate event or a concurrent run got here first: counted once
        return True

    def write_quarantine(self, round_: int, name: str, data: bytes | IO[bytes] | None, reason: dict) -> str:
        """Keep rejected rows (or a whole file, streamed from an open file) with their reasons beside
        them; with `data` None only the reasons (a file too large to copy, or never read). Safe to re-run."""
        key = layout.quarantine_prefix(self.campaign, round_) + name
        try:
            if isinstance(data, bytes):
                self.store.write_once(key, data)
            elif data is not None:
                self.store.write_once_from(key, data)
        except AlreadyExistsError:
            pass
        _write_if_absent(self.store, key + ".reason.json", json_bytes(reason))
        return key

    def record_stray(self, record: StrayRecord) -> bool:
        """Record a file left where nothing reads it, once per key. False if it was recorded before."""
        try:
            self.store.write_once(layout.stray_key(self.campaign, sha256(record.file.encode())), record.to_json())
        except AlreadyExistsError:
            return False
        return True

    def record_notice(self, notice: DeliveryNotice) -> bool:
        """Write a round's (or a review's) delivery notice once; False if another watcher wrote it first."""
        key = self.key(notice.round, NOTICE)
        if notice.review is not None:  # a review's answers: beside the review's records
            key = layout.review_key(self.campaign, notice.review, NOTICE)
        try:
            self.store.write_once(key, notice.to_json())
        except AlreadyExistsError:
            return False
        return True

    def record_review(self, record: ReviewRecord) -> ReviewRecord:
        """Commit a review's request (`alflow review`); RoundConflictError if another run took its number."""
        try:
            self.store.write_once(layout.review_key(self.campaign, record.seq, "review.json"), record.to_json())
        except AlreadyExistsError:
            raise RoundConflictError(
                f"review {record.seq} of campaign {self.campaign!r} was recorded by another run meanwhile; "
                "run `alflow status` to see it"
            ) from None
        return record

    def record_review_verdict(self, record: ReviewVerdict) -> bool:
        """Commit what one file of a review's delivery said; False if that content was already in."""
        try:
            self.store.write_once(
                layout.review_key(self.campaign, record.review, f"verdict-{record.sha256[:32]}.json"), record.to_json()
            )
        except AlreadyExistsError:
            return False
        return True

    def write_batch(self, round_: int, batch: BatchFiles, *, prefix: str | None = None) -> str:
        """Write a batch's items file, its extras, its metadata and its marker (last); returns where.
        `prefix`: another folder than the round's (a review's batch). Safe to re-run after a crash."""
        prefix = prefix or layout.batch_prefix(self.campaign, round_)
        digest = sha256(batch.items)
        _write_if_absent(self.store, prefix + batch.name, batch.items)
        for extra, data in (batch.extras or {}).items():
            _write_if_absent(self.store, prefix + extra, data)
        crash_point("export:after:items")
        described = batch.metadata.model_copy(update={"sha256": digest, "items": batch.name})
        _write_if_absent(self.store, prefix + layout.BATCH_METADATA, described.to_json())
        crash_point("export:after:metadata")
        marker = json_bytes({"sha256": digest, "count": batch.metadata.count})
        _write_if_absent(self.store, prefix + layout.READY, marker)
        crash_point("export:after:marker")
        return f"{self.store.uri}/{prefix}"

    def delivery_keys(self, round_: int) -> list[str]:
        """Everything the vendor put under a round's delivery prefix except the marker, sorted."""
        keys = self.store.list(layout.delivery_prefix(self.campaign, round_))
        return [k for k in keys if k.rsplit("/", 1)[-1] != layout.DONE]

    def write_off(self, round_: int, ids: list[str] | None, *, reason: str) -> list[str]:
        """Stop waiting for items of round `round_`'s batch that the vendor cannot label (all its
        outstanding items when `ids` is None); returns the ids written off.

        The items stay counted as asked (the budget spent on them is not returned) and a label the
        vendor delivers later is still accepted. Raises ConfigError for ids that are not outstanding.
        """
        state = self.state()
        if round_ not in state.rounds:
            raise ConfigError(f"campaign {self.campaign!r} has no round {round_}: see `alflow status`")
        outstanding = state.missing(round_)
        chosen = outstanding if ids is None else list(dict.fromkeys(ids))
        unknown = [i for i in chosen if i not in outstanding]
        if unknown:
            raise ConfigError(
                f"round {round_} is not waiting for {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}: "
                f"only items of its batch without a label can be written off ({len(outstanding)} are)"
            )
        if chosen:
            record = WriteOff(round=round_, ids=chosen, reason=reason, written_at=now())
            self.write_attachment(round_, "writeoff", ".json", record.to_json())
        return chosen

    def open_batches(self, state: CampaignState) -> list[OpenBatch]:
        """Every batch still out with the vendor, oldest first (one look at each batch's marker)."""
        batches = []
        for round_ in state.outstanding:
            marker = layout.batch_prefix(self.campaign, round_) + layout.READY
            exported = self.store.modified(marker) if round_ in state.exported else None
            batches.append(OpenBatch(round_, len(state.batch_ids(round_)), len(state.missing(round_)), exported))
        return batches
