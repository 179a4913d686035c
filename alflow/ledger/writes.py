"""Every write alflow makes into a campaign's bucket, each exactly once.

Every object is written once (`Store.write_once`). A crash leaves either the old state or the
new one, and re-running a step finds its object already there and changes nothing.
"""

from __future__ import annotations

from typing import IO

from alflow.errors import AlreadyExistsError, RoundConflictError
from alflow.exchange import layout
from alflow.exchange.store import Store
from alflow.ledger.crash import crash_point
from alflow.ledger.records import BatchMetadata, IngestRecord, RoundRecord, StrayRecord, json_bytes, now, sha256


def _write_if_absent(store: Store, key: str, data: bytes) -> None:
    """Write once; an object already there is an earlier attempt of this same step (same content)."""
    try:
        store.write_once(key, data)
    except AlreadyExistsError:
        pass


def ingest_key(campaign: str, round_: int, digest: str) -> str:
    """The ingest record of a delivery file, keyed by its content: the same bytes twice are one delivery."""
    return layout.ledger_key(campaign, round_, f"ingest-{digest[:32]}.json")


def attachment_key(campaign: str, round_: int, name: str, suffix: str, data: bytes) -> str:
    """Where a file that a round record names lives: keyed by its content."""
    return layout.ledger_key(campaign, round_, f"{name}-{sha256(data)[:32]}{suffix}")


def write_attachment(store: Store, campaign: str, round_: int, name: str, suffix: str, data: bytes) -> str:
    """Write a file that the round record will name, keyed by its content; returns its key.

    Written before round.json: a crash in between leaves a file no record names, which is ignored,
    and a re-run writing the same content finds it there.
    """
    key = attachment_key(campaign, round_, name, suffix, data)
    _write_if_absent(store, key, data)
    return key


def record_round(store: Store, campaign: str, record: RoundRecord) -> RoundRecord:
    """Commit a round's decision; returns it as committed (with `recorded_at`).

    Raises RoundConflictError if another run committed the round first.
    """
    committed = record.model_copy(update={"recorded_at": now()})
    try:
        store.write_once(layout.ledger_key(campaign, record.round, "round.json"), committed.to_json())
    except AlreadyExistsError:
        raise RoundConflictError(
            f"round {record.round} of campaign {campaign!r} was recorded by another run "
            "while this one was working; nothing of this run was kept: run `alflow status` to see it"
        ) from None
    return committed


def record_ingest(store: Store, campaign: str, record: IngestRecord) -> bool:
    """Commit the ingest record of one delivery file. False if that content was already committed."""
    try:
        store.write_once(ingest_key(campaign, record.round, record.sha256), record.to_json())
    except AlreadyExistsError:
        return False  # a retry, a duplicate event or a concurrent run got here first: counted once
    return True


def write_quarantine(
    store: Store, campaign: str, round_: int, name: str, data: bytes | IO[bytes] | None, reason: dict
) -> str:
    """Keep rejected rows (or a whole file, streamed from an open file) with their reasons beside
    them; with `data` None only the reasons (a file too large to copy, or never read). Safe to re-run."""
    key = layout.quarantine_prefix(campaign, round_) + name
    try:
        if isinstance(data, bytes):
            store.write_once(key, data)
        elif data is not None:
            store.write_once_from(key, data)
    except AlreadyExistsError:
        pass
    _write_if_absent(store, key + ".reason.json", json_bytes(reason))
    return key


def record_stray(store: Store, campaign: str, record: StrayRecord) -> bool:
    """Record a file left where nothing reads it, once per key. False if it was recorded before."""
    try:
        store.write_once(layout.stray_key(campaign, sha256(record.file.encode())), record.to_json())
    except AlreadyExistsError:
        return False
    return True


def write_batch(
    store: Store,
    campaign: str,
    round_: int,
    name: str,
    items: bytes,
    metadata: BatchMetadata,
    extras: dict[str, bytes] | None = None,
) -> str:
    """Write a batch's items file, the files the vendor's tool needs beside it (`extras`), its
    metadata and its marker (last). Safe to re-run after a crash."""
    prefix = layout.batch_prefix(campaign, round_)
    digest = sha256(items)
    _write_if_absent(store, prefix + name, items)
    for extra, data in (extras or {}).items():
        _write_if_absent(store, prefix + extra, data)
    crash_point("export:after:items")
    described = metadata.model_copy(update={"sha256": digest, "items": name})
    _write_if_absent(store, prefix + layout.BATCH_METADATA, described.to_json())
    crash_point("export:after:metadata")
    _write_if_absent(store, prefix + layout.READY, json_bytes({"sha256": digest, "count": metadata.count}))
    crash_point("export:after:marker")
    return f"{store.uri}/{prefix}"


def delivery_keys(store: Store, campaign: str, round_: int) -> list[str]:
    """Everything the vendor put under a round's delivery prefix except the marker, sorted."""
    return [k for k in store.list(layout.delivery_prefix(campaign, round_)) if k.rsplit("/", 1)[-1] != layout.DONE]
