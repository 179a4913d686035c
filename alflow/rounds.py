"""The stages of a round, as plain functions over a campaign config.

Each Prefect task in `tasks/` calls one of these; a notebook can call them directly. None of them
imports Prefect or MLflow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from alflow import data, ingest, ledger, models, selection, validation, vendors
from alflow.config import CampaignConfig, ModelConfig
from alflow.errors import ConfigError
from alflow.ledger import CampaignState
from alflow.store import Store, open_store


def bucket(config: CampaignConfig) -> Store:
    return open_store(config.vendor.bucket, sse=config.vendor.sse, kms_key_id=config.vendor.kms_key_id)


def load_state(config: CampaignConfig) -> CampaignState:
    return ledger.load_state(bucket(config), config.campaign)


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The validated pool and labels a round works from."""

    header: list[str]
    features: list[str]
    pool_size: int
    seed_labels: dict[str, str]
    holdout: pd.DataFrame | None = field(default=None, repr=False)


def _pool_ids(config: CampaignConfig, path) -> pd.Series:
    pool = config.pool
    chunks = data.iter_chunks(path, columns=[pool.id_column], text_columns=[pool.id_column], chunk_size=pool.chunk_size)
    return pd.concat([c[pool.id_column] for c in chunks], ignore_index=True)


def validate_inputs(config: CampaignConfig) -> Inputs:
    """Check the pool, the seed labels and the holdout; raise DataValidationError on the first problem."""
    pool = config.pool
    with data.local_file(pool.uri) as path:
        header = data.columns_of(path)
        features = data.feature_columns(pool, header)
        ids = _pool_ids(config, path) if pool.id_column in header else pd.Series(dtype=str)
    validation.check_pool(header, ids, id_column=pool.id_column, features=features, source=pool.uri)

    seed_cfg = config.seed_labels
    seed = data.read_table(seed_cfg.uri, text_columns=[pool.id_column, seed_cfg.label_column])
    validation.check_labels(
        seed,
        id_column=pool.id_column,
        label_column=seed_cfg.label_column,
        classes=config.classes,
        allowed_ids=pd.Index(ids),
        allowed_name=f"the pool {pool.uri}",
        source=seed_cfg.uri,
    )
    holdout = None
    if config.holdout is not None:
        label = config.holdout.label_column
        holdout = data.read_table(config.holdout.uri, text_columns=[label])
        rules = [validation.Rule("column_exists", c) for c in (*features, label)]
        rules += [
            validation.Rule("not_null", label),
            validation.Rule(
                "in_set",
                label,
                {"value_set": sorted(config.classes)},
                meaning=f"label column {label!r} has labels outside the class set",
            ),
        ]
        validation.check(holdout, rules, source=config.holdout.uri)
    seed_labels = dict(zip(seed[pool.id_column], seed[seed_cfg.label_column], strict=True))
    return Inputs(header, features, int(ids.size), seed_labels, holdout)


# --- ingest -------------------------------------------------------------------------------------


def ingest_deliveries(config: CampaignConfig) -> CampaignState:
    """Accept what completed deliveries hold (alflow/ingest.py); return the state afterwards.

    Bad rows and files are quarantined with their reasons and reported, never raised: the valid
    part of a delivery is accepted and the rest stays outstanding.
    """
    store = bucket(config)
    written = ingest.ingest_deliveries(store, config, ledger.load_state(store, config.campaign))
    return replace(ledger.load_state(store, config.campaign), ingested_now=tuple(written))


def claim_round(config: CampaignConfig, state: CampaignState) -> int:
    """Claim the next round for this run; RoundConflictError if a live run holds it."""
    ledger.claim_round(bucket(config), config.campaign, state.next_round)
    ledger.crash_point("round:after_claim")
    return state.next_round


# --- training -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trained:
    model: object = field(repr=False)
    X: object = field(repr=False)
    y: np.ndarray = field(repr=False)
    class_counts: dict[str, int] = field(default_factory=dict)
    # False at cold start (fewer than two classes labeled): `model` is the unfitted estimator,
    # nothing is evaluated or registered, and selection picks by diversity.
    fitted: bool = True


