"""The `alflow` command as a user types it (in-process, against the session's Prefect server)."""

import json

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from alflow.config import load_campaign
from alflow.ledger.ledger import campaign_state
from alflow.reporting import dashboard
from alflow.reporting.reports import status_rows
from cli import app

from helpers import deliver, snapshot, vendor_for

runner = CliRunner()


def alflow(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_init_writes_a_valid_example(tmp_path):
    target = tmp_path / "churn.yaml"
    result = alflow("init", "churn", "--path", target)
    assert result.exit_code == 0, result.output
    assert load_campaign(target).campaign == "churn"
    assert f"`alflow check {target}`, then run `alflow round {target}`" in " ".join(result.output.split())
    again = alflow("init", "churn", "--path", target)
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_init_rejects_a_bad_name(tmp_path):
    result = alflow("init", "Bad Name", "--path", tmp_path / "x.yaml")
    assert result.exit_code == 1
    assert "must be lowercase letters, digits and dashes" in result.output


@pytest.mark.usefixtures("prefect_server")
def test_round_then_status_json_agree(campaign_file, campaign):
    vendor = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv")
    first = alflow("round", campaign_file)
    assert first.exit_code == 0, first.output
    assert "digits-demo round 1: 20/60 labels" in first.output
    assert "; spent 0.80 of 3.20 USD; exported 10 items to" in first.output  # seed labels are free
    vendor.deliver(1)
    second = alflow("round", campaign_file, "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)  # stdout holds the JSON alone
    assert (report["status"], report["round"], report["labels_used"], report["batch_size"]) == ("exported", 2, 30, 10)
    assert report["spend"] == pytest.approx(1.6) and report["spend_allowed"] == pytest.approx(3.2)
    assert report["currency"] == "USD" and report["forecast"] is None  # too few rounds to fit a curve
    assert report["labels_ingested"] == 10 and report["message"].startswith("digits-demo round 2: 30/60 labels")
    waiting = alflow("round", campaign_file)
    assert waiting.exit_code == 0, waiting.output
    assert "waiting for 10 labels from round 2" in waiting.output

    status = alflow("status", campaign_file, "--json")
    assert status.exit_code == 0, status.output
    payload = json.loads(status.stdout)
    rows = payload["rounds"]
    assert [(r["spend"], r["spend_total"]) for r in rows] == [(pytest.approx(0.8), pytest.approx(0.8))] * 1 + [
        (pytest.approx(0.8), pytest.approx(1.6))
    ]
    outlook = payload["outlook"]
    assert (outlook["labels_used"], outlook["labels_asked"], outlook["labels_left"]) == (30, 20, 20)
    assert outlook["spend"] == pytest.approx(1.6) and outlook["currency"] == "USD"
    assert [(r["round"], r["labels_used"], r["asked"], r["delivered"], r["ingested"], r["state"]) for r in rows] == [
        (1, 20, 10, 10, 10, "ingested"),
        (2, 30, 10, None, None, "waiting for vendor"),
    ]
    # ...and agrees with what MLflow holds: the round runs, their metrics and model versions.
    client = MlflowClient(campaign.tracking.uri)
    for row in rows:
        run = client.get_run(row["mlflow_run_id"])
        assert run.data.tags["alflow.round"] == str(row["round"])
        assert run.data.metrics["model/accuracy"] == row["accuracy"]
        assert run.data.metrics["budget/labels_used"] == row["labels_used"]
        version = client.get_model_version(campaign.campaign, row["model_version"])
        assert version.run_id == row["mlflow_run_id"]

    table = alflow("status", campaign_file)
    assert table.exit_code == 0, table.output
    assert "waiting for vendor" in table.output
    assert "total spend" in table.output and "spend: spent 1.60 of 3.20 USD" in table.output
    assert "forecast: after 4 rounds with a score" in table.output
    port = dashboard.ui_port(load_campaign(campaign_file).tracking.uri)
    assert f"MLflow: http://127.0.0.1:{port}/#/experiments/" in table.output
    assert f"--port {port}" in table.output  # the command that serves this campaign's database there


def test_status_without_a_cost_per_label_counts_labels_only(campaign_file, campaign):
    raw = yaml.safe_load(campaign_file.read_text())
    del raw["budget"]["cost_per_label"]
    campaign_file.write_text(yaml.safe_dump(raw))
    empty = alflow("status", campaign_file, "--json")
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.stdout) == {
        "campaign": campaign.campaign,
        "max_labels": 60,
        "cost_per_label": None,
        "currency": "USD",
        "rounds": [],
        "outlook": None,
        "stop_reason": None,
        "paused": None,
        "changes": [],
        "batches_in_flight": 1,
        "open_batches": [],
        "quality": {"annotators": [], "vendor": None},  # no gold, no votes yet: no evidence
        "label_time": None,  # no tool has recorded a time yet
        "reviews": [],
        "repeats": None,  # no label asked again (vendor.repeats)
    }
    assert "no rounds yet" in alflow("status", campaign_file).output


def _runs(campaign):
    client = MlflowClient(campaign.tracking.uri)
    experiment = client.get_experiment_by_name(campaign.experiment)
    return len(client.search_runs([experiment.experiment_id])) if experiment else 0


def _round_fails(campaign_file, message, *options):
    """`alflow round` exits 1 with `message` on one line; the bucket and MLflow are unchanged."""
    campaign = load_campaign(campaign_file)
    bucket = campaign_file.parent / "bucket"
    before, runs = snapshot(bucket), _runs(campaign)
    result = alflow("round", campaign_file, *options)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert result.output.count("error:") == 1
    assert snapshot(bucket) == before
    assert _runs(campaign) == runs
    return result.output


def _one_good_round(campaign_file, campaign):
    assert alflow("round", campaign_file).exit_code == 0
    vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").deliver(1)


@pytest.mark.usefixtures("prefect_server")
def test_duplicate_pool_ids(campaign_file, campaign):
    _one_good_round(campaign_file, campaign)
    pool_path = campaign_file.parent / "data" / "pool.csv"
    pool = pd.read_csv(pool_path, dtype={"id": str})
    pool.loc[5, "id"] = pool.loc[2, "id"]
    pool.to_csv(pool_path, index=False)
    out = _round_fails(campaign_file, "pool.csv: column 'id' must be unique")
    assert f"'id': '{pool.loc[2, 'id']}'" in out


@pytest.mark.usefixtures("prefect_server")
def test_an_arrival_with_duplicate_ids_stops_a_stream_round(campaign_file, campaign, tmp_path):
    assert alflow("round", campaign_file).exit_code == 0
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    pool = pd.read_csv(campaign_file.parent / "data" / "pool.csv", dtype={"id": str}).iloc[:50]
    pool.to_csv(arrivals / "day-1.csv", index=False)
    pool.iloc[[0, 1, 1]].to_csv(arrivals / "day-2.csv", index=False)
    _round_fails(campaign_file, "day-2.csv: column 'id' must be unique", "--arrivals", arrivals)
    assert alflow("round", campaign_file, "--arrivals", arrivals, "--target-rate", "0").exit_code == 1
    (arrivals / "day-2.csv").unlink()
    blank = pool.iloc[:5].astype({"px3": object})
    blank.loc[blank.index[2], "px3"] = "n/a"
    blank.to_csv(arrivals / "day-3.csv", index=False)
    _round_fails(
        campaign_file, "day-3.csv: feature column(s) 'px3' have empty or non-numeric values", "--arrivals", arrivals
    )
    (arrivals / "day-4.csv").write_text("")
    (arrivals / "day-3.csv").unlink()
    _round_fails(campaign_file, "day-4.csv is not a readable CSV file", "--arrivals", arrivals)
    _round_fails(campaign_file, "is not a folder", "--arrivals", tmp_path / "nowhere")


@pytest.mark.usefixtures("prefect_server")
def test_missing_column_in_seed_labels(campaign_file, campaign):
    _one_good_round(campaign_file, campaign)
    seed_path = campaign_file.parent / "data" / "seed.csv"
    pd.read_csv(seed_path).rename(columns={"label": "class"}).to_csv(seed_path, index=False)
    _round_fails(campaign_file, "seed.csv: required column 'label' is missing")


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(
    ("bad_rows", "reasons", "accepted"),
    [
        ("{id},cat", {"label_not_in_class_set": 1}, 9),
        ("not-in-batch,3", {"id_not_in_batch": 1}, 9),
        ("{id},3\n{id},4", {"tie": 2}, 9),  # two votes for one item, one each: a tie
    ],
    ids=["unknown-label", "unknown-id", "tied-votes"],
)
def test_bad_rows_of_a_delivery_are_quarantined_and_the_rest_counted_once(
    campaign_file, campaign, bad_rows, reasons, accepted
):
    assert alflow("round", campaign_file).exit_code == 0
    batch = pd.read_csv(campaign_file.parent / "bucket/digits-demo/batches/round-0001/items.csv", dtype=str)
    good = [f"{i},{(n % 10)}" for n, i in enumerate(batch["id"][1:])]
    deliver(campaign, 1, "\n".join(["id,label", bad_rows.format(id=batch["id"][0]), *good]) + "\n")

    result = alflow("round", campaign_file)
    again = alflow("round", campaign_file)  # a re-run (a retry, a duplicate event) changes nothing

    assert result.exit_code == 0, result.output
    assert f"ingested {accepted} labels" in result.output
    assert "waiting for 1 label from round 1" in again.output and "ingested" not in again.output
    [reason_file] = (campaign_file.parent / "bucket/digits-demo/quarantine/round-0001").glob("*.reason.json")
    assert json.loads(reason_file.read_text())["reasons"] == reasons
    [row] = json.loads(alflow("status", campaign_file, "--json").stdout)["rounds"]
    assert (row["ingested"], row["state"]) == (accepted, "partly ingested: 1 outstanding")


def test_invalid_config_value_stops_before_prefect(campaign_file, monkeypatch):
    def no_flow(path):
        raise AssertionError("the flow must not start for a bad campaign file")

    monkeypatch.setattr("cli.rounds.run_round", no_flow)
    raw = yaml.safe_load(campaign_file.read_text())
    raw["strategy"]["batch_size"] = 0
    campaign_file.write_text(yaml.safe_dump(raw))
    result = alflow("round", campaign_file)
    assert result.exit_code == 1
    assert "strategy.batch_size: Input should be greater than 0 (got 0)" in result.output
    assert not (campaign_file.parent / "bucket").exists()


@pytest.mark.usefixtures("prefect_server")
def test_demo_runs_to_a_stop_and_summarises(tmp_path):
    result = alflow("demo", "--workdir", tmp_path / "demo", "--max-labels", 50, "--batch-size", 15)
    assert result.exit_code == 0, result.output
    assert "round 3: 50/50 labels" in result.output
    assert "stopped: budget_spent" in result.output
    assert "random sampling with the same labels" in result.output
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'demo' / 'mlflow.db'}" in result.output
    assert "The rounds as Prefect flow runs: http://127.0.0.1:" in result.output  # the session's server


