"""The time each vendor label took, as the ingest records keep it (`IngestRecord.seconds`: the tool's
own time fields, summed over an item's votes): per label, and its medians by round and by class.
What people see of it is alflow.reporting.label_cost; cost-aware selection reads `class_seconds`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from alflow.ledger.state import CampaignState

MIN_TIMED = 10  # timed labels before cost-aware selection trusts the class medians


@dataclass(frozen=True)
class LabelTime:
    """One vendor label's time: its item, label (a class for a class campaign), batch round and seconds."""

    item: str
    label: str
    round: int
    seconds: float


def label_times(state: CampaignState) -> list[LabelTime]:
    """Every vendor label with a recorded time, once (a revision's time replaces the first), by round."""
    times: dict[str, LabelTime] = {}
    for round_ in sorted(state.ingests):
        for record in sorted(state.ingests[round_], key=lambda r: (r.ingested_at, r.sha256)):
            given = {**record.labels, **record.revised}
            for item, spent in record.seconds.items():
                if item in given and (item not in times or item in record.revised):
                    times[item] = LabelTime(item, given[item], record.round, spent)
    return sorted(times.values(), key=lambda t: (t.round, t.item))


def median(times: list[LabelTime]) -> float:
    return float(statistics.median(t.seconds for t in times))


def by_round(times: list[LabelTime]) -> dict[int, float]:
    """The median seconds per label of each round's batch."""
    rounds = sorted({t.round for t in times})
    return {r: median([t for t in times if t.round == r]) for r in rounds}


def by_class(times: list[LabelTime]) -> dict[str, float]:
    """The median seconds per label of each class (label), slowest first."""
    medians = {c: median([t for t in times if t.label == c]) for c in {t.label for t in times}}
    return dict(sorted(medians.items(), key=lambda kv: (-kv[1], kv[0])))


def class_seconds(state: CampaignState, *, least: int = MIN_TIMED) -> dict[str, float]:
    """Each class's median seconds per label so far, for cost-aware selection; {} with fewer than
    `least` timed labels (too little evidence: every item then costs the same)."""
    times = label_times(state)
    return by_class(times) if len(times) >= least else {}
