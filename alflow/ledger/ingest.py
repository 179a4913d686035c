"""Vendor deliveries in: read, judge, accept the valid part, quarantine the rest, exactly once.

One delivery *file* is the unit of exactly-once: its ingest record is keyed by the SHA-256 of its
bytes and written once, after its quarantine (if any). So a file seen twice, a duplicate event
or a retry after a crash finds the record and changes nothing; a crash before the record just
redoes the same work. The rules for a delivery seen twice, a late duplicate and a conflicting
relabel are in docs/VENDORS.md; in short, an item's first accepted label wins and is counted once.

File reasons (a whole file refused): unsafe_key, not_a_label_file, unreadable, missing_column.
Row reasons are alflow.ledger.votes'.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from alflow.config import CampaignConfig
from alflow.errors import DataValidationError
from alflow.exchange import formats, layout
from alflow.exchange.store import Store, check_key
from alflow.ledger.crash import crash_point
from alflow.ledger.records import IngestRecord, RejectedRow, now, sha256
from alflow.ledger.state import CampaignState, accepted_labels
from alflow.ledger.votes import Verdict, judge
from alflow.ledger.writes import delivery_keys, record_ingest, write_quarantine

Refusal = tuple[str, str]  # (reason code, message)


def _quarantine_name(key: str, digest: str) -> str:
    # The vendor's file name is never used as a path: only its last part, made safe, after our digest.
    base = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in key.rsplit("/", 1)[-1])[:80]
    return f"{digest[:12]}-{base or 'file'}"


def _rows_bytes(rejected: list[RejectedRow]) -> bytes:
    return ("\n".join(json.dumps(r.model_dump()) for r in rejected) + "\n").encode()


def _delivered_at(store: Store, marker: str, key: str | None) -> str:
    """The store's time of the completion marker (or of a file sent after it), else now."""
    times = []
    for target in (marker, key):
        if target:
            try:
                times.append(store.modified(target))
            except (FileNotFoundError, OSError, ValueError):
                pass
    return max(times) if times else now()


def _read(store: Store, fmt: formats.Format, key: str) -> tuple[bytes | None, Refusal | None]:
    """The file's bytes, or why it is refused before it is read as labels."""
    try:
        check_key(key)
    except ValueError as error:
        return None, ("unsafe_key", str(error))
    data = store.read(key)
    if not fmt.is_delivery_file(key):
        return data, (
            "not_a_label_file",
            f"{key}: the campaign's format is {fmt.name}: files end in {fmt.delivery_suffix}",
        )
    return data, None


def _verdict(
    config: CampaignConfig, batch: set[str], data: bytes, source: str, accepted: dict[str, str]
) -> Verdict | Refusal:
    """What a readable label file yields, or why the whole file is refused."""
    vendor = config.vendor
    try:
        votes = formats.get(vendor.format).read_delivery(data, source=source, classes=config.classes)
        return judge(
            votes,
            classes=config.classes,
            batch=batch,
            accepted=accepted,
            annotators=vendor.annotators,
            aggregation=vendor.aggregation,
            tie_rule=vendor.tie_rule,
            source=source,
        )
    except DataValidationError as error:
        return ("missing_column" if error.reason == "missing_column" else "unreadable", str(error))


def _quarantine(
    store: Store,
    config: CampaignConfig,
    round_: int,
    key: str,
    digest: str,
    data: bytes | None,
    outcome: Verdict | Refusal,
) -> str | None:
    """Copy what is refused to the quarantine with its reasons; returns where, or None."""
    name = _quarantine_name(key, digest)
    if not isinstance(outcome, Verdict):
        code, message = outcome
        reason: dict[str, Any] = {"file": key, "sha256": digest, "reason": code, "message": message}
        return write_quarantine(store, config.campaign, round_, name, data or b"", reason)
    if not outcome.rejected:
        return None
    rows = [r.model_dump() for r in outcome.rejected]
    reasons = dict(Counter(r.reason for r in outcome.rejected))
    reason = {"file": key, "sha256": digest, "reasons": reasons, "rows": rows}
    return write_quarantine(
        store, config.campaign, round_, name + ".rejected.jsonl", _rows_bytes(outcome.rejected), reason
    )


