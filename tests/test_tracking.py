"""alflow.reporting.tracking against a SQLite store, the plots, and the round view's small readers.

No Prefect here: the round flow's MLflow side against a real server is tests/test_mlflow_server.py.
"""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from alflow.exchange import layout
from alflow.exchange.local import LocalStore
from alflow.ledger.campaign import campaign_state
from alflow.ledger.records import BatchRecord, IngestRecord, RoundRecord, Tracking
from alflow.ledger.state import CampaignState
from alflow.reporting import plots, round_run, tracking, views
from alflow.round.autolabel import AutoLabels
from alflow.round.context import Inputs, RoundContext
from alflow.round.decide import decide
from alflow.round.inputs import validate_inputs
from alflow.round.select import select_batch
from alflow.round.train import train_model


def _ingest(round_: int, **fields) -> IngestRecord:
    base = {"round": round_, "ingested_in": round_ + 1, "file": "f", "format": "csv", "aggregation": "majority"}
    base |= {
        "tie_rule": "outstanding",
        "annotators_required": 1,
        "sha256": "s",
        "delivered_at": "",
        "status": "accepted",
    }
    return IngestRecord(**{**base, **fields})


# --- plots --------------------------------------------------------------------------------------


def test_learning_curve_draws_the_campaign_the_reference_and_the_target():
    figure = plots.learning_curve(
        [20, 30, 40], [0.5, 0.6, 0.7], metric="f1_macro", reference={"random": ([20, 40], [0.5, 0.55])}, target=0.9
    )
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["this campaign"].get_xdata()) == [20, 30, 40]
    assert list(lines["random (simulation)"].get_ydata()) == [0.5, 0.55]
    assert list(lines["target 0.9"].get_ydata()) == [0.9, 0.9]
    assert ax.get_xlabel() == "labels used" and ax.get_ylabel() == "f1_macro"


def test_confusion_matrix_labels_rows_true_and_columns_predicted(tmp_path):
    figure = plots.confusion_matrix(np.array([[3, 1], [0, 4]]), ["cat", "dog"])
    ax = figure.axes[0]
    assert ax.get_ylabel() == "true" and ax.get_xlabel() == "predicted"
    assert [t.get_text() for t in ax.texts] == ["3", "1", "4"]  # zero cells stay blank
    figure.savefig(tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "figure",
    [
        plots.budget_burndown([0, 1, 2], [40, 30, 20], budget=40),
        plots.class_balance({"a": 3, "b": 5}),
    ],
    ids=["burndown", "class_balance"],
)
def test_every_plot_is_a_figure_that_saves(figure, tmp_path):
    assert isinstance(figure, Figure)
    figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000


# --- reference curves ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"random": [[20, 0.5], [40, 0.6]]},
        {"curves": {"random": {"labels": [20, 40], "accuracy": [0.5, 0.6]}}},
        {"random": [{"labels": 20, "accuracy": 0.5}, {"labels": 40, "accuracy": 0.6}]},
        {"labels": [20, 40], "curves": {"random": [0.5, 0.6], "margin": [0.6, 0.7]}},
        {"curves": [{"strategy": "margin"}, {"strategy": "random", "labels": [20, 40], "mean": [0.5, 0.6]}]},
    ],
    ids=["pairs", "columns", "points", "shared-labels", "list-of-strategies"],
)
def test_reference_curves_reads_the_random_curve_of_a_simulation(tmp_path, document):
    path = tmp_path / "curves.json"
    path.write_text(json.dumps(document))
    assert views.reference_curves(str(path), metric="accuracy") == {"random": ([20, 40], [0.5, 0.6])}


@pytest.mark.parametrize("content", [None, "not json", json.dumps({"margin": [[20, 0.5]]})], ids=str)
def test_reference_curves_without_a_random_curve_draw_nothing(tmp_path, content):
    path = tmp_path / "curves.json"
    if content is not None:
        path.write_text(content)
    assert views.reference_curves(str(path), metric="accuracy") == {}
    assert views.reference_curves(None, metric="accuracy") == {}


# --- vendor figures -----------------------------------------------------------------------------


def test_vendor_figures_read_turnaround_and_agreement_of_new_deliveries(campaign, tmp_path):
    store = LocalStore(campaign.vendor.bucket)
    name = campaign.campaign
    records = {}
    for round_, created, delivered, ingested, agreement in [
        (1, "2026-01-01T00:00:00+00:00", "2026-01-01T06:00:00+00:00", "2026-01-01T07:00:00+00:00", 0.9),
        (2, "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00", "2026-01-03T01:00:00+00:00", 0.7),
    ]:
        store.write_once(layout.batch_prefix(name, round_) + "batch.json", json.dumps({"created_at": created}).encode())
        records[round_] = [_ingest(round_, ingested_at=ingested, delivered_at=delivered, agreement=agreement)]
    ctx = RoundContext(campaign, Inputs([], [], 0, {}), CampaignState(name, ingests=records))

    assert views.vendor_figures(ctx, since=None) == {
        "vendor_turnaround_hours": pytest.approx(15.0),
        "annotator_agreement": pytest.approx(0.8),
    }
    since_round_1 = views.vendor_figures(ctx, since="2026-01-02T00:00:00+00:00")
    assert since_round_1 == {"vendor_turnaround_hours": pytest.approx(24.0), "annotator_agreement": pytest.approx(0.7)}


def test_vendor_figures_skip_what_the_records_do_not_say(campaign):
    state = CampaignState(campaign.campaign, ingests={1: [_ingest(1)]})
    assert views.vendor_figures(RoundContext(campaign, Inputs([], [], 0, {}), state), since=None) == {}


# --- MLflow on SQLite ---------------------------------------------------------------------------


