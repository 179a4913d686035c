"""What stakeholders see: the numbers behind a round run's tables and figures.

alflow.tracking logs them to MLflow and alflow.plots draws them; nothing here imports either.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alflow import data, ledger
from alflow.config import CampaignConfig
from alflow.errors import ConfigError
from alflow.ledger import CampaignState
from alflow.rounds import AutoLabels, Decision, Evaluation, Inputs, Trained, bucket, labeled_set


@dataclass(frozen=True)
class RoundView:
    """The numbers behind a round run's tables and figures.

    `history` has one row per round so far, this one last: round, labels_used, labels_remaining,
    spend_remaining (when a cost per label is set) and the metrics. `labeled` is the training set
    (id, label, origin = "seed" or the round whose batch it came from); `confusion` counts holdout
    items, true class by row, predicted by column; `vendor` the figures of the deliveries ingested
    since the previous round; `reference` named (labels, values) curves from a simulation;
    `auto_labels` the items the model labeled itself this round (id, label, confidence).
    """

    history: pd.DataFrame = field(repr=False)
    labeled: pd.DataFrame = field(repr=False)
    batch: pd.DataFrame | None = field(default=None, repr=False)
    confusion: pd.DataFrame | None = field(default=None, repr=False)
    vendor: dict[str, float] = field(default_factory=dict)
    reference: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict, repr=False)
    auto_labels: pd.DataFrame | None = field(default=None, repr=False)


def _history(config: CampaignConfig, inputs: Inputs, state: CampaignState, decision: Decision, evaluation) -> list:
    rows, asked = [], 0
    seed = len(inputs.seed_labels)
    cost = config.budget.cost_per_label
    for round_, record in sorted(state.rounds.items()):
        asked += len(state.batch_ids(round_))
        remaining = max(0, config.budget.max_labels - seed - asked)
        rows.append({"round": round_, "labels_used": record["labels_used"], "labels_remaining": remaining})
        rows[-1].update(record["metrics"])
    rows.append(
        {
            "round": decision.round,
            "labels_used": decision.labels_used,
            "labels_remaining": decision.progress.get("labels_remaining", math.nan),
            **evaluation.metrics,
        }
    )
    if cost is not None:
        for row in rows:
            row["spend_remaining"] = row["labels_remaining"] * cost
    return rows


def _labeled_frame(inputs: Inputs, state: CampaignState) -> pd.DataFrame:
    origin = dict.fromkeys(inputs.seed_labels, "seed")
    for round_ in sorted(state.ingested):
        origin.update(dict.fromkeys(state.ingested[round_], ledger.round_dir(round_)))
    labels = labeled_set(inputs, state)
    ids = sorted(labels)
    return pd.DataFrame({"id": ids, "label": [labels[i] for i in ids], "origin": [origin[i] for i in ids]})


def _confusion(config: CampaignConfig, inputs: Inputs, trained: Trained) -> pd.DataFrame | None:
    if inputs.holdout is None or not trained.fitted:
        return None
    X = data.model_input(inputs.holdout, config.pool, inputs.features)
    truth = pd.Categorical(inputs.holdout[config.holdout.label_column].astype(str), categories=config.classes)
    predicted = pd.Categorical(pd.Series(trained.model.predict(X)).astype(str), categories=config.classes)
    table = pd.crosstab(truth, predicted, dropna=False)
    return table.reindex(index=list(config.classes), columns=list(config.classes), fill_value=0)


def _hours_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 3600
    except (ValueError, TypeError):
        return None


def vendor_figures(config: CampaignConfig, state: CampaignState, *, since: str | None) -> dict[str, float]:
    """Turnaround (batch created -> delivered, hours) and annotator agreement of the deliveries
    ingested after `since` (an ISO time; None = all). Fields absent from the records are skipped.
    """
    store = bucket(config)
    turnaround, agreement = [], []
    for round_, records in sorted(state.ingests.items()):
        records = [r for r in records if since is None or str(r.get("ingested_at", "")) > since]
        if not records:
            continue
        batch_key = ledger.batch_prefix(config.campaign, round_) + "batch.json"
        try:
            created = json.loads(store.read(batch_key)).get("created_at")
        except FileNotFoundError:
            created = None
        for record in records:
            hours = _hours_between(created, record.get("delivered_at"))
            if hours is not None:
                turnaround.append(hours)
            if isinstance(record.get("agreement"), int | float):
                agreement.append(float(record["agreement"]))
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
        with data.local_file(path) as local:
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


def round_view(
    config: CampaignConfig,
    inputs: Inputs,
    state: CampaignState,
    trained: Trained,
    evaluation: Evaluation,
    decision: Decision,
    batch: pd.DataFrame | None,
) -> RoundView:
    """Gather what the round run shows: history, labeled set, batch, confusion matrix, vendor figures."""
    previous = state.rounds.get(max(state.rounds, default=0), {})
    return RoundView(
        history=pd.DataFrame(_history(config, inputs, state, decision, evaluation)),
        labeled=_labeled_frame(inputs, state),
        batch=batch,
        confusion=_confusion(config, inputs, trained),
        vendor=vendor_figures(config, state, since=previous.get("recorded_at")),
        reference=reference_curves(config.tracking.reference_curve, metric=config.stopping.metric),
        auto_labels=_auto_frame(decision.auto_labels) if config.auto_label is not None else None,
    )


def _auto_frame(auto: AutoLabels) -> pd.DataFrame:
    ids = list(auto.labels)
    return pd.DataFrame(
        {"id": ids, "label": [auto.labels[i] for i in ids], "confidence": [auto.confidence[i] for i in ids]}
    )
