"""What a stakeholder sees in MLflow after a four-round campaign tracked on a real `mlflow server`.

The campaign (tests/conftest.py `dashboard_campaign`) runs rounds 1-3 in this process and round 4
in a new one; everything here is read back through MlflowClient, as the UI would.
"""

import json

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from alflow.ledger.ledger import campaign_state
from alflow.reporting.views import reference_curves
from alflow.selection.registry import STRATEGIES

# One worker runs these and tests/test_dashboard_browser.py: the session's `dashboard_campaign` (a
# four-round campaign on `mlflow server`) is made once per run, not once per xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dashboard")]


@pytest.fixture(scope="module")
def seen(dashboard_campaign):
    config, reports, last = dashboard_campaign
    client = MlflowClient(config.tracking.uri)
    experiment = client.get_experiment_by_name(config.experiment)
    parents = client.search_runs([experiment.experiment_id], "tags.`alflow.kind` = 'campaign'")
    rounds = client.search_runs(
        [experiment.experiment_id], "tags.`alflow.kind` = 'round'", order_by=["tags.`alflow.round` ASC"]
    )
    return config, reports, last, client, experiment, parents, rounds


@pytest.fixture(autouse=True)
def fluent_api_on_the_server(seen):
    # download_artifacts and models:/ URIs follow MLflow's process-wide tracking URI, which earlier
    # tests may have pointed at a SQLite file: point it at this campaign's server, as a user would.
    # (Never set the registry URI globally: it would outlive the test and redirect registrations.)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(seen[0].tracking.uri)
    yield
    mlflow.set_tracking_uri(previous)


def _curve(client, run_id, key):
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def test_one_parent_and_a_nested_run_per_round_across_processes(seen):
    config, _, last, client, experiment, parents, rounds = seen
    assert experiment.name == config.experiment == "dashboard-demo"
    assert len(parents) == 1, "round 4 in a new process must attach to the same parent"
    parent = parents[0]
    assert [r.data.tags["alflow.round"] for r in rounds] == ["1", "2", "3", "4"]
    assert {r.data.tags["mlflow.parentRunId"] for r in rounds} == {parent.info.run_id}
    assert [r.info.run_name for r in rounds] == ["round-0001", "round-0002", "round-0003", "round-0004"]
    assert last["mlflow_run_id"] == rounds[3].info.run_id
    assert len(client.search_runs([experiment.experiment_id])) == 5  # nothing stray


def test_campaign_run_params_and_curves_by_round_and_by_labels(seen):
    config, reports, _, client, _, parents, rounds = seen
    parent = parents[0]
    params = parent.data.params
    assert params["strategy"] == config.strategy.name and params["batch_size"] == "10"
    assert params["model"] == "logistic_regression" and params["max_labels"] == "60"
    assert params["stop_metric"] == "accuracy" and params["stop_target"] == "0.99"
    assert params["stop_patience"] == "4" and params["cost_per_label"] == "0.08 USD"
    for run in rounds:  # which strategy chose each batch, and why (auto decides each round)
        assert run.data.params["strategy_used"] in STRATEGIES
        assert run.data.params["strategy_reason"].startswith(f"{config.strategy.name}")

    run_id = parent.info.run_id
    # every figure once, step = round, under its section's name; no `_vs_labels` twins
    assert _curve(client, run_id, "budget/labels_used") == [(1, 20), (2, 30), (3, 40), (4, 50)]
    assert _curve(client, run_id, "budget/labels_remaining") == [(1, 30), (2, 20), (3, 10), (4, 0)]
    assert [v for _, v in _curve(client, run_id, "budget/spend")] == pytest.approx([0.8, 1.6, 2.4, 3.2])
    assert [v for _, v in _curve(client, run_id, "budget/spend_remaining")] == pytest.approx([2.4, 1.6, 0.8, 0.0])
    assert not [k for k in parent.data.metrics if "/" not in k or k.endswith("_vs_labels")]
    accuracy = [r.data.metrics["model/accuracy"] for r in rounds]
    assert accuracy[:3] == [r.metrics["accuracy"] for r in reports]
    for key in ("model/accuracy", "model/f1_macro"):
        assert [s for s, _ in _curve(client, run_id, key)] == [1, 2, 3, 4]
    assert [v for _, v in _curve(client, run_id, "model/accuracy")] == accuracy
    # the fourth round is the first with a forecast: the metric at the end of the budget, with its interval
    (low, value, high) = (parent.data.metrics[f"forecast/accuracy_at_budget{s}"] for s in ("_low", "", "_high"))
    assert low <= value <= high
    assert [s for s, _ in _curve(client, run_id, "forecast/accuracy_at_budget")] == [4]
    per_class = [sum(v for k, v in r.data.metrics.items() if k.startswith("labels_per_class/")) for r in rounds]
    assert per_class == [20, 30, 40, 50]
    assert parent.data.tags.get("stop_reason") is None  # still running: the budget is not spent


