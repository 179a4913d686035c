"""`alflow simulate`: the campaign replayed with an oracle, for each strategy and random."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from alflow.tools.demo import write_demo_data
from alflow.tools.simulate import labels_to_reach, mean_curve, summarise
from cli import app

from helpers import snapshot

runner = CliRunner()


@pytest.fixture
def labeled_campaign(tmp_path, mlflow_template):
    """The digits demo campaign (budget 50, batches of 10) whose pool also holds the answers."""
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_demo_data(tmp_path, bucket=None, max_labels=50, batch_size=10)
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    answers = pd.read_csv(tmp_path / "data" / "answers.csv", dtype=str).rename(columns={"label": "truth"})
    pool.merge(answers, on="id").to_csv(tmp_path / "data" / "pool.csv", index=False)
    return path


def test_simulate_writes_curves_plot_table_and_mlflow_run(labeled_campaign, tmp_path):
    result = runner.invoke(
        app, ["simulate", str(labeled_campaign), "--answers", "truth", "--strategies", "auto,margin", "--seeds", "1"]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "simulation"
    payload = json.loads((out / "curves.json").read_text())
    assert set(payload["curves"]) == {"auto", "margin", "random"}
    for curve in payload["curves"].values():
        assert [p["labels"] for p in curve] == [20, 30, 40, 50]
    assert payload["recommended"] in payload["curves"]
    assert "Recommended:" in result.output and payload["recommended"] in result.output
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "| strategy | AULC |" in (out / "table.md").read_text()

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits-demo")
    runs = client.search_runs([experiment.experiment_id], "tags.`alflow.kind` = 'simulation'")
    assert len(runs) == 1
    assert runs[0].data.tags["alflow.recommended"] == payload["recommended"]
    history = client.get_metric_history(runs[0].info.run_id, "accuracy_margin")
    assert sorted(m.step for m in history) == [20, 30, 40, 50]


def test_simulate_with_a_missing_answers_column_says_so_and_writes_nothing(labeled_campaign, tmp_path):
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["simulate", str(labeled_campaign), "--answers", "nope", "--seeds", "1"])
    assert result.exit_code == 1
    assert "no answers column 'nope'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


def test_simulate_rejects_an_unknown_strategy(labeled_campaign, tmp_path):
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["simulate", str(labeled_campaign), "--answers", "truth", "--strategies", "magic"])
    assert result.exit_code == 1
    assert "--strategies: unknown ['magic']" in result.output
    assert snapshot(tmp_path) == before


def test_table_figures_by_hand():
    curves = {
        "random": [(10, 0.5), (20, 0.7), (30, 0.9)],
        "margin": [(10, 0.5), (20, 0.9), (30, 1.0)],
    }
    sim = summarise("accuracy", curves, 1.0)
    rows = {r["strategy"]: r for r in sim.table}
    assert rows["margin"]["aulc"] == pytest.approx(0.8)
    assert rows["margin"]["labels_to_98"] == 30 and rows["random"]["labels_to_98"] is None
    assert rows["margin"]["labels_to_95"] == 30
    assert sim.recommended == "margin"
    assert "0.8000 vs random 0.7000" in sim.reason
    assert labels_to_reach(curves["random"], 0.7) == 20
    assert mean_curve([[(10, 0.2), (20, 0.4)], [(10, 0.4), (20, 0.6)]]) == [(10, pytest.approx(0.3)), (20, 0.5)]
    assert np.isclose(rows["random"]["final"], 0.9)


@pytest.mark.slow
def test_simulate_replays_a_text_campaign(tmp_path):
    """The TF-IDF preset on the generated tickets: every strategy replays on texts to the budget."""
    from alflow.config import load_campaign
    from alflow.tools.simulate import simulate

    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, dataset="text")
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype=str).head(600)
    answers = pd.read_csv(tmp_path / "data" / "answers.csv", dtype=str).rename(columns={"label": "truth"})
    pool.merge(answers, on="id").to_csv(tmp_path / "data" / "pool.csv", index=False)
    seed = pd.read_csv(tmp_path / "data" / "seed.csv", dtype=str)
    seed[seed["id"].isin(pool["id"])].to_csv(tmp_path / "data" / "seed.csv", index=False)
    result = simulate(load_campaign(path), answers="truth", strategies=["auto", "margin", "typiclust"], seeds=1)
    assert set(result.curves) == {"auto", "margin", "typiclust", "random"}
    for curve in result.curves.values():
        assert curve[-1][0] == 60 and 0.25 < curve[-1][1] <= 1.0


def test_simulate_json_is_the_table_and_the_recommendation(labeled_campaign, tmp_path):
    args = ["simulate", str(labeled_campaign), "--answers", "truth", "--strategies", "margin", "--seeds", "1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["recommended"] in {"margin", "random"} and payload["metric"] == "accuracy"
    assert {row["strategy"] for row in payload["table"]} == {"margin", "random"}
    assert payload["files"]["curves"] == str(tmp_path / "simulation" / "curves.json")
    assert payload["mlflow_run_id"]
