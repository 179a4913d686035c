"""Campaign state: derived from the ledger's records in one listing, never stored anywhere else.

Labels are counted from the ingest records: an item's first accepted label wins, so a label is
never counted twice. Every figure here (labels asked, outstanding items, what is exported) is a
view over the records, computed once per state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from pydantic import ValidationError

from alflow.errors import DataValidationError
from alflow.exchange import layout
from alflow.exchange.store import Store
from alflow.ledger.records import (
    AutoLabelFile,
    ControlRecord,
    IngestRecord,
    Record,
    ReviewRecord,
    ReviewVerdict,
    RoundRecord,
    SettingsChange,
    StopSet,
    StrayRecord,
    WriteOff,
)
from alflow.ledger.repeat_votes import RepeatOutcome, repeat_outcomes

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class CampaignState:
    """What the records say: `rounds` are the round records, `ingests` the ingest records per round."""

    campaign: str
    rounds: dict[int, RoundRecord] = field(default_factory=dict)
    exported: frozenset[int] = frozenset()
    delivered: frozenset[int] = frozenset()
    ingests: dict[int, list[IngestRecord]] = field(default_factory=dict)
    auto_labels: dict[int, dict[str, str]] = field(default_factory=dict)  # round -> labels the model gave
    written_off: dict[int, frozenset[str]] = field(default_factory=dict)  # round -> items not waited for
    vendor_keys: tuple[str, ...] = ()  # keys outside alflow's own folders: what the vendor put there
    reported: frozenset[str] = frozenset()  # keys of vendor files nothing reads with a stray record already
    controls: tuple[ControlRecord, ...] = ()  # pauses and resumes, in order (alflow.ledger.control)
    changes: tuple[SettingsChange, ...] = ()  # the settings as recorded, in order (alflow.ledger.changes)
    stop_set: StopSet | None = None  # where successive models are compared (stopping.stable_predictions)
    reviews: dict[int, ReviewRecord] = field(default_factory=dict)  # labels already taken, sent again
    review_verdicts: dict[int, list[ReviewVerdict]] = field(default_factory=dict)  # review -> its files' verdicts
    reviews_exported: frozenset[int] = frozenset()  # reviews whose batch has its _READY marker
    reviews_delivered: frozenset[int] = frozenset()  # reviews whose delivery has its _DONE marker
    # The records the call that returned this state wrote: for reporting only, so not part of
    # what the state *is* (two states with the same records are equal).
    ingested_now: tuple[IngestRecord, ...] = field(default=(), compare=False)
    strays_now: tuple[StrayRecord, ...] = field(default=(), compare=False)
    reviewed_now: tuple[ReviewVerdict, ...] = field(default=(), compare=False)

    @property
    def next_round(self) -> int:
        return max(self.rounds, default=0) + 1

    @property
    def last(self) -> RoundRecord | None:
        return self.rounds.get(max(self.rounds, default=0))

    @property
    def paused(self) -> ControlRecord | None:
        """The pause in force (`alflow pause`), or None when the campaign runs."""
        last = self.controls[-1] if self.controls else None
        return last if last is not None and last.action == "pause" else None

    @property
    def stop_reason(self) -> str | None:
        return self.last.stop_reason if self.last else None

    def batch_ids(self, round_: int) -> list[str]:
        return self.rounds[round_].batch_ids

    # Derived views are computed once per state (the state never changes): `alflow status` reads
    # them once per round, which would otherwise re-sort every ingest record each time.
    @cached_property
    def ingested(self) -> dict[int, dict[str, str]]:
        """Round -> the labels accepted for its batch (first accepted label per item wins)."""
        return {r: accepted_labels(records) for r, records in sorted(self.ingests.items()) if records}

    @cached_property
    def machine_labeled(self) -> dict[int, dict[str, str]]:
        """Round -> the vendor's own auto-labels for its batch (Ground Truth's `human-annotated: no`),
        for items without a human label; first one wins. Never part of `ingested`."""
        out: dict[int, dict[str, str]] = {}
        for round_, records in sorted(self.ingests.items()):
            human = self.ingested.get(round_, {})
            for record in sorted(records, key=lambda r: (r.ingested_at, r.sha256)):
                for id_, label in record.machine_labels.items():
                    if id_ not in human:
                        out.setdefault(round_, {}).setdefault(id_, label)
        return out

    @cached_property
    def gold_answered(self) -> dict[int, dict[str, str]]:
        """Round -> its gold items answered (opaque id -> the label delivered; first one wins). Never
        labels: not in `ingested`, not trained on."""
        out: dict[int, dict[str, str]] = {}
        for round_, records in sorted(self.ingests.items()):
            for record in sorted(records, key=lambda r: (r.ingested_at, r.sha256)):
                for id_, label in record.gold_labels.items():
                    out.setdefault(round_, {}).setdefault(id_, label)
        return out

    def missing(self, round_: int) -> list[str]:
        """Ids of a round's batch without an accepted label yet (human, or the vendor's machine
        label; for a gold item, an answer), and not written off."""
        labels, given_up = self.ingested.get(round_, {}), self.written_off.get(round_, frozenset())
        machine, gold = self.machine_labeled.get(round_, {}), self.gold_answered.get(round_, {})
        return [
            i
            for i in self.batch_ids(round_)
            if i not in labels and i not in given_up and i not in machine and i not in gold
        ]

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
        """Labels asked of the vendor: every batch item, and every item sent again for review."""
        return len(self.asked_ids) + self.reviews_asked

    @property
    def reviews_asked(self) -> int:
        return sum(len(review.items) for review in self.reviews.values())

    @cached_property
    def reviewed_ids(self) -> set[str]:
        """Items sent for review (answered or not): never picked again, never reviewed twice."""
        return {i for review in self.reviews.values() for i in review.items}

    @cached_property
    def review_outcomes(self) -> dict[str, tuple[str, int, ReviewVerdict]]:
        """id -> (confirmed | corrected | dropped, review, the verdict record): an item's first verdict,
        in the order the records were written; later ones are duplicates and change nothing."""
        out: dict[str, tuple[str, int, ReviewVerdict]] = {}
        for seq, verdicts in sorted(self.review_verdicts.items()):
            for verdict in sorted(verdicts, key=lambda v: (v.ingested_at, v.sha256)):
                for outcome, ids in (
                    ("confirmed", verdict.confirmed),
                    ("corrected", verdict.corrected),
                    ("dropped", verdict.dropped),
                ):
                    for id_ in ids:
                        out.setdefault(id_, (outcome, seq, verdict))
        return out

    def reviewed(self, labels: dict[str, str]) -> dict[str, str]:
        """`labels` with the reviews' verdicts applied: a corrected label replaced, a dropped one removed."""
        out = dict(labels)
        for id_, (outcome, _, verdict) in self.review_outcomes.items():
            if outcome == "corrected" and id_ in out:
                out[id_] = verdict.corrected[id_][1]
            elif outcome == "dropped":
                out.pop(id_, None)
        return out

    def review_missing(self, seq: int) -> list[str]:
        """Items of review `seq` without a verdict yet."""
        return [i for i in self.reviews[seq].items if i not in self.review_outcomes]

    @property
    def human_labels_asked(self) -> int:
        """Labels asked less the items the vendor labeled by machine: what the label budget is charged."""
        return self.labels_asked - sum(len(labels) for labels in self.machine_labeled.values())

    @cached_property
    def outside_ids(self) -> set[str]:
        """Asked items that are not pool items (synthetic, or from stream arrivals)."""
        return {i for record in self.rounds.values() for i in record.outside_ids}

    @cached_property
    def screened(self) -> set[str]:
        """Arrival files that stream rounds have screened already."""
        return {f for record in self.rounds.values() if record.stream for f in record.stream.files}

    def auto_labeled(self) -> dict[str, str]:
        """Every label the model gave itself (auto-labeling), id -> label; never part of human_labels."""
        return {i: label for r in sorted(self.auto_labels) for i, label in self.auto_labels[r].items()}

    @cached_property
    def repeats(self) -> dict[str, RepeatOutcome]:
        """Items asked again (`vendor.repeats`) -> their votes over the rounds and the label they make
        (alflow.ledger.repeat_votes)."""
        return repeat_outcomes({r: rec.batch_ids for r, rec in self.rounds.items()}, self.ingests)

    @property
    def repeats_asked(self) -> int:
        return sum(len(rec.repeats.ids) for rec in self.rounds.values() if rec.repeats)

    def human_labels(self) -> dict[str, str]:
        """Every label ingested from the vendor, id -> label; an item asked again has the label its votes make."""
        labels: dict[str, str] = {}
        for round_labels in self.ingested.values():
            labels.update(round_labels)
        labels.update({i: outcome.label for i, outcome in self.repeats.items()})
        return labels

    def vendor_machine_labels(self) -> dict[str, str]:
        """Every auto-label the vendor's tool gave (not a person), id -> label; never in human_labels."""
        return {i: label for r in sorted(self.machine_labeled) for i, label in self.machine_labeled[r].items()}