@pytest.fixture
def sqlite_uri(tmp_path, mlflow_template):
    shutil.copy(mlflow_template, tmp_path / "tracking.db")
    return f"sqlite:///{tmp_path / 'tracking.db'}"


def _log(uri, parent, round_, accuracy, *, promote, stop_reason=None):
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(X, ["x", "y", "x", "y"])
    entry = tracking.RoundLog(
        round=round_,
        model=model,
        X_example=X.head(2),
        metrics={"accuracy": accuracy, "f1_macro": math.nan},
        progress={"labels_used": 10 * round_, "labels_remaining": 50 - 10 * round_},
        params={"strategy": "margin"},
        registered_model="toy",
        model_tags={"alflow.round": str(round_)},
        promote=promote,
        stop_reason=stop_reason,
    )
    return tracking.log_round(uri, parent_run_id=parent, entry=entry)


def test_rounds_nest_under_one_parent_and_champion_moves_only_on_improvement(sqlite_uri, tmp_path):
    parent = tracking.campaign_run(sqlite_uri, experiment="toy", campaign="toy", params={"strategy": "margin"})
    assert tracking.campaign_run(sqlite_uri, experiment="toy", campaign="toy", params={}) == parent

    logged = [
        _log(sqlite_uri, parent, 1, 0.6, promote=True),
        _log(sqlite_uri, parent, 2, 0.5, promote=False),
        _log(sqlite_uri, parent, 3, 0.7, promote=True, stop_reason="budget_spent"),
    ]

    client = MlflowClient(sqlite_uri)
    experiment = client.get_experiment_by_name("toy")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "toy").as_uri()  # beside the database
    assert list((tmp_path / "mlartifacts" / "toy").rglob("MLmodel"))
    assert [t.model_version for t in logged] == ["1", "2", "3"]
    assert str(client.get_model_version_by_alias("toy", "champion").version) == "3"
    assert str(client.get_model_version_by_alias("toy", "challenger").version) == "3"
    history = client.get_metric_history(parent, "accuracy_vs_labels")
    assert sorted((m.step, m.value) for m in history) == [(10, 0.6), (20, 0.5), (30, 0.7)]
    assert client.get_metric_history(parent, "f1_macro") == []  # NaN scores are not logged
    finished = client.get_run(parent)
    assert finished.data.tags["stop_reason"] == "budget_spent" and finished.info.status == "FINISHED"
    assert (
        logged[0].run_url == f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs/{logged[0].run_id}"
    )


def test_a_rerun_round_reuses_its_run_version_and_curve_points(sqlite_uri):
    parent = tracking.campaign_run(sqlite_uri, experiment="toy", campaign="toy", params={})
    first = _log(sqlite_uri, parent, 1, 0.6, promote=True)
    again = _log(sqlite_uri, parent, 1, 0.6, promote=True)

    client = MlflowClient(sqlite_uri)
    assert again.run_id == first.run_id and again.model_version == first.model_version == "1"
    assert len(client.search_runs([client.get_run(parent).info.experiment_id])) == 2
    assert [(m.step, m.value) for m in client.get_metric_history(parent, "labels_used")] == [(1, 10)]


def test_round_markdown_links_the_run_and_names_the_model(campaign):
    record = RoundRecord(
        round=2,
        labels_used=30,
        metrics={"accuracy": 0.8123, "f1_macro": math.nan},
        metric_source="holdout",
        strategy="margin",
        model="LogisticRegression",
        batch=BatchRecord(ids=["a", "b"], scores=[1.0, 0.5], predicted=["1", "2"]),
        stop_reason=None,
        tracking=Tracking(run_id="abc", run_url="http://127.0.0.1:5000/#/experiments/1/runs/abc", model_version="2"),
    )
    text = round_run.round_markdown(campaign, record)
    assert text.startswith(f"# {campaign.campaign}: round 2\n")
    assert "labels used: **30** of 60" in text and "accuracy **0.812**" in text and "f1_macro" not in text
    assert "[abc](http://127.0.0.1:5000/#/experiments/1/runs/abc)" in text
    assert f"mlflow ui --backend-store-uri {campaign.tracking.uri}" in text
    assert f"`models:/{campaign.campaign}/2`" in text


# --- the round view -----------------------------------------------------------------------------


def test_round_view_gathers_history_labeled_set_batch_and_confusion(campaign):
    ctx = RoundContext(campaign, validate_inputs(campaign), campaign_state(campaign))
    trained = train_model(ctx)
    decision = select_batch(ctx, trained, decide(ctx, trained, AutoLabels()))
    inputs, evaluation = ctx.inputs, trained.evaluation

    view = views.round_view(ctx, trained, decision)

    row = view.history.iloc[-1]
    assert (row["round"], row["labels_used"], row["labels_remaining"]) == (1, 20, 30)
    assert row["spend_remaining"] == pytest.approx(30 * 0.08)
    assert row["accuracy"] == evaluation.metrics["accuracy"]
    assert len(view.labeled) == 20 and set(view.labeled["origin"]) == {"seed"}
    assert view.labeled.set_index("id")["label"].to_dict() == inputs.seed_labels
    assert view.batch is decision.batch.items
    holdout = inputs.holdout
    assert view.confusion.to_numpy().sum() == len(holdout)
    assert list(view.confusion.index) == list(view.confusion.columns) == list(campaign.classes)
    correct = np.trace(view.confusion.to_numpy()) / len(holdout)
    assert correct == pytest.approx(evaluation.metrics["accuracy"])
    assert view.vendor == {} and view.reference == {}
    used = round_run.strategy_used(decision)
    assert used["strategy_used"] == decision.batch.strategy and used["strategy_reason"] == decision.batch.reason
