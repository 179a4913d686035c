"""Exactly-once under crashes, retries and races.

Kill tests: a subprocess SIGKILLs itself at a named step boundary (`ALFLOW_CRASH_AT`, a no-op
unless set). It runs either a whole round (`alflow round`: the Prefect flow against the session's
Prefect server, MLflow on the campaign's SQLite file) or, to keep the suite fast, just the stage
that holds the boundary. The next round, run normally by the flow, must resume: nothing lost,
nothing counted twice, the budget intact.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alflow import ledger, rounds
from alflow.cli import app
from alflow.config import load_campaign
from alflow.errors import RoundConflictError
from alflow.store import LocalStore
from flows.round import active_learning_round

from helpers import deliver, snapshot, vendor_for

pytestmark = pytest.mark.usefixtures("prefect_server")
ALFLOW = str(Path(sys.executable).parent / "alflow")


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
    script = "from alflow import rounds\nfrom alflow.config import load_campaign\n"
    script += f"c = load_campaign({str(campaign_file)!r})\n"
    done = subprocess.run(
        [sys.executable, "-c", script + code],
        env=child_env(ALFLOW_CRASH_AT=point),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr


def commit_round_one(campaign) -> dict:
    """Commit round 1 asking for ten pool items, as a round does just before its export."""
    ids = [f"digit-{i:04d}" for i in range(1000, 1400)]
    pool = set(pd.read_csv(campaign.pool.uri, dtype=str)["id"])
    ids = [i for i in ids if i in pool][:10]
    record = {
        "round": 1,
        "labels_used": 20,
        "class_counts": {},
        "metrics": {"accuracy": 0.5},
        "metric_source": "holdout",
        "strategy": "margin",
        "model": "LogisticRegression",
        "stop_reason": None,
        "batch": {"ids": ids, "scores": [1.0] * 10, "predicted": ["0"] * 10},
        "tracking": {},
    }
    ledger.record_round(rounds.bucket(campaign), campaign.campaign, record)
    return record


def test_a_run_killed_after_claiming_the_round_does_not_block_the_next(campaign_file, campaign):
    run_stage_killed_at(campaign_file, "round:after_claim", "rounds.claim_round(c, rounds.load_state(c))")
    assert rounds.bucket(campaign).exists(ledger.ledger_key(campaign.campaign, 1, "claim-0001.json"))

    report = active_learning_round(str(campaign_file))

    assert report.status == "exported" and report.round == 1  # the dead run's claim did not block
    assert rounds.load_state(campaign).labels_asked == 10


@pytest.mark.parametrize("point", ["export:before", "export:after:items.csv", "export:after:batch.json"])
def test_an_export_killed_before_its_marker_is_finished_by_the_next_round(campaign_file, campaign, point):
    commit_round_one(campaign)
    code = "s = rounds.load_state(c)\nrounds.export_batch(c, rounds.validate_inputs(c), s.rounds[1])"
    run_stage_killed_at(campaign_file, point, code)
    store = rounds.bucket(campaign)
    prefix = ledger.batch_prefix(campaign.campaign, 1)
    assert not store.exists(prefix + ledger.READY)  # the vendor sees nothing yet

    report = active_learning_round(str(campaign_file))

    assert report.status == "waiting" and report.waiting_for == {1: 10}
    assert store.exists(prefix + ledger.READY)
    metadata = json.loads(store.read(prefix + "batch.json"))
    assert metadata["sha256"] == ledger.sha256(store.read(prefix + "items.csv")) and metadata["count"] == 10
    state = rounds.load_state(campaign)
    assert sorted(state.rounds) == [1] and state.labels_asked == 10  # asked once, budget intact


@pytest.mark.parametrize(
    ("point", "whole_round", "on_s3"),
    [
        ("ingest:after_read", True, False),
        ("ingest:after_quarantine", False, False),
        ("ingest:after_quarantine", False, True),
        ("ingest:after_record", False, False),
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
    ids = commit_round_one(campaign)["batch"]["ids"]
    rounds.finish_exports(campaign, rounds.validate_inputs(campaign), rounds.load_state(campaign))
    rows = [f"{i},{answers[i]}" for i in ids[:-1]] + [f"{ids[-1]},not-a-digit", "digit-9999,3"]
    deliver(campaign, 1, "id,label\n" + "\n".join(rows) + "\n")

    if whole_round:
        run_round_killed_at(campaign_file, point)
    else:
        run_stage_killed_at(campaign_file, point, "rounds.ingest_deliveries(c)")
    before = snapshot(campaign_file.parent / "bucket")
    again = active_learning_round(str(campaign_file))
    state = rounds.load_state(campaign)

    assert again.status == "waiting" and again.waiting_for == {1: 1}  # the bad row stays outstanding
    [record] = state.ingests[1]
    assert record["count"] == 9 and [r["reason"] for r in record["rejected"]] == [
        "label_not_in_class_set",
        "id_not_in_batch",
    ]
    assert state.human_labels() == {i: answers[i] for i in ids[:-1]}
    if point == "ingest:after_record":
        assert snapshot(campaign_file.parent / "bucket") == before  # everything was already in
    assert rounds.ingest_deliveries(campaign) == state  # and another ingest changes nothing


def test_two_rounds_at_once_one_proceeds_the_other_stops_with_a_clear_message(campaign_file, campaign):
    store = rounds.bucket(campaign)
    claim = ledger.ledger_key(campaign.campaign, 1, "claim-0001.json")
    racer = subprocess.Popen(
        [ALFLOW, "round", str(campaign_file)],
        env=child_env(ALFLOW_PAUSE_AT="round:after_claim:12"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not store.exists(claim):
            assert racer.poll() is None and time.monotonic() < deadline, racer.stdout.read() if racer.stdout else ""
            time.sleep(0.2)

        result = CliRunner().invoke(app, ["round", str(campaign_file)])

        assert result.exit_code == 1, result.output
        assert f"round 1 of campaign 'digits-demo' is being run by pid {racer.pid}" in result.output
        assert racer.wait(timeout=240) == 0
    finally:
        if racer.poll() is None:
            racer.kill()
    state = rounds.load_state(campaign)
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
            ledger.claim_round(store, "c", 1)
    finally:
        live.kill()
        live.wait()
    assert ledger.claim_round(store, "c", 1)["pid"] == os.getpid()  # its process is gone: taken over
    expired = ledger.claim_round(store, "c", 2, lease=timedelta(seconds=-1))
    assert expired["expires_at"] <= ledger.now()
    other_host = {"host": "elsewhere", "pid": 1, "run": "y", "round": 3, "claimed_at": "now"}
    store.write_once(
        "c/ledger/round-0003/claim-0001.json",
        json.dumps({**other_host, "expires_at": "2000-01-01T00:00:00+00:00"}).encode(),
    )
    assert ledger.claim_round(store, "c", 3)["round"] == 3  # expired lease on another host: taken over
    assert store.list("c/ledger/round-0003/") == [
        "c/ledger/round-0003/claim-0001.json",
        "c/ledger/round-0003/claim-0002.json",
    ]


def test_rerunning_an_export_or_an_ingest_changes_nothing(campaign_file, campaign):
    assert active_learning_round(str(campaign_file)).status == "exported"
    vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").deliver(1)
    state = rounds.ingest_deliveries(campaign)
    before = snapshot(campaign_file.parent / "bucket")

    assert rounds.ingest_deliveries(campaign) == state
    inputs = rounds.validate_inputs(campaign)
    rounds.export_batch(campaign, inputs, state.rounds[1])

    assert snapshot(campaign_file.parent / "bucket") == before