def accepted_labels(records: list[IngestRecord]) -> dict[str, str]:
    """id -> label over ingest records in commit order; an item's first accepted label wins, unless a
    later record revised it (a new version of the same vote: alflow.intake.votes)."""
    labels: dict[str, str] = {}
    for record in sorted(records, key=lambda r: (r.ingested_at, r.sha256)):
        for id_, label in record.labels.items():
            labels.setdefault(id_, label)
        labels.update(record.revised)
    return labels


def read_record(store: Store, key: str, kind: type[R]) -> R:
    """The record at `key`; DataValidationError in one line when it is not one."""
    try:
        return kind.from_json(store.read(key))
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as error:
        first = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
        raise DataValidationError(
            f"{store.uri}/{key} is not a valid {kind.__name__} ({first}); ledger records are written only by "
            "alflow: restore this file from a copy of the bucket",
            reason="unreadable",
        ) from None


def load_state(store: Store, campaign: str) -> CampaignState:
    """Derive the campaign state from one listing of its records."""
    rounds: dict[int, RoundRecord] = {}
    ingests: dict[int, list[IngestRecord]] = {}
    exported, delivered = set(), set()
    written_off: dict[int, set[str]] = {}
    vendor_keys, reported = [], set()
    controls: list[ControlRecord] = []
    changes: list[SettingsChange] = []
    stop_set = None
    for key in (keys := store.list(f"{campaign}/")):
        if key == layout.stop_set_key(campaign):
            stop_set = read_record(store, key, StopSet)
            continue
        if key.startswith(f"{campaign}/ledger/strays/"):
            reported.add(read_record(store, key, StrayRecord).file)
            continue
        if key.startswith(layout.control_prefix(campaign)):
            controls.append(read_record(store, key, ControlRecord))
            continue
        if key.startswith(layout.change_prefix(campaign)):
            changes.append(read_record(store, key, SettingsChange))
            continue
        if not key.startswith((f"{campaign}/ledger/", f"{campaign}/batches/", f"{campaign}/quarantine/")):
            vendor_keys.append(key)
        round_ = layout.round_of(key)
        if round_ is None:
            continue
        record = layout.ledger_key(campaign, round_, "")
        if key == record + "round.json":
            rounds[round_] = read_record(store, key, RoundRecord)
        elif key.startswith(record + "ingest-") and key.endswith(".json"):
            ingests.setdefault(round_, []).append(read_record(store, key, IngestRecord))
        elif key.startswith(record + "writeoff-"):
            written_off.setdefault(round_, set()).update(read_record(store, key, WriteOff).ids)
        elif key == layout.batch_prefix(campaign, round_) + layout.READY:
            exported.add(round_)
        elif key == layout.delivery_prefix(campaign, round_) + layout.DONE:
            delivered.add(round_)
    # a round that auto-labeled nothing names no file
    named = {r: rec.auto_labels.key for r, rec in rounds.items() if rec.auto_labels and rec.auto_labels.key}
    auto = {r: read_record(store, key, AutoLabelFile).labels for r, key in named.items()}
    given_up = {r: frozenset(ids) for r, ids in written_off.items()}
    return CampaignState(
        campaign,
        rounds,
        frozenset(exported),
        frozenset(delivered),
        ingests,
        auto,
        given_up,
        vendor_keys=tuple(k for k in vendor_keys if layout.review_of(k) is None),  # a review's answers are read
        reported=frozenset(reported),
        controls=tuple(sorted(controls, key=lambda c: c.seq)),
        changes=tuple(sorted(changes, key=lambda c: c.seq)),
        stop_set=stop_set,
        **_Reviews.of(store, campaign, keys),
    )