def labeled_set(inputs: Inputs, state: CampaignState) -> dict[str, str]:
    """Seed labels plus every ingested vendor label (a vendor label wins on the same id)."""
    return {**inputs.seed_labels, **state.human_labels()}


def _pool_chunks(config: CampaignConfig, inputs: Inputs) -> Iterator[pd.DataFrame]:
    pool = config.pool
    columns = [pool.id_column, *(c for c in inputs.features if c != pool.id_column)]
    text = [pool.id_column] + ([pool.text_column] if pool.text_column else [])
    with data.local_file(pool.uri) as path:
        yield from data.iter_chunks(path, columns=columns, text_columns=text, chunk_size=pool.chunk_size)


def pool_rows(config: CampaignConfig, inputs: Inputs, ids: list[str]) -> pd.DataFrame:
    """The pool rows of `ids`, in that order (one streamed pass)."""
    wanted = set(ids)
    id_column = config.pool.id_column
    found = [c[c[id_column].isin(wanted)] for c in _pool_chunks(config, inputs)]
    rows = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[id_column])
    return rows.set_index(id_column).loc[ids].reset_index()


def train_model(config: CampaignConfig, inputs: Inputs, state: CampaignState) -> Trained:
    """Fit the campaign's model on the labeled items; at cold start (one class) return it unfitted."""
    labels = labeled_set(inputs, state)
    ids = sorted(labels)
    rows = pool_rows(config, inputs, ids)
    X = data.model_input(rows, config.pool, inputs.features)
    y = np.array([labels[i] for i in ids])
    estimator = models.build_model(config.model, seed=config.seed)
    counts = class_counts(config, labels)
    if np.unique(y).size < 2:
        return Trained(estimator, X, y, counts, fitted=False)
    return Trained(models.train(estimator, X, y), X, y, counts)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    source: str  # "holdout" or "cross_validation"


def evaluate_model(config: CampaignConfig, inputs: Inputs, trained: Trained) -> Evaluation:
    """Holdout accuracy and macro-F1, or a cross-validated estimate when there is no holdout."""
    if not trained.fitted:
        return Evaluation({"accuracy": math.nan, "f1_macro": math.nan}, "cold_start")
    if inputs.holdout is not None:
        X = data.model_input(inputs.holdout, config.pool, inputs.features)
        y = inputs.holdout[config.holdout.label_column].to_numpy()
        return Evaluation(models.holdout_metrics(trained.model, X, y), "holdout")
    untrained = models.build_model(config.model, seed=config.seed)
    metrics = models.cross_validated_metrics(untrained, trained.X, trained.y, seed=config.seed)
    return Evaluation(metrics, "cross_validation")


# --- stopping and budget ------------------------------------------------------------------------


def budget_left(config: CampaignConfig, inputs: Inputs, state: CampaignState) -> int:
    """Labels that may still be asked for: the budget counts seed labels and every label asked."""
    return max(0, config.budget.max_labels - len(inputs.seed_labels) - state.labels_asked)


def unlabeled_left(inputs: Inputs, state: CampaignState, labels: dict[str, str]) -> int:
    return inputs.pool_size - len(set(labels) | set(state.asked_ids))


def stop_reason(
    config: CampaignConfig, state: CampaignState, metrics: dict[str, float], *, budget: int, unlabeled: int
) -> str | None:
    """Why the campaign stops after this round, or None. Rules in order of precedence."""
    rules = config.stopping
    value = metrics.get(rules.metric, math.nan)
    if budget == 0:
        return "budget_spent"
    if rules.target is not None and value >= rules.target:
        return "target_reached"
    if rules.patience is not None:
        history = [r["metrics"].get(rules.metric, math.nan) for _, r in sorted(state.rounds.items())]
        history = [m for m in [*history, value] if not math.isnan(m)]
        if len(history) > rules.patience:
            before, recent = history[: -rules.patience], history[-rules.patience :]
            if max(recent) <= max(before) + rules.min_delta:
                return "no_improvement"
    if unlabeled == 0:
        return "pool_exhausted"
    return None


# --- selection and export -----------------------------------------------------------------------


