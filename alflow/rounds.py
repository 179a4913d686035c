"""The stages of a round, as plain functions over a campaign config.

Each Prefect task in `tasks/` calls one of these; a notebook can call them directly. None of them
imports Prefect or MLflow.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from alflow import autolabel, data, ingest, ledger, models, selection, stream, synthesis, validation, vendors
from alflow.config import CampaignConfig, ModelConfig
from alflow.errors import ConfigError
from alflow.ledger import CampaignState
from alflow.store import Store, open_store
from alflow.strategies import margin


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


def pool_rows(config: CampaignConfig, inputs: Inputs, ids: list[str], records: list[dict] = ()) -> pd.DataFrame:
    """The rows of `ids`, in that order: items outside the pool from the item files that round
    `records` name (synthetic items, stream arrivals), the rest from the pool (one streamed pass)."""
    id_column = config.pool.id_column
    found = _outside_rows(config, set(ids), records)
    wanted = set(ids) - set().union(*(set(f[id_column]) for f in found))
    if wanted:
        found += [c[c[id_column].isin(wanted)] for c in _pool_chunks(config, inputs)]
    rows = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[id_column])
    return rows.set_index(id_column).loc[ids].reset_index()


def _outside_rows(config: CampaignConfig, wanted: set[str], records: list[dict]) -> list[pd.DataFrame]:
    id_column = config.pool.id_column
    found = []
    for record in records:
        outside = (record.get("batch") or {}).get("outside")
        if outside and wanted & set(outside["ids"]):
            text = [id_column] + ([config.pool.text_column] if config.pool.text_column else [])
            frame = pd.read_csv(io.BytesIO(bucket(config).read(outside["key"])), dtype=dict.fromkeys(text, str))
            found.append(frame[frame[id_column].isin(wanted)])
    return found


def train_model(config: CampaignConfig, inputs: Inputs, state: CampaignState) -> Trained:
    """Fit the campaign's model on the labeled items; at cold start (one class) return it unfitted."""
    labels = labeled_set(inputs, state)
    ids = sorted(labels)
    rows = pool_rows(config, inputs, ids, list(state.rounds.values()))
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


# --- auto-labeling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoLabels:
    """The items the model labels itself this round, kept apart from human labels (alflow.autolabel).

    `calibration` says where the threshold was measured (holdout or cross_validation) on how many
    items; `threshold` is None when no confidence met the target there, and then nothing is labeled.
    """

    labels: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict, repr=False)
    threshold: float | None = None
    calibration: str | None = None
    calibration_items: int = 0


def taken_ids(inputs: Inputs, state: CampaignState) -> set[str]:
    """Items no strategy may pick: labeled, already asked, or already labeled by the model."""
    return set(labeled_set(inputs, state)) | set(state.asked_ids) | set(state.auto_labeled())


def _held_out_proba(config: CampaignConfig, inputs: Inputs, trained: Trained):
    """(probabilities, true labels, probability columns' classes, source) on items the model did not fit."""
    if inputs.holdout is not None:
        X = data.model_input(inputs.holdout, config.pool, inputs.features)
        truth = inputs.holdout[config.holdout.label_column].astype(str).to_numpy()
        return trained.model.predict_proba(X), truth, trained.model.classes_, "holdout"
    untrained = models.build_model(config.model, seed=config.seed)
    result = models.cross_validated_proba(untrained, trained.X, trained.y, seed=config.seed)
    if result is None:
        return None
    return (*result, "cross_validation")


