"""The vendor's answers to a review of labels already taken (alflow.operations.review), taken in once.

A review's delivery (`deliveries/review-NNNN/`, `_DONE` last, or complete as the campaign's
`vendor.complete_when` says, alflow.intake.completion) is read as a round's is: each file
once, by its bytes, through the campaign's format and the same row rules (alflow.intake.votes),
its valid answers aggregated per item. Each answer is a verdict on the label the item had when it
was asked: the same label is `confirmed`, another one `corrected` (old and new kept), and a row a
verification job rejected (`rejected_by_verifier`, Ground Truth's `bad`) with no answer beside it
`dropped`. One `ReviewVerdict` per file, written once; an item's first verdict stands, so a file
seen twice, a second answer or a re-run after a kill changes nothing. A verdict is never a new
label: it changes the label an item has (`CampaignState.reviewed`), and the budget was charged when
the review was asked.
"""

from __future__ import annotations

import tempfile
from typing import IO, Any

import pandas as pd

from alflow.config import CampaignConfig
from alflow.errors import DataValidationError
from alflow.exchange import formats, layout
from alflow.exchange.formats.base import ReadOptions
from alflow.exchange.formats.reading import REJECTED_BY_VERIFIER
from alflow.intake import completion
from alflow.intake.fetch import fetch, probe
from alflow.intake.votes import Judge, Verdict
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import ReviewVerdict, capped, now
from alflow.ledger.state import CampaignState


def classify(
    asked: dict[str, str], answers: dict[str, str], rejected: set[str], decided: set[str]
) -> tuple[dict[str, str], dict[str, list[str]], dict[str, str], list[str]]:
    """(confirmed, corrected, dropped, duplicates) of a file's `answers` (id -> label) and the items a
    verifier `rejected`, against the labels `asked` and the items `decided` already (first verdict wins)."""
    confirmed: dict[str, str] = {}
    corrected: dict[str, list[str]] = {}
    dropped: dict[str, str] = {}
    duplicates = sorted((set(answers) | rejected) & decided)
    for id_, label in answers.items():
        if id_ in decided or id_ not in asked:
            continue
        if label == asked[id_]:
            confirmed[id_] = label
        else:
            corrected[id_] = [asked[id_], label]
    for id_ in sorted(rejected - set(answers) - decided):
        if id_ in asked:
            dropped[id_] = asked[id_]
    return confirmed, corrected, dropped, duplicates


def _read(config: CampaignConfig, items: set[str], copy: IO[bytes], source: str) -> tuple[Verdict, set[str]]:
    """The file's answers for the review's items, and the items a verifier rejected."""
    rejected: set[str] = set()

    def sink(rows: pd.DataFrame) -> None:
        rejected.update(str(i) for i in rows.loc[rows["reason"] == REJECTED_BY_VERIFIER, "id"].dropna())

    vendor = config.vendor
    judge = Judge(
        classes=config.classes,
        batch=items,
        accepted={},
        annotators=1,  # one answer an item is a verdict; several are aggregated as a round's votes are
        aggregation=vendor.aggregation,
        tie_rule=vendor.tie_rule,
        sink=sink,
        kind=config.label_kind,
    )
    options = ReadOptions(config.classes, vendor.label_attribute, config.labels.kind)
    for chunk in formats.get(vendor.format).read_delivery(copy, source=source, options=options):
        judge.add(chunk)
    return judge.verdict(), rejected & items


def _verdict(ledger: Ledger, config: CampaignConfig, state: CampaignState, seq: int, key: str) -> ReviewVerdict | None:
    """The verdict record of one new delivery file of review `seq` (None: known, gone, or refused unread)."""
    store, limit = ledger.store, config.vendor.max_delivery_bytes
    known = state.review_verdicts.get(seq, [])
    review = state.reviews[seq]
    with tempfile.TemporaryFile() as copy:
        try:
            version, refusal = probe(store, key, limit)
            if refusal is None and not any(v.file == key and v.version == version for v in known):
                digest, refusal = fetch(store, key, version, copy, limit)
            else:
                return None
        except FileNotFoundError:
            return None
        if any(v.sha256 == digest for v in known):
            return None
        base: dict[str, Any] = {
            "review": seq,
            "ingested_in": state.next_round,
            "file": key,
            "sha256": digest,
            "version": version,
        }
        if refusal is not None:
            return ReviewVerdict(**base, ingested_at=now(), message=capped(refusal[1]), reasons={refusal[0]: 1})
        copy.seek(0)
        try:
            read, rejected = _read(config, set(review.items), copy, f"{store.uri}/{key}")
        except DataValidationError as error:
            return ReviewVerdict(**base, ingested_at=now(), message=capped(str(error)), reasons={error.reason: 1})
    asked = dict(zip(review.items, review.labels, strict=True))
    confirmed, corrected, dropped, duplicates = classify(asked, read.labels, rejected, set(state.review_outcomes))
    return ReviewVerdict(
        **base,
        ingested_at=now(),
        confirmed=confirmed,
        corrected=corrected,
        dropped=dropped,
        duplicates=duplicates,
        annotators=read.annotators,
        refused_rows=read.refused_rows,
        reasons=read.reasons,
    )


def answer_files(ledger: Ledger, config: CampaignConfig, state: CampaignState, seq: int) -> list[str] | None:
    """The files of review `seq`'s delivery to read now, or None while it is not complete: its
    `_DONE` marker, or under a `vendor.complete_when` other than `done_marker` (a tool that never
    writes it) answers still awaited and the files settled as a round's are (alflow.intake.completion).
    Markers and a tool's other files are left out."""
    vendor, fmt = config.vendor, formats.get(config.vendor.format)
    delivered = seq in state.reviews_delivered
    if not delivered and (vendor.complete_when == "done_marker" or not state.review_missing(seq)):
        return None  # no listing for a review not delivered, or answered in full
    keys = [
        key
        for key in ledger.store.list(layout.review_delivery_prefix(ledger.campaign, seq))
        if key.rsplit("/", 1)[-1] != layout.DONE and not (fmt.only_label_files and not fmt.is_delivery_file(key))
    ]  # e.g. a Ground Truth job folder holds much besides its output manifest
    return keys if delivered or completion.settled(vendor, ledger.store, keys) else None


def ingest_reviews(ledger: Ledger, config: CampaignConfig) -> list[ReviewVerdict]:
    """Take in every complete review delivery's new files (`answer_files`; one verdict record each,
    written once); returns the records written. A file is read against the verdicts written before
    it, so an item answered in two files keeps its first verdict."""
    written: list[ReviewVerdict] = []
    state = ledger.state()
    for seq in sorted(state.reviews):
        for key in answer_files(ledger, config, state, seq) or []:
            record = _verdict(ledger, config, state, seq, key)
            if record is not None and ledger.record_review_verdict(record):
                written.append(record)
                state = ledger.state()  # the next file is judged against this one's verdicts
    return written