def test_demo_refuses_a_bucket_holding_an_earlier_campaign(tmp_path):
    (tmp_path / "shared-bucket" / "digits-demo" / "ledger").mkdir(parents=True)
    (tmp_path / "shared-bucket" / "digits-demo" / "ledger" / "old.json").write_text("{}")
    result = alflow("demo", "--workdir", tmp_path / "demo", "--bucket", tmp_path / "shared-bucket")
    assert result.exit_code == 1
    assert "holds an earlier demo campaign" in result.output


@pytest.mark.usefixtures("prefect_server")
def test_items_the_vendor_cannot_label_are_written_off_and_the_campaign_goes_on(campaign_file, campaign):
    assert alflow("round", campaign_file).exit_code == 0
    batch = campaign_state(campaign).batch_ids(1)
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str).set_index("id")["label"]
    deliver(campaign, 1, "id,label\n" + "".join(f"{i},{answers[i]}\n" for i in batch[:8]))
    waiting = alflow("round", campaign_file)
    assert "waiting for 2 labels from round 1" in waiting.output

    refused = alflow("write-off", campaign_file, "--round", "1", "--ids", batch[0], "--reason", "blurred")
    assert refused.exit_code == 1 and "not waiting for" in refused.output
    empty = alflow("write-off", campaign_file, "--round", "1", "--ids", "", "--reason", "blurred")
    assert empty.exit_code == 1 and "--ids is empty" in empty.output
    done = alflow("write-off", campaign_file, "--round", "1", "--reason", "image unreadable", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "campaign": campaign.campaign,
        "round": 1,
        "written_off": batch[8:],
        "reason": "image unreadable",
    }
    state = campaign_state(campaign)
    assert state.missing(1) == [] and state.written_off[1] == frozenset(batch[8:])

    report = alflow("round", campaign_file)
    assert "round 2: 28/60 labels" in report.output, report.output
    state = campaign_state(campaign)
    assert state.labels_asked == 20  # written-off items stay counted as asked
    assert not set(state.batch_ids(2)) & set(batch)
    [row] = [r for r in status_rows(campaign) if r["round"] == 1]
    assert row["written_off"] == 2 and row["state"] == "ingested (2 written off)"
