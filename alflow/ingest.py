"""Vendor deliveries in: read, validate, aggregate, accept the valid part, quarantine the rest.

One delivery *file* is the unit of exactly-once: its ingest record is keyed by the SHA-256 of its
bytes and written once, after its quarantine (if any). So a file seen twice, a duplicate event
or a retry after a crash finds the record and changes nothing; a crash before the record just
redoes the same work. The rules for a delivery seen twice, a late duplicate and a conflicting
relabel are in docs/VENDORS.md; in short, an item's first accepted label wins and is counted once.

Row reasons (machine-readable, in the record and the quarantine's `.reason.json`):
missing_id, missing_label, label_not_in_class_set, id_not_in_batch, duplicate_vote, tie,
too_few_votes, conflicting_relabel. File reasons: unsafe_key, not_a_label_file, unreadable,
missing_column.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alflow import ledger, validation, vendors
from alflow.config import CampaignConfig
from alflow.errors import DataValidationError
from alflow.ledger import CampaignState
from alflow.store import Store, check_key
from alflow.vendors import ANNOTATOR, ID, LABEL

ROW_RULES = ("missing_id", "missing_label", "label_not_in_class_set", "id_not_in_batch")


@dataclass(frozen=True)
class Verdict:
    """What one delivery file yields: labels to accept, rows rejected, and how the votes agreed."""

    labels: dict[str, str]
    rejected: list[dict]
    duplicates: list[str]
    agreement: float | None
    annotators: list[str]
    votes: int
    metadata: dict[str, dict]


# --- pure steps -------------------------------------------------------------------------------


def normalise(votes: pd.DataFrame) -> pd.DataFrame:
    """Votes with text columns id, label, annotator (added empty when absent), positions reset."""
    votes = votes.reset_index(drop=True).copy()
    if ANNOTATOR not in votes.columns:
        votes[ANNOTATOR] = pd.Series([None] * len(votes), index=votes.index, dtype=object)
    for column in (ID, LABEL, ANNOTATOR):
        if column in votes.columns:
            values = [None if _blank(v) else str(v).strip() for v in votes[column]]
            votes[column] = pd.Series(values, index=votes.index, dtype=object)
    return votes


def _blank(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def row_problems(votes: pd.DataFrame, *, classes: tuple[str, ...], batch: set[str], source: str) -> dict[int, str]:
    """Row position -> first reason it is rejected, checked by Great Expectations.

    Raises DataValidationError when a required column is missing (the whole file is rejected).
    """
    validation.check(votes.head(0), [validation.Rule("column_exists", c) for c in (ID, LABEL)], source=source)
    frame = votes.assign(_in_batch=votes[ID].isin(batch) | votes[ID].isna())
    rules = [
        validation.Rule("not_null", ID),
        validation.Rule("not_null", LABEL),
        validation.Rule("in_set", LABEL, {"value_set": sorted(classes)}),
        validation.Rule("in_set", "_in_batch", {"value_set": [True]}),
    ]
    problems: dict[int, str] = {}
    for index, rows in validation.failing_rows(frame[[ID, LABEL, "_in_batch"]], rules, source=source).items():
        for row in rows:
            problems.setdefault(row, ROW_RULES[index])
    return problems


def majority(
    votes: pd.DataFrame, *, classes: tuple[str, ...], annotators: int, tie_rule: str
) -> tuple[dict[str, str], dict[str, str], float | None]:
    """Majority vote per item: (labels, item -> reason not labeled, agreement).

    Agreement is the mean share of an item's votes that agree with its label, over items with two
    votes or more (None when no item has two). A tie leaves the item outstanding (`tie_rule=
    "outstanding"`) or takes the tied class listed first in `classes` ("class_order").
    """
    labels, refused, shares = {}, {}, []
    for id_, group in votes.groupby(ID, sort=False):
        counts = Counter(group[LABEL])
        if len(group) < annotators:
            refused[id_] = "too_few_votes"
            continue
        top = max(counts.values())
        tied = [c for c in classes if counts.get(c) == top]
        if len(tied) > 1 and tie_rule == "outstanding":
            refused[id_] = "tie"
            continue
        labels[id_] = tied[0]
        if len(group) > 1:
            shares.append(top / len(group))
    return labels, refused, (float(np.mean(shares)) if shares else None)


def dawid_skene(
    votes: pd.DataFrame, *, classes: tuple[str, ...], annotators: int, iterations: int = 20
) -> tuple[dict[str, str], dict[str, str], float | None]:
    """Dawid-Skene EM over one file's votes: each annotator's confusion matrix weighs their votes.

    Starts from the majority vote; items with fewer than `annotators` votes are refused. Exact
    ties of the posterior go to the class listed first. Agreement is as in `majority`.
    """
    counts = votes.groupby(ID, sort=False).size()
    refused = {i: "too_few_votes" for i, n in counts.items() if n < annotators}
    votes = votes[~votes[ID].isin(refused)]
    if votes.empty:
        return {}, refused, None
    items = list(dict.fromkeys(votes[ID]))
    workers = list(dict.fromkeys(votes[ANNOTATOR].fillna("(anonymous)")))
    k = len(classes)
    item_of = {i: n for n, i in enumerate(items)}
    worker_of = {w: n for n, w in enumerate(workers)}
    rows = [
        (item_of[i], worker_of[w], classes.index(lab))
        for i, w, lab in zip(votes[ID], votes[ANNOTATOR].fillna("(anonymous)"), votes[LABEL], strict=True)
    ]
    T = np.full((len(items), k), 1e-9)
    for i, _, c in rows:
        T[i, c] += 1
    T /= T.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        prior = T.mean(axis=0) + 1e-9
        confusion = np.full((len(workers), k, k), 1e-2)
        for i, w, c in rows:
            confusion[w, :, c] += T[i]
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_t = np.tile(np.log(prior), (len(items), 1))
        for i, w, c in rows:
            log_t[i] += np.log(confusion[w, :, c])
        T = np.exp(log_t - log_t.max(axis=1, keepdims=True))
        T /= T.sum(axis=1, keepdims=True)
    labels = {item: classes[int(np.argmax(T[n]))] for n, item in enumerate(items)}
    shares = [
        float((group[LABEL] == labels[id_]).mean()) for id_, group in votes.groupby(ID, sort=False) if len(group) > 1
    ]
    return labels, refused, (float(np.mean(shares)) if shares else None)


def judge(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    batch: set[str],
    accepted: dict[str, str],
    annotators: int = 1,
    aggregation: str = "majority",
    tie_rule: str = "outstanding",
    source: str,
) -> Verdict:
    """Decide a readable delivery file: which labels to accept and why each other row is refused.

    `accepted` holds the labels already accepted for the round: the same label again is a late
    duplicate (skipped, not counted), a different one a conflicting relabel (refused; the first
    label stands). Raises DataValidationError when the file as a whole is unusable.
    """
    votes = normalise(votes)
    problems = row_problems(votes, classes=classes, batch=batch, source=source)
    seen: set[tuple[str, str]] = set()
    for row, (id_, who) in enumerate(zip(votes[ID], votes[ANNOTATOR], strict=True)):
        if row not in problems and who is not None:
            if (id_, who) in seen:
                problems[row] = "duplicate_vote"  # one annotator, one vote per item: the first counts
            seen.add((id_, who))
    valid = votes.drop(index=list(problems))
    aggregate = dawid_skene if aggregation == "dawid_skene" else majority
    options = {} if aggregation == "dawid_skene" else {"tie_rule": tie_rule}
    labels, refused, agreement = aggregate(valid, classes=classes, annotators=annotators, **options)
    for row, id_ in zip(valid.index, valid[ID], strict=True):
        if id_ in refused:
            problems[row] = refused[id_]
    duplicates = sorted(i for i, label in labels.items() if accepted.get(i) == label)
    conflicts = {i for i, label in labels.items() if i in accepted and accepted[i] != label}
    for row, id_ in zip(valid.index, valid[ID], strict=True):
        if id_ in conflicts:
            problems[row] = "conflicting_relabel"
    fresh = {i: label for i, label in labels.items() if i not in accepted}
    rejected = [
        {
            "row": int(row) + 1,
            ID: votes.at[row, ID],
            LABEL: votes.at[row, LABEL],
            ANNOTATOR: votes.at[row, ANNOTATOR],
            "reason": reason,
            **({"accepted_label": accepted[votes.at[row, ID]]} if reason == "conflicting_relabel" else {}),
        }
        for row, reason in sorted(problems.items())
    ]
    metadata = {}
    meta_columns = [c for c in vendors.META_COLUMNS if c in votes.columns]
    if meta_columns:
        for row in valid.index:
            id_ = votes.at[row, ID]
            if id_ in fresh:
                values = {c: _json_value(votes.at[row, c]) for c in meta_columns}
                metadata[id_] = {c: v for c, v in values.items() if v is not None}
    who = sorted({w for w in valid[ANNOTATOR] if w is not None})
    return Verdict(fresh, rejected, duplicates, agreement, who, len(votes), {k: v for k, v in metadata.items() if v})


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return None if _blank(value) else value


# --- one file, exactly once -------------------------------------------------------------------


def _quarantine_name(key: str, digest: str) -> str:
    # The vendor's file name is never used as a path: only its last part, made safe, after our digest.
    base = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in key.rsplit("/", 1)[-1])[:80]
    return f"{digest[:12]}-{base or 'file'}"


def _rows_bytes(rejected: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rejected) + "\n").encode()


def _delivered_at(store: Store, marker: str, key: str | None) -> str:
    """The store's time of the completion marker (or of a file sent after it), else now."""
    modified = getattr(store, "modified", None)
    if modified is None:
        return ledger.now()
    times = []
    for target in (marker, key):
        if target:
            try:
                times.append(modified(target))
            except (FileNotFoundError, OSError, ValueError):
                pass
    return max(times) if times else ledger.now()


