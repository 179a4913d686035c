"""alflow.reporting.tracking against a SQLite store, the plots, and the round view's small readers.

No Prefect here: the round flow's MLflow side against a real server is tests/test_mlflow_server.py.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from alflow.exchange import layout
from alflow.exchange.local import LocalStore
from alflow.ledger.budget import Budget
from alflow.ledger.ledger import campaign_state
from alflow.ledger.records import BatchRecord, IngestRecord, RoundRecord, Tracking
from alflow.ledger.state import CampaignState
from alflow.reporting import dashboard, describe, plots, round_run, tracking, views
from alflow.reporting.outlook import outlook
from alflow.round.autolabel import AutoLabels
from alflow.round.context import Inputs, RoundContext
from alflow.round.decide import decide
from alflow.round.inputs import validate_inputs
from alflow.round.select import select_batch
from alflow.round.train import train_model

from helpers import vendor_for


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


def test_learning_curve_draws_the_forecast_band_to_the_budget():
    band = ([40, 60], [0.7, 0.75], [0.65, 0.7], [0.75, 0.8])
    figure = plots.learning_curve([20, 40], [0.5, 0.7], metric="accuracy", band=band)
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["forecast"].get_xdata()) == [40, 60]
    assert [c.get_label() for c in ax.collections] == ["forecast interval"]


@pytest.mark.parametrize("classes", [["cat", "dog"], ["a rather long class name", "short"]], ids=["short", "long"])
def test_confusion_matrix_labels_rows_true_and_columns_predicted(tmp_path, classes):
    figure = plots.confusion_matrix(np.array([[3, 1], [0, 4]]), classes)
    ax = figure.axes[0]
    assert ax.get_ylabel() == "true class" and ax.get_xlabel() == "predicted class"
    figure.canvas.draw()
    # the "true class" label stays on the canvas, left of the class names, whatever their length
    assert ax.yaxis.label.get_window_extent().x0 >= 0
    assert [t.get_text() for t in ax.texts] == ["3", "1", "4"]  # zero cells stay blank
    figure.savefig(tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "figure",
    [
        plots.budget_burndown([1, 2], [30, 20], max_labels=50, seed_labels=10),
        plots.budget_burndown([1, 2], [30, 20], max_labels=50, seed_labels=10, cost_per_label=0.5, currency="EUR"),
        plots.class_balance({"a": 3, "b": 5}),
    ],
    ids=["burndown", "burndown-money", "class_balance"],
)
def test_every_plot_is_a_figure_that_saves(figure, tmp_path):
    assert isinstance(figure, Figure)
    figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_save_png_writes_the_bytes_savefig_writes_through_the_renderers_it_keeps(tmp_path, monkeypatch):
    from collections import OrderedDict

    from alflow.reporting import kind_plots

    monkeypatch.setattr(plots, "_renderers", OrderedDict())  # none kept from the process's other tests

    figures = [  # three sizes; the 6 x 4 inch ones drawn through the same kept renderer, one after the other
        plots.learning_curve([20, 30], [0.5, 0.6], metric="accuracy", target=0.8),
        plots.budget_burndown([1, 2], [30, 20], max_labels=50, seed_labels=10, cost_per_label=0.5),
        plots.class_balance({"a": 3, "b": 5}),
        plots.confusion_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"]),
        kind_plots.label_f1({f"tag{i}": 0.1 * i for i in range(12)}),
        kind_plots.residuals([1.0, 2.0, 3.0], [1.5, 1.5, 3.5], unit="kg"),
    ]
    for figure in figures:
        figure.savefig(tmp_path / "own.png")
        plots.save_png(figure, tmp_path / "kept.png")
        assert (tmp_path / "kept.png").read_bytes() == (tmp_path / "own.png").read_bytes()
    assert len(plots._renderers) == 3


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
    history = client.get_metric_history(parent, "model/accuracy")  # step = round, name grouped
    assert sorted((m.step, m.value) for m in history) == [(1, 0.6), (2, 0.5), (3, 0.7)]
    assert client.get_metric_history(parent, "model/f1_macro") == []  # NaN scores are not logged
    assert not any(k.endswith("_vs_labels") for k in client.get_run(parent).data.metrics)
    finished = client.get_run(parent)
    assert finished.data.tags["stop_reason"] == "budget_spent" and finished.info.status == "FINISHED"
    assert (
        logged[0].run_url
        == f"http://127.0.0.1:{dashboard.ui_port(sqlite_uri)}/#/experiments/{experiment.experiment_id}/runs/{logged[0].run_id}"
        "?workflowType=machine_learning"
    )


def test_a_rerun_round_reuses_its_run_version_and_curve_points(sqlite_uri):
    parent = tracking.campaign_run(sqlite_uri, experiment="toy", campaign="toy", params={})
    first = _log(sqlite_uri, parent, 1, 0.6, promote=True)
    again = _log(sqlite_uri, parent, 1, 0.6, promote=True)

    client = MlflowClient(sqlite_uri)
    assert again.run_id == first.run_id and again.model_version == first.model_version == "1"
    assert len(client.search_runs([client.get_run(parent).info.experiment_id])) == 2
    assert [(m.step, m.value) for m in client.get_metric_history(parent, "budget/labels_used")] == [(1, 10)]
    for name in ("model/accuracy", "budget/labels_used", "budget/labels_remaining"):  # the retried run: one point each
        assert len(client.get_metric_history(first.run_id, name)) == 1, name
    # the campaign run shows the version once (MLflow 3's run page: its model outputs' versions)
    (output,) = client.get_run(parent).outputs.model_outputs
    linked = client.get_logged_model(output.model_id)
    assert linked.artifact_location == client.get_model_version("toy", "1").source  # the version's own model
    assert json.loads(linked.tags["mlflow.modelVersions"]) == [{"name": "toy", "version": 1}]


def _record(round_=2, **fields):
    base = dict(
        round=round_,
        labels_used=30,
        metrics={"accuracy": 0.8123, "f1_macro": math.nan},
        metric_source="holdout",
        strategy="margin",
        model="LogisticRegression",
        batch=BatchRecord(ids=["a", "b"], scores=[1.0, 0.5], predicted=["1", "2"]),
        stop_reason=None,
        tracking=Tracking(
            run_id="abc",
            experiment_id="1",
            run_url="http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning",
            model_version="2",
        ),
    )
    return RoundRecord(**{**base, **fields})


def test_round_markdown_links_the_run_and_names_the_model(campaign):
    record = _record()
    seen = outlook(
        campaign, [(20, 0.7), (30, 0.8123)], round_=2, budget=Budget.of(campaign.budget, seed_labels=20, asked=12)
    )
    text = describe.round_markdown(campaign, record, seen)
    assert text.startswith(f"# {campaign.campaign}: round 2\n")
    assert "labels used: **30** of 60 (20 seed, 12 asked, 28 left)" in text
    assert "accuracy **0.812**" in text and "f1_macro" not in text
    assert "spend: spent 0.96 of 3.20 USD" in text  # 12 asked at 0.08; the 20 seed labels are free
    assert "when it ends: forecast after 4 rounds with a score" in text
    assert "[this round's run](http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning)" in text
    assert "#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=alflow-campaign" in text
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


def test_a_round_whose_rules_hold_never_loads_great_expectations(campaign, campaign_file, monkeypatch):
    # GX costs seconds to import: the pure checks pass every rule of the inputs, the delivery and the
    # labeled set, and Data Docs are not asked for (tracking.data_docs), so GX is never reached.
    from alflow.data import validation
    from alflow.operations.plain import plain_round

    def no_gx():
        raise AssertionError("Great Expectations reached")

    monkeypatch.setattr(validation, "_context", no_gx)
    first = plain_round(campaign)
    vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").deliver(first.round)
    second = plain_round(campaign)
    assert (first.status, second.status, second.labels_ingested) == ("exported", "exported", 10)
    client = MlflowClient(campaign.tracking.uri)
    assert client.list_artifacts(second.mlflow_run_id, "validation") == []
    assert {a.path for a in client.list_artifacts(second.mlflow_run_id, "plots")} >= {"plots/learning_curve.png"}
    # The model is logged without MLflow's look at the environment: its requirements are the pins, and it loads.
    import mlflow
    import sklearn

    source = client.get_model_version_by_alias(campaign.campaign, "challenger").source
    local = mlflow.artifacts.download_artifacts(artifact_uri=source)
    requirements = (Path(local) / "requirements.txt").read_text().split()
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert f"mlflow=={mlflow.__version__}" in requirements
    pool = pd.read_csv(campaign.pool.uri).drop(columns=["id"]).head(3)
    assert len(mlflow.pyfunc.load_model(local).predict(pool)) == 3


# --- what MLflow's UI is told ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("figure", "name"),
    [
        ("accuracy", "model/accuracy"),
        ("labels_used", "budget/labels_used"),
        ("spend", "budget/spend"),
        ("vendor_turnaround_hours", "vendor/turnaround_h"),
        ("labels_class_cat", "labels_per_class/cat"),
        ("labels_class_a+b", "labels_per_class/a_b"),
        ("forecast/limit", "forecast/limit"),
        ("accuracy_vs_labels", None),
        ("labels_class_cat_vs_labels", None),
    ],
)
def test_metric_names_are_grouped_by_section(figure, name):
    assert dashboard.metric_name(figure) == name


def test_links_open_the_model_training_view_and_the_shared_columns():
    base = "http://mlflow.internal:5000"
    assert dashboard.run_url(base + "/", "3", "r1") == f"{base}/#/experiments/3/runs/r1?workflowType=machine_learning"
    experiment = dashboard.experiment_url(base, "3")
    assert experiment.endswith("/runs?workflowType=machine_learning&viewStateShareKey=alflow-campaign")
    port = dashboard.ui_port("sqlite:////a/x.db")
    assert dashboard.experiment_url("sqlite:////a/x.db", "3", charts=True).startswith(f"http://127.0.0.1:{port}/#/")
    # each SQLite campaign's links point at its own `mlflow ui` (every database numbers experiments from 1)
    assert 5000 <= port < 6000 and port != dashboard.ui_port("sqlite:////b/x.db")
    assert dashboard.ui_command("sqlite:////a/x.db") == f"mlflow ui --backend-store-uri sqlite:////a/x.db --port {port}"
    assert dashboard.ui_port(base) is None and dashboard.ui_command(base) is None
    assert dashboard.model_url(base, "my model", "2").endswith(
        "/#/models/my%20model/versions/2?workflowType=machine_learning"
    )
    state = json.loads(dashboard.view_state("f1_macro", cost=True))
    assert state["selectedColumns"][:3] == [
        "metrics.`model/f1_macro`",
        "metrics.`budget/labels_used`",
        "metrics.`budget/labels_remaining`",
    ]
    assert "metrics.`budget/spend`" in state["selectedColumns"]
    assert "metrics.`budget/spend`" not in json.loads(dashboard.view_state("f1_macro", cost=False))["selectedColumns"]
    assert state["globalLineChartConfig"]["selectedXAxisMetricKey"] == "budget/labels_used"


def test_a_campaign_logged_under_the_old_names_is_copied_once_to_the_new(sqlite_uri):
    """A parent run and round run as alflow 0.1.0 logged them (`accuracy`, `labels_used`, twins by labels)."""
    client = MlflowClient(sqlite_uri)
    experiment_id = client.create_experiment("toy")
    parent = client.create_run(
        experiment_id, run_name="toy", tags={"alflow.kind": "campaign", "alflow.campaign": "toy"}
    )
    parent_id = parent.info.run_id
    old_round = client.create_run(
        experiment_id,
        run_name="round-0001",
        tags={"alflow.kind": "round", "alflow.campaign": "toy", "alflow.round": "1", "mlflow.parentRunId": parent_id},
    )
    for run_id in (parent_id, old_round.info.run_id):
        client.log_metric(run_id, "accuracy", 0.6, step=1)
        client.log_metric(run_id, "labels_used", 10, step=1)
    client.log_metric(parent_id, "accuracy_vs_labels", 0.6, step=10)

    _log(sqlite_uri, parent_id, 2, 0.7, promote=True)
    _log(sqlite_uri, parent_id, 2, 0.7, promote=True)  # a re-run migrates nothing twice

    curve = sorted((m.step, m.value) for m in client.get_metric_history(parent_id, "model/accuracy"))
    assert curve == [(1, 0.6), (2, 0.7)]
    assert [(m.step, m.value) for m in client.get_metric_history(parent_id, "budget/labels_used")] == [(1, 10), (2, 20)]
    assert client.get_run(old_round.info.run_id).data.metrics["model/accuracy"] == 0.6
    assert client.get_run(parent_id).data.tags["alflow.metric_names"] == "2"
    assert not [k for k in client.get_run(parent_id).data.metrics if "/" in k and k.endswith("_vs_labels")]


def test_descriptions_answer_the_four_questions(campaign):
    history = [(20, 0.5), (30, 0.62), (40, 0.7), (50, 0.74)]
    seen = outlook(campaign, history, round_=4, budget=Budget.of(campaign.budget, seed_labels=20, asked=40))
    text = describe.campaign_description(campaign, seen, batch=10, source="holdout")
    first = text.splitlines()[0]
    assert first.startswith("| How good | accuracy **0.740** (holdout) after round 4")
    assert "| **Labels and spend** | 50/60 labels (20 seed, 40 asked, 0 left); spent 3.20 of 3.20 USD |" in text
    assert "| **When it ends** | accuracy " in text and "expected at the 60-label budget" in text
    assert "accuracy reaches 0.99" in text  # the stop rules, in words
    assert "20 seed labels (free) + 40 from the vendor at 0.08 USD = 3.20 USD" in text
    experiment = describe.experiment_description(campaign, 20)
    assert f"**{campaign.campaign}**" in experiment and "**Goal**: accuracy 0.99 on the holdout" in experiment
    assert "round 4 of" in describe.round_description(campaign, seen, batch=10, source="holdout").lower()
    assert "**0.740**" in describe.model_description(campaign, seen, source="holdout")


def test_drawing_the_plots_chooses_no_matplotlib_backend(tmp_path):
    # In a fresh process: importing the plot modules and drawing leave matplotlib's backend as the
    # process had it (unresolved) and never load pyplot, whose figures are global state.
    code = """
import sys
from pathlib import Path
import matplotlib
backend = lambda: dict.__getitem__(matplotlib.rcParams, "backend")
before = backend()
from alflow.reporting import plots
from alflow.operations import simulation_plot
imported = backend()
curves = {"random": [(10, 0.5), (20, 0.6)], "margin": [(10, 0.55), (20, 0.7)]}
simulation_plot.plot_curves(
    curves, Path(sys.argv[1]), metric="accuracy", full_score=0.8, recommended="margin", targets=(90,)
)
plots.learning_curve([20, 30], [0.5, 0.6], metric="accuracy").savefig(Path(sys.argv[1]).with_suffix(".2.png"))
print(before == imported == backend(), "matplotlib.pyplot" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "curves.png")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]
    assert (tmp_path / "curves.png").stat().st_size > 0
