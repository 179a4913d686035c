"""The round beyond pool batches: auto-labeling, query synthesis, and stream-based rounds over
arriving files, each through the real flow with a temporary Prefect server and MLflow."""

import io
import json

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from alflow.config import load_campaign
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.ledger.ledger import campaign_state
from alflow.reporting.reports import status_rows
from flows.round import active_learning_round

from helpers import deliver, snapshot, vendor_for

pytestmark = pytest.mark.usefixtures("prefect_server")


def _edit(campaign_file, **sections):
    raw = yaml.safe_load(campaign_file.read_text())
    for name, values in sections.items():
        raw[name] = {**(raw.get(name) or {}), **values}
    campaign_file.write_text(yaml.safe_dump(raw))
    return load_campaign(campaign_file)


def _answers(campaign_file) -> dict[str, str]:
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str)
    return dict(zip(answers["id"], answers["label"], strict=True))


def _round_metric(campaign, round_: int, name: str) -> float:
    client = MlflowClient(campaign.tracking.uri)
    experiment = client.get_experiment_by_name(campaign.experiment)
    [run] = client.search_runs([experiment.experiment_id], f"tags.`alflow.round` = '{round_}'")
    return run.data.metrics[name]


def test_auto_labels_are_kept_apart_from_human_labels_and_the_budget(campaign_file):
    campaign = _edit(campaign_file, auto_label={"target_accuracy": 0.8, "min_calibration_items": 20})
    answers = _answers(campaign_file)
    vendor = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv")

    first = active_learning_round(str(campaign_file))
    assert first.status == "exported" and first.auto_labeled > 0, first.message()
    assert f"auto-labeled {first.auto_labeled} items" in first.message()
    state = campaign_state(campaign)
    record = state.rounds[1].auto_labels
    assert record.count == first.auto_labeled and record.calibration == "holdout"
    auto = state.auto_labeled()
    assert len(auto) == first.auto_labeled
    # apart from human labels, never asked of the vendor, not counted in labels used or the budget
    assert not set(auto) & (set(state.human_labels()) | set(state.asked_ids))
    assert first.labels_used == 20 and len(state.batch_ids(1)) == 10
    assert _round_metric(campaign, 1, "budget/labels_remaining") == 60 - 20 - 10
    assert _round_metric(campaign, 1, "autolabel/labeled") == first.auto_labeled
    # the threshold promises 80 % (a lower bound on held-out accuracy); the answer key checks the pool
    correct = sum(answers[i] == label for i, label in auto.items())
    assert correct / len(auto) >= 0.8

    vendor.deliver(1)
    second = active_learning_round(str(campaign_file))
    assert second.status == "exported" and second.labels_used == 30
    state = campaign_state(campaign)
    again = json.loads(open_store(campaign.vendor.bucket).read(state.rounds[2].auto_labels.key))["labels"]
    assert not set(again) & set(auto), "an item is auto-labeled once"
    assert not set(state.batch_ids(2)) & set(auto)
    assert _round_metric(campaign, 2, "autolabel/labeled") == len(auto) + len(again)
    assert [row["auto_labeled"] for row in status_rows(campaign)] == [len(auto), len(again)]


def test_a_round_whose_threshold_meets_no_target_auto_labels_nothing(campaign_file):
    campaign = _edit(campaign_file, auto_label={"target_accuracy": 0.999, "min_calibration_items": 10_000})
    first = active_learning_round(str(campaign_file))
    assert first.status == "exported" and first.auto_labeled == 0
    record = campaign_state(campaign).rounds[1].auto_labels
    assert record.count == 0 and record.threshold is None and record.key is None
    vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").deliver(1)
    assert active_learning_round(str(campaign_file)).labels_used == 30


def test_auto_labeling_is_off_by_default(campaign_file, campaign):
    report = active_learning_round(str(campaign_file))
    assert report.auto_labeled == 0
    assert campaign_state(campaign).rounds[1].auto_labels is None
    assert not any("autolabels" in p.name for p in (campaign_file.parent / "bucket").rglob("*"))