def auto_label(config: CampaignConfig, inputs: Inputs, state: CampaignState, trained: Trained) -> AutoLabels:
    """Label the unlabeled items the model is sure of, when `auto_label` is configured.

    The threshold is the lowest confidence at which held-out predictions (the holdout, or
    cross-validation without one) reach `target_accuracy` over at least `min_calibration_items`.
    """
    options = config.auto_label
    if options is None or not trained.fitted:
        return AutoLabels()
    held_out = _held_out_proba(config, inputs, trained)
    if held_out is None:
        return AutoLabels()
    proba, truth, classes, source = held_out
    threshold = autolabel.confidence_threshold(
        proba, truth, classes, target_accuracy=options.target_accuracy, min_items=options.min_calibration_items
    )
    if threshold is None:
        return AutoLabels(calibration=source, calibration_items=len(truth))
    skip, id_column = taken_ids(inputs, state), config.pool.id_column
    found = []
    for chunk in _pool_chunks(config, inputs):
        chunk = chunk[~chunk[id_column].isin(skip)]
        if len(chunk):
            X = data.model_input(chunk, config.pool, inputs.features)
            found.append(autolabel.auto_labels(trained.model, X, chunk[id_column].to_numpy(), threshold=threshold))
    ids, labels, confidence = (np.concatenate(parts) for parts in zip(*found, strict=True)) if found else ([], [], [])
    keep = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")[: options.max_per_round]
    return AutoLabels(
        {str(ids[i]): str(labels[i]) for i in keep},
        {str(ids[i]): float(confidence[i]) for i in keep},
        threshold,
        source,
        len(truth),
    )


# --- stopping and budget ------------------------------------------------------------------------


def budget_left(config: CampaignConfig, inputs: Inputs, state: CampaignState) -> int:
    """Labels that may still be asked for: the budget counts seed labels and every label asked."""
    return max(0, config.budget.max_labels - len(inputs.seed_labels) - state.labels_asked)


def unlabeled_left(inputs: Inputs, state: CampaignState, auto: AutoLabels) -> int:
    """Pool items not labeled, asked or auto-labeled yet (items outside the pool do not count)."""
    return inputs.pool_size - len((taken_ids(inputs, state) | set(auto.labels)) - state.outside_ids)


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
    config: CampaignConfig,
    inputs: Inputs,
    state: CampaignState,
    trained: Trained,
    *,
    k: int,
    skip: Collection[str] = (),
) -> pd.DataFrame:
    """The round's batch of k items, best first: id, score, predicted, origin, and the features of
    items not in the pool. `strategy.synthetic` of them are synthesized on the decision boundary
    (once the model is fitted), the rest are the pool items the strategy ranks highest among those
    not labeled, asked or auto-labeled (by the ledger, or by this round: `skip`).

    The pool is streamed in chunks; only the strategy's bounded candidate set is kept in memory.
    """
    rng = np.random.default_rng([config.seed, state.next_round])
    synthetic = _synthesize(config, trained, min(config.strategy.synthetic, k), rng, state.next_round)
    skip = taken_ids(inputs, state) | set(skip)
    id_column = config.pool.id_column

    def candidates() -> Iterator[tuple[np.ndarray, object]]:
        for chunk in _pool_chunks(config, inputs):
            chunk = chunk[~chunk[id_column].isin(skip)]
            yield chunk[id_column].to_numpy(), data.model_input(chunk, config.pool, inputs.features)

    options = config.strategy
    committee = None
    if options.committee:
        committee = [models.build_model(ModelConfig(estimator=path), seed=config.seed) for path in options.committee]
    chosen = selection.score_chunks(
        trained.model,
        candidates(),
        strategy=options.name,
        k=k - len(synthetic),
        rng=rng,
        X_labeled=trained.X,
        y_labeled=trained.y,
        oversample=options.oversample,
        class_balance=options.class_balance,
        committee=committee,
        committee_size=options.committee_size,
    ).assign(origin="pool")
    return pd.concat([synthetic, chosen], ignore_index=True) if len(synthetic) else chosen


