"""Vendor deliveries in: read, judge, accept the valid part, quarantine the rest, exactly once.

One delivery *file* is the unit of exactly-once: its ingest record is keyed by the SHA-256 of its
bytes and written once, after its quarantine (if any). So a file seen twice, a duplicate event
or a retry after a crash finds the record and changes nothing; a crash before the record just
redoes the same work. The record also keeps the store's version tag of the file, so a later
round passes over a file it knows without reading it again. The rules for a delivery seen twice,
a late duplicate and a conflicting relabel are in docs/VENDORS.md; in short, an item's first
accepted label wins and is counted once.

Bounded: a file is copied once into a local temporary file while it is hashed (never held in
memory), then streamed through its format's reader in chunks (alflow.intake.votes.Judge); the
refused rows stream into the quarantine, the first QUARANTINE_ROWS of each reason (the record
counts them all; the file itself stays where the vendor put it), so the quarantine of a refused
file of any size is bounded. A file over `vendor.max_delivery_bytes` is refused
without being read, one over `vendor.max_delivery_rows` as soon as the reader gets there.

Total: whatever the bytes, a file yields labels or a quarantine with a reason, never an exception
out of the ingest. File reasons (a whole file refused): unsafe_key, link, not_a_file, too_large,
too_many_rows, empty, not_a_label_file, unreadable, missing_column, wrong_tag_names, and
reader_failed (a reader's bug, caught so that one file cannot stop the campaign). Row reasons
are alflow.intake.votes'.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import cached_property
from typing import IO, Any

import numpy as np
import pandas as pd

from alflow.config import CampaignConfig
from alflow.errors import DataValidationError
from alflow.exchange import formats, layout
from alflow.exchange.formats.base import Format, ReadOptions
from alflow.exchange.store import Store
from alflow.intake import completion, gold, review_verdicts, strays
from alflow.intake.fetch import NOT_COPIED, Refusal, fetch, probe
from alflow.intake.votes import Judge, Verdict
from alflow.kinds import LABEL_NOT_IN_CLASS_SET, NOT_A_NUMBER, TAG_NOT_IN_CLASS_SET
from alflow.ledger.crash import crash_point
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import IngestRecord, StrayRecord, now, sha256
from alflow.ledger.state import CampaignState, accepted_labels

FILE_REASONS = ("unreadable", "missing_column", "wrong_tag_names", "empty", "too_large")


def _quarantine_name(key: str, digest: str) -> str:
    # The vendor's file name is never used as a path: only its last part, made safe, after our digest.
    base = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in key.rsplit("/", 1)[-1])[:80]
    return f"{digest[:12]}-{base or 'file'}"


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


QUARANTINE_ROWS = 1_000  # refused rows of each reason copied to the quarantine (the record counts them all)


def _sink(rows: IO[bytes]):
    """Writes the first QUARANTINE_ROWS refused rows of each reason (values capped): bounded space
    whatever the file, while the delivered file itself stays where the vendor put it."""
    kept: Counter[str] = Counter()

    def write(chunk: pd.DataFrame) -> None:
        room = chunk.groupby("reason", sort=False).cumcount() + chunk["reason"].map(kept).fillna(0)
        chunk = chunk[(room < QUARANTINE_ROWS).to_numpy()]
        if chunk.empty:
            return
        kept.update(chunk["reason"])
        text = chunk.to_json(orient="records", lines=True)
        rows.write((text if text.endswith("\n") else text + "\n").encode())

    return write


def _verdict(
    config: CampaignConfig,
    batch: set[str],
    stream: IO[bytes],
    source: str,
    accepted: dict[str, str],
    rows: IO[bytes],
    revise: bool = False,
    gold: dict[str, str | None] | None = None,
    record: dict[str, tuple[int, int]] | None = None,
) -> Verdict | Refusal:
    """What a label file yields, or why the whole file is refused; never raises."""
    return _verdict_of(config, batch, [(stream, source)], accepted, rows, revise, gold, record)


def _verdict_of(
    config: CampaignConfig,
    batch: set[str],
    files: Sequence[tuple[IO[bytes], str]],
    accepted: dict[str, str],
    rows: IO[bytes],
    revise: bool = False,
    gold: dict[str, str | None] | None = None,
    record: dict[str, tuple[int, int]] | None = None,
) -> Verdict | Refusal:
    """What label files read as one set of votes yield, or why they are refused; never raises.
    With `revise`, they are a new version of votes read before (alflow.intake.votes.Judge).
    `gold`: the batch's gold items (opaque id -> true class), whose answers are scored, not labels;
    `record`: each annotator's (right, answered) on gold so far, which aggregation `quality` starts from."""
    vendor = config.vendor
    fmt = formats.get(vendor.format)
    judge = Judge(
        classes=config.classes,
        batch=batch,
        accepted=accepted,
        annotators=vendor.annotators,
        aggregation=vendor.aggregation,
        tie_rule=vendor.tie_rule,
        sink=_sink(rows),
        kind=config.label_kind,
        max_spread=vendor.max_spread,
        revise=revise,
        gold=gold,
        gold_record=record,
    )
    options = ReadOptions(config.classes, vendor.label_attribute, config.labels.kind)
    source, chunks = files[0][1], 0
    try:
        for chunk in (c for stream, name in files for c in fmt.read_delivery(stream, source=name, options=options)):
            judge.add(chunk)
            chunks += 1
            if judge.rows > vendor.max_delivery_rows:
                limit = vendor.max_delivery_rows
                return (
                    "too_many_rows",
                    f"{source}: more than {limit} rows (vendor.max_delivery_rows); split it into several files",
                )
        if judge.rows == 0 and not chunks:  # a reader's empty chunk: read, and no vote in it (a cancelled one)
            return "empty", f"{source}: holds no label rows; deliver the labels, or leave the file out"
        return judge.verdict()
    except DataValidationError as error:
        return (error.reason if error.reason in FILE_REASONS else "unreadable"), capped_message(str(error))
    except Exception as error:  # noqa: BLE001 - whatever a vendor's bytes do, one file must not stop the campaign
        return "reader_failed", capped_message(
            f"{source}: the {fmt.name} reader failed on this file ({type(error).__name__}: {error}); "
            "it is quarantined and the round goes on: please report it to the alflow maintainers"
        )


