"""Exactly-once under crashes, retries and races.

Kill tests: a subprocess SIGKILLs itself at a named step boundary (`ALFLOW_CRASH_AT`, a no-op
unless set; alflow.ledger.crash.CRASH_POINTS lists them all, and every one is killed here). It
runs either a whole round (`alflow round`: the Prefect flow against the session's Prefect server,
MLflow on the campaign's SQLite file) or, to keep the suite fast, just the stage that holds the
boundary. The next round, run normally by the flow, must resume: nothing lost, nothing counted
twice, the budget intact.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from alflow.config import load_campaign
from alflow.errors import RoundConflictError
from alflow.exchange import formats, layout
from alflow.exchange.local import LocalStore
from alflow.intake.ingest import ingest_campaign
from alflow.ledger import claims
from alflow.ledger.crash import CRASH_POINTS, PAUSE_ENV, RELEASE_ENV
from alflow.ledger.ledger import Ledger, bucket, campaign_state
from alflow.ledger.records import BatchRecord, RoundRecord, now, sha256
from alflow.round.export import export_batch, finish_exports
from alflow.round.opening import open_round
from cli import app
from flows.round import active_learning_round

from helpers import deliver, snapshot, vendor_for, wait_until

pytestmark = pytest.mark.usefixtures("prefect_server")
ALFLOW = str(Path(sys.executable).parent / "alflow")
KILLED = set()  # the crash points the tests below kill a process at


def killing_at(*points: str) -> list[str]:
    KILLED.update(points)
    return list(points)


# Points killed inside a test's body, registered when the module loads: every xdist worker knows them.
AT_ROUND_AFTER_CLAIM = killing_at("round:after_claim")[0]
AT_EXPORT_AFTER_MARKER = killing_at("export:after:marker")[0]
AT_COMMIT_BEFORE = killing_at("commit:before")[0]
AT_WATCH_AFTER_EMIT = killing_at("watch:after_emit")[0]
AT_REVIEW_BEFORE_EXPORT = killing_at("review:before_export")[0]


def child_env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), **extra}


def run_round_killed_at(campaign_file: Path, point: str) -> None:
    """Run one round in a subprocess that SIGKILLs itself at `point`; assert it died there."""
    done = subprocess.run(
        [ALFLOW, "round", str(campaign_file)],
        env=child_env(ALFLOW_CRASH_AT=point),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr


def run_stage_killed_at(campaign_file: Path, point: str, code: str) -> None:
    """Run one library stage (`code`, with `c` the campaign) in a subprocess killed at `point`."""
    script = (
        "from alflow.config import load_campaign\n"
        "from alflow.intake.ingest import ingest_campaign\n"
        "from alflow.round import export, opening\n"
        "from alflow.round.context import RoundContext\n"
        "from alflow.round.inputs import validate_inputs\n"
        f"c = load_campaign({str(campaign_file)!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script + code],
        env=child_env(ALFLOW_CRASH_AT=point),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr


def commit_round_one(campaign) -> RoundRecord:
    """Commit round 1 asking for ten pool items, as a round does just before its export."""
    ids = [f"digit-{i:04d}" for i in range(1000, 1400)]
    pool = set(pd.read_csv(campaign.pool.uri, dtype=str)["id"])
    ids = [i for i in ids if i in pool][:10]
    record = RoundRecord(
        round=1,
        labels_used=20,
        metrics={"accuracy": 0.5},
        metric_source="holdout",
        strategy="margin",
        model="LogisticRegression",
        stop_reason=None,
        batch=BatchRecord(ids=ids, scores=[1.0] * 10, predicted=["0"] * 10),
    )
    return Ledger.of(campaign).record_round(record)


def test_a_run_killed_after_claiming_the_round_does_not_block_the_next(campaign_file, campaign):
    point = AT_ROUND_AFTER_CLAIM
    run_stage_killed_at(campaign_file, point, "opening.claim_round(opening.open_round(c))")
    assert bucket(campaign).exists(layout.ledger_key(campaign.campaign, 1, "claim-0001.json"))

    report = active_learning_round(str(campaign_file))

    assert report.status == "exported" and report.round == 1  # the dead run's claim did not block
    assert campaign_state(campaign).labels_asked == 10


@pytest.mark.parametrize("point", killing_at("export:before", "export:after:items", "export:after:metadata"))
def test_an_export_killed_before_its_marker_is_finished_by_the_next_round(campaign_file, campaign, point):
    commit_round_one(campaign)
    code = "ctx = RoundContext(c, validate_inputs(c), ingest_campaign(c))\n"
    code += "export.export_batch(ctx, ctx.state.rounds[1])"
    run_stage_killed_at(campaign_file, point, code)
    store = bucket(campaign)
    prefix = layout.batch_prefix(campaign.campaign, 1)
    assert not store.exists(prefix + layout.READY)  # the vendor sees nothing yet

    report = active_learning_round(str(campaign_file))

    assert report.status == "waiting" and report.waiting_for == {1: 10}
    assert store.exists(prefix + layout.READY)
    metadata = json.loads(store.read(prefix + "batch.json"))
    assert metadata["sha256"] == sha256(store.read(prefix + "items.csv")) and metadata["count"] == 10
    state = campaign_state(campaign)
    assert sorted(state.rounds) == [1] and state.labels_asked == 10  # asked once, budget intact


def test_an_export_killed_after_its_marker_is_complete_and_not_redone(campaign_file, campaign):
    point = AT_EXPORT_AFTER_MARKER
    run_round_killed_at(campaign_file, point)
    store = bucket(campaign)
    prefix = layout.batch_prefix(campaign.campaign, 1)
    assert store.exists(prefix + layout.READY)
    before = snapshot(campaign_file.parent / "bucket")

    report = active_learning_round(str(campaign_file))

    assert report.status == "waiting" and report.waiting_for == {1: 10} and not report.resumed_exports
    assert snapshot(campaign_file.parent / "bucket") == before  # nothing exported twice, nothing changed


def test_a_round_killed_between_logging_and_commit_is_redone_once(campaign_file, campaign):
    point = AT_COMMIT_BEFORE
    run_round_killed_at(campaign_file, point)
    assert campaign_state(campaign).rounds == {}  # logged to MLflow, but nothing decided

    report = active_learning_round(str(campaign_file))

    assert report.status == "exported" and report.round == 1 and report.batch_size == 10
    state = campaign_state(campaign)
    assert sorted(state.rounds) == [1] and state.labels_asked == 10
    # MLflow: the rerun reused the dead run's round run and model version
    client = MlflowClient(campaign.tracking.uri)
    experiment = client.get_experiment_by_name(campaign.experiment).experiment_id
    runs = client.search_runs([experiment], "tags.`alflow.kind` = 'round'")
    assert [r.data.tags["alflow.round"] for r in runs] == ["1"]
    assert [str(v.version) for v in client.search_model_versions(f"name = '{campaign.campaign}'")] == ["1"]
    assert state.rounds[1].tracking.run_id == runs[0].info.run_id


@pytest.mark.parametrize(
    ("point", "whole_round", "on_s3"),
    [
        (killing_at("ingest:after_read")[0], True, False),
        (killing_at("ingest:after_quarantine")[0], False, False),
        ("ingest:after_quarantine", False, True),
        (killing_at("ingest:after_record")[0], False, False),
    ],
    ids=["after-read-whole-round", "after-quarantine", "after-quarantine-s3", "after-record"],
)
def test_an_ingest_killed_midway_loses_nothing_and_counts_once(
    request, campaign_file, campaign, point, whole_round, on_s3
):
    if on_s3:
        request.getfixturevalue("s3_endpoint")
        name = f"kill-{uuid.uuid4().hex[:10]}"
        boto3.client("s3").create_bucket(Bucket=name)
        raw = yaml.safe_load(campaign_file.read_text())
        raw["vendor"]["bucket"] = f"s3://{name}/team"
        campaign_file.write_text(yaml.safe_dump(raw))
        campaign = load_campaign(campaign_file)
    answers = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").answers
    ids = commit_round_one(campaign).batch_ids
    open_round(campaign)  # finishes round 1's export
    rows = [f"{i},{answers[i]}" for i in ids[:-1]] + [f"{ids[-1]},not-a-digit", "digit-9999,3"]
    deliver(campaign, 1, "id,label\n" + "\n".join(rows) + "\n")

    if whole_round:
        run_round_killed_at(campaign_file, point)
    else:
        run_stage_killed_at(campaign_file, point, "ingest_campaign(c)")
    before = snapshot(campaign_file.parent / "bucket")
    again = active_learning_round(str(campaign_file))
    state = campaign_state(campaign)

    assert again.status == "waiting" and again.waiting_for == {1: 1}  # the bad row stays outstanding
    [record] = state.ingests[1]
    assert record.count == 9 and [r.reason for r in record.rejected] == ["label_not_in_class_set", "id_not_in_batch"]
    assert state.human_labels() == {i: answers[i] for i in ids[:-1]}
    if point == "ingest:after_record":
        assert snapshot(campaign_file.parent / "bucket") == before  # everything was already in
    assert ingest_campaign(campaign) == state  # and another ingest changes nothing


def test_two_rounds_at_once_one_proceeds_the_other_stops_with_a_clear_message(campaign_file, campaign, tmp_path):
    store = bucket(campaign)
    claim = layout.ledger_key(campaign.campaign, 1, "claim-0001.json")
    release = tmp_path / "release"  # the racer holds its claim until the test has raced it
    racer = subprocess.Popen(
        [ALFLOW, "round", str(campaign_file)],
        env=child_env(**{PAUSE_ENV: "round:after_claim", RELEASE_ENV: str(release)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: store.exists(claim), what=f"the racing round writing its claim {claim}", process=racer, every=0.2
        )

        result = CliRunner().invoke(app, ["round", str(campaign_file)])

        assert result.exit_code == 1, result.output
        assert f"round 1 of campaign 'digits-demo' is being run by pid {racer.pid}" in result.output
        release.touch()
        assert racer.wait(timeout=240) == 0
    finally:
        release.touch()
        if racer.poll() is None:
            racer.kill()
    state = campaign_state(campaign)
    assert sorted(state.rounds) == [1] and state.labels_asked == 10


def test_claims_expire_and_dead_holders_do_not_block(tmp_path):
    store = LocalStore(tmp_path)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        held = {"host": socket.gethostname(), "pid": live.pid, "run": "x", "round": 1}
        stamp = "2999-01-01T00:00:00+00:00"
        store.write_once(
            "c/ledger/round-0001/claim-0001.json",
            json.dumps({**held, "claimed_at": "now", "expires_at": stamp}).encode(),
        )
        with pytest.raises(RoundConflictError, match=f"being run by pid {live.pid}"):
            claims.claim_round(Ledger(store, "c"), 1)
    finally:
        live.kill()
        live.wait()
    assert claims.claim_round(Ledger(store, "c"), 1).pid == os.getpid()  # its process is gone: taken over
    expired = claims.claim_round(Ledger(store, "c"), 2, lease=timedelta(seconds=-1))
    assert expired.expires_at <= now()
    other_host = {"host": "elsewhere", "pid": 1, "run": "y", "round": 3, "claimed_at": "now"}
    store.write_once(
        "c/ledger/round-0003/claim-0001.json",
        json.dumps({**other_host, "expires_at": "2000-01-01T00:00:00+00:00"}).encode(),
    )
    assert claims.claim_round(Ledger(store, "c"), 3).round == 3  # expired lease on another host: taken over
    assert store.list("c/ledger/round-0003/") == [
        "c/ledger/round-0003/claim-0001.json",
        "c/ledger/round-0003/claim-0002.json",
    ]


def test_rerunning_an_export_or_an_ingest_changes_nothing(campaign_file, campaign):
    assert active_learning_round(str(campaign_file)).status == "exported"
    vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").deliver(1)
    state = ingest_campaign(campaign)
    before = snapshot(campaign_file.parent / "bucket")

    assert ingest_campaign(campaign) == state
    ctx = open_round(campaign)
    export_batch(ctx, state.rounds[1])
    finish_exports(ctx)

    assert snapshot(campaign_file.parent / "bucket") == before


def test_a_watcher_killed_between_the_event_and_its_notice_announces_again_then_never(campaign_file, campaign):
    point = AT_WATCH_AFTER_EMIT
    commit_round_one(campaign)
    open_round(campaign)  # finishes round 1's export
    deliver(campaign, 1, "id,label\n")
    watch = [ALFLOW, "watch", str(campaign_file), "--once"]
    killed = subprocess.run(watch, env=child_env(ALFLOW_CRASH_AT=point), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    notice = layout.ledger_key(campaign.campaign, 1, "notice.json")
    assert not bucket(campaign).exists(notice)  # the event went out; its notice was never written

    again = subprocess.run(watch, env=child_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    [line] = again.stdout.splitlines()
    said_at, said = line.split(" ", 1)  # the watcher stamps each line with the local time it was said at
    assert datetime.fromisoformat(said_at).tzinfo is not None
    assert said == (f"digits-demo: round 1 delivered ({bucket(campaign).uri}/"
                    "digits-demo/deliveries/round-0001/_DONE); announced")  # fmt: skip
    record = json.loads(bucket(campaign).read(notice))
    assert record["round"] == 1 and record["event"] == "alflow.delivery.completed"

    after = subprocess.run(watch, env=child_env(), capture_output=True, text=True, timeout=300)
    assert after.returncode == 0 and after.stdout == "", after.stdout + after.stderr  # a restart re-announces nothing


def test_a_review_killed_between_its_record_and_its_export_is_finished_then_never_asked_again(campaign_file, campaign):
    from alflow.operations.label_review import request_review

    point = AT_REVIEW_BEFORE_EXPORT
    killed = subprocess.run(
        [ALFLOW, "review", str(campaign_file), "--count", "4"],
        env=child_env(ALFLOW_CRASH_AT=point),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    state = campaign_state(campaign)
    [asked] = state.reviews.values()
    assert state.reviews_exported == frozenset() and state.labels_asked == 4  # recorded, so charged; not exported

    finished = request_review(campaign, count=4)
    assert finished.resumed and finished.review == asked  # the same items, exported now; nothing new asked
    fmt = formats.get(campaign.vendor.format)
    store = bucket(campaign)
    assert fmt.batch_ids(store.read(layout.review_batch_prefix(campaign.campaign, 1) + fmt.batch_file)) == asked.items
    again = request_review(campaign, count=4)
    assert again.review is not None and again.review.seq == 2 and not set(again.review.items) & set(asked.items)
    assert campaign_state(campaign).labels_asked == 8


def test_every_crash_point_is_killed_by_a_test():
    assert KILLED == set(CRASH_POINTS)
