"""MLflow: the one module that imports it.

One experiment per campaign, one parent run (tag alflow.kind=campaign) and one nested run per
round (alflow.kind=round, alflow.round=N). Runs are found by tag and opened by id
(`start_run(run_id=...)`), never taken from whatever run is active in the thread (MLflow's active
run is thread-local), so a round in a new process or on another worker attaches to the same
parent, and a re-run of a round reuses its run instead of making a stray one.
"""

from __future__ import annotations

import math
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

CAMPAIGN, ROUND = "campaign", "round"


def _client(uri: str):
    import mlflow
    from mlflow import MlflowClient

    # mlflow.sklearn.log_model only logs to the fluent API's store: point it at this campaign's.
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps models and files: beside a SQLite store, else the server's choice.

    MLflow's own default for a SQLite store is `./mlruns` under whatever folder the process runs
    in, which scatters a campaign's models and breaks `mlflow ui` started elsewhere.
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        return (Path(uri.removeprefix(prefix)).parent / "mlartifacts").resolve().as_uri()
    return None


def _experiment_id(client, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location(uri))


def _find_run(client, experiment_id: str, filters: dict[str, str]) -> str | None:
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in filters.items())
    runs = client.search_runs(
        [experiment_id], filter_string=query, max_results=1, order_by=["attributes.start_time ASC"]
    )
    return runs[0].info.run_id if runs else None


def campaign_run(uri: str, *, experiment: str, campaign: str, params: dict[str, Any]) -> str:
    """The campaign's parent run id, created with its params on first use."""
    client = _client(uri)
    experiment_id = _experiment_id(client, experiment, uri)
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


def _register(client, name: str, info, run_id: str, tags: dict[str, str]) -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"alflow.kind": CAMPAIGN})
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
) -> dict[str, str]:
    """Log one round and register its model; returns run_id and model_version.

    `metrics` are the model's scores (NaN ones are skipped); `progress` the budget figures.
    Both go to the round run and, as curves, to the parent: step = round, and for the scores
    also `<name>_vs_labels` with step = labels used. `promote` moves the `champion` alias.
    """
    import mlflow
    from mlflow.models import infer_signature

    client = _client(uri)
    parent = client.get_run(parent_run_id)
    experiment_id = parent.info.experiment_id
    tags = {
        "alflow.kind": ROUND,
        "alflow.campaign": parent.data.tags.get("alflow.campaign", ""),
        "alflow.round": str(round_),
    }
    run_id = _find_run(client, experiment_id, {**tags, "mlflow.parentRunId": parent_run_id})
    if run_id is None:
        run_id = client.create_run(
            experiment_id, run_name=f"round-{round_:04d}", tags={**tags, "mlflow.parentRunId": parent_run_id}
        ).info.run_id

    labels_used = int(progress["labels_used"])
    scores = {k: v for k, v in metrics.items() if not math.isnan(v)}
    with mlflow.start_run(run_id=run_id):
        mlflow.log_params(params)
        mlflow.log_metrics({**scores, **progress}, step=round_)
        if stop_reason:
            mlflow.set_tag("stop_reason", stop_reason)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X_example, model.predict(X_example)),
            input_example=X_example,
            pip_requirements=_requirements(),
        )
    for key, value in {**scores, **progress}.items():
        client.log_metric(parent_run_id, key, value, step=round_)
    for key, value in scores.items():
        client.log_metric(parent_run_id, f"{key}_vs_labels", value, step=labels_used)

    model_version = _register(client, registered_model, info, run_id, model_tags)
    client.set_registered_model_alias(registered_model, "challenger", model_version)
    if promote:
        client.set_registered_model_alias(registered_model, "champion", model_version)
    if stop_reason:
        client.set_tag(parent_run_id, "stop_reason", stop_reason)
        client.set_terminated(parent_run_id, "FINISHED")
    return {"run_id": run_id, "parent_run_id": parent_run_id, "model_version": model_version}


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
        "classes": ",".join(config.classes),
        "seed": config.seed,
    }
    if config.budget.cost_per_label is not None:
        params["cost_per_label"] = f"{config.budget.cost_per_label} {config.budget.currency}"
    return params


def log_campaign_round(config, decision, trained, evaluation) -> dict[str, str]:
    """Log a trained round of `config`'s campaign (see `log_round`)."""
    params = campaign_params(config)
    parent = campaign_run(config.tracking.uri, experiment=config.experiment, campaign=config.campaign, params=params)
    example = trained.X.head(5)
    return log_round(
        config.tracking.uri,
        parent_run_id=parent,
        round_=decision.round,
        model=trained.model,
        X_example=example,
        metrics=evaluation.metrics,
        progress=decision.progress,
        params={**params, "metric_source": evaluation.source},
        registered_model=config.campaign,
        model_tags={
            "alflow.round": str(decision.round),
            "labels_used": str(decision.labels_used),
            "strategy": config.strategy.name,
        },
        promote=decision.promote,
        stop_reason=decision.stop_reason,
    )


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
    experiment_id = _experiment_id(client, experiment, uri)
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