def test_each_round_run_has_batch_dataset_plots_and_validation(seen, tmp_path):
    config, _, _, client, _, _, rounds = seen
    state = campaign_state(config)
    for run in rounds:
        round_ = int(run.data.tags["alflow.round"])
        run_id = run.info.run_id
        names = {a.path for folder in ("tables", "plots", "validation") for a in client.list_artifacts(run_id, folder)}
        assert {
            "tables/query_batch.json",
            "tables/labeled_set.json",
            "plots/learning_curve.png",
            "plots/budget_burndown.png",
            "plots/class_balance.png",
            "plots/confusion_matrix.png",
            "validation/labeled_set.json",
            "validation/data_docs",
        } <= names

        local = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="tables/query_batch.json",
            dst_path=str(tmp_path / str(round_)),
            tracking_uri=config.tracking.uri,
        )
        table = json.loads(open(local).read())
        batch = pd.DataFrame(table["data"], columns=table["columns"])
        assert list(batch.columns) == ["id", "score", "predicted"]
        assert batch["id"].tolist() == state.batch_ids(round_)
        assert batch["score"].is_monotonic_decreasing

        (dataset_input,) = run.inputs.dataset_inputs
        assert dataset_input.dataset.name == f"labeled-set-round-{round_:04d}"
        assert dataset_input.dataset.source_type == ("s3" if config.vendor.bucket.startswith("s3://") else "local")
        assert config.campaign in dataset_input.dataset.source
        assert json.loads(dataset_input.dataset.profile)["num_rows"] == int(run.data.metrics["budget/labels_used"])
        assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"

        report = mlflow.artifacts.load_dict(f"runs:/{run_id}/validation/labeled_set.json")
        assert report["success"] is True and len(report["results"]) == 4
        docs = {a.path for a in client.list_artifacts(run_id, "validation/data_docs")}
        assert "validation/data_docs/index.html" in docs

        # The campaign file names a simulation's curves (relative path): its random curve is drawn.
        assert reference_curves(config.tracking.reference_curve, metric="accuracy")["random"][0] == [
            20,
            30,
            40,
            50,
            60,
        ]
        png = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="plots/learning_curve.png",
            dst_path=str(tmp_path / f"p{round_}"),
            tracking_uri=config.tracking.uri,
        )
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_registry_version_per_round_aliases_and_loading(seen):
    config, _, _, client, _, _, rounds = seen
    name = config.campaign
    versions = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    assert [v.tags["alflow.round"] for v in versions] == ["1", "2", "3", "4"]
    assert [v.tags["labels_used"] for v in versions] == ["20", "30", "40", "50"]
    # each version says how good it is, in a tag the registry lists and in its description
    for version, run in zip(versions, rounds, strict=True):
        accuracy = run.data.metrics["model/accuracy"]
        assert version.tags["model/accuracy"] == f"{accuracy:.4f}"
        assert f"accuracy **{accuracy:.3f}** (holdout)" in version.description
        assert f"Round {version.tags['alflow.round']} of campaign {name}" in version.description
    assert "@champion" in client.get_registered_model(name).description
    assert {v.tags["strategy"] for v in versions} == {config.strategy.name}
    assert [v.run_id for v in versions] == [r.info.run_id for r in rounds]

    accuracy = [r.data.metrics["model/accuracy"] for r in rounds]
    best, champion_round = -1.0, None
    for round_, value in enumerate(accuracy, start=1):  # champion moves only on a strict improvement
        if value > best:
            best, champion_round = value, round_
    assert client.get_model_version_by_alias(name, "champion").tags["alflow.round"] == str(champion_round)
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "4"

    holdout = pd.read_csv(config.holdout.uri).drop(columns="label").head(3)
    for alias in ("champion", "challenger"):
        model = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
        assert len(model.predict(holdout)) == 3


