"""MLflow: the one module that imports it.

One experiment per campaign, one parent run (tag alflow.kind=campaign) and one nested run per
round (alflow.kind=round, alflow.round=N). Runs are found by tag and opened by id
(`start_run(run_id=...)`), never taken from whatever run is active in the thread (MLflow's active
run is thread-local), so a round in a new process or on another worker attaches to the same
parent, and a re-run of a round reuses its run instead of making a stray one.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

CAMPAIGN, ROUND = "campaign", "round"


def _client(uri: str):
    import mlflow
    from mlflow import MlflowClient

    # mlflow.sklearn.log_model only logs to the fluent API's store: point it at this campaign's.
    mlflow.set_tracking_uri(uri)
    # The registry is named too: a registry URI set elsewhere in the process (or in the
    # environment) must not send this campaign's model versions to another store.
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


# Tells the MLflow UI this is model training (runs, charts), not a GenAI app (traces, judges).
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite file, so one campaign folder holds
    everything (MLflow's default is ./mlruns in whatever folder the round ran from); a server decides."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts" / experiment).as_uri()


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = artifact_location(client.tracking_uri, name)
        return client.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})
    if KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
    return experiment.experiment_id


def _find_run(client, experiment_id: str, filters: dict[str, str]) -> str | None:
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in filters.items())
    runs = client.search_runs(
        [experiment_id], filter_string=query, max_results=1, order_by=["attributes.start_time ASC"]
    )
    return runs[0].info.run_id if runs else None


def campaign_run(uri: str, *, experiment: str, campaign: str, params: dict[str, Any]) -> str:
    """The campaign's parent run id, created with its params on first use."""
    client = _client(uri)
    experiment_id = _experiment_id(client, experiment)
    tags = {"alflow.kind": CAMPAIGN, "alflow.campaign": campaign}
    run_id = _find_run(client, experiment_id, tags)
    if run_id is None:
        run = client.create_run(experiment_id, run_name=campaign, tags=tags)
        run_id = run.info.run_id
        for key, value in params.items():
            client.log_param(run_id, key, value)
    return run_id


def _requirements() -> list[str]:
    # Given explicitly: letting MLflow infer them runs a subprocess and costs seconds per round.
    pins = []
    for package in ("scikit-learn", "numpy", "scipy", "pandas", "cloudpickle"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def run_url(uri: str, experiment_id: str, run_id: str) -> str:
    """Where the run opens in the MLflow UI: the server's own URL, or a local `mlflow ui`'s."""
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def _round_run(client, parent_run_id: str, round_: int) -> tuple[str, str, bool]:
    """(experiment id, run id, whether the run is new) of round `round_` under the parent."""
    parent = client.get_run(parent_run_id)
    experiment_id = parent.info.experiment_id
    tags = {
        "alflow.kind": ROUND,
        "alflow.campaign": parent.data.tags.get("alflow.campaign", ""),
        "alflow.round": str(round_),
        "mlflow.parentRunId": parent_run_id,
    }
    run_id = _find_run(client, experiment_id, tags)
    if run_id is not None:
        return experiment_id, run_id, False
    return experiment_id, client.create_run(experiment_id, run_name=f"round-{round_:04d}", tags=tags).info.run_id, True


def _curves(values: dict[str, float], *, round_: int, labels_used: int) -> list:
    """Each dashboard figure twice: `name` with step = round, `name_vs_labels` with step = labels used."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for key, value in values.items():
        metrics.append(Metric(key, float(value), now, round_))
        metrics.append(Metric(f"{key}_vs_labels", float(value), now, labels_used))
    return metrics


def _register(client, name: str, info, run_id: str, tags: dict[str, str]) -> str:
    """The model version of `run_id`: the one already registered (a re-run round), or a new one."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"alflow.kind": CAMPAIGN})
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        return str(min(int(v.version) for v in existing))
    version = client.create_model_version(name, info.model_uri, run_id=run_id, tags=tags, model_id=info.model_id)
    return str(version.version)


def log_round(
    uri: str,
    *,
    parent_run_id: str,
    round_: int,
    model: Any,
    X_example: Any,
    metrics: dict[str, float],
    progress: dict[str, float],
    params: dict[str, Any],
    registered_model: str,
    model_tags: dict[str, str],
    promote: bool,
    stop_reason: str | None,
    artifacts: str | None = None,
    tables: tuple[str, ...] = (),
    dataset: tuple[Any, str, str] | None = None,
) -> dict[str, str]:
    """Log one round and register its model; returns run ids, model version and the run's URL.

    `metrics` are the model's scores (NaN ones are skipped); `progress` the budget and vendor
    figures. Both go to the round run (step = round) and, as curves, to the parent (see `_curves`).
    `artifacts` is a local folder uploaded as the round run's artifacts in one call, `tables` the
    paths in it that are MLflow tables (JSON, pandas "split" orient); `dataset` is (frame, source,
    name), logged as the run's training input. `promote` moves the `champion` alias. `model` is
    None at cold start: nothing is logged or registered and model_version is None.
    Re-running a round reuses its run, its model version and its curve points.
    """
    import mlflow
    from mlflow.entities import Metric
    from mlflow.models import infer_signature

    client = _client(uri)
    experiment_id, run_id, new = _round_run(client, parent_run_id, round_)
    labels_used = int(progress["labels_used"])
    scores = {k: v for k, v in metrics.items() if not math.isnan(v)}
    with mlflow.start_run(run_id=run_id, log_system_metrics=False):
        # log_model and log_input need the fluent run; it lives only inside this block.
        mlflow.log_params(params)
        if dataset is not None:
            frame, source, name = dataset
            with warnings.catch_warnings():  # MLflow registers two equal sources for local paths and says so
                warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
                labeled = mlflow.data.from_pandas(frame, source=source, targets="label", name=name)
            mlflow.log_input(labeled, "training")
        info = None
        if model is not None:  # None at cold start: nothing fitted, nothing to register
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(X_example, model.predict(X_example)),
                input_example=X_example,
                pip_requirements=_requirements(),
            )
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, round_) for k, v in {**scores, **progress}.items()])
    if stop_reason:
        client.set_tag(run_id, "stop_reason", stop_reason)
    if artifacts:
        client.log_artifacts(run_id, artifacts)
    if tables:
        client.set_tag(run_id, "mlflow.loggedArtifacts", json.dumps([{"path": t, "type": "table"} for t in tables]))
    if new or all(m.step != round_ for m in client.get_metric_history(parent_run_id, "labels_used")):
        client.log_batch(parent_run_id, metrics=_curves({**scores, **progress}, round_=round_, labels_used=labels_used))

    model_version = None
    if info is not None:
        model_version = _register(client, registered_model, info, run_id, model_tags)
        client.set_registered_model_alias(registered_model, "challenger", model_version)
        if promote:
            client.set_registered_model_alias(registered_model, "champion", model_version)
    if stop_reason:
        client.set_tag(parent_run_id, "stop_reason", stop_reason)
        client.set_terminated(parent_run_id, "FINISHED")
    return {
        "run_id": run_id,
        "parent_run_id": parent_run_id,
        "experiment_id": experiment_id,
        "model_version": model_version,
        "run_url": run_url(uri, experiment_id, run_id),
    }


