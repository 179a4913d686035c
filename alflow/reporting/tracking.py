"""MLflow: the one module that imports it.

One experiment per campaign, one parent run (tag alflow.kind=campaign) and one nested run per
round (alflow.kind=round, alflow.round=N). Runs are found by tag and written by id through a client
named with the campaign's tracking (and registry) URI, never through MLflow's fluent API: no
process-wide tracking URI is set and no run is taken from whatever is active in the thread, so a
round in a new process or on another worker attaches to the same parent, a re-run of a round
reuses its run instead of making a stray one, and a notebook's own MLflow settings stay as they were.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from alflow.ledger.records import Tracking
from alflow.reporting import dashboard
from alflow.reporting.dashboard import DESCRIPTION_TAG, KIND, KIND_TAG, NAMES_TAG, NAMES_VERSION, VIEW_TAG

CAMPAIGN, ROUND = "campaign", "round"


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    # Both URIs named on the client, none set process-wide: a tracking or registry URI set
    # elsewhere in the process (or in the environment) neither moves nor is moved by a campaign.
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: Any, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = dashboard.artifact_location(client.tracking_uri, name)
        return client.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})
    if KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
    return experiment.experiment_id


def _find_run(client: Any, experiment_id: str, filters: dict[str, str]) -> str | None:
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
    if run_id is None:  # a new campaign logs the grouped names from the start: nothing to migrate
        run = client.create_run(experiment_id, run_name=campaign, tags={**tags, NAMES_TAG: NAMES_VERSION})
        run_id = run.info.run_id
        if params:
            from mlflow.entities import Param

            client.log_batch(run_id, params=[Param(key, str(value)) for key, value in params.items()])
    return run_id


def _requirements(extra: tuple[str, ...] = ()) -> list[str]:
    # Given explicitly: letting MLflow infer them runs a subprocess and costs seconds per round.
    packages = ("scikit-learn", "numpy", "scipy", "pandas", "cloudpickle", *extra)
    return [f"{package}=={found}" for package in packages if (found := _installed(package)) is not None]


@cache
def _installed(package: str) -> str | None:
    """The installed version of `package` without its local label (torch's +cpu), None if absent:
    read once per process (the modules a process has loaded do not change with a later install)."""
    try:
        return version(package).split("+")[0]
    except PackageNotFoundError:
        return None


@contextmanager
def _requirements_trusted() -> Iterator[None]:
    """Within: MLflow's check that this environment satisfies the model's requirements is skipped.

    The requirements are pinned from the installed versions (`_requirements`; MLflow adds its own
    version), so the check cannot find a mismatch, and it costs a scan of every installed
    distribution's files (about a second a process). Patched for the save only; a round saves one
    model at a time.
    """
    from unittest import mock

    import mlflow.utils.environment

    with mock.patch.object(mlflow.utils.environment, "warn_dependency_requirement_mismatches", lambda _: None):
        yield


def _round_run(client: Any, parent: Any, round_: int) -> tuple[str, str, bool]:
    """(experiment id, run id, whether the run is new) of round `round_` under the `parent` run."""
    parent_run_id = parent.info.run_id
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


def migrate_names(client: Any, parent_run_id: str, parent: Any = None) -> None:
    """Copy a campaign's metrics logged under alflow 0.1.0's names (`accuracy`, `labels_used`, ...)
    to the grouped names (`model/accuracy`, `budget/labels_used`, ...), on the campaign run and
    its round runs, once: the tag `alflow.metric_names` marks a campaign run as done. The old
    names stay (MLflow cannot delete a metric); the `_vs_labels` twins are not copied. `parent`: the
    campaign run as just read (not read again)."""
    from mlflow.entities import Metric

    parent = parent or client.get_run(parent_run_id)
    if parent.data.tags.get(NAMES_TAG) == NAMES_VERSION:
        return
    runs = [parent, *client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}'")]
    for run in runs:
        copies = []
        for key in run.data.metrics:
            name = dashboard.metric_name(key)
            if name is not None and name != key:
                copies += [
                    Metric(name, m.value, m.timestamp, m.step) for m in client.get_metric_history(run.info.run_id, key)
                ]
        for start in range(0, len(copies), 1000):  # MLflow takes at most 1000 metrics per batch
            client.log_batch(run.info.run_id, metrics=copies[start : start + 1000])
    client.set_tag(parent_run_id, NAMES_TAG, NAMES_VERSION)


def _register(
    client: Any, name: str, info: Any, run_id: str, tags: dict[str, str], *, new: bool, description: str | None = None
) -> tuple[str, bool]:
    """The model version of `run_id` and whether it is new: the one already registered (a re-run
    round, its `description` set again), or a new one created with it. A `new` round run has none
    yet: the registry is not searched."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        about = (
            f"The models of campaign {name}, one version per round. `@champion`: the best round so far "
            "by the stopping metric; `@challenger`: the latest round."
        )
        client.create_registered_model(name, tags={"alflow.kind": CAMPAIGN}, description=about)
    existing = [] if new else client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version = str(min(int(v.version) for v in existing))
        if description is not None:
            client.update_model_version(name, version, description=description)
        return version, False
    # The logged model's own location, not its `models:/` URI: MLflow's SQL registry resolves that
    # URI through the process-wide tracking URI, which alflow never sets.
    created = client.create_model_version(
        name, info.artifact_path, run_id=run_id, tags=tags, description=description, model_id=info.model_id
    )
    return str(created.version), True


