"""`alflow simulate`: the campaign replayed with an oracle, for each strategy and random."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from alflow.operations.demo import write_demo_data
from alflow.operations.simulate import mean_curve
from alflow.operations.simulation_plot import groups
from alflow.operations.summary import labels_to_reach, summarise, table_markdown
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


def test_simulate_runs_a_strategy_made_with_make_strategy_by_its_import_path(labeled_campaign, tmp_path):
    arguments = ["--answers", "truth", "--strategies", "custom_strategy:SQUARED_MARGIN", "--seeds", "1"]
    result = runner.invoke(app, ["simulate", str(labeled_campaign), *arguments])
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "simulation" / "curves.json").read_text())
    assert set(payload["curves"]) == {"squared_margin", "random"}
    assert [p["labels"] for p in payload["curves"]["squared_margin"]] == [20, 30, 40, 50]


def test_simulate_takes_a_strategy_spec_in_python(labeled_campaign):
    import alflow
    from alflow.config import load_campaign
    from alflow.operations.simulate import simulate
    from alflow.selection.measures import entropy

    made = alflow.make_strategy(entropy, name="my_entropy")
    result = simulate(load_campaign(labeled_campaign), answers="truth", strategies=[made], seeds=1)
    assert set(result.curves) == {"my_entropy", "random"}


def test_simulate_rejects_a_bad_import_path_in_one_line(labeled_campaign):
    result = runner.invoke(
        app, ["simulate", str(labeled_campaign), "--answers", "truth", "--strategies", "custom_strategy:NOWHERE"]
    )
    assert result.exit_code == 1
    assert "--strategies: strategy 'custom_strategy:NOWHERE' cannot be imported" in result.output
    assert len(result.output.strip().splitlines()) == 1


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
    assert (
        "optimises the area under the learning curve" in sim.reason and "0.8000 against random's 0.7000" in sim.reason
    )
    assert labels_to_reach(curves["random"], 0.7) == 20
    assert mean_curve([[(10, 0.2), (20, 0.4)], [(10, 0.4), (20, 0.6)]]) == [(10, pytest.approx(0.3)), (20, 0.5)]
    assert np.isclose(rows["random"]["final"], 0.9)


def test_the_recommendation_says_what_it_optimised_and_flags_a_strategy_that_ends_higher():
    curves = {
        "random": [(10, 0.5), (20, 0.6), (30, 0.7), (40, 0.8)],
        "fast": [(10, 0.5), (20, 0.95), (30, 0.96), (40, 0.96)],  # best area, flat at the end
        "late": [(10, 0.5), (20, 0.7), (30, 0.9), (40, 0.99)],  # ends higher
    }
    by_area = summarise("accuracy", curves, 1.0)
    assert by_area.recommended == "fast"
    assert "Note: late ends higher (0.9900 against 0.9600" in by_area.reason
    by_end = summarise("accuracy", curves, 1.0, objective="final")
    assert by_end.recommended == "late" and "optimises the accuracy at the end of the budget" in by_end.reason
    assert "ends higher" not in by_end.reason
    by_labels = summarise("accuracy", curves, 1.0, objective="labels")
    assert by_labels.recommended == "late"  # the only one to reach 98 % of 1.0
    assert "optimises the labels needed to reach 98 %" in by_labels.reason


def test_labels_saved_are_reported_at_every_target_the_budget_reaches():
    curves = {"random": [(10, 0.5), (20, 0.96), (30, 0.97)], "margin": [(10, 0.5), (20, 0.985), (30, 0.99)]}
    sim = summarise("accuracy", curves, 1.0)
    assert sim.targets == (95, 98, 99)
    margin_row = next(r for r in sim.table if r["strategy"] == "margin")
    assert margin_row["saved_vs_random_95"] == 0 and margin_row["saved_note_95"] == ""
    # random never reaches 98 % within 30 labels: margin saves more than 30 - 20
    assert margin_row["saved_vs_random_98"] == 10 and margin_row["saved_note_98"] == ">"
    assert margin_row["saved_vs_random_99"] == 0 and margin_row["saved_note_99"] == ">"
    table = table_markdown(sim)
    assert "| saved vs random (95 %) | saved vs random (98 %) | saved vs random (99 %) |" in table
    assert "| margin | 0.8250 | 0.9900 | 20 | 20 | 30 | 0 | >10 | >0 |" in table


def test_targets_no_strategy_reaches_are_left_out():
    curves = {"random": [(10, 0.5), (20, 0.6)], "margin": [(10, 0.5), (20, 0.955)]}
    assert summarise("accuracy", curves, 1.0).targets == (95,)


def test_the_plot_draws_identical_curves_once_and_names_them_together():
    same = [(10, 0.5), (20, 0.8)]
    drawn = groups({"auto": same, "combined": list(same), "random": [(10, 0.5), (20, 0.6)]})
    assert list(drawn) == ["auto = combined", "random"]


def test_simulate_reports_progress_per_strategy_and_seed(labeled_campaign):
    from alflow.config import load_campaign
    from alflow.operations.simulate import simulate

    calls = []
    sim = simulate(
        load_campaign(labeled_campaign),
        answers="truth",
        strategies=["margin"],
        seeds=2,
        progress=lambda strategy, seed, done, total: calls.append((strategy, seed, done, total)),
    )
    # budget 50, 20 seed labels, batches of 10: 3 rounds a replay, reported from 0 to 3
    for strategy in ("margin", "random"):
        for seed in (0, 1):
            assert [c[2:] for c in calls if c[:2] == (strategy, seed)] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert sim.objective == "aulc"


@pytest.mark.slow
def test_simulate_replays_a_text_campaign(tmp_path):
    """The TF-IDF preset on the generated tickets: every strategy replays on texts to the budget."""
    from alflow.config import load_campaign
    from alflow.operations.simulate import simulate

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