def select_batch(
    config: CampaignConfig, inputs: Inputs, state: CampaignState, trained: Trained, *, k: int
) -> pd.DataFrame:
    """The k unlabeled, not-yet-asked items the strategy ranks highest: id, score, predicted.

    The pool is streamed in chunks; only the strategy's bounded candidate set is kept in memory.
    """
    skip = set(labeled_set(inputs, state)) | set(state.asked_ids)
    id_column = config.pool.id_column

    def candidates() -> Iterator[tuple[np.ndarray, object]]:
        for chunk in _pool_chunks(config, inputs):
            chunk = chunk[~chunk[id_column].isin(skip)]
            yield chunk[id_column].to_numpy(), data.model_input(chunk, config.pool, inputs.features)

    options = config.strategy
    committee = None
    if options.committee:
        committee = [models.build_model(ModelConfig(estimator=path), seed=config.seed) for path in options.committee]
    rng = np.random.default_rng([config.seed, state.next_round])
    return selection.score_chunks(
        trained.model,
        candidates(),
        strategy=options.name,
        k=k,
        rng=rng,
        X_labeled=trained.X,
        y_labeled=trained.y,
        oversample=options.oversample,
        class_balance=options.class_balance,
        committee=committee,
        committee_size=options.committee_size,
    )


def commit_round(
    config: CampaignConfig,
    decision: Decision,
    trained: Trained,
    evaluation: Evaluation,
    batch: pd.DataFrame | None,
    tracking: dict,
) -> dict:
    """Commit the round's decision to the ledger, once; returns the record.

    Raises RoundConflictError if another run committed this round first.
    """
    record = {
        "round": decision.round,
        "labels_used": decision.labels_used,
        "class_counts": trained.class_counts,
        "metrics": evaluation.metrics,
        "metric_source": evaluation.source,
        "strategy": config.strategy.name,
        "model": models.model_name(trained.model),
        "stop_reason": decision.stop_reason,
        "batch": None
        if batch is None
        else {
            "ids": batch["id"].tolist(),
            "scores": [float(s) for s in batch["score"]],
            "predicted": batch["predicted"].tolist(),
        },
        "tracking": tracking,
    }
    ledger.record_round(bucket(config), config.campaign, record)
    return record


def export_batch(config: CampaignConfig, inputs: Inputs, record: dict) -> str | None:
    """Materialise a committed round's batch for the vendor; returns where, or None if no batch."""
    batch = record.get("batch")
    if not batch:
        return None
    ledger.crash_point("export:before")
    rows = pool_rows(config, inputs, batch["ids"]).rename(columns={config.pool.id_column: vendors.ID})
    items = pd.concat([pd.DataFrame({"score": batch["scores"], "predicted": batch["predicted"]}), rows], axis=1)[
        [vendors.ID, "score", "predicted", *[c for c in rows.columns if c != vendors.ID]]
    ]
    fmt = config.vendor.format
    name, payload = vendors.batch_file(items, fmt, model_version=record["model"], text_column=config.pool.text_column)
    metadata = {
        "campaign": config.campaign,
        "round": record["round"],
        "count": len(batch["ids"]),
        "classes": list(config.classes),
        "instructions": config.vendor.instructions,
        "format": fmt,
        "deliver_to": ledger.delivery_prefix(config.campaign, record["round"]),
        "delivery_files": f"*{vendors.DELIVERY_SUFFIX[fmt]}, then an empty {ledger.DONE} marker last",
        "strategy": record["strategy"],
        "created_at": ledger.now(),
    }
    return ledger.write_batch(bucket(config), config.campaign, record["round"], name, payload, metadata)


def finish_exports(config: CampaignConfig, inputs: Inputs, state: CampaignState) -> list[str]:
    """Export the batches of rounds that were committed but interrupted before their marker."""
    return [export_batch(config, inputs, state.rounds[r]) for r in state.unexported]


# --- decision and report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What this round does after training: stop, or ask for `batch_size` labels."""

    round: int
    labels_used: int
    stop_reason: str | None
    batch_size: int
    promote: bool  # the metric beat every earlier round: move the champion alias
    progress: dict[str, float] = field(default_factory=dict)