def _link_to_campaign(
    client: Any, parent_run_id: str, name: str, version: str, round_: int, *, new_model: str | None = None
) -> None:
    """Show the round's registered version on the campaign run, as MLflow 3's run page expects: the
    page lists the versions of the logged models among the run's model outputs (each named in the
    logged model's `mlflow.modelVersions` tag, which a server sets on registration and a SQL store
    reached directly does not) besides those registered from the run itself. Idempotent: a re-run
    round links the logged model its version was registered from. `new_model`: the id of the logged
    model this version was just registered from (logged this round: not linked anywhere yet, so
    nothing is looked up)."""
    from mlflow.entities import LoggedModelOutput
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    if new_model is not None:
        client.set_logged_model_tags(
            new_model, {MLFLOW_MODEL_VERSIONS: json.dumps([{"name": name, "version": int(version)}])}
        )
        client.log_outputs(parent_run_id, models=[LoggedModelOutput(new_model, step=round_)])
        return
    # MLflow's SQL registry keeps no model id: the version's source is its logged model's location.
    registered = client.get_model_version(name, version)
    outputs = client.get_run(registered.run_id).outputs
    candidates = [client.get_logged_model(o.model_id) for o in (outputs.model_outputs if outputs else [])]
    model_id = next((m.model_id for m in candidates if m.artifact_location == registered.source), None)
    if model_id is None:  # a version registered before MLflow 3's logged models: nothing to link
        return
    linked = client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS)
    versions = json.loads(linked) if linked else []
    if not any(v.get("name") == name and str(v.get("version")) == str(version) for v in versions):
        versions.append({"name": name, "version": int(version)})  # as the server writes it
        client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(versions)})
    linked_outputs = client.get_run(parent_run_id).outputs
    if all(o.model_id != model_id for o in (linked_outputs.model_outputs if linked_outputs else [])):
        client.log_outputs(parent_run_id, models=[LoggedModelOutput(model_id, step=round_)])


@dataclass(frozen=True)
class Descriptions:
    """Markdown descriptions (alflow.reporting.describe): of the experiment, the campaign run, the
    round run and the round's model version."""

    experiment: str
    campaign: str
    round: str
    model: str


@dataclass(frozen=True)
class RoundLog:
    """What one round logs. `metrics` are the model's scores (NaN ones are skipped); `progress` the
    budget, vendor and forecast figures: both go to the round run and, once per round, to the
    parent as curve points, step = round, under MLflow's grouped names (alflow.reporting.dashboard).
    `artifacts` is a local folder uploaded as the round run's artifacts in one call, `tables` the
    paths in it that are MLflow tables (JSON, pandas "split" orient), `images` the plots in it
    shown in the descriptions, by caption; `dataset` is (frame, source, name),
    logged as the run's training input. `model` is None at cold start: nothing is logged or
    registered. `promote` moves the `champion` alias. `view` is the runs table's shared view
    (alflow.reporting.dashboard.view_state). `trusted_types` are the model's steps that skops must
    be told to load (alflow's text adapters), `packages` what it needs besides scikit-learn (the
    embedder's). `settings` are the campaign's settings now (the campaign run's tags
    `alflow.setting.<name>`: its params are those of its first round, and MLflow never changes a
    param), `changes` each recorded change as a param `<name>.from_round_NNNN` (alflow.ledger.changes),
    and `lifted` why a stopped campaign goes on (the campaign run runs again)."""

    round: int
    model: Any
    X_example: Any
    metrics: dict[str, float]
    progress: dict[str, float]
    params: dict[str, Any]
    registered_model: str
    model_tags: dict[str, str] = field(default_factory=dict)
    promote: bool = False
    stop_reason: str | None = None
    artifacts: str | None = None
    tables: tuple[str, ...] = ()
    dataset: tuple[Any, str, str] | None = None
    trusted_types: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    descriptions: Descriptions | None = None
    view: str | None = None
    images: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    changes: dict[str, str] = field(default_factory=dict)
    lifted: str | None = None