def campaign_params(config) -> dict[str, Any]:
    """The campaign's settings as MLflow params (no URIs with credentials, no secrets)."""
    params = {
        "strategy": config.strategy.name,
        "batch_size": config.strategy.batch_size,
        "model": config.model.preset or config.model.estimator,
        "max_labels": config.budget.max_labels,
        "stop_metric": config.stopping.metric,
        "stop_target": config.stopping.target,
        "stop_patience": config.stopping.patience,
        "stop_min_delta": config.stopping.min_delta,
        "classes": ",".join(config.classes),
        "seed": config.seed,
    }
    if config.budget.cost_per_label is not None:
        params["cost_per_label"] = f"{config.budget.cost_per_label} {config.budget.currency}"
    return params


def round_figures(config, view, trained) -> dict[str, Any]:
    """The round run's plots, by artifact name (see alflow.plots)."""
    from alflow import plots

    history = view.history
    metric = config.stopping.metric
    figures = {
        "plots/learning_curve.png": plots.learning_curve(
            history["labels_used"].tolist(),
            history[metric].tolist() if metric in history else [],
            metric=metric,
            reference=view.reference,
            target=config.stopping.target,
        ),
        "plots/class_balance.png": plots.class_balance(trained.class_counts),
    }
    # The burn-down starts at round 0 with everything the seed labels left of the budget.
    budget = config.budget.max_labels - int((view.labeled["origin"] == "seed").sum())
    rounds = [0, *history["round"].tolist()]
    if "spend_remaining" in history:
        cost = config.budget.cost_per_label
        remaining, budget, unit = history["spend_remaining"].tolist(), budget * cost, config.budget.currency
    else:
        remaining, unit = history["labels_remaining"].tolist(), "labels"
    figures["plots/budget_burndown.png"] = plots.budget_burndown(rounds, [budget, *remaining], budget=budget, unit=unit)
    if view.confusion is not None:
        figures["plots/confusion_matrix.png"] = plots.confusion_matrix(
            view.confusion.to_numpy(), list(view.confusion.columns)
        )
    return figures