def _record(base: dict[str, Any], outcome: Verdict | Refusal, quarantine: str | None) -> IngestRecord:
    if not isinstance(outcome, Verdict):
        code, message = outcome
        return IngestRecord(**base, status="rejected", reason=code, message=message, quarantine=quarantine)
    status = "accepted" if not outcome.rejected else ("partial" if outcome.labels else "rejected")
    return IngestRecord(
        **base,
        status=status,
        labels=outcome.labels,
        count=len(outcome.labels),
        rejected=outcome.rejected,
        duplicates=outcome.duplicates,
        agreement=outcome.agreement,
        annotators=outcome.annotators,
        votes=outcome.votes,
        label_metadata=outcome.metadata,
        quarantine=quarantine,
    )


def ingest_file(
    store: Store, config: CampaignConfig, state: CampaignState, round_: int, key: str, accepted: dict[str, str]
) -> IngestRecord | None:
    """Ingest one delivery file; returns the record written, or None if this content was already in."""
    campaign, vendor = config.campaign, config.vendor
    data, refusal = _read(store, formats.get(vendor.format), key)
    digest = sha256(data if data is not None else key.encode())
    if any(r.sha256 == digest for r in state.ingests.get(round_, [])):
        return None  # the same bytes were ingested before (seen twice, or a retried event)
    crash_point("ingest:after_read")
    source = f"{store.uri}/{key}"
    batch = set(state.batch_ids(round_))
    outcome = refusal or _verdict(config, batch, data or b"", source, accepted)
    quarantine = _quarantine(store, config, round_, key, digest, data, outcome)
    crash_point("ingest:after_quarantine")
    marker = layout.delivery_prefix(campaign, round_) + layout.DONE
    base = {
        "round": round_,
        "ingested_in": state.next_round,
        "file": key,
        "format": vendor.format,
        "aggregation": vendor.aggregation,
        "tie_rule": vendor.tie_rule,
        "annotators_required": vendor.annotators,
        "sha256": digest,
        "delivered_at": _delivered_at(store, marker, key if data is not None else None),
        "ingested_at": now(),
    }
    record = _record(base, outcome, quarantine)
    written = record_ingest(store, campaign, record)
    crash_point("ingest:after_record")
    return record if written else None


def ingest_deliveries(store: Store, config: CampaignConfig, state: CampaignState) -> list[IngestRecord]:
    """Ingest every completed delivery's files not ingested yet; returns the records written.

    A round's files are read once its completion marker exists; a file sent after the marker
    (a correction) is read by the next run. Nothing is ever deleted: rejected input stays in the
    delivery folder and is copied, with reasons, to the quarantine.
    """
    fmt = formats.get(config.vendor.format)
    written = []
    for round_ in sorted(state.rounds):
        if round_ not in state.delivered or not state.batch_ids(round_):
            continue
        accepted = accepted_labels(state.ingests.get(round_, []))
        for key in delivery_keys(store, config.campaign, round_):
            if fmt.only_label_files and not fmt.is_delivery_file(key):
                continue  # e.g. a Ground Truth job folder holds much besides its output manifest
            record = ingest_file(store, config, state, round_, key, accepted)
            if record is not None:
                written.append(record)
                for id_, label in record.labels.items():
                    accepted.setdefault(id_, label)
    return written


def summary(records: list[IngestRecord]) -> dict[str, Any]:
    """Totals over ingest records, for the round report and MLflow."""
    agreements = [r.agreement for r in records if r.agreement is not None]
    return {
        "labels_ingested": sum(r.count for r in records),
        "rows_rejected": sum(r.refused for r in records),
        "duplicates": sum(len(r.duplicates) for r in records),
        "quarantined": tuple(r.quarantine for r in records if r.quarantine),
        "agreement": float(np.mean(agreements)) if agreements else None,
    }