def ingest_file(
    store: Store, config: CampaignConfig, state: CampaignState, round_: int, key: str, accepted: dict[str, str]
) -> dict | None:
    """Ingest one delivery file; returns the record written, or None if this content was already in."""
    campaign, vendor = config.campaign, config.vendor
    marker = ledger.delivery_prefix(campaign, round_) + ledger.DONE
    base = {
        "round": round_,
        "ingested_in": state.next_round,
        "file": key,
        "format": vendor.format,
        "aggregation": vendor.aggregation,
        "tie_rule": vendor.tie_rule,
        "annotators_required": vendor.annotators,
    }
    try:
        check_key(key)
    except ValueError as error:
        data, reason = None, ("unsafe_key", str(error))
    else:
        data = store.read(key)
        reason = None
        if not vendors.is_delivery_file(key, vendor.format):
            suffix = vendors.DELIVERY_SUFFIX[vendor.format]
            reason = ("not_a_label_file", f"{key}: the campaign's format is {vendor.format}: files end in {suffix}")
    digest = ledger.sha256(data if data is not None else key.encode())
    if any(r.get("sha256") == digest for r in state.ingests.get(round_, [])):
        return None  # the same bytes were ingested before (seen twice, or a retried event)
    ledger.crash_point("ingest:after_read")
    source = f"{store.uri}/{key}"
    verdict = None
    if reason is None:
        try:
            votes = vendors.read_delivery(data, vendor.format, source=source, classes=config.classes)
            verdict = judge(
                votes,
                classes=config.classes,
                batch=set(state.batch_ids(round_)),
                accepted=accepted,
                annotators=vendor.annotators,
                aggregation=vendor.aggregation,
                tie_rule=vendor.tie_rule,
                source=source,
            )
        except DataValidationError as error:
            code = "missing_column" if "required column" in str(error) else "unreadable"
            reason = (code, str(error))
    record: dict[str, Any] = {
        **base,
        "sha256": digest,
        "delivered_at": _delivered_at(store, marker, key if data is not None else None),
    }
    name = _quarantine_name(key, digest)
    if verdict is None:
        code, message = reason
        record.update(status="rejected", reason=code, message=message, labels={}, count=0, rejected=[])
        record.update(duplicates=[], agreement=None, annotators=[], votes=0, label_metadata={})
        quarantined = ledger.write_quarantine(
            store,
            campaign,
            round_,
            name,
            data or b"",
            {"file": key, "sha256": digest, "reason": code, "message": message},
        )
        record["quarantine"] = quarantined
    else:
        status = "accepted" if not verdict.rejected else ("partial" if verdict.labels else "rejected")
        record.update(
            status=status,
            reason=None,
            labels=verdict.labels,
            count=len(verdict.labels),
            rejected=verdict.rejected,
            duplicates=verdict.duplicates,
            agreement=verdict.agreement,
            annotators=verdict.annotators,
            votes=verdict.votes,
            label_metadata=verdict.metadata,
            quarantine=None,
        )
        if verdict.rejected:
            reasons = dict(Counter(r["reason"] for r in verdict.rejected))
            record["quarantine"] = ledger.write_quarantine(
                store,
                campaign,
                round_,
                name + ".rejected.jsonl",
                _rows_bytes(verdict.rejected),
                {"file": key, "sha256": digest, "reasons": reasons, "rows": verdict.rejected},
            )
    ledger.crash_point("ingest:after_quarantine")
    record["ingested_at"] = ledger.now()
    written = ledger.record_ingest(store, campaign, round_, record)
    ledger.crash_point("ingest:after_record")
    return record if written else None