def _synthesize(config: CampaignConfig, trained: Trained, n: int, rng, round_: int) -> pd.DataFrame:
    """`n` synthetic items (alflow.synthesis) as batch rows with their features; none at cold start."""
    if n == 0 or not trained.fitted:
        return pd.DataFrame()
    points, _ = synthesis.synthesize(trained.model, trained.X, trained.y, n, rng=rng)
    rows = synthesis.synthetic_batch(points, list(trained.X.columns), round_=round_).drop(columns="synthetic")
    proba = trained.model.predict_proba(rows[trained.X.columns])
    scores = margin(proba)
    order = np.argsort(-scores, kind="stable")
    head = pd.DataFrame(
        {
            "id": rows["id"],
            "score": scores,
            "predicted": _predicted(trained, proba),
            "origin": "synthetic",
        }
    )
    return pd.concat([head, rows.drop(columns="id")], axis=1).iloc[order].reset_index(drop=True)


def select_arrivals(
    config: CampaignConfig,
    inputs: Inputs,
    state: CampaignState,
    trained: Trained,
    decision: Decision,
    arrivals: str,
    names: list[str],
    *,
    target_rate: float,
) -> pd.DataFrame:
    """Stream-based selection: screen the arrived files in order, item by item, asking for the
    items whose margin is above a threshold that adapts to `target_rate` (alflow.stream), within
    the budget left. The batch carries the stream's state (`batch.attrs["stream"]`) for the record.
    """
    budget = 0 if decision.stop_reason else int(decision.progress["labels_remaining"]) + decision.batch_size
    previous = [r["stream"] for _, r in sorted(state.rounds.items()) if r.get("stream")]
    before = stream.StreamState(threshold=0.5, budget=0)
    if previous:
        last = previous[-1]
        before = stream.StreamState(threshold=last["threshold"], budget=0, seen=last["seen"], asked=last["asked"])
    current = replace(before, budget=before.asked + budget)
    skip, id_column, store = taken_ids(inputs, state), config.pool.id_column, open_store(arrivals)
    parts = []
    for name in names:
        text = [id_column] + ([config.pool.text_column] if config.pool.text_column else [])
        frame = pd.read_csv(io.BytesIO(store.read(name)), dtype=dict.fromkeys(text, str))
        frame = frame[~frame[id_column].isin(skip)].drop_duplicates(id_column)
        X = data.model_input(frame, config.pool, inputs.features)
        # at cold start nothing is fitted: every item is as uncertain as can be
        proba = trained.model.predict_proba(X) if trained.fitted else np.full((len(frame), 2), 0.5)
        ask, current = stream.decide(margin(proba), current, target_rate=target_rate)
        rows = frame[ask].rename(columns={id_column: "id"})
        head = pd.DataFrame(
            {
                "score": margin(proba[ask]),
                "predicted": _predicted(trained, proba[ask]),
                "origin": f"stream:{name}",
            },
            index=rows.index,
        )
        parts.append(pd.concat([rows[["id"]], head, rows.drop(columns="id")], axis=1))
        skip |= set(frame[id_column])
    batch = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "score", "predicted"])
    batch.attrs["stream"] = {
        "files": list(names),
        "threshold": current.threshold,
        "seen": current.seen,
        "asked": current.asked,
        "rate": current.rate,
        "target_rate": target_rate,
    }
    return batch


def _predicted(trained: Trained, proba: np.ndarray) -> np.ndarray:
    if not trained.fitted:
        return np.full(len(proba), "", dtype=object)
    return np.asarray(trained.model.classes_)[proba.argmax(axis=1)].astype(str)


def pending_arrivals(config: CampaignConfig, state: CampaignState, arrivals: str) -> list[str]:
    """CSV files under `arrivals` (a folder or s3:// prefix) that no round has screened yet, by name."""
    screened = {f for r in state.rounds.values() for f in (r.get("stream") or {}).get("files", [])}
    return sorted(k for k in open_store(arrivals).list("") if k.endswith(".csv") and k not in screened)