def capped_message(message: str, limit: int = 1_000) -> str:
    """A message as a record keeps it: at most `limit` characters (it may quote a vendor's bytes)."""
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return message if len(message) <= limit else f"{message[:limit]}... (+{len(message) - limit} characters)"


@dataclass(frozen=True)
class _Read:
    """A delivery file as read: its round, key and digest, its local copy (None when refused unread)
    and the refused rows streamed out of it."""

    round: int
    key: str
    digest: str
    copy: IO[bytes] | None
    rows: IO[bytes]


def _record(base: dict[str, Any], outcome: Verdict | Refusal, quarantine: str | None) -> IngestRecord:
    if not isinstance(outcome, Verdict):
        code, message = outcome
        return IngestRecord(**base, status="rejected", reason=code, message=message, quarantine=quarantine)
    taken = outcome.labels or outcome.machine_labels
    status = "accepted" if not outcome.refused_rows else ("partial" if taken else "rejected")
    return IngestRecord(
        **base,
        status=status,
        labels=outcome.labels,
        count=len(outcome.labels),
        rejected=outcome.rejected,
        refused_rows=outcome.refused_rows,
        reasons=outcome.reasons,
        duplicates=outcome.duplicates,
        agreement=outcome.agreement,
        annotators=outcome.annotators,
        votes=outcome.votes,
        label_metadata=outcome.metadata,
        machine_labels=outcome.machine_labels,
        items=outcome.items,
        annotator_accuracy=outcome.annotator_accuracy,
        gold_labels=outcome.gold.labels,
        gold_right=outcome.gold.right,
        gold_scored=outcome.gold.scored,
        gold_annotators=outcome.gold.annotators,
        quarantine=quarantine,
        revised=outcome.revised,
        seconds=outcome.seconds,
        voters=outcome.voters,
    )


def _take(records: list[IngestRecord], written: list[IngestRecord], accepted: dict[str, str]) -> None:
    """Add records just written to `written`, their labels (and answers to gold items) to `accepted`
    (an item's first label wins)."""
    for record in records:
        written.append(record)
        for id_, label in (record.labels | record.gold_labels).items():
            accepted.setdefault(id_, label)
        accepted.update(record.revised)