def _log_inputs(client: Any, run_id: str, entry: RoundLog) -> None:
    """The run's params and its training dataset (what `mlflow.log_params` and `log_input` do,
    through this campaign's client)."""
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag, Param
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    client.log_batch(run_id, params=[Param(key, str(value)) for key, value in entry.params.items()])
    if entry.dataset is None:
        return
    frame, source, name = entry.dataset
    with warnings.catch_warnings():  # MLflow registers two equal sources for local paths and says so
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        labeled = from_pandas(frame, source=source, targets="label", name=name)
    context = [InputTag(key=MLFLOW_DATASET_CONTEXT, value="training")]
    client.log_inputs(run_id, datasets=[DatasetInput(dataset=labeled._to_mlflow_entity(), tags=context)])


def _log_model(client: Any, experiment_id: str, run_id: str, entry: RoundLog, *, new: bool = False) -> Any:
    """The model as a logged model of the run, with signature and input example: what
    `mlflow.sklearn.log_model` does, through this campaign's client; returns its info. The logged
    model carries the run's params: a `new` run's are the entry's, just logged (not read back)."""
    import mlflow.sklearn
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model, infer_signature
    from mlflow.tracking.context.registry import resolve_tags

    logged_params = entry.params if new else client.get_run(run_id).data.params
    params = {key: str(value) for key, value in logged_params.items()}
    logged = client.create_logged_model(
        experiment_id, name="model", source_run_id=run_id, tags=resolve_tags(), params=params
    )
    try:
        client.log_outputs(run_id, models=[LoggedModelOutput(logged.model_id, step=0)])
        model = Model(
            artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id, model_id=logged.model_id
        )
        with tempfile.TemporaryDirectory() as folder, _requirements_trusted():
            local = str(Path(folder, "model"))
            mlflow.sklearn.save_model(
                entry.model,
                local,
                mlflow_model=model,
                signature=infer_signature(entry.X_example, entry.model.predict(entry.X_example)),
                input_example=entry.X_example,
                pip_requirements=_requirements(entry.packages),
                skops_trusted_types=list(entry.trusted_types) or None,
            )
            client.log_model_artifacts(logged.model_id, local)
    except Exception:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    return model.get_model_info(client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY))


def _log_inputs_and_model(client: Any, experiment_id: str, run_id: str, entry: RoundLog, *, new: bool = False) -> Any:
    """Params, the training dataset and the model (None at cold start: nothing fitted, nothing to
    register); the run is RUNNING meanwhile (a `new` run is from its creation) and FINISHED after, as a
    fluent `start_run` would leave it."""
    if not new:
        client.update_run(run_id, status="RUNNING")
    try:
        _log_inputs(client, run_id, entry)
        info = None if entry.model is None else _log_model(client, experiment_id, run_id, entry, new=new)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return info


def _log_figures(client: Any, run_id: str, parent_run_id: str, entry: RoundLog, *, new: bool) -> list[Any]:
    """The round run's metrics, tags (its description among them) and artifacts, in one write and one
    upload; returns the parent's curve points, once per round (none if a retried round logged them)."""
    from mlflow.entities import Metric, RunTag

    figures = dashboard.metric_names(
        {**{k: v for k, v in entry.metrics.items() if not math.isnan(v)}, **entry.progress}
    )
    now = int(time.time() * 1000)
    # A retried round reuses its run: only figures it has not logged yet, so no metric gets a second point.
    logged = set() if new else set(client.get_run(run_id).data.metrics)
    fresh = [Metric(k, float(v), now, entry.round) for k, v in figures.items() if k not in logged]
    tags = [RunTag("stop_reason", entry.stop_reason)] if entry.stop_reason else []
    if entry.tables:
        tables = json.dumps([{"path": t, "type": "table"} for t in entry.tables])
        tags.append(RunTag("mlflow.loggedArtifacts", tables))
    if entry.descriptions is not None:
        tags.append(RunTag(DESCRIPTION_TAG, entry.descriptions.round + _pictures(run_id, entry)))
    if fresh or tags:  # one write for the figures and the tags
        client.log_batch(run_id, metrics=fresh, tags=tags)
    if entry.artifacts:
        client.log_artifacts(run_id, entry.artifacts)
    if new or all(m.step != entry.round for m in client.get_metric_history(parent_run_id, "budget/labels_used")):
        return [Metric(k, float(v), now, entry.round) for k, v in figures.items()]
    return []


def _pictures(run_id: str, entry: RoundLog) -> str:
    """The round's plots as markdown images for a description (MLflow renders them; `get-artifact`
    serves the round run's files)."""
    return "".join(
        f"\n\n![{caption}](get-artifact?path={path}&run_uuid={run_id})" for caption, path in entry.images.items()
    )