def commit_round(
    config: CampaignConfig,
    decision: Decision,
    trained: Trained,
    evaluation: Evaluation,
    batch: pd.DataFrame | None,
    tracking: dict,
) -> dict:
    """Commit the round's decision to the ledger, once; returns the record.

    Files the record names (auto-labels, items not in the pool) are written just before it.
    Raises RoundConflictError if another run committed this round first.
    """
    store, round_ = bucket(config), decision.round
    record = {
        "round": round_,
        "labels_used": decision.labels_used,
        "class_counts": trained.class_counts,
        "metrics": evaluation.metrics,
        "metric_source": evaluation.source,
        "strategy": config.strategy.name,
        "model": models.model_name(trained.model),
        "stop_reason": decision.stop_reason,
        "batch": None,
        "tracking": tracking,
    }
    if batch is not None and len(batch):
        record["batch"] = {
            "ids": batch["id"].tolist(),
            "scores": [float(s) for s in batch["score"]],
            "predicted": batch["predicted"].tolist(),
        }
        outside = batch[batch["origin"] != "pool"] if "origin" in batch else batch.iloc[:0]
        if len(outside):
            rows = outside.drop(columns=["score", "predicted", "origin"]).dropna(axis=1, how="all")
            payload = rows.rename(columns={"id": config.pool.id_column}).to_csv(index=False).encode()
            key = ledger.write_attachment(store, config.campaign, round_, "items", ".csv", payload)
            record["batch"]["outside"] = {"key": key, "ids": outside["id"].tolist()}
    if "stream" in getattr(batch, "attrs", {}):
        record["stream"] = batch.attrs["stream"]
    auto = decision.auto_labels
    if config.auto_label is not None:
        record["auto_labels"] = {
            "count": len(auto.labels),
            "threshold": auto.threshold,
            "calibration": auto.calibration,
            "calibration_items": auto.calibration_items,
            "target_accuracy": config.auto_label.target_accuracy,
        }
        if auto.labels:
            payload = ledger.json_bytes({"labels": auto.labels, "confidence": auto.confidence})
            record["auto_labels"]["key"] = ledger.write_attachment(
                store, config.campaign, round_, "autolabels", ".json", payload
            )
    ledger.record_round(store, config.campaign, record)
    return record