@dataclass(frozen=True)
class Intake:
    """A campaign's deliveries taken in: its ledger, its config, and the state read before."""

    ledger: Ledger
    config: CampaignConfig
    state: CampaignState

    @cached_property
    def _gold_file(self) -> pd.DataFrame | None:
        """The gold file as read (None without a gold section); read once, only when a batch has gold."""
        if self.config.gold is None:
            return None
        return gold.read_gold(self.config, [])

    @cached_property
    def _gold_record(self) -> dict[str, tuple[int, int]]:
        """Each annotator's (right, answered) on gold before this ingest (what `quality` aggregation starts from)."""
        return {n: (a.right, a.answered) for n, a in gold.campaign_tally(self.state).annotators.items() if a.answered}

    def _answers(self, round_: int) -> dict[str, str | None]:
        """The round's gold items and their true classes (alflow.intake.gold)."""
        if not self.state.rounds[round_].gold_ids:
            return {}
        return gold.answers_of(self.config, self.state, round_, self._gold_file)

    def _known(self, round_: int, key: str, version: str | None) -> bool:
        """Whether this very version of the file has a record already (no need to read it again)."""
        records = self.state.ingests.get(round_, [])
        return version is not None and any(r.file == key and r.version == version for r in records)

    def _quarantine(self, read: _Read, outcome: Verdict | Refusal) -> str | None:
        """Copy what is refused to the quarantine with its reasons; returns where, or None."""
        name, copy = _quarantine_name(read.key, read.digest), read.copy
        if not isinstance(outcome, Verdict):
            code, message = outcome
            reason: dict[str, Any] = {"file": read.key, "sha256": read.digest, "reason": code, "message": message}
            if code in NOT_COPIED or copy is None:
                reason["copied"] = False  # the file stays where the vendor put it; nothing behind it was read
                copy = None
            else:
                copy.seek(0)
            return self.ledger.write_quarantine(read.round, name, copy, reason)
        if not outcome.refused_rows:
            return None
        read.rows.seek(0)
        rows_name = name + ".rejected.jsonl"
        reason = {
            "file": read.key,
            "sha256": read.digest,
            "reasons": outcome.reasons,
            "refused_rows": outcome.refused_rows,
            "rows": [r.model_dump() for r in outcome.rejected],
            "all_rows": (
                f"{rows_name} (one JSON object per line, in the order they were refused: the first "
                f"{QUARANTINE_ROWS} of each reason; `reasons` counts them all; the file as delivered "
                f"stays at {read.key})"
            ),
        }
        return self.ledger.write_quarantine(read.round, rows_name, read.rows, reason)

    def _base(self, read: _Read, version: str | None, refusal: Refusal | None) -> dict[str, Any]:
        """The fields of a file's ingest record that do not depend on what it yielded."""
        vendor, store = self.config.vendor, self.ledger.store
        marker = layout.delivery_prefix(self.ledger.campaign, read.round) + layout.DONE
        sent = read.key if refusal is None or refusal[0] not in NOT_COPIED else None
        return {
            "round": read.round,
            "ingested_in": self.state.next_round,
            "file": read.key,
            "format": vendor.format,
            "aggregation": vendor.aggregation,
            "tie_rule": vendor.tie_rule,
            "annotators_required": vendor.annotators,
            "sha256": read.digest,
            "version": version,
            "delivered_at": _delivered_at(store, marker, sent),
            "ingested_at": now(),
        }

    def ingest_file(self, round_: int, key: str, accepted: dict[str, str], revise: bool = False) -> IngestRecord | None:
        """Ingest one delivery file; returns the record written, or None if this content was already in.
        With `revise`, it is a new version of a file read before whose labels replace the ones it gave."""
        store, vendor = self.ledger.store, self.config.vendor
        fmt = formats.get(vendor.format)
        try:
            version, refusal = probe(store, key, vendor.max_delivery_bytes)
        except FileNotFoundError:
            return None  # gone since it was listed
        if self._known(round_, key, version):
            return None
        with tempfile.TemporaryFile() as copy, tempfile.TemporaryFile() as rows:
            if refusal is None:
                try:
                    digest, refusal = fetch(store, key, version, copy, vendor.max_delivery_bytes)
                except FileNotFoundError:
                    return None  # gone or rewritten since it was listed: the next round reads what is there
            else:  # refused unread: known by its key (and version, for one too large)
                digest = sha256(key.encode() if version is None else f"{key}\n{version}".encode())
            if any(r.sha256 == digest for r in self.state.ingests.get(round_, [])):
                return None  # the same bytes were ingested before (seen twice, or a retried event)
            crash_point("ingest:after_read")
            if refusal is None and not fmt.is_delivery_file(key):
                refusal = (
                    "not_a_label_file",
                    f"{key}: the campaign's format is {fmt.name}: files end in {fmt.delivery_suffix}",
                )
            batch = set(self.state.batch_ids(round_))
            answers = self._answers(round_)
            where, seen = f"{store.uri}/{key}", self._gold_record
            outcome = refusal or _verdict(self.config, batch, copy, where, accepted, rows, revise, answers, seen)
            read = _Read(round_, key, digest, copy, rows)
            quarantine = self._quarantine(read, outcome)
        crash_point("ingest:after_quarantine")
        record = _record(self._base(read, version, refusal), outcome, quarantine)
        written = self.ledger.record_ingest(record)
        crash_point("ingest:after_record")
        return record if written else None

    def _fetched(self, round_: int, key: str, copy: IO[bytes]) -> tuple[str | None, str] | None:
        """(version, digest) of a new, readable label file copied into `copy`; None for one known,
        gone, or refused (it is then ingested on its own, which says why)."""
        store, limit = self.ledger.store, self.config.vendor.max_delivery_bytes
        try:
            version, refusal = probe(store, key, limit)
            if refusal is not None or self._known(round_, key, version):
                return None
            digest, refusal = fetch(store, key, version, copy, limit)
        except FileNotFoundError:
            return None
        known = any(r.sha256 == digest for r in self.state.ingests.get(round_, []))
        return None if refusal is not None or known else (version, digest)

    def ingest_together(self, round_: int, keys: list[str], accepted: dict[str, str]) -> list[IngestRecord]:
        """The new files of a format that writes one file per annotator or vote (doccano, Label Studio's
        storage), read as one set of
        votes: a record per file, the first holding the labels. Returns the records written (none
        when fewer than two files, or one the others cannot be read with: each then goes alone)."""
        store = self.ledger.store
        with ExitStack() as stack:
            parts: list[tuple[str, str | None, str, IO[bytes]]] = []  # key, version, digest, local copy
            for key in keys:
                local: IO[bytes] = stack.enter_context(tempfile.TemporaryFile())
                if (found := self._fetched(round_, key, local)) is not None and found[1] not in [p[2] for p in parts]:
                    parts.append((key, *found, local))
            rows = stack.enter_context(tempfile.TemporaryFile())
            files = [(copy, f"{store.uri}/{key}") for key, _, _, copy in parts]
            batch = set(self.state.batch_ids(round_))
            answers = self._answers(round_)
            record = self._gold_record
            outcome = None
            if len(parts) > 1:
                outcome = _verdict_of(self.config, batch, files, accepted, rows, gold=answers, record=record)
            if not isinstance(outcome, Verdict):
                return []
            crash_point("ingest:after_read")
            key, version, digest, copy = parts[0]
            read = _Read(round_, key, digest, copy, rows)
            quarantine = self._quarantine(read, outcome)
        crash_point("ingest:after_quarantine")
        together = ", ".join(p[0].rsplit("/", 1)[-1] for p in parts)
        first = _record(self._base(read, version, None), outcome, quarantine)
        records = [first.model_copy(update={"message": capped_message(f"one set of votes with {together}")})]
        for key, version, digest, _ in parts[1:]:
            base = self._base(_Read(round_, key, digest, None, rows), version, None)
            message = capped_message(f"read with {parts[0][0]} as one set of votes; its labels are counted there")
            records.append(IngestRecord(**base, status="accepted", message=message))
        # The labels' record first: after a crash between two records, the files left are read again
        # against the labels accepted (the same label a duplicate, another a relabel): never twice.
        return [record for record in records if self.ledger.record_ingest(record)]

    def deliveries(self) -> list[IngestRecord]:
        """Ingest every completed delivery's files not ingested yet; returns the records written.

        A round's files are read once its completion marker exists (or `vendor.complete_when` says
        the delivery is complete: alflow.intake.completion); a file sent after (a correction, an
        object a tool rewrites) is read by the next run. Nothing is ever deleted: rejected input stays in the
        delivery folder and is copied, with reasons, to the quarantine.
        """
        fmt, state = formats.get(self.config.vendor.format), self.state
        written: list[IngestRecord] = []
        for round_ in sorted(state.rounds):
            if not state.batch_ids(round_):
                continue
            if round_ not in state.delivered and not completion.may_read(self.config.vendor, state, round_):
                continue  # no marker, and nothing under the delivery that the campaign's rule could read
            keys = self.ledger.delivery_keys(round_)
            if not completion.ready(self.config.vendor, self.ledger.store, state, round_, keys):
                continue
            accepted = {**state.gold_answered.get(round_, {}), **accepted_labels(state.ingests.get(round_, []))}
            revisions = self._revisions(round_, fmt, keys)
            together = []
            if fresh := [k for k in keys if fmt.read_together(k) and k not in revisions]:  # one set of votes
                together = self.ingest_together(round_, fresh, accepted)
            _take(together, written, accepted)
            for key in keys:
                if fmt.only_label_files and not fmt.is_delivery_file(key):
                    continue  # e.g. a Ground Truth job folder holds much besides its output manifest
                if key in {r.file for r in together}:
                    continue
                if record := self.ingest_file(round_, key, accepted, revise=key in revisions):
                    _take([record], written, accepted)
        return written

    def _revisions(self, round_: int, fmt: Format, keys: list[str]) -> set[str]:
        """The files a tool rewrites in place that were read before (`Format.rewrites_revise`): each
        is read alone, its labels replacing those it gave. One vote per item only: with several
        annotators one rewritten vote cannot stand for the item, so it stays a conflicting relabel."""
        if not fmt.rewrites_revise or self.config.vendor.annotators != 1:
            return set()
        read = {r.file for r in self.state.ingests.get(round_, [])}
        return {k for k in keys if fmt.read_together(k) and k in read}

    def strays(self) -> list[StrayRecord]:
        """Record, once each, the vendor's files that nothing reads (alflow.intake.strays); returns the new ones."""
        state, written = self.state, []
        rounds = {r: bool(record.batch_ids) for r, record in state.rounds.items()}
        for key, reason, message in strays.find(state.vendor_keys, self.ledger.campaign, rounds):
            if key in state.reported:
                continue
            record = StrayRecord(
                file=key, reason=reason, message=capped_message(message), seen_in=state.next_round, seen_at=now()
            )
            if self.ledger.record_stray(record):
                written.append(record)
        return written


