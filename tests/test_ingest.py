"""Ingest of vendor deliveries: partial acceptance, quarantine, aggregation, duplicates, conflicts.

Against the local folder store and S3 (moto server on loopback). Each bad delivery is checked for
its machine-readable reason, its message, and that nothing accepted before was lost or changed.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pandas as pd
import pytest

from alflow.config import CampaignConfig
from alflow.exchange import layout
from alflow.intake.ingest import ingest_campaign, summary
from alflow.intake.votes import judge
from alflow.ledger.ledger import bucket, campaign_state
from alflow.ledger.records import IngestRecord, RejectedRow
from alflow.reporting.reports import RoundReport, idle_report
from alflow.round.context import Inputs, RoundContext

from helpers import ask
from helpers import deliver_files as deliver

BATCH = ["a", "b", "c", "d"]


def with_vendor(campaign: CampaignConfig, **changes) -> CampaignConfig:
    return campaign.model_copy(update={"vendor": campaign.vendor.model_copy(update=changes)})


@pytest.fixture(params=["local", "s3"])
def campaign_on(request, campaign):
    """The test campaign on a local folder bucket, or on a fresh S3 bucket (moto server)."""
    if request.param == "local":
        return campaign
    request.getfixturevalue("s3_endpoint")
    name = f"ingest-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return with_vendor(campaign, bucket=f"s3://{name}/team")


def records(campaign: CampaignConfig, round_: int = 1) -> list[dict]:
    return campaign_state(campaign).ingests.get(round_, [])


# --- pure: the verdict on one file ---------------------------------------------------------------


def votes(rows: list[tuple]) -> pd.DataFrame:
    columns = ["id", "label", "annotator"][: len(rows[0])]
    return pd.DataFrame(rows, columns=columns)


CLASSES = ("cat", "dog", "eel")


@pytest.mark.parametrize(
    ("rows", "labels", "reasons"),
    [
        ([("a", "cat"), ("b", "dog")], {"a": "cat", "b": "dog"}, []),
        ([("a", "cat"), ("zz", "dog")], {"a": "cat"}, [("zz", "id_not_in_batch")]),
        ([("a", "cat"), ("b", "cow")], {"a": "cat"}, [("b", "label_not_in_class_set")]),
        ([("a", "cat"), ("b", None)], {"a": "cat"}, [("b", "missing_label")]),
        ([("a", "cat"), (None, "dog")], {"a": "cat"}, [(None, "missing_id")]),
        ([("a", "cat"), ("a", "dog")], {}, [("a", "tie"), ("a", "tie")]),
        ([("a", "cat"), ("a", "cat")], {"a": "cat"}, []),
    ],
    ids=["all-good", "foreign-id", "unknown-class", "no-label", "no-id", "tie-stays-outstanding", "same-twice"],
)
def test_judge_accepts_the_valid_rows_and_names_each_other_row(rows, labels, reasons):
    verdict = judge(votes(rows), classes=CLASSES, batch=set(BATCH), accepted={})
    assert verdict.labels == labels
    assert [(r.id, r.reason) for r in verdict.rejected] == reasons


def test_majority_vote_with_annotators_and_agreement():
    rows = [
        ("a", "cat", "ann1"), ("a", "cat", "ann2"), ("a", "dog", "ann3"),
        ("b", "dog", "ann1"), ("b", "dog", "ann2"), ("b", "dog", "ann3"),
        ("c", "eel", "ann1"), ("c", "cat", "ann2"),
        ("d", "eel", "ann1"), ("d", "eel", "ann1"),
    ]  # fmt: skip
    verdict = judge(votes(rows), classes=CLASSES, batch=set(BATCH), accepted={}, annotators=2)
    assert verdict.labels == {"a": "cat", "b": "dog"}
    assert sorted((r.id, r.reason) for r in verdict.rejected) == [
        ("c", "tie"), ("c", "tie"), ("d", "duplicate_vote"), ("d", "too_few_votes"),
    ]  # fmt: skip
    assert verdict.agreement == pytest.approx((2 / 3 + 1) / 2)
    assert verdict.annotators == ["ann1", "ann2", "ann3"]


def test_tie_rule_class_order_takes_the_class_listed_first():
    rows = [("c", "eel", "ann1"), ("c", "cat", "ann2")]
    verdict = judge(votes(rows), classes=CLASSES, batch=set(BATCH), accepted={}, tie_rule="class_order")
    assert verdict.labels == {"c": "cat"} and verdict.rejected == []


def test_dawid_skene_breaks_a_three_way_split_by_annotator_reliability():
    # ann1 never disagrees with the majority; ann2 and ann3 do, once each and twice.
    table = {
        "a": "cat cat cat", "b": "dog dog dog", "c": "eel eel eel", "d": "cat cat dog",
        "e": "dog eel dog", "f": "eel eel cat", "g": "cat dog eel",
    }  # fmt: skip
    rows = [(i, label, f"ann{n + 1}") for i, labels in table.items() for n, label in enumerate(labels.split())]
    common = {"classes": CLASSES, "batch": set(table), "accepted": {}}
    majority = judge(votes(rows), **common)
    assert "g" not in majority.labels and {r.reason for r in majority.rejected} == {"tie"}
    verdict = judge(votes(rows), aggregation="dawid_skene", **common)
    assert verdict.labels == {**majority.labels, "g": "cat"}


def test_late_duplicate_is_skipped_and_a_conflicting_relabel_refused():
    verdict = judge(
        votes([("a", "cat"), ("b", "eel"), ("c", "dog")]),
        classes=CLASSES,
        batch=set(BATCH),
        accepted={"a": "cat", "b": "dog"},
    )
    assert verdict.labels == {"c": "dog"}
    assert verdict.duplicates == ["a"]
    assert verdict.rejected == [
        RejectedRow(row=2, id="b", label="eel", annotator=None, reason="conflicting_relabel", accepted_label="dog")
    ]


@pytest.mark.parametrize(
    ("label", "hint"),
    [
        ("Nonspam", "did you mean 'nonspam'?"),
        (" SPAM ", "did you mean 'spam'?"),
        ("nonspma", "did you mean 'nonspam'?"),
        ("ham", None),
    ],
    ids=["case", "case-and-spaces", "typo", "nothing-close"],
)
def test_a_label_refused_for_its_spelling_says_which_class_it_may_mean(label, hint):
    verdict = judge(votes([("a", "spam"), ("b", label)]), classes=("spam", "nonspam"), batch=set(BATCH), accepted={})
    [refused] = verdict.rejected
    assert (refused.reason, refused.detail) == ("label_not_in_class_set", hint)
    base = {"round": 1, "ingested_in": 1, "file": "f", "format": "csv", "aggregation": "majority"}
    base |= {"tie_rule": "outstanding", "annotators_required": 1, "sha256": "s", "delivered_at": "t"}
    record = IngestRecord(**base, status="partial", labels={"a": "spam"}, count=1, rejected=[refused], refused_rows=1)
    expected = (f"label {refused.label!r} is not a class: {hint}",) if hint else ()  # as read: stripped
    assert summary([record])["label_hints"] == expected
    line = RoundReport("c", "waiting", **summary([record])).ingest_message()  # the round's line says it
    assert line.endswith("".join(f"; {h}" for h in expected)) and "rejected 1 row or file" in line


# --- through a store -------------------------------------------------------------------------------


def test_partial_delivery_accepts_the_valid_part_and_quarantines_the_rest(campaign_on):
    campaign = campaign_on
    ask(campaign, BATCH_IDS := ["digit-0001", "digit-0002", "digit-0003"])
    deliver(campaign, {"labels.csv": "id,label\ndigit-0001,3\ndigit-0002,eleven\ndigit-9999,4\n"})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"digit-0001": "3"}}
    assert state.missing(1) == BATCH_IDS[1:]  # the rest stays outstanding
    [record] = records(campaign)
    assert record.status == "partial" and record.count == 1
    assert [(r.id, r.reason) for r in record.rejected] == [
        ("digit-0002", "label_not_in_class_set"),
        ("digit-9999", "id_not_in_batch"),
    ]
    store = bucket(campaign)
    reason = json.loads(store.read(record.quarantine + ".reason.json"))
    assert reason["reasons"] == {"label_not_in_class_set": 1, "id_not_in_batch": 1}
    assert record.quarantine.startswith(layout.quarantine_prefix(campaign.campaign, 1))
    assert record.delivered_at and record.ingested_in == 2

    report = idle_report(RoundContext(campaign, Inputs([], [], 0, {}), state))
    assert report.status == "waiting" and report.waiting_for == {1: 2}
    assert report.labels_ingested == 1 and report.rows_rejected == 2
    assert "ingested 1 label" in report.message() and "rejected 2 rows or files" in report.message()

    # The vendor sends the missing labels in a second file: accepted, the first label untouched.
    deliver(campaign, {"fix.csv": "id,label\ndigit-0001,3\ndigit-0002,5\ndigit-0003,7\n"})
    state = ingest_campaign(campaign)
    assert state.ingested == {1: {"digit-0001": "3", "digit-0002": "5", "digit-0003": "7"}}
    assert state.outstanding == []
    fix = next(r for r in records(campaign) if r.file.endswith("fix.csv"))
    assert fix.duplicates == ["digit-0001"] and fix.count == 2


def test_a_delivery_seen_twice_counts_once_and_rerunning_changes_nothing(campaign, tmp_path):
    ask(campaign, ["digit-0001", "digit-0002"])
    text = "id,label\ndigit-0001,3\ndigit-0002,5\n"
    deliver(campaign, {"labels.csv": text, "labels-copy.csv": text})

    first = ingest_campaign(campaign)
    bucket = tmp_path / "bucket"
    before = {p: p.read_bytes() for p in bucket.rglob("*") if p.is_file()}
    second = ingest_campaign(campaign)

    assert first.ingested == second.ingested == {1: {"digit-0001": "3", "digit-0002": "5"}}
    assert len(records(campaign)) == 1  # same bytes under two names: one delivery
    assert {p: p.read_bytes() for p in bucket.rglob("*") if p.is_file()} == before
    assert len(first.human_labels()) == 2


def test_conflicting_relabel_keeps_the_first_label_and_says_so(campaign):
    ask(campaign, ["digit-0001", "digit-0002"])
    deliver(campaign, {"a.csv": "id,label\ndigit-0001,3\ndigit-0002,5\n"})
    ingest_campaign(campaign)
    deliver(campaign, {"b.csv": "id,label\ndigit-0001,8\n"})

    state = ingest_campaign(campaign)

    assert state.ingested[1] == {"digit-0001": "3", "digit-0002": "5"}
    late = next(r for r in records(campaign) if r.file.endswith("b.csv"))
    assert late.status == "rejected"
    assert late.rejected[0].reason == "conflicting_relabel" and late.rejected[0].accepted_label == "3"


BAD_FILES = [
    ("labels.csv", b"\xff\xfe\x00garbage", "unreadable", "not a readable CSV"),
    ("labels.csv", b"ident,class\ndigit-0001,3\n", "missing_column", "required column 'id' is missing"),
    ("labels.txt", b"id,label\r\ndigit-0001,3\r\n", "not_a_label_file", "files end in .csv"),
    ("labels.csv", b"", "empty", "holds no header and no labels"),
    ("labels.csv", b"id,label\n", "empty", "holds no label rows"),
]


@pytest.mark.parametrize(
    ("name", "data", "code", "message"),
    BAD_FILES,
    ids=["binary", "wrong-columns", "wrong-suffix", "empty", "header-only"],
)
def test_a_bad_file_is_quarantined_whole_with_its_reason(campaign_on, name, data, code, message):
    campaign = campaign_on
    ask(campaign, ["digit-0001"])
    deliver(campaign, {"good.csv": "id,label\ndigit-0001,3\n"})
    ingest_campaign(campaign)
    deliver(campaign, {name: data})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"digit-0001": "3"}}  # nothing lost, nothing changed
    bad = next(r for r in records(campaign) if r.file.endswith(name) and r.status == "rejected")
    assert bad.reason == code and message in bad.message
    store = bucket(campaign)
    assert store.read(bad.quarantine) == data  # the file kept as delivered
    assert json.loads(store.read(bad.quarantine + ".reason.json"))["reason"] == code
    assert ingest_campaign(campaign) == state  # reported once, not every round


def test_unsafe_delivery_keys_are_never_read_as_paths(s3_endpoint, campaign):
    name = f"unsafe-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    campaign = with_vendor(campaign, bucket=f"s3://{name}")
    ask(campaign, ["digit-0001"])
    prefix = layout.delivery_prefix(campaign.campaign, 1)
    # S3 keys are just strings: a vendor tool can create one that looks like a path escape.
    client.put_object(Bucket=name, Key=prefix + "../../ledger/round-0001/ingest-x.json", Body=b"{}")
    client.put_object(Bucket=name, Key=prefix + "labels.csv", Body=b"id,label\ndigit-0001,3\n")
    client.put_object(Bucket=name, Key=prefix + "_DONE", Body=b"")

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"digit-0001": "3"}}
    unsafe = next(r for r in records(campaign) if r.reason == "unsafe_key")
    assert "unsafe store key" in unsafe.message and unsafe.count == 0


def test_files_wait_for_the_completion_marker(campaign):
    ask(campaign, ["digit-0001"])
    deliver(campaign, {"labels.csv": "id,label\ndigit-0001,3\n"}, done=False)
    assert ingest_campaign(campaign).ingested == {}
    deliver(campaign, {})
    assert ingest_campaign(campaign).ingested == {1: {"digit-0001": "3"}}


def test_ingest_summary_counts_what_one_run_did():
    base = {"round": 1, "ingested_in": 2, "file": "f", "format": "csv", "aggregation": "majority"}
    base |= {"tie_rule": "outstanding", "annotators_required": 1, "sha256": "s", "delivered_at": "t"}
    row = RejectedRow(row=1, id="y", label="z", annotator=None, reason="label_not_in_class_set")
    recs = [
        IngestRecord(
            **base,
            count=2,
            rejected=[row],
            refused_rows=1,
            status="partial",
            duplicates=["x"],
            quarantine="q1",
            agreement=1.0,
        ),
        IngestRecord(**base, count=0, status="rejected", quarantine="q2"),
    ]
    assert summary(recs) == {
        "labels_ingested": 2,
        "rows_rejected": 2,
        "duplicates": 1,
        "quarantined": ("q1", "q2"),
        "agreement": 1.0,
        "machine_labels": 0,
        "unread": (),
        "label_hints": (),  # z is close to no class
    }


GOLDEN = Path(__file__).parent / "golden"


def test_ground_truth_output_manifest_ingests_with_its_metadata(campaign):
    campaign = with_vendor(campaign, format="ground_truth").model_copy(update={"classes": ("cat", "dog", "eel")})
    ask(campaign, ["t-1", "t-2", "t-3"])
    manifest = (GOLDEN / "gt-output.manifest").read_bytes()
    deliver(campaign, {"pets-round-1/manifests/output/output.manifest": manifest, "pets-round-1/other.json": "{}"})

    state = ingest_campaign(campaign)

    # t-2 is the service's own auto-label (human-annotated: no): kept apart, not waited for
    assert state.ingested == {1: {"t-1": "cat", "t-3": "eel"}}
    assert state.machine_labeled == {1: {"t-2": "dog"}} and state.outstanding == []
    assert state.human_labels_asked == 2 and state.labels_asked == 3
    [record] = records(campaign)  # the rest of the job folder is not a delivery
    assert record.label_metadata["t-1"] == {
        "confidence": 0.93,
        "human_annotated": "yes",
        "job_name": "labeling-job/pets-round-1",
        "created_at": "2026-11-20T10:31:02.123456",
    }


def test_label_studio_export_ingests_annotators_and_agreement(campaign):
    campaign = with_vendor(campaign, format="label_studio").model_copy(update={"classes": ("cat", "dog", "eel")})
    ask(campaign, ["t-1", "t-2", "t-3"])
    deliver(campaign, {"export.json": (GOLDEN / "ls-export.json").read_bytes()})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat", "t-2": "dog"}}
    assert state.missing(1) == ["t-3"]  # no annotation yet: still outstanding
    [record] = records(campaign)
    assert record.agreement == 1.0 and record.annotators == ["7", "ann@vendor.example"]
    assert record.votes == 3  # the cancelled annotation is not a vote