def test_synthetic_items_are_exported_with_their_features_and_trained_on(campaign_file):
    campaign = _edit(campaign_file, strategy={"synthetic": 3})
    first = active_learning_round(str(campaign_file))
    assert first.status == "exported" and first.batch_size == 10

    store = open_store(campaign.vendor.bucket)
    prefix = layout.batch_prefix(campaign.campaign, 1)
    items = pd.read_csv(io.BytesIO(store.read(prefix + "items.csv")), dtype={"id": str})
    synthetic = items[items["id"].str.startswith("synthetic-r0001-")]
    assert len(synthetic) == 3 and json.loads(store.read(prefix + "batch.json"))["synthetic"] == 3
    pixels = [c for c in items.columns if c.startswith("px")]
    assert synthetic[pixels].notna().all().all()
    pool = pd.read_csv(campaign.pool.uri, dtype={"id": str})
    assert set(items["id"]) - set(synthetic["id"]) <= set(pool["id"])

    # the vendor labels everything, synthetic items included; round 2 trains on all 30 labels
    answers = _answers(campaign_file)
    labels = {i: answers.get(i, "3") for i in items["id"]}
    deliver(campaign, 1, "id,label\n" + "".join(f"{i},{label}\n" for i, label in labels.items()))
    second = active_learning_round(str(campaign_file))
    assert second.status == "exported" and second.labels_used == 30, second.message()
    state = campaign_state(campaign)
    assert set(synthetic["id"]) <= set(state.human_labels()) and set(synthetic["id"]) <= state.outside_ids


def test_stream_rounds_screen_each_arrival_once_and_ingest_its_labels(campaign_file, tmp_path):
    campaign = _edit(campaign_file, budget={"max_labels": 200})
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    seed = set(pd.read_csv(campaign.seed_labels.uri, dtype=str)["id"])
    pool = pool[~pool["id"].isin(seed)]
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    pool.iloc[:300].to_csv(arrivals / "day-1.csv", index=False)
    pool.iloc[300:600].to_csv(arrivals / "day-2.csv", index=False)
    vendor = vendor_for(campaign, tmp_path / "data" / "answers.csv")

    first = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=0.05)
    assert first.status == "exported", first.message()
    record = campaign_state(campaign).rounds[1]
    assert record.stream.files == ["day-1.csv", "day-2.csv"] and record.stream.seen == 600
    asked = record.stream.asked
    assert 0 < asked <= 180 == 200 - 20  # within the budget the seed labels left
    assert first.batch_size == asked == len(record.batch_ids)
    assert record.batch.outside is None, "arrivals that are pool items stay pool items"
    assert _round_metric(campaign, 1, "budget/labels_asked") == asked
    assert record.batch.scores == sorted(record.batch.scores, reverse=True)  # best first, as every batch
    assert "; screened 600 items from 2 arrival files;" in first.message()

    # nothing new arrived and the vendor has not delivered: the round waits and changes nothing
    before = snapshot(tmp_path / "bucket")
    waiting = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=0.05)
    assert waiting.status == "waiting" and snapshot(tmp_path / "bucket") == before

    vendor.deliver(1)
    idle = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=0.05)
    assert idle.status == "no_arrivals" and idle.labels_ingested == asked, idle.message()
    state = campaign_state(campaign)
    assert set(state.human_labels()) == set(record.batch_ids)

    # a pool round between stream rounds counts the pool correctly and selects from it
    pooled = active_learning_round(str(campaign_file))
    assert pooled.status == "exported" and pooled.labels_used == 20 + asked, pooled.message()
    assert campaign_state(campaign).rounds[2].stream is None
    vendor.deliver(2)

    pool.iloc[600:900].to_csv(arrivals / "day-3.csv", index=False)
    third = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=0.05)
    assert third.status in {"exported", "stopped"}, third.message()
    assert third.labels_used == 20 + asked + pooled.batch_size
    state = campaign_state(campaign)
    later = state.rounds[3]
    fresh = set(pool.iloc[600:900]["id"]) - set(state.batch_ids(2))  # the pool round took some already
    assert later.stream.files == ["day-3.csv"] and later.stream.seen == 600 + len(fresh)  # resumed
    assert f"; screened {len(fresh)} items from 1 arrival file;" in third.message()  # this round's, not the total
    assert not set(later.batch_ids) & set(record.batch_ids)


