"""How good the vendor and its annotators are, as every surface shows it: the round's line,
`alflow status`, MLflow (metrics per annotator and a table) and the Prefect summary.

An annotator's accuracy is measured on gold items when they answered some (`source` gold: right
answers out of answered, with a 95 % Wilson interval), else estimated by Dawid-Skene from the votes
(`vendor.aggregation: quality`, the mean of the files' estimates: `source` dawid_skene, no
interval). The vendor's accuracy is on gold only: the labels it delivered for gold items.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alflow.intake.gold import Accuracy, campaign_tally
from alflow.ledger.state import CampaignState


@dataclass(frozen=True)
class AnnotatorQuality:
    """One annotator's accuracy, where it comes from (gold or dawid_skene), and on gold its evidence."""

    annotator: str
    accuracy: float
    source: str
    answers: int = 0  # gold answers scored (0 for an estimate)
    low: float | None = None
    high: float | None = None


def annotator_quality(state: CampaignState) -> list[AnnotatorQuality]:
    """Every annotator's accuracy, from gold where they answered gold items, else Dawid-Skene's estimate."""
    on_gold = campaign_tally(state).annotators
    estimates: dict[str, list[float]] = {}
    for records in state.ingests.values():
        for record in records:
            for name, value in record.annotator_accuracy.items():
                if not math.isnan(value):
                    estimates.setdefault(name, []).append(value)
    rows = [_from_gold(name, accuracy) for name, accuracy in on_gold.items() if accuracy.answered]
    rows += [
        AnnotatorQuality(name, round(float(np.mean(values)), 4), "dawid_skene")
        for name, values in sorted(estimates.items())
        if name not in {r.annotator for r in rows}
    ]
    return rows


def _from_gold(name: str, accuracy: Accuracy) -> AnnotatorQuality:
    low, high = accuracy.interval
    return AnnotatorQuality(name, round(accuracy.value, 4), "gold", accuracy.answered, round(low, 4), round(high, 4))


def vendor_accuracy(state: CampaignState) -> Accuracy | None:
    """The vendor's accuracy on gold over the campaign, or None before any gold answer was scored."""
    vendor = campaign_tally(state).vendor
    return vendor if vendor.answered else None


def gold_text(state: CampaignState) -> str | None:
    """'gold: vendor 0.82 (0.71-0.90, 60 answers); annotators ann1 0.90 (...), ann2 0.70 (...)' or None."""
    vendor = vendor_accuracy(state)
    if vendor is None:
        return None
    people = [q for q in annotator_quality(state) if q.source == "gold"]
    shown = ", ".join(f"{q.annotator} {q.accuracy:.2f} ({q.low:.2f}-{q.high:.2f}, {q.answers})" for q in people[:5])
    more = f" and {len(people) - 5} more" if len(people) > 5 else ""
    return f"gold: vendor {vendor.text()}" + (f"; annotators {shown}{more}" if shown else "")


def quality_lines(state: CampaignState) -> list[str]:
    """`alflow status`'s lines: the vendor on gold, then each annotator (gold, or estimated)."""
    lines = []
    if (vendor := vendor_accuracy(state)) is not None:
        lines.append(f"vendor accuracy on gold: {vendor.text()}")
    for q in annotator_quality(state):
        if q.source == "gold":
            lines.append(
                f"annotator {q.annotator}: {q.accuracy:.2f} on gold ({q.low:.2f}-{q.high:.2f}, {q.answers} answers)"
            )
        else:
            lines.append(f"annotator {q.annotator}: {q.accuracy:.2f} estimated (Dawid-Skene, no gold answers)")
    return lines


def quality_json(state: CampaignState) -> dict:
    """The same for scripts (`alflow status --json`)."""
    vendor = vendor_accuracy(state)
    return {
        "vendor": None
        if vendor is None
        else {
            "accuracy": vendor.value,
            "low": vendor.interval[0],
            "high": vendor.interval[1],
            "answers": vendor.answered,
        },
        "annotators": [q.__dict__ for q in annotator_quality(state)],
    }


def quality_metrics(state: CampaignState) -> dict[str, float]:
    """MLflow metrics: gold/vendor_accuracy (with _low, _high and gold/answers) and, per annotator,
    annotators/<name>/accuracy (and /gold_answers when measured on gold)."""
    metrics: dict[str, float] = {}
    if (vendor := vendor_accuracy(state)) is not None:
        low, high = vendor.interval
        metrics.update(
            {
                "gold/vendor_accuracy": vendor.value,
                "gold/vendor_accuracy_low": low,
                "gold/vendor_accuracy_high": high,
                "gold/answers": float(vendor.answered),
            }
        )
    for q in annotator_quality(state):
        name = re.sub(r"[^\w\-. ]", "_", q.annotator)  # MLflow's metric names: letters, digits, _ - . / and spaces
        metrics[f"annotators/{name}/accuracy"] = q.accuracy
        if q.source == "gold":
            metrics[f"annotators/{name}/gold_answers"] = float(q.answers)
    return metrics


def quality_table(state: CampaignState) -> pd.DataFrame | None:
    """The annotators' table (MLflow's tables/annotators.json), or None without any evidence."""
    rows = annotator_quality(state)
    return pd.DataFrame([q.__dict__ for q in rows]) if rows else None


def gold_markdown(state: CampaignState) -> str:
    """The Prefect summary's line on gold ('' without a gold answer)."""
    text = gold_text(state)
    return f"- {text}\n" if text else ""