def test_a_prefect_markdown_artifact_per_round_links_to_its_run(seen):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    config, _, _, _, experiment, _, rounds = seen
    keys = [f"{config.campaign}-round-{n:04d}" for n in (1, 2, 3, 4)]
    with get_client(sync_client=True) as prefect:
        artifacts = prefect.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    by_key = {a.key: a for a in artifacts}
    assert sorted(by_key) == keys
    for key, run in zip(keys, rounds, strict=True):
        text = by_key[key].data
        assert by_key[key].type == "markdown"
        base = f"{config.tracking.uri}/#/experiments/{experiment.experiment_id}"
        assert f"{base}/runs/{run.info.run_id}?workflowType=machine_learning" in text, text
        assert f"{base}/runs?workflowType=machine_learning&viewStateShareKey=alflow-campaign" in text
        assert f"labels used: **{run.data.metrics['budget/labels_used']:.0f}** of 60" in text
        assert f"spend: spent {run.data.metrics['budget/spend']:.2f} of 3.20 USD" in text
    assert "when it ends: accuracy " in by_key[keys[-1]].data  # the forecast, from round 4 on


def test_the_experiment_and_the_campaign_run_describe_themselves(seen):
    config, _, last, _, experiment, parents, rounds = seen
    tags = experiment.tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert tags["mlflow.note.content"].startswith(f"**{config.campaign}**: an active-learning campaign")
    view = json.loads(tags["mlflow.sharedViewState.alflow-campaign"])  # the runs table's columns
    assert view["selectedColumns"][:2] == ["metrics.`model/accuracy`", "metrics.`budget/labels_used`"]
    description = parents[0].data.tags["mlflow.note.content"]
    assert description.startswith(f"| How good | accuracy **{rounds[-1].data.metrics['model/accuracy']:.3f}**")
    assert "expected at the 60-label budget" in description  # the forecast
    assert "spent 3.20 of 3.20 USD" in description
    assert f"get-artifact?path=plots/learning_curve.png&run_uuid={rounds[-1].info.run_id}" in description
    assert rounds[-1].data.tags["mlflow.note.content"].startswith(f"Round 4 of {config.campaign}")
    # `alflow status --json`, run in another process, says the same
    assert last["spend_total"] == pytest.approx(3.2) and last["round"] == 4


def test_the_campaign_run_shows_every_round_s_registered_version(seen):
    """MLflow 3's run page lists, under "Registered models", the versions of the logged models in the
    run's model outputs (by their `mlflow.modelVersions` tag): the campaign run has each round's."""
    config, _, _, client, _, parents, rounds = seen
    parent = client.get_run(parents[0].info.run_id)
    outputs = sorted(parent.outputs.model_outputs, key=lambda o: o.step)
    assert [o.step for o in outputs] == [1, 2, 3, 4]
    shown = []
    for output, run in zip(outputs, rounds, strict=True):
        logged = client.get_logged_model(output.model_id)
        assert logged.source_run_id == run.info.run_id  # the round's own model
        shown += json.loads(logged.tags["mlflow.modelVersions"])
    versions = client.search_model_versions(f"name = '{config.campaign}'")
    # once each (the server tags the logged model on registration; alflow adds no second entry)
    assert sorted((v["name"], int(v["version"])) for v in shown) == [
        (config.campaign, v) for v in sorted(int(v.version) for v in versions)
    ]