def decide(config: CampaignConfig, inputs: Inputs, state: CampaignState, evaluation: Evaluation) -> Decision:
    """Apply the stopping rules and the budget to a trained round."""
    labels = labeled_set(inputs, state)
    budget = budget_left(config, inputs, state)
    unlabeled = unlabeled_left(inputs, state, labels)
    stop = stop_reason(config, state, evaluation.metrics, budget=budget, unlabeled=unlabeled)
    batch_size = 0 if stop else min(config.strategy.batch_size, budget, unlabeled)
    metric = config.stopping.metric
    earlier = [r["metrics"].get(metric, math.nan) for r in state.rounds.values()]
    earlier = [m for m in earlier if not math.isnan(m)]
    current = evaluation.metrics.get(metric, math.nan)
    promote = not math.isnan(current) and (not earlier or current > max(earlier))
    asked = state.labels_asked + batch_size
    progress: dict[str, float] = {
        "labels_used": len(labels),
        "labels_asked": asked,
        "labels_remaining": budget - batch_size,
        "batch_size": batch_size,
    }
    if config.budget.cost_per_label is not None:
        progress["spend"] = asked * config.budget.cost_per_label
        progress["spend_remaining"] = (budget - batch_size) * config.budget.cost_per_label
    progress.update({f"labels_class_{c}": n for c, n in class_counts(config, labels).items()})
    return Decision(state.next_round, len(labels), stop, batch_size, promote, progress)


def class_counts(config: CampaignConfig, labels: dict[str, str]) -> dict[str, int]:
    """Labels per class of the class set (zero for a class not labeled yet)."""
    values = list(labels.values())
    return {c: values.count(c) for c in config.classes}


@dataclass(frozen=True)
class RoundReport:
    """What a round did, for people (`message`) and scripts (the fields)."""

    campaign: str
    status: str  # exported | stopped | waiting | already_stopped
    round: int | None = None
    labels_used: int | None = None
    max_labels: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    metric_source: str | None = None
    batch_size: int = 0
    batch_uri: str | None = None
    stop_reason: str | None = None
    waiting_for: dict[int, int] = field(default_factory=dict)  # round -> labels outstanding
    resumed_exports: list[str] = field(default_factory=list)  # interrupted exports finished now
    mlflow_run_id: str | None = None
    labels_ingested: int = 0  # vendor labels accepted by this run
    rows_rejected: int = 0  # delivery rows (or whole files) refused by this run: see `quarantined`
    duplicates: int = 0  # late duplicates skipped (already accepted with the same label)
    quarantined: tuple[str, ...] = ()  # store keys of the quarantined copies; reasons beside them
    agreement: float | None = None  # mean annotator agreement over the files ingested by this run

    def ingest_message(self) -> str:
        """What this run took from the vendor, or '' when it took nothing."""
        if not (self.labels_ingested or self.rows_rejected or self.duplicates):
            return ""
        parts = [f"ingested {self.labels_ingested} labels"]
        if self.duplicates:
            parts.append(f"skipped {self.duplicates} duplicates")
        if self.rows_rejected:
            parts.append(f"rejected {self.rows_rejected} rows/files (reasons beside {', '.join(self.quarantined)})")
        return "; " + ", ".join(parts)

    def message(self) -> str:
        return self._message() + self.ingest_message()

    def _message(self) -> str:
        if self.status == "already_stopped":
            return f"{self.campaign}: campaign stopped ({self.stop_reason}); nothing to do"
        if self.status == "waiting":
            parts = ", ".join(f"{n} labels from round {r}" for r, n in sorted(self.waiting_for.items()))
            if self.resumed_exports:
                where = ", ".join(self.resumed_exports)
                return f"{self.campaign}: finished an interrupted export to {where}; waiting for {parts}"
            return f"{self.campaign}: waiting for {parts}; nothing exported"
        scores = ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items() if not math.isnan(v))
        head = (
            f"{self.campaign} round {self.round}: {self.labels_used}/{self.max_labels} labels, "
            f"{scores or 'no metric yet'} ({self.metric_source})"
        )
        if self.status == "stopped":
            return f"{head}; stopped: {self.stop_reason}"
        return f"{head}; exported {self.batch_size} items to {self.batch_uri}"


