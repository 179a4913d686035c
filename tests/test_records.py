"""The ledger's typed records and the budget: one JSON form each, read back the same; the arithmetic once."""

import json
import math

import pytest

from alflow.config import BudgetConfig
from alflow.errors import DataValidationError
from alflow.exchange.local import LocalStore
from alflow.ledger.budget import Budget
from alflow.ledger.records import (
    BATCH_SCHEMA_VERSION,
    FIELD_CAP,
    INGEST_SCHEMA_VERSION,
    ROUND_SCHEMA_VERSION,
    SCHEMA_VERSION,
    AutoLabelFile,
    AutoLabelSummary,
    BatchMetadata,
    BatchRecord,
    Claim,
    IngestRecord,
    Outside,
    RejectedRow,
    RoundRecord,
    StrayRecord,
    StreamRecord,
    Tracking,
    WriteOff,
    capped,
)
from alflow.ledger.state import read_record

ROUND = RoundRecord(
    round=3,
    labels_used=40,
    class_counts={"a": 20, "b": 20},
    metrics={"accuracy": 0.9, "f1_macro": math.nan},
    metric_source="holdout",
    strategy="stream",
    model="LogisticRegression",
    stop_reason=None,
    batch=BatchRecord(ids=["x", "y"], scores=[0.9, 0.5], predicted=["a", None], outside=Outside(key="k", ids=["y"])),
    tracking=Tracking(run_id="r", model_version="2"),
    stream=StreamRecord(files=["f.csv"], threshold=0.4, seen=10, asked=2, rate=0.2, target_rate=0.1),
    strategy_used="stream",
    strategy_reason="a stream round",
    auto_labels=AutoLabelSummary(
        count=0, threshold=None, calibration="holdout", calibration_items=50, target_accuracy=0.9
    ),
)
INGEST = IngestRecord(
    round=1,
    ingested_in=2,
    file="c/deliveries/round-0001/labels.csv",
    format="csv",
    aggregation="majority",
    tie_rule="outstanding",
    annotators_required=1,
    sha256="ab" * 32,
    delivered_at="2026-01-01T00:00:00+00:00",
    status="partial",
    labels={"x": "a"},
    count=1,
    rejected=[RejectedRow(row=2, id="y", label="c", annotator=None, reason="label_not_in_class_set")],
    refused_rows=1,
    reasons={"label_not_in_class_set": 1},
    items=["x"],
    ingested_at="2026-01-01T01:00:00+00:00",
    version="17f-2a",
    machine_labels={"w": "b"},
)
RECORDS = [
    ROUND,
    INGEST,
    Claim(host="h", pid=1, run="u", round=1, claimed_at="t0", expires_at="t1"),
    StrayRecord(file="c/deliveries/round-0099/x.csv", reason="unknown_round", message="m", seen_in=2, seen_at="t"),
    WriteOff(round=1, ids=["y"], reason="unreadable image", written_at="t"),
    AutoLabelFile(labels={"z": "a"}, confidence={"z": 0.99}),
    BatchMetadata(
        campaign="c",
        round=1,
        count=2,
        classes=["a", "b"],
        instructions="label it",
        format="csv",
        deliver_to="c/deliveries/round-0001/",
        delivery_files="*.csv, then an empty _DONE marker last",
        strategy="auto",
        created_at="t",
        strategy_used="margin",
        strategy_reason="the model is fitted: the smallest margin first",
    ),
]
VERSIONS = {IngestRecord: INGEST_SCHEMA_VERSION, RoundRecord: ROUND_SCHEMA_VERSION, BatchMetadata: BATCH_SCHEMA_VERSION}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_reads_back_from_its_json_as_it_was(record):
    again = type(record).from_json(record.to_json())
    assert again.model_dump_json() == record.model_dump_json()  # NaN compares unequal: compare the JSON
    assert again.schema_version == VERSIONS.get(type(record), SCHEMA_VERSION)


@pytest.mark.parametrize("record", [ROUND, RECORDS[-1]], ids=["round.json", "batch.json"])
def test_a_version_1_round_record_or_batch_json_reads_without_the_strategy_that_ran(record):
    raw = json.loads(record.to_json())
    raw["schema_version"] = 1  # as alflow wrote them before the strategy that ran was recorded
    del raw["strategy_used"], raw["strategy_reason"]
    old = type(record).from_json(json.dumps(raw))
    assert old.schema_version == 1 and old.strategy == record.strategy
    assert old.strategy_used is None and old.strategy_reason is None


def test_an_ingest_record_of_version_1_reads_with_its_counts_derived():
    raw = json.loads(INGEST.to_json())
    for added in ("schema_version", "refused_rows", "reasons", "items", "version", "machine_labels"):
        del raw[added]  # as alflow 0.1.0 wrote it: every refused row, no counts
    raw["rejected"].append({**raw["rejected"][0], "row": 3, "id": "v"})
    raw["duplicates"] = ["u"]
    old = IngestRecord.from_json(json.dumps(raw))
    assert old.schema_version == 1 and old.refused_rows == 2 and old.refused == 2
    assert old.reasons == {"label_not_in_class_set": 2} and old.items == ["u", "x"] and old.machine_labels == {}


def test_capped_keeps_a_vendor_value_short_and_valid():
    assert capped("x" * 300) == "x" * FIELD_CAP + "... (+44 characters)"
    assert capped("ok\udcff") == "ok\\udcff"  # a lone surrogate becomes its escape
    assert capped(3) == 3


def test_a_nan_metric_stays_nan_through_json():
    again = RoundRecord.from_json(ROUND.to_json())
    assert math.isnan(again.metrics["f1_macro"]) and again.metrics["accuracy"] == 0.9


def test_a_record_without_a_schema_version_is_version_1_and_unknown_fields_are_ignored():
    raw = json.loads(ROUND.to_json())
    del raw["schema_version"]
    raw["added_by_a_later_release"] = {"x": 1}
    again = RoundRecord.from_json(json.dumps(raw))
    assert again.schema_version == 1 and again.batch_ids == ["x", "y"] and again.outside_ids == ["y"]


def test_a_corrupt_record_is_one_line_naming_the_file(tmp_path):
    store = LocalStore(tmp_path)
    store.write_once("c/ledger/round-0001/round.json", b'{"round": "one"}')
    with pytest.raises(DataValidationError, match=r"round-0001/round.json is not a valid RoundRecord \(") as caught:
        read_record(store, "c/ledger/round-0001/round.json", RoundRecord)
    assert "\n" not in str(caught.value) and caught.value.reason == "unreadable"


def test_a_file_refused_whole_counts_once_as_refused():
    whole = INGEST.model_copy(update={"status": "rejected", "rejected": [], "labels": {}, "count": 0})
    assert (INGEST.refused, whole.refused) == (1, 1)


# --- the budget --------------------------------------------------------------------------------------


def test_the_budget_counts_seed_labels_and_every_label_asked():
    budget = Budget.of(BudgetConfig(max_labels=100, cost_per_label=0.5), seed_labels=20, asked=30)
    assert (budget.left, budget.vendor_labels) == (50, 80)
    after = budget.ask(10)
    assert after.figures() == {"labels_asked": 40, "labels_remaining": 40, "spend": 20.0, "spend_remaining": 20.0}
    assert budget.ask(80).left == 0  # never negative
    assert Budget.of(BudgetConfig(max_labels=10), seed_labels=2).figures() == {"labels_asked": 0, "labels_remaining": 8}
    assert Budget.of(BudgetConfig(max_labels=10), seed_labels=2).cost(5) is None