def write_round_artifacts(config, view, trained, folder: Path) -> tuple[str, ...]:
    """Write the round run's artifacts under `folder`; returns the paths that are tables.

    tables/query_batch.json, tables/labeled_set.json, tables/auto_labels.json (MLflow tables),
    plots/*.png (alflow.plots), validation/labeled_set.json (the GX result) and
    validation/data_docs/ (its rendered Data Docs).
    """
    from alflow import validation

    tables = {"tables/labeled_set.json": view.labeled}
    if view.batch is not None:
        tables["tables/query_batch.json"] = view.batch[["id", "score", "predicted"]]
    if view.auto_labels is not None:
        tables["tables/auto_labels.json"] = view.auto_labels
    for name, frame in tables.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_json(folder / name, orient="split", index=False)
    (folder / "plots").mkdir()
    for name, figure in round_figures(config, view, trained).items():
        figure.savefig(folder / name)
    docs = folder / "validation" / "data_docs"
    docs.mkdir(parents=True)
    report = validation.document_labels(
        view.labeled, id_column="id", label_column="label", classes=config.classes, folder=str(docs)
    )
    (folder / "validation" / "labeled_set.json").write_text(json.dumps(report, indent=2, default=str))
    return tuple(sorted(tables))


def log_campaign_round(config, view, decision, trained, evaluation) -> dict[str, str]:
    """Log a trained round of `config`'s campaign: curves, model, tables, plots, validation (see `log_round`)."""
    params = campaign_params(config)
    parent = campaign_run(config.tracking.uri, experiment=config.experiment, campaign=config.campaign, params=params)
    example = trained.X.head(5)
    with tempfile.TemporaryDirectory(prefix="alflow-round-") as staging:
        tables = write_round_artifacts(config, view, trained, Path(staging))
        return log_round(
            config.tracking.uri,
            parent_run_id=parent,
            round_=decision.round,
            model=trained.model if trained.fitted else None,
            X_example=example,
            metrics=evaluation.metrics,
            progress={**decision.progress, **view.vendor},
            params={**params, "metric_source": evaluation.source},
            registered_model=config.campaign,
            model_tags={
                "alflow.round": str(decision.round),
                "labels_used": str(decision.labels_used),
                "strategy": config.strategy.name,
            },
            promote=decision.promote,
            stop_reason=decision.stop_reason,
            artifacts=staging,
            tables=tables,
            dataset=(
                view.labeled,
                f"{config.vendor.bucket}/{config.campaign}/ledger",
                f"labeled-set-round-{decision.round:04d}",
            ),
        )


def round_markdown(config, record: dict) -> str:
    """A Prefect artifact's text: the round's result, its model version and a link to its MLflow run."""
    tracked = record.get("tracking") or {}
    scores = ", ".join(f"{k} **{v:.3f}**" for k, v in record["metrics"].items() if not math.isnan(v))
    batch = record.get("batch") or {}
    lines = [
        f"# {config.campaign}: round {record['round']}",
        "",
        f"- labels used: **{record['labels_used']}** of {config.budget.max_labels}",
        f"- holdout metrics: {scores or 'none yet'} ({record['metric_source']})",
        f"- strategy: {record['strategy']}; next batch: {len(batch.get('ids', []))} items",
        f"- model: `models:/{config.campaign}/{tracked.get('model_version', '?')}` "
        f"(aliases: `models:/{config.campaign}@champion`, `@challenger`)",
    ]
    if record.get("stop_reason"):
        lines.append(f"- campaign stopped: **{record['stop_reason']}**")
    if tracked.get("run_url"):
        lines.append(f"- MLflow run: [{tracked['run_id']}]({tracked['run_url']})")
        if not config.tracking.uri.startswith(("http://", "https://")):
            lines.append(f"  (open it with `mlflow ui --backend-store-uri {config.tracking.uri}`)")
    return "\n".join(lines) + "\n"


def log_simulation(
    uri: str,
    *,
    experiment: str,
    campaign: str,
    params: dict[str, Any],
    curves: dict[str, list[tuple[int, float]]],
    table: list[dict],
    recommended: str,
    artifacts: str,
) -> str:
    """Log a strategy simulation as one run (alflow.kind=simulation); returns its run id.

    Each strategy's curve becomes the metric `<metric>_<strategy>` with step = labels used; each
    table row's figures become `<figure>_<strategy>`; the folder `artifacts` (curves JSON, plot,
    table) is attached.
    """
    client = _client(uri)
    experiment_id = _experiment_id(client, experiment)
    tags = {"alflow.kind": "simulation", "alflow.campaign": campaign, "alflow.recommended": recommended}
    run_id = client.create_run(experiment_id, run_name=f"{campaign}-simulation", tags=tags).info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    metric = params.get("metric", "score")
    for strategy, curve in curves.items():
        for labels, score in curve:
            client.log_metric(run_id, f"{metric}_{strategy}", score, step=int(labels))
    for row in table:
        for key, value in row.items():
            if key != "strategy" and isinstance(value, int | float) and not math.isnan(value):
                client.log_metric(run_id, f"{key}_{row['strategy']}", float(value))
    client.log_artifacts(run_id, artifacts, artifact_path="simulation")
    client.set_terminated(run_id, "FINISHED")
    return run_id