def export_batch(config: CampaignConfig, inputs: Inputs, record: dict) -> str | None:
    """Materialise a committed round's batch for the vendor; returns where, or None if no batch."""
    batch = record.get("batch")
    if not batch:
        return None
    ledger.crash_point("export:before")
    rows = pool_rows(config, inputs, batch["ids"], [record]).rename(columns={config.pool.id_column: vendors.ID})
    items = pd.concat([pd.DataFrame({"score": batch["scores"], "predicted": batch["predicted"]}), rows], axis=1)[
        [vendors.ID, "score", "predicted", *[c for c in rows.columns if c != vendors.ID]]
    ]
    fmt = config.vendor.format
    name, payload = vendors.batch_file(items, fmt, model_version=record["model"], text_column=config.pool.text_column)
    metadata = {
        "campaign": config.campaign,
        "round": record["round"],
        "count": len(batch["ids"]),
        "synthetic": sum(i.startswith(synthesis.PREFIX) for i in batch.get("outside", {}).get("ids", [])),
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
    """What this round does after training: stop, or ask for `batch_size` labels; and which
    items the model labels itself (`auto_labels`, empty unless auto-labeling is configured)."""

    round: int
    labels_used: int
    stop_reason: str | None
    batch_size: int
    promote: bool  # the metric beat every earlier round: move the champion alias
    progress: dict[str, float] = field(default_factory=dict)
    auto_labels: AutoLabels = field(default_factory=AutoLabels)


def _budget_progress(config: CampaignConfig, asked_before: int, budget: int, batch_size: int) -> dict[str, float]:
    asked = asked_before + batch_size
    progress: dict[str, float] = {
        "labels_asked": asked,
        "labels_remaining": budget - batch_size,
        "batch_size": batch_size,
    }
    if config.budget.cost_per_label is not None:
        progress["spend"] = asked * config.budget.cost_per_label
        progress["spend_remaining"] = (budget - batch_size) * config.budget.cost_per_label
    return progress


def decide(
    config: CampaignConfig,
    inputs: Inputs,
    state: CampaignState,
    evaluation: Evaluation,
    auto: AutoLabels = AutoLabels(),
) -> Decision:
    """Apply the stopping rules and the budget to a trained round."""
    labels = labeled_set(inputs, state)
    budget = budget_left(config, inputs, state)
    unlabeled = unlabeled_left(inputs, state, auto)
    stop = stop_reason(config, state, evaluation.metrics, budget=budget, unlabeled=unlabeled)
    batch_size = 0 if stop else min(config.strategy.batch_size, budget, unlabeled)
    metric = config.stopping.metric
    earlier = [r["metrics"].get(metric, math.nan) for r in state.rounds.values()]
    earlier = [m for m in earlier if not math.isnan(m)]
    current = evaluation.metrics.get(metric, math.nan)
    promote = not math.isnan(current) and (not earlier or current > max(earlier))
    progress: dict[str, float] = {
        "labels_used": len(labels),
        **_budget_progress(config, state.labels_asked, budget, batch_size),
    }
    if config.auto_label is not None:
        progress["auto_labeled"] = len(state.auto_labeled()) + len(auto.labels)
        progress["auto_labeled_round"] = len(auto.labels)
        if auto.threshold is not None:
            progress["auto_label_threshold"] = auto.threshold
    progress.update({f"labels_class_{c}": n for c, n in class_counts(config, labels).items()})
    return Decision(state.next_round, len(labels), stop, batch_size, promote, progress, auto)


def settle(config: CampaignConfig, decision: Decision, batch: pd.DataFrame | None) -> Decision:
    """The decision with the budget figures of the batch actually chosen, which may be smaller
    than `batch_size` (a stream asks only for the items it finds uncertain)."""
    chosen = 0 if batch is None else len(batch)
    if chosen == decision.batch_size:
        return decision
    asked_before = int(decision.progress["labels_asked"]) - decision.batch_size
    budget = int(decision.progress["labels_remaining"]) + decision.batch_size
    progress = {**decision.progress, **_budget_progress(config, asked_before, budget, chosen)}
    return replace(decision, batch_size=chosen, progress=progress)


def class_counts(config: CampaignConfig, labels: dict[str, str]) -> dict[str, int]:
    """Labels per class of the class set (zero for a class not labeled yet)."""
    values = list(labels.values())
    return {c: values.count(c) for c in config.classes}


@dataclass(frozen=True)
class RoundReport:
    """What a round did, for people (`message`) and scripts (the fields)."""

    campaign: str
    status: str  # exported | stopped | waiting | already_stopped | no_arrivals
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
    auto_labeled: int = 0  # items the model labeled itself this round (auto_label), not in labels_used
    auto_threshold: float | None = None

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
        auto = ""
        if self.auto_labeled:
            auto = f"; auto-labeled {self.auto_labeled} items (confidence >= {self.auto_threshold:.3f})"
        return self._message() + auto + self.ingest_message()

    def _message(self) -> str:
        if self.status == "already_stopped":
            return f"{self.campaign}: campaign stopped ({self.stop_reason}); nothing to do"
        if self.status == "no_arrivals":
            return f"{self.campaign}: no new files have arrived; nothing to screen"
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


def idle_report(
    config: CampaignConfig, state: CampaignState, resumed: list[str], *, arrivals: list[str] | None = None
) -> RoundReport | None:
    """The report of a round with nothing to do (stopped, waiting for the vendor, or a stream
    round with no new file in `arrivals`), else None.

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
    if arrivals is not None and not arrivals:
        return RoundReport(config.campaign, "no_arrivals", **_ingest_fields(state))
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
        auto_labeled=(record.get("auto_labels") or {}).get("count", 0),
        auto_threshold=(record.get("auto_labels") or {}).get("threshold"),
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
                "auto_labeled": (record.get("auto_labels") or {}).get("count"),
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