def _ingest_fields(state: CampaignState | None) -> dict:
    # What this run took from the vendor: a re-run that ingests nothing new reports nothing.
    return ingest.summary(list(state.ingested_now)) if state is not None else {}


def idle_report(config: CampaignConfig, state: CampaignState, resumed: list[str]) -> RoundReport | None:
    """The report of a round with nothing to train (stopped, or waiting for the vendor), else None.

    `resumed` are the batches whose interrupted export this round has just finished.
    """
    if state.stop_reason:
        return RoundReport(config.campaign, "already_stopped", stop_reason=state.stop_reason)
    if state.outstanding:
        waiting = {r: len(state.missing(r)) for r in state.outstanding}
        return RoundReport(
            config.campaign,
            "waiting",
            waiting_for=waiting,
            resumed_exports=list(resumed),
            **_ingest_fields(state),
        )
    return None


def round_report(
    config: CampaignConfig, record: dict, batch_uri: str | None, state: CampaignState | None = None
) -> RoundReport:
    batch = record.get("batch") or {}
    return RoundReport(
        config.campaign,
        "stopped" if record["stop_reason"] else "exported",
        round=record["round"],
        labels_used=record["labels_used"],
        max_labels=config.budget.max_labels,
        metrics=record["metrics"],
        metric_source=record["metric_source"],
        batch_size=len(batch.get("ids", [])),
        batch_uri=batch_uri,
        stop_reason=record["stop_reason"],
        mlflow_run_id=record["tracking"].get("run_id"),
        **_ingest_fields(state),
    )


def status_rows(config: CampaignConfig) -> list[dict]:
    """One row per round: labels used, asked, delivered, ingested, metrics and state."""
    store = bucket(config)
    state = ledger.load_state(store, config.campaign)
    rows = []
    for round_, record in sorted(state.rounds.items()):
        asked = len(state.batch_ids(round_))
        records = state.ingests.get(round_, [])
        delivered = sum(r["votes"] for r in records) if round_ in state.delivered else None
        missing = len(state.missing(round_))
        if record.get("stop_reason"):
            status = f"stopped: {record['stop_reason']}"
        elif round_ in state.ingested and not missing:
            status = "ingested"
        elif round_ in state.ingested:
            status = f"partly ingested: {missing} outstanding"
        elif round_ in state.delivered:
            status = "delivered"
        elif round_ in state.exported:
            status = "waiting for vendor"
        else:
            status = "export interrupted"
        rows.append(
            {
                "round": round_,
                "labels_used": record["labels_used"],
                "asked": asked,
                "delivered": delivered,
                "ingested": len(state.ingested[round_]) if round_ in state.ingested else None,
                **{k: record["metrics"].get(k) for k in ("accuracy", "f1_macro")},
                "metric_source": record["metric_source"],
                "state": status,
                "mlflow_run_id": record["tracking"].get("run_id"),
                "model_version": record["tracking"].get("model_version"),
            }
        )
    return rows


# --- what stakeholders see (alflow.tracking logs it, alflow.plots draws it) -------------------------


@dataclass(frozen=True)
class RoundView:
    """The numbers behind a round run's tables and figures.

    `history` has one row per round so far, this one last: round, labels_used, labels_remaining,
    spend_remaining (when a cost per label is set) and the metrics. `labeled` is the training set
    (id, label, origin = "seed" or the round whose batch it came from); `confusion` counts holdout
    items, true class by row, predicted by column; `vendor` the figures of the deliveries ingested
    since the previous round; `reference` named (labels, values) curves from a simulation.
    """

    history: pd.DataFrame = field(repr=False)
    labeled: pd.DataFrame = field(repr=False)
    batch: pd.DataFrame | None = field(default=None, repr=False)
    confusion: pd.DataFrame | None = field(default=None, repr=False)
    vendor: dict[str, float] = field(default_factory=dict)
    reference: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict, repr=False)


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
    )
