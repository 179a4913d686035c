"""The time each label took, from the tools' own time fields, as every surface shows it:
`alflow status` (one line), `alflow status --json`, MLflow metrics and the data set's column.

The ingest keeps, per item a delivery file labeled, the seconds its votes took as the tool recorded
them (Label Studio's `lead_time`, Ground Truth's `timeSpentInSeconds`, Labelbox's
`seconds_to_create`, a CSV or JSON Lines `seconds` column), summed over the item's votes
(`IngestRecord.seconds`). A file without them records nothing: no time is not zero time, so the
figures here are over the labels with a time only. A label revised later (a rewritten Label Studio
annotation) takes the time of its new version.
"""

from __future__ import annotations

import re

from alflow.ledger.state import CampaignState
from alflow.ledger.timing import LabelTime, by_class, by_round, label_times, median

__all__ = ["LabelTime", "by_class", "by_round", "label_times", "median", "time_json", "time_line", "time_metrics"]

DIFFER = 0.2  # class medians "differ" when the slowest is over 20 % above the fastest


def classes_differ(medians: dict[str, float]) -> bool:
    """Whether the classes' medians differ enough to be worth a word (DIFFER)."""
    if len(medians) < 2:
        return False
    low, high = min(medians.values()), max(medians.values())
    return high > low * (1 + DIFFER)


def time_line(state: CampaignState, *, per_class: bool = True) -> str | None:
    """`alflow status`'s line: 'time per label: median 4.2 s over 120 labels (2 rounds: 3.9, 4.4 s);
    by class: spam 6.1 s, ham 3.0 s' (by class where the classes differ), or None without a time."""
    times = label_times(state)
    if not times:
        return None
    rounds = by_round(times)
    text = f"time per label: median {median(times):.1f} s over {len(times)} labels, {_total(times)} in all"
    if len(rounds) > 1:
        text += f" (by round: {', '.join(f'{r}: {s:.1f}' for r, s in rounds.items())} s)"
    classes = by_class(times) if per_class else {}
    if classes_differ(classes):
        shown = ", ".join(f"{c} {s:.1f} s" for c, s in list(classes.items())[:6])
        text += f"; by class: {shown}" + (f" and {len(classes) - 6} more" if len(classes) > 6 else "")
    return text


def _total(times: list[LabelTime]) -> str:
    total = sum(t.seconds for t in times)
    return f"{total / 3600:.1f} h" if total >= 3600 else f"{total / 60:.1f} min" if total >= 60 else f"{total:.0f} s"


def time_json(state: CampaignState) -> dict | None:
    """The same for scripts (`alflow status --json`): labels timed, total and median seconds, by round
    and by class; None without a time."""
    times = label_times(state)
    if not times:
        return None
    return {
        "labels_timed": len(times),
        "seconds_total": round(sum(t.seconds for t in times), 3),
        "median_seconds_per_label": median(times),
        "by_round": {str(r): s for r, s in by_round(times).items()},
        "by_class": by_class(times),
    }


def time_metrics(state: CampaignState, *, per_class: bool = True) -> dict[str, float]:
    """MLflow metrics: vendor/seconds_per_label (the median over the campaign's timed labels),
    vendor/seconds_total, vendor/labels_timed and, per class, vendor/seconds_per_label/<class>;
    none without a time."""
    times = label_times(state)
    if not times:
        return {}
    metrics = {
        "vendor/seconds_per_label": median(times),
        "vendor/seconds_total": float(sum(t.seconds for t in times)),
        "vendor/labels_timed": float(len(times)),
    }
    for name, seconds in (by_class(times) if per_class else {}).items():
        safe = re.sub(r"[^\w\-. ]", "_", name)  # MLflow's metric names: letters, digits, _ - . / and spaces
        metrics[f"vendor/seconds_per_label/{safe}"] = seconds
    return metrics