def _describe_experiment(client: Any, experiment_id: str, entry: RoundLog) -> None:
    """The experiment's description and the runs table's shared view: written when they differ
    from what the experiment holds (most rounds leave both as they were)."""
    wanted = {VIEW_TAG: entry.view}
    if entry.descriptions is not None:
        wanted[DESCRIPTION_TAG] = entry.descriptions.experiment
    held = client.get_experiment(experiment_id).tags
    for key, value in wanted.items():
        if value is not None and held.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)


def _log_parent(client: Any, parent: Any, run_id: str, entry: RoundLog, points: list[Any]) -> None:
    """The campaign run's part of the round in one write: its curve points, its description (the
    round's plots shown), its settings as they are now (tags), each recorded change once (params)
    and the stop reason of a campaign that stops (the run then FINISHED). A stop lifted by a change:
    the run runs again, its stop reason gone. `parent` is the campaign run as read when the round's
    logging began (the round writes none of its params or its stop reason before this)."""
    from mlflow.entities import Param, RunStatus, RunTag

    parent_run_id = parent.info.run_id
    params = [Param(k, v) for k, v in entry.changes.items() if k not in parent.data.params]
    tags = [RunTag(f"alflow.setting.{k}", v) for k, v in entry.settings.items()]
    if entry.descriptions is not None:
        tags.append(RunTag(DESCRIPTION_TAG, entry.descriptions.campaign + _pictures(run_id, entry)))
    if entry.lifted:
        tags.append(RunTag("alflow.stop_lifted", entry.lifted[:5000]))
        if "stop_reason" in parent.data.tags:
            client.delete_tag(parent_run_id, "stop_reason")
        client.update_run(parent_run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    if entry.stop_reason:
        tags.append(RunTag("stop_reason", entry.stop_reason))
    if points or params or tags:
        client.log_batch(parent_run_id, metrics=points, params=params, tags=tags)
    if entry.stop_reason:
        client.set_terminated(parent_run_id, "FINISHED")


def log_round(uri: str, *, parent_run_id: str, entry: RoundLog) -> Tracking:
    """Log one round and register its model; returns where (run ids, model version, the run's URL).

    Re-running a round reuses its run, its model version and its curve points.
    """
    client = _client(uri)
    parent = client.get_run(parent_run_id)
    migrate_names(client, parent_run_id, parent)
    experiment_id, run_id, new = _round_run(client, parent, entry.round)
    info = _log_inputs_and_model(client, experiment_id, run_id, entry, new=new)
    points = _log_figures(client, run_id, parent_run_id, entry, new=new)
    _describe_experiment(client, experiment_id, entry)
    model_version = None
    if info is not None:
        description = entry.descriptions.model if entry.descriptions is not None else None
        model_version, registered = _register(
            client, entry.registered_model, info, run_id, entry.model_tags, new=new, description=description
        )
        linked = info.model_id if registered else None
        _link_to_campaign(client, parent_run_id, entry.registered_model, model_version, entry.round, new_model=linked)
        client.set_registered_model_alias(entry.registered_model, "challenger", model_version)
        if entry.promote:
            client.set_registered_model_alias(entry.registered_model, "champion", model_version)
    _log_parent(client, parent, run_id, entry, points)
    return Tracking(
        run_id=run_id,
        parent_run_id=parent_run_id,
        experiment_id=experiment_id,
        model_version=model_version,
        run_url=dashboard.run_url(uri, experiment_id, run_id),
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


@dataclass(frozen=True)
class DatasetLog:
    """A labeled data set written by alflow.operations.dataset: where its data file is (`source`, a
    path or s3:// URI), its name and digest, the round it is as of, and its card's files (name -> text)."""

    source: str
    name: str
    digest: str
    round: int
    files: dict[str, str] = field(default_factory=dict)


def log_dataset(uri: str, *, experiment: str, campaign: str, params: dict[str, Any], entry: DatasetLog) -> str:
    """Log a labeled data set as a dataset input of the campaign run (context `labeled`), its card
    as the run's artifacts under `datasets/round-NNNN/`; returns the campaign run's id."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    client = _client(uri)
    run_id = campaign_run(uri, experiment=experiment, campaign=campaign, params=params)
    with warnings.catch_warnings():  # MLflow registers two equal sources for local paths and says so
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        source = resolve_dataset_source(entry.source)
    dataset = MetaDataset(source, name=entry.name, digest=entry.digest)  # type: ignore[abstract]
    context = [InputTag(key=MLFLOW_DATASET_CONTEXT, value="labeled")]
    client.log_inputs(run_id, datasets=[DatasetInput(dataset=dataset._to_mlflow_entity(), tags=context)])
    with tempfile.TemporaryDirectory(prefix="alflow-dataset-") as folder:
        for name, text in entry.files.items():
            (Path(folder) / name).write_text(text)
        client.log_artifacts(run_id, folder, artifact_path=f"datasets/round-{entry.round:04d}")
    client.set_tag(run_id, "alflow.dataset", entry.source)
    return run_id