def ingest_deliveries(store: Store, config: CampaignConfig, state: CampaignState) -> list[dict]:
    """Ingest every completed delivery's files not ingested yet; returns the records written.

    A round's files are read once its completion marker exists; a file sent after the marker
    (a correction) is read by the next run. Nothing is ever deleted: rejected input stays in the
    delivery folder and is copied, with reasons, to the quarantine.
    """
    written = []
    for round_ in sorted(state.rounds):
        if round_ not in state.delivered or not state.batch_ids(round_):
            continue
        accepted = ledger.accepted_labels(state.ingests.get(round_, []))
        for key in ledger.delivery_keys(store, config.campaign, round_):
            if config.vendor.format == "ground_truth" and not vendors.is_delivery_file(key, "ground_truth"):
                continue  # a Ground Truth job folder holds much besides its output manifest
            record = ingest_file(store, config, state, round_, key, accepted)
            if record is not None:
                written.append(record)
                for id_, label in record["labels"].items():
                    accepted.setdefault(id_, label)
    return written


def summary(records: list[dict]) -> dict[str, Any]:
    """Totals over ingest records, for the round report and MLflow."""
    rejected = sum(len(r["rejected"]) + (1 if r["status"] == "rejected" and not r["rejected"] else 0) for r in records)
    agreements = [r["agreement"] for r in records if r.get("agreement") is not None]
    return {
        "labels_ingested": sum(r["count"] for r in records),
        "rows_rejected": rejected,
        "duplicates": sum(len(r["duplicates"]) for r in records),
        "quarantined": tuple(r["quarantine"] for r in records if r.get("quarantine")),
        "agreement": float(np.mean(agreements)) if agreements else None,
    }
