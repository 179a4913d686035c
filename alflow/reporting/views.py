"""What stakeholders see: the numbers behind a round run's tables and figures.

alflow.reporting.tracking logs them to MLflow and alflow.reporting.plots draws them; nothing here
imports either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from alflow.data import frames
from alflow.errors import ConfigError
from alflow.exchange import layout
from alflow.kinds import numbers
from alflow.ledger import changes
from alflow.ledger.budget import Budget
from alflow.round.autolabel import AutoLabels
from alflow.round.context import RoundContext
from alflow.round.decide import Decision
from alflow.round.train import Trained


@dataclass(frozen=True)
class RoundView:
    """The numbers behind a round run's tables and figures.

    `history` has one row per round so far, this one last: round, labels_used, labels_remaining,
    spend_remaining (when a cost per label is set) and the metrics. `labeled` is the training set
    (id, label, origin = "seed" or the round whose batch it came from); `confusion` counts holdout
    items, true class by row, predicted by column; `vendor` the figures of the deliveries ingested
    since the previous round; `reference` named (labels, values) curves from a simulation;
    `auto_labels` the items the model labeled itself this round (id, label, confidence); `changes`
    the rounds at which the settings changed (alflow.ledger.changes); `residuals` a numeric
    campaign's holdout values, true and predicted (columns true, predicted).
    """

    history: pd.DataFrame = field(repr=False)
    labeled: pd.DataFrame = field(repr=False)
    batch: pd.DataFrame | None = field(default=None, repr=False)
    confusion: pd.DataFrame | None = field(default=None, repr=False)
    vendor: dict[str, float] = field(default_factory=dict)
    reference: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict, repr=False)
    auto_labels: pd.DataFrame | None = field(default=None, repr=False)
    changes: dict[int, str] = field(default_factory=dict)  # round -> the settings changed at it, in words
    residuals: pd.DataFrame | None = field(default=None, repr=False)  # numbers: holdout true, predicted


def _history(ctx: RoundContext, decision: Decision) -> list[dict[str, Any]]:
    """One row per round so far, this one last: round, labels used and remaining, spend, metrics,
    and `max_labels`, the budget in force at that round (alflow.ledger.changes): a budget raised
    at round 6 leaves rounds 1 to 5 as they were."""
    rows, budget = [], Budget.of(ctx.config.budget, seed_labels=len(ctx.inputs.seed_labels))
    for round_, record in sorted(ctx.state.rounds.items()):
        budget = _in_force(budget.ask(len(record.batch_ids)), changes.in_force(ctx.state, round_))
        row = {"round": round_, "labels_used": record.labels_used, "max_labels": budget.max_labels}
        rows.append({**row, **_remaining(budget), **record.metrics})
    current = {"round": decision.round, "labels_used": decision.labels_used, "max_labels": decision.spent.max_labels}
    return [*rows, {**current, **_remaining(decision.spent), **decision.evaluation.metrics}]


def _in_force(budget: Budget, settings: dict[str, Any] | None) -> Budget:
    """The budget with the label budget and cost recorded for its round (unchanged without a record)."""
    if settings is None:
        return budget
    cost = settings.get("cost_per_label")
    return replace(budget, max_labels=int(settings["max_labels"]), cost_per_label=None if cost is None else float(cost))


def _remaining(budget: Budget) -> dict[str, float]:
    figures = budget.figures()
    return {k: figures[k] for k in ("labels_remaining", "spend_remaining") if k in figures}


def _labeled_frame(ctx: RoundContext) -> pd.DataFrame:
    origin = dict.fromkeys(ctx.inputs.seed_labels, "seed")
    for round_ in sorted(ctx.state.ingested):
        origin.update(dict.fromkeys(ctx.state.ingested[round_], layout.round_dir(round_)))
    labels = ctx.labeled
    ids = sorted(labels)
    return pd.DataFrame({"id": ids, "label": [labels[i] for i in ids], "origin": [origin[i] for i in ids]})


def _confusion(ctx: RoundContext, trained: Trained) -> pd.DataFrame | None:
    if ctx.holdout is None or not trained.fitted or not ctx.config.label_kind.is_class:
        return None  # tags and numbers have no confusion matrix: their metrics say it (alflow.model.targets)
    X, truth = ctx.holdout
    classes = list(ctx.config.classes)
    true = pd.Categorical(truth, categories=classes)
    predicted = pd.Categorical(pd.Series(trained.model.predict(X)).astype(str), categories=classes)
    table = pd.crosstab(true, predicted, dropna=False)
    return table.reindex(index=classes, columns=classes, fill_value=0)


def _residuals(ctx: RoundContext, trained: Trained) -> pd.DataFrame | None:
    """A numeric campaign's holdout values, true and as the round's model predicts them."""
    if ctx.holdout is None or not trained.fitted or ctx.config.label_kind.kind != "number":
        return None
    X, truth = ctx.holdout
    return pd.DataFrame({"true": numbers(truth), "predicted": numbers(trained.model.predict(X))})


def _hours_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 3600
    except (ValueError, TypeError):
        return None


def vendor_figures(ctx: RoundContext, *, since: str | None) -> dict[str, float]:
    """Turnaround (batch created -> delivered, hours) and annotator agreement of the deliveries
    ingested after `since` (an ISO time; None = all). Fields absent from the records are skipped.
    """
    turnaround, agreement = [], []
    for round_, records in sorted(ctx.state.ingests.items()):
        records = [r for r in records if since is None or r.ingested_at > since]
        if not records:
            continue
        try:
            key = layout.batch_prefix(ctx.config.campaign, round_) + layout.BATCH_METADATA
            created = json.loads(ctx.ledger.store.read(key)).get("created_at")
        except FileNotFoundError:
            created = None
        for record in records:
            hours = _hours_between(created, record.delivered_at)
            if hours is not None:
                turnaround.append(hours)
            if record.agreement is not None:
                agreement.append(float(record.agreement))
    figures = {}
    if turnaround:
        figures["vendor_turnaround_hours"] = float(np.mean(turnaround))
    if agreement:
        figures["annotator_agreement"] = float(np.mean(agreement))
    return figures


def _points(value, metric: str) -> tuple[list[int], list[float]] | None:
    """(labels, values) from the shapes a curves file may use; None if it is none of them."""
    if isinstance(value, dict):
        x = value.get("labels") or value.get("labels_used")
        y = next((value[k] for k in (metric, "mean", "values", "score") if isinstance(value.get(k), list)), None)
        if isinstance(x, list) and y is not None and len(x) == len(y):
            return [int(v) for v in x], [float(v) for v in y]
        return None
    if isinstance(value, list) and value and all(isinstance(p, list | tuple) and len(p) == 2 for p in value):
        return [int(p[0]) for p in value], [float(p[1]) for p in value]
    if isinstance(value, list) and value and all(isinstance(p, dict) for p in value):
        x = [p.get("labels", p.get("labels_used")) for p in value]
        y = [p.get(metric, p.get("mean", p.get("value"))) for p in value]
        if None not in x and None not in y:
            return [int(v) for v in x], [float(v) for v in y]
    return None


def reference_curves(path: str | None, *, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """The random-sampling curve of a simulation's curves file, as {"random": (labels, values)}.

    Accepted: {"random": [[labels, value], ...]}, {"random": {"labels": [...], metric: [...]}},
    {"random": [{"labels": n, metric: v}, ...]}, each optionally under a "curves" key; a missing
    file or a file without a random curve gives {} (the plot is then drawn without it).
    """
    if not path:
        return {}
    try:
        with frames.local_file(path) as local:
            document = json.loads(local.read_text())
    except (ConfigError, OSError, ValueError):
        return {}
    curves = document.get("curves", document) if isinstance(document, dict) else {}
    if isinstance(curves, list):  # [{"strategy": "random", ...}, ...]
        curves = {c.get("strategy") or c.get("name"): c for c in curves if isinstance(c, dict)}
    shared_x = document.get("labels") if isinstance(document, dict) else None
    for name, value in curves.items() if isinstance(curves, dict) else []:
        if str(name).lower() != "random":
            continue
        if isinstance(value, dict) and "labels" not in value and isinstance(shared_x, list):
            value = {**value, "labels": shared_x}
        if isinstance(value, list) and isinstance(shared_x, list) and all(isinstance(v, int | float) for v in value):
            value = {"labels": shared_x, "values": value}
        points = _points(value, metric)
        return {"random": points} if points else {}
    return {}


def round_view(ctx: RoundContext, trained: Trained, decision: Decision) -> RoundView:
    """Gather what the round run shows: history, labeled set, batch, confusion matrix, vendor figures."""
    last = ctx.state.last
    config = ctx.config
    return RoundView(
        history=pd.DataFrame(_history(ctx, decision)),
        labeled=_labeled_frame(ctx),
        batch=decision.batch.items if decision.batch else None,
        confusion=_confusion(ctx, trained),
        vendor=vendor_figures(ctx, since=last.recorded_at if last else None),
        reference=reference_curves(config.tracking.reference_curve, metric=config.stopping.metric),
        auto_labels=_auto_frame(decision.auto_labels) if config.auto_label is not None else None,
        changes=changes.changed_rounds(ctx.state),
        residuals=_residuals(ctx, trained),
    )


def _auto_frame(auto: AutoLabels) -> pd.DataFrame:
    ids = list(auto.labels)
    return pd.DataFrame(
        {"id": ids, "label": [auto.labels[i] for i in ids], "confidence": [auto.confidence[i] for i in ids]}
    )
