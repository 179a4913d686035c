"""The stages of a round, as plain functions over a campaign config.

Each Prefect task in `tasks/` calls one of these; a notebook can call them directly. None of them
imports Prefect or MLflow.
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from alflow import autolabel, data, ingest, ledger, models, selection, stream, synthesis, validation, vendors
from alflow.config import CampaignConfig, ModelConfig
from alflow.errors import ConfigError, DataValidationError
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


def write_off(config: CampaignConfig, round_: int, ids: list[str] | None, *, reason: str) -> list[str]:
    """Stop waiting for items of round `round_`'s batch that the vendor cannot label (all its
    outstanding items when `ids` is None); returns the ids written off.

    The items stay counted as asked (the budget spent on them is not returned) and a label the
    vendor delivers later is still accepted. Raises ConfigError for ids that are not outstanding.
    """
    state = load_state(config)
    if round_ not in state.rounds:
        raise ConfigError(f"campaign {config.campaign!r} has no round {round_}: see `alflow status`")
    outstanding = state.missing(round_)
    chosen = outstanding if ids is None else list(dict.fromkeys(ids))
    unknown = [i for i in chosen if i not in outstanding]
    if unknown:
        raise ConfigError(
            f"round {round_} is not waiting for {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}: "
            f"only items of its batch without a label can be written off ({len(outstanding)} are)"
        )
    if chosen:
        record = {"round": round_, "ids": chosen, "reason": reason, "written_at": ledger.now()}
        ledger.write_attachment(bucket(config), config.campaign, round_, "writeoff", ".json", ledger.json_bytes(record))
    return chosen


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


def _text_columns(config: CampaignConfig) -> list[str]:
    """The columns read as text wherever items are read: the id, and the text of text models."""
    return [config.pool.id_column] + ([config.pool.text_column] if config.pool.text_column else [])


def _read_items(config: CampaignConfig, payload: bytes) -> pd.DataFrame:
    """Items from a CSV file outside the pool (an item file in the ledger, an arrival)."""
    return pd.read_csv(io.BytesIO(payload), dtype=dict.fromkeys(_text_columns(config), str))


def _pool_chunks(config: CampaignConfig, inputs: Inputs) -> Iterator[pd.DataFrame]:
    pool = config.pool
    columns = [pool.id_column, *(c for c in inputs.features if c != pool.id_column)]
    with data.local_file(pool.uri) as path:
        yield from data.iter_chunks(
            path, columns=columns, text_columns=_text_columns(config), chunk_size=pool.chunk_size
        )


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
    id_column, store = config.pool.id_column, bucket(config)
    found = []
    for record in records:
        outside = (record.get("batch") or {}).get("outside")
        if outside and wanted & set(outside["ids"]):
            frame = _read_items(config, store.read(outside["key"]))
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
    config: CampaignConfig, state: CampaignState, metrics: dict[str, float], *, budget: int, unlabeled: int | None
) -> str | None:
    """Why the campaign stops after this round, or None. Rules in order of precedence;
    `unlabeled` is None for a stream round, whose items come from arrivals, not the pool."""
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
    skip = taken_ids(inputs, state) | set(decision.auto_labels.labels)
    id_column, store = config.pool.id_column, open_store(arrivals)
    parts = []
    for name in names:
        frame = _read_items(config, store.read(name))
        frame = frame[~frame[id_column].isin(skip)]
        if frame.empty:  # every item of the file is labeled or asked already
            continue
        X = data.model_input(frame, config.pool, inputs.features)
        # at cold start nothing is fitted: every item is as uncertain as can be
        proba = trained.model.predict_proba(X) if trained.fitted else np.full((len(frame), 2), 0.5)
        scores = margin(proba)
        ask, current = stream.decide(scores, current, target_rate=target_rate)
        rows = frame[ask].rename(columns={id_column: "id"})
        head = pd.DataFrame(
            {
                "score": scores[ask],
                "predicted": _predicted(trained, proba[ask]),
                "origin": f"stream:{name}",
            },
            index=rows.index,
        )
        parts.append(pd.concat([rows[["id"]], head, rows.drop(columns="id")], axis=1))
        skip |= set(frame[id_column])
    batch = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "score", "predicted"])
    # an arrival that is also a pool item stays a pool item: its features are the pool's
    if len(batch):
        batch.loc[batch["id"].isin(_pool_members(config, inputs, set(batch["id"]))), "origin"] = "pool"
    batch.attrs["stream"] = {
        "files": list(names),
        "threshold": current.threshold,
        "seen": current.seen,
        "asked": current.asked,
        "rate": current.rate,
        "target_rate": target_rate,
    }
    return batch


def _pool_members(config: CampaignConfig, inputs: Inputs, ids: set[str]) -> set[str]:
    """Those of `ids` that are pool items (one streamed pass over the id column)."""
    if not ids:
        return set()
    id_column = config.pool.id_column
    found: set[str] = set()
    with data.local_file(config.pool.uri) as path:
        for chunk in data.iter_chunks(
            path, columns=[id_column], text_columns=[id_column], chunk_size=config.pool.chunk_size
        ):
            found |= ids & set(chunk[id_column])
    return found


def _predicted(trained: Trained, proba: np.ndarray) -> np.ndarray:
    if not trained.fitted:
        return np.full(len(proba), "", dtype=object)
    return np.asarray(trained.model.classes_)[proba.argmax(axis=1)].astype(str)


def pending_arrivals(config: CampaignConfig, inputs: Inputs, state: CampaignState, arrivals: str) -> list[str]:
    """CSV files under `arrivals` (a folder or s3:// prefix) that no round has screened yet, by
    name. Raises DataValidationError, before the round is claimed, for a file without the pool's
    id and feature columns or with duplicate ids."""
    if not arrivals.startswith("s3://") and not Path(arrivals).is_dir():
        raise ConfigError(f"--arrivals {arrivals} is not a folder: give the folder (or s3:// prefix) new files land in")
    screened = {f for r in state.rounds.values() for f in (r.get("stream") or {}).get("files", [])}
    store = open_store(arrivals)
    names = sorted(k for k in store.list("") if k.endswith(".csv") and k not in screened)
    id_column = config.pool.id_column
    for name in names:
        source = f"{arrivals.rstrip('/')}/{name}"
        try:
            frame = _read_items(config, store.read(name))
        except (ValueError, UnicodeDecodeError) as error:  # pandas' EmptyDataError and ParserError included
            raise DataValidationError(f"{source} is not a readable CSV file ({error}); fix or remove it") from None
        ids = frame[id_column] if id_column in frame else pd.Series(dtype=str)
        validation.check_pool(list(frame.columns), ids, id_column=id_column, features=inputs.features, source=source)
        if not config.pool.text_column:
            values = frame[[c for c in inputs.features if c != id_column]].apply(pd.to_numeric, errors="coerce")
            bad = values.columns[values.isna().any()].tolist()
            if bad:
                raise DataValidationError(
                    f"{source}: feature column(s) {', '.join(map(repr, bad[:5]))} have empty or non-numeric "
                    "values; fix or remove the file (it has not been screened)"
                )
    return names


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
        "strategy": "stream" if "stream" in getattr(batch, "attrs", {}) else config.strategy.name,
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
    *,
    pool_based: bool = True,
) -> Decision:
    """Apply the stopping rules and the budget to a trained round (`pool_based` False: a stream
    round, which the pool running out does not stop)."""
    labels = labeled_set(inputs, state)
    budget = budget_left(config, inputs, state)
    unlabeled = unlabeled_left(inputs, state, auto) if pool_based else None
    stop = stop_reason(config, state, evaluation.metrics, budget=budget, unlabeled=unlabeled)
    batch_size = 0 if stop else min(config.strategy.batch_size, budget, budget if unlabeled is None else unlabeled)
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
