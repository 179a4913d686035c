"""Text campaigns through the round flow (a real temporary Prefect server, MLflow on SQLite): the
generated support tickets, the TF-IDF preset, a simulated vendor delivering in each format."""

import io
import json
import shutil

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from alflow.config import load_campaign
from alflow.exchange import formats, layout
from alflow.exchange.bucket import open_store
from alflow.ledger.ledger import campaign_state
from alflow.operations.demo import write_demo_data
from flows.round import active_learning_round

from helpers import vendor_for

pytestmark = pytest.mark.usefixtures("prefect_server")

RAW = ["I was charged twice for my plan and need a refund", "my parcel never arrived", "the app crashes on start"]


def _text_campaign(folder, mlflow_template, *, fmt, holdout=True, edit=None):
    shutil.copy(mlflow_template, folder / "mlflow.db")
    path = write_demo_data(folder, bucket=None, max_labels=60, batch_size=10, dataset="text", fmt=fmt)
    raw = yaml.safe_load(path.read_text())
    if not holdout:
        raw.pop("holdout")
    raw["stopping"] = {"metric": "accuracy"}  # only the budget stops it
    if edit:
        edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path, load_campaign(path)


def _batch_texts(campaign, round_, fmt) -> dict[str, str]:
    """id -> the text the annotator reads, from the round's batch file as the vendor gets it."""
    data = open_store(campaign.vendor.bucket).read(layout.batch_prefix(campaign.campaign, round_) + fmt.batch_file)
    if fmt.name == "csv":
        items = pd.read_csv(io.BytesIO(data), dtype=str)
        return dict(zip(items["id"], items["text"], strict=True))
    if fmt.name == "label_studio":
        return {t["data"]["id"]: t["data"]["text"] for t in json.loads(data)}
    lines = [json.loads(line) for line in data.decode().splitlines()]
    return {line["id"]: line["source"] for line in lines}


@pytest.mark.parametrize(
    ("fmt", "holdout"), [("csv", True), ("label_studio", False), ("ground_truth", True)], ids=["csv", "ls", "gt"]
)
def test_text_campaign_trains_logs_registers_and_exports_the_text(tmp_path, mlflow_template, fmt, holdout):
    path, campaign = _text_campaign(tmp_path, mlflow_template, fmt=fmt, holdout=holdout)
    vendor = vendor_for(campaign, tmp_path / "data" / "answers.csv")
    pool = pd.read_csv(campaign.pool.uri, dtype=str).set_index("id")["text"]
    reports = []
    for _ in range(3):
        report = active_learning_round(str(path))
        reports.append(report)
        if report.status != "exported":
            break
        spec = formats.get(fmt)
        texts = _batch_texts(campaign, report.round, spec)
        assert len(texts) == 10 and all(pool[i] == t for i, t in texts.items())  # the item's own text
        vendor.deliver(report.round, fmt=fmt)

    assert [r.status for r in reports] == ["exported"] * 3
    assert [r.labels_used for r in reports] == [20, 30, 40]
    assert all(0.25 < r.metrics["accuracy"] <= 1 for r in reports)
    state = campaign_state(campaign)
    sources = {r.metric_source for r in state.rounds.values()}
    assert sources == {"holdout" if holdout else "cross_validation"}
    if holdout:  # 40 labels beat 20 on the same held-out tickets (a cross-validated estimate is too noisy)
        assert reports[-1].metrics["accuracy"] > reports[0].metrics["accuracy"]
    assert sum(len(labels) for labels in state.ingested.values()) == 20

    client = MlflowClient(campaign.tracking.uri)
    experiment = client.get_experiment_by_name(campaign.experiment)
    [parent] = client.search_runs([experiment.experiment_id], "tags.`alflow.kind` = 'campaign'")
    curve = client.get_metric_history(parent.info.run_id, "model/accuracy")
    assert sorted((m.step, m.value) for m in curve) == [(r.round, r.metrics["accuracy"]) for r in reports]
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{campaign.campaign}'"))
    assert versions == [1, 2, 3]
    mlflow.set_tracking_uri(campaign.tracking.uri)
    for version in versions:  # each round's model reads raw strings, as a list or as a text column
        model = mlflow.pyfunc.load_model(f"models:/{campaign.campaign}/{version}")
        predicted = model.predict(RAW)
        assert len(predicted) == 3 and set(predicted) <= set(campaign.classes)
        assert list(model.predict(pd.DataFrame({"text": RAW}))) == list(predicted)
    champion = mlflow.sklearn.load_model(f"models:/{campaign.campaign}@champion")
    assert champion.predict(RAW[:1])[0] == "billing"


def test_text_campaign_whose_seed_labels_hold_one_class_starts_cold(tmp_path, mlflow_template):
    path, campaign = _text_campaign(tmp_path, mlflow_template, fmt="csv")
    answers = pd.read_csv(tmp_path / "data" / "answers.csv", dtype=str)
    answers[answers["label"] == "billing"].head(5).to_csv(campaign.seed_labels.uri, index=False)
    vendor = vendor_for(campaign, tmp_path / "data" / "answers.csv")

    cold = active_learning_round(str(path))
    assert cold.status == "exported", cold.message()
    record = campaign_state(campaign).rounds[1]
    assert record.metric_source == "cold_start" and record.tracking.model_version is None
    asked = answers.set_index("id").loc[record.batch_ids, "label"]
    assert asked.nunique() >= 2  # diversity found other classes than the seed's one
    vendor.deliver(1)

    trained = active_learning_round(str(path))
    assert trained.status == "exported", trained.message()
    record = campaign_state(campaign).rounds[2]
    assert record.metric_source == "holdout" and record.tracking.model_version == "1"
    assert trained.labels_used == 15 and trained.metrics["accuracy"] > 0.3
