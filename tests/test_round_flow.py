"""The round flow under a real (temporary) Prefect server, with a simulated vendor."""

import hashlib
import io
import json

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from prefect import get_client

from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.ledger.ledger import campaign_state
from flows.round import active_learning_round

from helpers import snapshot, vendor_for

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_three_rounds_train_log_and_export(campaign_file, campaign):
    vendor = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv")
    reports = []
    for _ in range(3):
        report = active_learning_round(str(campaign_file))
        assert report.status == "exported", report.message()
        vendor.deliver(report.round)
        reports.append(report)

    assert [r.round for r in reports] == [1, 2, 3]
    assert [r.labels_used for r in reports] == [20, 30, 40]
    state = campaign_state(campaign)
    assert sorted(state.ingested) == [1, 2]  # round 3's delivery waits for round 4
    assert sum(len(labels) for labels in state.ingested.values()) == 20

    # The exported batch: new items only, metadata that matches the file, marker written.
    store = open_store(campaign.vendor.bucket)
    prefix = layout.batch_prefix(campaign.campaign, 3)
    items_bytes = store.read(prefix + "items.csv")
    items = pd.read_csv(io.BytesIO(items_bytes), dtype={"id": str})
    metadata = json.loads(store.read(prefix + "batch.json"))
    assert len(items) == metadata["count"] == 10
    assert metadata["sha256"] == hashlib.sha256(items_bytes).hexdigest()
    assert list(items.columns[:3]) == ["id", "score", "predicted"] and "px0" in items.columns
    assert items["score"].is_monotonic_decreasing
    earlier = set(pd.read_csv(campaign.seed_labels.uri, dtype=str)["id"]) | set(state.human_labels())
    assert not set(items["id"]) & earlier
    assert store.exists(prefix + layout.READY)

    # MLflow: a parent run, one nested run per round, curves with one point per round, a version each.
    client = MlflowClient(campaign.tracking.uri)
    experiment = client.get_experiment_by_name(campaign.experiment)
    parent = client.search_runs([experiment.experiment_id], "tags.`alflow.kind` = 'campaign'")
    assert len(parent) == 1
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent[0].info.run_id}'")
    assert sorted(int(r.data.tags["alflow.round"]) for r in children) == [1, 2, 3]
    history = client.get_metric_history(parent[0].info.run_id, "budget/labels_used")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(1, 20), (2, 30), (3, 40)]
    curve = client.get_metric_history(parent[0].info.run_id, "model/accuracy")
    assert sorted(m.step for m in curve) == [1, 2, 3]
    assert [m.value for m in sorted(curve, key=lambda m: m.step)] == [r.metrics["accuracy"] for r in reports]
    assert experiment.artifact_location == (campaign_file.parent / "mlartifacts" / campaign.experiment).as_uri()
    versions = client.search_model_versions(f"name = '{campaign.campaign}'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    champion = client.get_model_version_by_alias(campaign.campaign, "champion")
    best_round = max(reports, key=lambda r: r.metrics["accuracy"]).round
    assert champion.tags["alflow.round"] == str(best_round)
    assert str(client.get_model_version_by_alias(campaign.campaign, "challenger").version) == "3"


def test_round_waits_for_the_vendor_and_changes_nothing(campaign_file, campaign):
    first = active_learning_round(str(campaign_file))
    assert first.status == "exported"
    before = snapshot(campaign_file.parent / "bucket")

    state = active_learning_round(str(campaign_file), return_state=True)
    again = state.result()

    assert again.status == "waiting"
    assert again.message() == "digits-demo: waiting for 10 labels from round 1; nothing exported"
    assert snapshot(campaign_file.parent / "bucket") == before
    with get_client(sync_client=True) as client:  # the flow run is named for its campaign and round
        assert client.read_flow_run(state.state_details.flow_run_id).name == "digits-demo-round-0002"


def test_campaign_stops_on_budget_and_later_rounds_do_nothing(campaign_file, campaign):
    vendor = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv")
    report = active_learning_round(str(campaign_file))
    while report.status == "exported":
        vendor.deliver(report.round)
        report = active_learning_round(str(campaign_file))

    assert report.status == "stopped" and report.stop_reason == "budget_spent"
    assert report.labels_used == campaign.budget.max_labels == 60
    assert campaign_state(campaign).labels_asked + 20 == 60  # the budget counts the 20 seed labels
    before = snapshot(campaign_file.parent / "bucket")
    after = active_learning_round(str(campaign_file))
    assert after.status == "already_stopped"
    assert snapshot(campaign_file.parent / "bucket") == before
    client = MlflowClient(campaign.tracking.uri)
    parent = client.search_runs(
        [client.get_experiment_by_name(campaign.experiment).experiment_id], "tags.`alflow.kind` = 'campaign'"
    )[0]
    assert parent.data.tags["stop_reason"] == "budget_spent"


def test_an_interrupted_export_is_finished_by_the_next_round(campaign_file, campaign):
    first = active_learning_round(str(campaign_file))
    batch = campaign_file.parent / "bucket" / layout.batch_prefix(campaign.campaign, 1)
    items = (batch / "items.csv").read_bytes()
    for name in ("items.csv", "batch.json", layout.READY):  # as if the process died before exporting
        (batch / name).unlink()

    again = active_learning_round(str(campaign_file))

    assert again.status == "waiting"
    assert again.message().startswith(f"digits-demo: finished an interrupted export to {first.batch_uri}")
    assert (batch / "items.csv").read_bytes() == items
    assert (batch / layout.READY).exists()


def test_cold_start_a_single_class_seed_set_selects_by_diversity(campaign_file, campaign):
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str)
    threes = answers[answers["label"] == "3"].head(5)
    threes.to_csv(campaign.seed_labels.uri, index=False)  # every seed label is the same class
    vendor = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv")

    first = active_learning_round(str(campaign_file))

    assert first.status == "exported", first.message()
    assert first.metric_source == "cold_start" and "no metric yet" in first.message()
    record = campaign_state(campaign).rounds[1]
    assert record.tracking.model_version is None  # nothing fitted, nothing registered
    assert len(set(record.batch_ids)) == 10 and not set(record.batch_ids) & set(threes["id"])

    vendor.deliver(1)
    second = active_learning_round(str(campaign_file))

    assert second.status == "exported" and second.metric_source == "holdout"
    assert second.metrics["accuracy"] > 0.2  # a real model now: 15 labels, several classes
    client = MlflowClient(campaign.tracking.uri)
    assert [v.version for v in client.search_model_versions(f"name = '{campaign.campaign}'")] == [1]
    assert str(client.get_model_version_by_alias(campaign.campaign, "champion").version) == "1"


def test_a_summary_that_fails_to_publish_does_not_fail_a_committed_round(campaign_file, campaign, monkeypatch):
    def unavailable(**_):
        raise ConnectionError("Prefect API unavailable")

    monkeypatch.setattr("tasks.create_markdown_artifact", unavailable)
    report = active_learning_round(str(campaign_file))
    assert report.status == "exported" and report.batch_size == 10
    assert sorted(campaign_state(campaign).exported) == [1]


def test_a_round_leaves_the_process_wide_tracking_uri_alone(campaign_file, campaign, tmp_path):
    # The library names its store on its clients: whatever URI the process (a notebook) set stays,
    # and nothing of the campaign lands there.
    before = mlflow.get_tracking_uri()
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    mlflow.set_tracking_uri(elsewhere)
    try:
        report = active_learning_round(str(campaign_file))
        assert mlflow.get_tracking_uri() == elsewhere
    finally:
        mlflow.set_tracking_uri(before)
    assert report.status == "exported" and not (tmp_path / "elsewhere.db").exists()
    client = MlflowClient(campaign.tracking.uri)
    assert str(client.get_model_version_by_alias(campaign.campaign, "challenger").version) == "1"