@dataclass
class _Reviews:
    """The review records, verdicts and markers met in a listing (alflow.operations.review)."""

    records: dict[int, ReviewRecord] = field(default_factory=dict)
    verdicts: dict[int, list[ReviewVerdict]] = field(default_factory=dict)
    exported: set[int] = field(default_factory=set)
    delivered: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, store: Store, campaign: str, keys: list[str]) -> dict[str, Any]:
        """The state's review fields from a listing's `keys` (the vendor's files under a review's
        delivery folder are read by alflow.intake.review_verdicts, not reported as strays)."""
        found = cls()
        for key in keys:
            if (seq := layout.review_of(key)) is not None:
                found.take(store, campaign, key, seq)
        return {
            "reviews": found.records,
            "review_verdicts": found.verdicts,
            "reviews_exported": frozenset(found.exported),
            "reviews_delivered": frozenset(found.delivered),
        }

    def take(self, store: Store, campaign: str, key: str, seq: int) -> None:
        if key == layout.review_key(campaign, seq, "review.json"):
            self.records[seq] = read_record(store, key, ReviewRecord)
        elif key.startswith(layout.review_key(campaign, seq, "verdict-")):
            self.verdicts.setdefault(seq, []).append(read_record(store, key, ReviewVerdict))
        elif key == layout.review_batch_prefix(campaign, seq) + layout.READY:
            self.exported.add(seq)
        elif key == layout.review_delivery_prefix(campaign, seq) + layout.DONE:
            self.delivered.add(seq)
