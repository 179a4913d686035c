"""An item asked again (`vendor.repeats`): its votes over the rounds that asked it, and the label they make.

Each round that asked an item and took a label for it in (its ingest records, each file once) gives
the item one vote: the label accepted for it in that round, and the annotator who gave it when one
did (the file's only annotator, or the one `IngestRecord.voters` names in a file of several).
The votes are weighed by each annotator's accuracy once there is evidence of it (their answers to
gold items, else the accuracy `vendor.aggregation: quality` estimated), each vote worth
log(a / (1 - a)); without evidence every vote weighs the same (a plain majority). A tie keeps the
label the item had. A view over the records, so a repeat's answer is counted once however often the
ingest is re-run, and never counted as a new label.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from alflow.ledger.records import IngestRecord

PRIOR_ACCURACY = 0.8  # an annotator's accuracy before evidence (as alflow.intake.quality assumes)
PRIOR_WEIGHT = 4  # how many answers that assumption is worth against gold answers


@dataclass(frozen=True)
class Vote:
    """One round's label for an item, and who gave it (None: the file does not say)."""

    round: int
    label: str
    annotator: str | None


@dataclass(frozen=True)
class RepeatOutcome:
    """An item's votes, its first label, the label the votes make now and how they were weighed
    (`quality` when some vote's annotator has evidence, `majority` otherwise)."""

    votes: tuple[Vote, ...]
    first: str
    label: str
    method: str

    @property
    def changed(self) -> bool:
        return self.label != self.first


def accuracy_evidence(records: Iterable[IngestRecord]) -> dict[str, float]:
    """Annotator -> accuracy: on gold answers (shrunk towards PRIOR_ACCURACY by PRIOR_WEIGHT answers),
    else the last accuracy `vendor.aggregation: quality` estimated for them."""
    gold: dict[str, list[int]] = {}
    estimated: dict[str, float] = {}
    for record in sorted(records, key=lambda r: (r.ingested_at, r.sha256)):
        estimated.update(record.annotator_accuracy)
        for name, (right, answered) in record.gold_annotators.items():
            tally = gold.setdefault(name, [0, 0])
            tally[0] += right
            tally[1] += answered
    shrunk = {
        name: (right + PRIOR_ACCURACY * PRIOR_WEIGHT) / (answered + PRIOR_WEIGHT)
        for name, (right, answered) in gold.items()
        if answered
    }
    return {**estimated, **shrunk}


def round_votes(records: list[IngestRecord], ids: set[str]) -> dict[str, tuple[str, str | None]]:
    """Of one round's ingest records: id -> (the label accepted, the one annotator who gave it: the
    file's only annotator, or `IngestRecord.voters`; None when several voted or none is named), for `ids`."""
    out: dict[str, tuple[str, str | None]] = {}
    for record in sorted(records, key=lambda r: (r.ingested_at, r.sha256)):
        sole = record.annotators[0] if len(record.annotators) == 1 else None
        for id_, label in record.labels.items():
            if id_ in ids:
                out.setdefault(id_, (label, record.voters.get(id_, sole)))
        for id_, label in record.revised.items():
            if id_ in ids:
                out[id_] = (label, record.voters.get(id_, sole))
    return out


def weigh(votes: tuple[Vote, ...], accuracy: dict[str, float]) -> tuple[str, str]:
    """(the label the votes make, `quality` | `majority`); a tie keeps the first vote's label."""
    known = [v.annotator in accuracy for v in votes if v.annotator is not None]
    method = "quality" if any(known) else "majority"
    totals: dict[str, float] = {}
    for vote in votes:
        a = accuracy.get(vote.annotator or "", PRIOR_ACCURACY) if method == "quality" else PRIOR_ACCURACY
        a = min(max(a, 0.51), 0.99)  # an annotator no better than chance still counts a little
        totals[vote.label] = totals.get(vote.label, 0.0) + math.log(a / (1 - a))
    best = max(totals.values())
    first = votes[0].label
    if totals[first] >= best - 1e-9:
        return first, method
    return max(totals, key=lambda label: totals[label]), method


def votes_of(
    batches: dict[int, list[str]], ingests: dict[int, list[IngestRecord]], ids: set[str] | None = None
) -> dict[str, list[Vote]]:
    """id -> its votes, one per round that asked it and took a label in, in round order (`batches`:
    round -> batch ids); for `ids` only when given."""
    votes: dict[str, list[Vote]] = {}
    for round_ in sorted(batches):
        asked = set(batches[round_]) if ids is None else ids & set(batches[round_])
        for id_, (label, who) in round_votes(ingests.get(round_, []), asked).items():
            votes.setdefault(id_, []).append(Vote(round_, label, who))
    return votes


def repeat_outcomes(batches: dict[int, list[str]], ingests: dict[int, list[IngestRecord]]) -> dict[str, RepeatOutcome]:
    """id -> its outcome, for every item asked in more than one round (`batches`: round -> batch ids)
    and labeled in at least one of them."""
    seen: dict[str, int] = {}
    for ids in batches.values():
        for id_ in set(ids):
            seen[id_] = seen.get(id_, 0) + 1
    again = {i for i, n in seen.items() if n > 1}
    if not again:
        return {}
    accuracy = accuracy_evidence(r for rs in ingests.values() for r in rs)
    out: dict[str, RepeatOutcome] = {}
    for id_, its in votes_of(batches, ingests, again).items():
        label, method = weigh(tuple(its), accuracy)
        out[id_] = RepeatOutcome(tuple(its), its[0].label, label, method)
    return out