def test_a_stream_of_new_items_is_not_stopped_by_an_exhausted_pool_and_trains_on_them(campaign_file, tmp_path):
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    seed = set(pd.read_csv(tmp_path / "data" / "seed.csv", dtype=str)["id"])
    pool[pool["id"].isin(seed)].to_csv(tmp_path / "data" / "pool.csv", index=False)  # nothing left to ask
    campaign = load_campaign(campaign_file)
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    pool[~pool["id"].isin(seed)].iloc[:300].to_csv(arrivals / "day-1.csv", index=False)

    first = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=0.05)
    assert first.status == "exported" and first.batch_size > 0, first.message()
    asked = campaign_state(campaign).rounds[1].batch
    assert sorted(asked.outside.ids) == sorted(asked.ids)
    vendor_for(campaign, tmp_path / "data" / "answers.csv").deliver(1)
    pool[~pool["id"].isin(seed)].iloc[300:600].to_csv(arrivals / "day-2.csv", index=False)
    second = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=0.05)
    assert second.labels_used == 20 + first.batch_size, second.message()  # trained on the stream's items


def test_a_stream_round_never_asks_for_an_item_it_auto_labels(campaign_file, tmp_path):
    campaign = _edit(campaign_file, auto_label={"target_accuracy": 0.8, "min_calibration_items": 20})
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    pool.to_csv(arrivals / "all.csv", index=False)
    report = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=1.0)
    state = campaign_state(campaign)
    assert report.auto_labeled > 0 and report.batch_size > 0
    assert not set(state.batch_ids(1)) & set(state.auto_labeled())


def test_a_stream_round_that_asks_nothing_says_so_and_marks_the_file_screened(campaign_file, campaign, tmp_path):
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    seed = set(pd.read_csv(campaign.seed_labels.uri, dtype=str)["id"])
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    pool[pool["id"].isin(seed)].to_csv(arrivals / "labeled-already.csv", index=False)

    report = active_learning_round(str(campaign_file), arrivals=str(arrivals), target_rate=0.5)
    assert report.status == "exported" and report.batch_size == 0
    assert report.message().endswith("asked for no labels this round"), report.message()
    record = campaign_state(campaign).rounds[1]
    assert record.batch is None and record.stream.files == ["labeled-already.csv"]
    assert active_learning_round(str(campaign_file), arrivals=str(arrivals)).status == "no_arrivals"


def test_without_a_holdout_the_metric_and_the_auto_label_threshold_are_cross_validated(campaign_file, tmp_path):
    answers = _answers(campaign_file)
    seed = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})["id"].iloc[:150]
    pd.DataFrame({"id": seed, "label": [answers[i] for i in seed]}).to_csv(tmp_path / "data" / "seed.csv", index=False)
    raw = yaml.safe_load(campaign_file.read_text())
    del raw["holdout"]
    raw["budget"]["max_labels"] = 200
    raw["auto_label"] = {"target_accuracy": 0.9, "min_calibration_items": 30}
    campaign_file.write_text(yaml.safe_dump(raw))
    campaign = load_campaign(campaign_file)

    report = active_learning_round(str(campaign_file))

    assert report.status == "exported" and report.metric_source == "cross_validation", report.message()
    assert 0.5 < report.metrics["accuracy"] <= 1.0
    auto = campaign_state(campaign).rounds[1].auto_labels
    assert auto.calibration == "cross_validation" and auto.calibration_items == 150
    assert auto.count > 0 and auto.threshold is not None, "150 labels of digits license a 0.9 threshold"
    labeled = campaign_state(campaign).auto_labeled()
    assert sum(answers[i] == label for i, label in labeled.items()) / len(labeled) >= 0.9
    assert _round_metric(campaign, 1, "autolabel/labeled") == auto.count
