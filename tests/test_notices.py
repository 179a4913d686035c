"""Delivery notices (alflow.intake.notices) and the watcher's looks (cli.watch), without Prefect:
one event per completed delivery, once, whoever restarts; S3 event notifications through SQS."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from alflow.exchange import layout
from alflow.exchange.local import LocalStore
from alflow.intake.notices import EVENT, announce_new, marker_round, unannounced
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import BatchRecord, RoundRecord
from cli.watch import DeliveryWatcher

from helpers import deliver


def _round(store, campaign: str, round_: int) -> None:
    record = RoundRecord(
        round=round_, labels_used=20, metrics={"accuracy": 0.5}, metric_source="holdout", strategy="margin",
        model="LogisticRegression", stop_reason=None, batch=BatchRecord(ids=["a"], scores=[1.0], predicted=["1"]),
    )  # fmt: skip
    Ledger(store, campaign).record_round(record)


def _done(store, campaign: str, round_: int, name: str = "labels.csv") -> None:
    prefix = layout.delivery_prefix(campaign, round_)
    store.write_once(prefix + name, b"id,label\na,1\n")
    store.write_once(prefix + layout.DONE, b"")


def test_each_completed_delivery_is_announced_once_in_round_order(tmp_path):
    store, sent = LocalStore(tmp_path), []
    for r in (1, 2, 3):
        _round(store, "c", r)
    _done(store, "c", 3)
    _done(store, "c", 1)
    store.write_once(layout.delivery_prefix("c", 2) + "labels.csv", b"id,label\n")  # no marker yet: not complete

    announced = announce_new(Ledger(store, "c"), sent.append)

    assert [d.round for d in announced] == [1, 3]
    assert [(e["event"], e["resource"]["prefect.resource.id"], e["payload"]["round"]) for e in sent] == [
        (EVENT, "alflow.campaign.c", 1),
        (EVENT, "alflow.campaign.c", 3),
    ]
    assert sent[0]["id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, f"{store.uri}/c/deliveries/round-0001/_DONE"))
    assert announce_new(Ledger(store, "c"), sent.append) == [] and len(sent) == 2  # a restart re-announces nothing
    _done(store, "c", 2, name="more.csv")
    assert [d.round for d in announce_new(Ledger(store, "c"), sent.append)] == [2]


def test_an_event_that_was_not_delivered_leaves_no_notice(tmp_path):
    store = LocalStore(tmp_path)
    _round(store, "c", 1)
    _done(store, "c", 1)

    def down(event: dict) -> None:
        raise ConnectionError("the Prefect API did not answer")

    with pytest.raises(ConnectionError):
        announce_new(Ledger(store, "c"), down)
    assert [d.round for d in unannounced(Ledger(store, "c"))] == [1]  # the next look tries again


def test_a_delivery_already_ingested_is_not_announced(campaign):
    from alflow.intake.ingest import ingest_campaign
    from alflow.ledger.ledger import bucket

    store = bucket(campaign)
    _round(store, campaign.campaign, 1)
    deliver(campaign, 1, "id,label\na,1\n")
    ingest_campaign(campaign)  # the hourly round got there first
    assert unannounced(Ledger(store, campaign.campaign)) == []


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://b/team/c/deliveries/round-0007/_DONE", 7),
        ("s3://b/team%2Fc%2Fdeliveries%2Fround-0007%2F_DONE", 7),  # as moto encodes keys
        ("s3://b/team/c/deliveries/round-0007/labels.csv", None),
        ("s3://b/team/c/batches/round-0007/_READY", None),
        ("s3://b/team/other/deliveries/round-0007/_DONE", None),
        ("s3://b/teamx/c/deliveries/round-0007/_DONE", None),
        ("s3://other/team/c/deliveries/round-0007/_DONE", None),
    ],
    ids=["marker", "encoded", "label-file", "batch-marker", "other-campaign", "other-prefix", "other-bucket"],
)
def test_an_s3_notification_names_a_completion_marker_of_the_campaign(uri, expected):
    class Store:
        uri = "s3://b/team"

    assert marker_round(uri, Ledger(Store(), "c")) == expected  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_watcher_reads_s3_event_notifications_from_sqs(s3_endpoint, campaign_file, monkeypatch):
    """moto's server delivers S3 notifications to SQS, as S3 does; the watcher lists only on a marker's event."""
    import yaml

    from alflow.config import load_campaign

    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", s3_endpoint)
    name = f"notify-{uuid.uuid4().hex[:10]}"
    s3, sqs = boto3.client("s3"), boto3.client("sqs", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=name)
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # infra/team/bucket-notification.json as docs/TEAM.md has a team apply it: the markers only
    notification = json.loads((Path(__file__).parents[1] / "infra" / "team" / "bucket-notification.json").read_text())
    notification["QueueConfigurations"][0]["QueueArn"] = arn
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=notification)
    raw = yaml.safe_load(campaign_file.read_text())
    raw["vendor"]["bucket"] = f"s3://{name}/team"
    campaign_file.write_text(yaml.safe_dump(raw))
    campaign = load_campaign(campaign_file)
    sent: list[dict] = []
    watcher = DeliveryWatcher([campaign], emit=sent.append, queue=queue)
    from alflow.ledger.ledger import bucket

    store = bucket(campaign)
    _round(store, campaign.campaign, 1)
    assert watcher.poll(1) == []  # the first look is a sweep: nothing delivered yet
    _done(store, campaign.campaign, 1)
    looks = [watcher.poll(2) for _ in range(2)]  # S3's test event and the marker's (any order)

    assert [d.round for look in looks for d in look] == [1]
    assert [json.dumps(e["payload"]["round"]) for e in sent] == ["1"]
    assert watcher.poll(1) == []


def test_a_delivery_without_done_is_announced_once_under_the_campaigns_complete_when(tmp_path):
    import os
    import time

    from alflow.config.schema import QuietPeriod, VendorConfig

    store, sent = LocalStore(tmp_path), []
    answered = VendorConfig(bucket=str(tmp_path), complete_when="all_answered")
    quiet = answered.model_copy(update={"complete_when": QuietPeriod(quiet_minutes=5)})
    for r in (1, 2):
        _round(store, "c", r)
    store.write_once(layout.delivery_prefix("c", 1) + "11", b"{}")  # a tool's object, no _DONE
    store.write_once(layout.delivery_prefix("c", 2) + "12", b"{}")
    ledger = Ledger(store, "c")

    assert announce_new(ledger, sent.append) == []  # done_marker (no vendor given): only _DONE
    assert [d.round for d in announce_new(ledger, sent.append, quiet)] == []  # written just now
    old = time.time() - 600
    os.utime(tmp_path / layout.delivery_prefix("c", 2) / "12", (old, old))
    [second] = announce_new(ledger, sent.append, quiet)
    assert (second.round, second.marker) == (2, f"{store.uri}/c/deliveries/round-0002/")
    assert [d.round for d in announce_new(ledger, sent.append, answered)] == [1]
    assert announce_new(ledger, sent.append, answered) == [] and len(sent) == 2  # once each
    assert (
        marker_round(
            "s3://b/team/c/deliveries/round-0007/11", Ledger(type("S", (), {"uri": "s3://b/team"})(), "c"), True
        )
        == 7
    )


def test_a_review_delivery_is_announced_once_like_a_round_and_not_once_read(tmp_path):
    from alflow.config.schema import VendorConfig
    from alflow.intake.notices import marker_review
    from alflow.ledger.records import DeliveryNotice

    store, sent = LocalStore(tmp_path), []
    ledger = Ledger(store, "c")
    done = layout.review_delivery_prefix("c", 1)
    store.write_once(done + "answers.csv", b"id,label\na,1\n")
    store.write_once(done + layout.DONE, b"")
    store.write_once(layout.review_delivery_prefix("c", 2) + "answers.csv", b"id,label\nb,1\n")  # no _DONE yet
    store.write_once(layout.review_delivery_prefix("c", 3) + layout.DONE, b"")
    store.write_once(layout.review_key("c", 3, "verdict-abc.json"), b"{}")  # its answers were read: not announced

    [first] = announce_new(ledger, sent.append)
    assert (first.review, first.round, first.marker) == (1, 0, f"{store.uri}/c/deliveries/review-0001/_DONE")
    assert [(e["event"], e["payload"]["review"]) for e in sent] == [(EVENT, 1)]
    notice = DeliveryNotice.model_validate_json(store.read(layout.review_key("c", 1, "notice.json")))
    assert notice.review == 1 and notice.event_id == sent[0]["id"]
    assert announce_new(ledger, sent.append) == [] and len(sent) == 1  # once
    answered = VendorConfig(bucket=str(tmp_path), complete_when="all_answered")
    [second] = announce_new(ledger, sent.append, answered)  # a tool that never writes _DONE
    assert (second.review, second.marker) == (2, f"{store.uri}/c/deliveries/review-0002/")
    assert "review 2 delivered" in _said(second)

    root = Ledger(type("S", (), {"uri": "s3://b/team"})(), "c")  # type: ignore[arg-type]
    assert marker_review("s3://b/team/c/deliveries/review-0004/_DONE", root) == 4
    assert marker_review("s3://b/team/c/deliveries/review-0004/x.json", root) is None
    assert marker_review("s3://b/team/c/deliveries/review-0004/x.json", root, True) == 4
    assert marker_review("s3://b/team/c/deliveries/round-0004/_DONE", root) is None
    assert marker_round("s3://b/team/c/deliveries/review-0004/_DONE", root) is None


def _said(delivery) -> str:
    from rich.console import Console

    import cli.watch

    console = Console(record=True, width=200)
    saved, cli.watch.out = cli.watch.out, console
    try:
        cli.watch.say_delivered(delivery)
    finally:
        cli.watch.out = saved
    return console.export_text()