def ingest_campaign(config: CampaignConfig) -> CampaignState:
    """Ingest what the campaign's completed deliveries hold; the state afterwards.

    Bad rows and files are quarantined with their reasons and reported (`ingested_now`), never
    raised: the valid part of a delivery is accepted and the rest stays outstanding. Files the
    vendor left where nothing reads them are recorded once and reported (`strays_now`), and the
    verdicts of delivered reviews taken in (`reviewed_now`, alflow.intake.review_verdicts).
    """
    ledger = Ledger.of(config)
    intake = Intake(ledger, config, ledger.state())
    written, found = intake.deliveries(), intake.strays()
    reviewed = review_verdicts.ingest_reviews(ledger, config)
    return replace(ledger.state(), ingested_now=tuple(written), strays_now=tuple(found), reviewed_now=tuple(reviewed))


def summary(records: list[IngestRecord], strays: tuple[StrayRecord, ...] | list[StrayRecord] = ()) -> dict[str, Any]:
    """Totals over ingest records (and the stray files found), for the round report and MLflow."""
    agreements = [r.agreement for r in records if r.agreement is not None]
    return {
        "labels_ingested": sum(r.count for r in records),
        "machine_labels": sum(len(r.machine_labels) for r in records),
        "rows_rejected": sum(r.refused for r in records),
        "duplicates": sum(len(r.duplicates) for r in records),
        "quarantined": tuple(r.quarantine for r in records if r.quarantine),
        "agreement": float(np.mean(agreements)) if agreements else None,
        "unread": tuple(s.message for s in strays),
        "label_hints": label_hints(records),
    }


def label_hints(records: list[IngestRecord]) -> tuple[str, ...]:
    """ "label 'Nonspam' is not a class: did you mean 'nonspam'?" once per label refused with a hint (for
    tags, "tag 'zürich office': did you mean 'Zürich office'?"; for numbers, a decimal comma's)."""
    hints = {
        row.label: f"label {row.label!r} is not a class: {row.detail}"
        if row.reason == LABEL_NOT_IN_CLASS_SET
        else (f"tag {row.detail}" if row.reason == TAG_NOT_IN_CLASS_SET else f"label {row.label!r}: {row.detail}")
        for record in records
        for row in record.rejected
        if row.detail
        and (
            (row.reason in (LABEL_NOT_IN_CLASS_SET, TAG_NOT_IN_CLASS_SET) and "did you mean" in row.detail)
            or (row.reason == NOT_A_NUMBER and row.detail.startswith("a comma"))
        )
    }
    return tuple(hints.values())
