"""Faults found by the fault suites, each refused or said in one line: a header-only seed file, an
export that fails after its round is committed, a campaign name's pattern in an error line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml
from test_s3 import FaultyProxy
from typer.testing import CliRunner

from alflow.errors import DataValidationError
from alflow.operations.demo import write_demo_data
from alflow.operations.plain import plain_round
from cli import app

from helpers import wait_until

ALFLOW = str(Path(sys.executable).parent / "alflow")


def test_a_header_only_seed_file_is_refused_before_the_round_claims_anything(campaign_file, campaign):
    seed = campaign_file.parent / "data" / "seed.csv"
    pd.read_csv(seed, dtype=str).iloc[:0].to_csv(seed, index=False)

    with pytest.raises(DataValidationError, match="the seed labels are empty") as refused:
        plain_round(campaign_file)

    assert refused.value.reason == "empty"
    assert not (Path(campaign.vendor.bucket) / campaign.campaign / "ledger").exists()  # no claim, no record


def test_a_campaign_name_error_shows_its_pattern_whole(tmp_path, campaign_file):
    raw = yaml.safe_load(campaign_file.read_text())
    raw["campaign"] = "Bad_Name"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))

    for command in ("round", "check"):
        result = CliRunner().invoke(app, [command, str(bad)])
        assert result.exit_code == 1
        assert "String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$' (got 'Bad_Name')" in result.output, command


def objects(bucket: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_an_export_failing_after_the_commit_says_the_next_run_finishes_it(tmp_path, s3_endpoint, mlflow_template):
    """The bucket stops answering between the commit and the export: the line says the round is
    committed and the next run exports it (not that nothing was written); the next run does."""
    from prefect.settings import PREFECT_API_URL

    name = f"export-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    (tmp_path / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    campaign_file = write_demo_data(tmp_path, bucket=f"s3://{name}/labels", max_labels=60, batch_size=10)
    proxy, release = FaultyProxy(s3_endpoint), tmp_path / "release"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "AWS_ENDPOINT_URL_S3": proxy.url}
    env.update(ALFLOW_PAUSE_AT="export:before", ALFLOW_RELEASE=str(release))
    paused = subprocess.Popen(
        [ALFLOW, "round", str(campaign_file)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    committed = "the paused round committing round-0001/round.json"
    try:
        wait_until(
            lambda: any(k.endswith("round-0001/round.json") for k in objects(name)),
            what=committed,
            process=paused,
            seconds=600,
        )
    except AssertionError:
        paused.kill()
        raise
    proxy.close()
    proxy.server.server_close()  # the endpoint is gone: connections are refused
    release.touch()
    stdout, stderr = paused.communicate(timeout=600)

    assert paused.returncode == 1, stdout + stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    assert errors[0].startswith("error: round 1 is committed but its batch was not exported: s3://")
    assert "the next `alflow round` finishes this export (the same 10 items)" in errors[0]
    assert "half-written" not in stderr and "nothing was" not in stderr
    assert not any(k.endswith("round-0001/_READY") for k in objects(name))

    env.update(AWS_ENDPOINT_URL_S3=s3_endpoint, ALFLOW_PAUSE_AT="")
    again = subprocess.run([ALFLOW, "round", str(campaign_file)], env=env, capture_output=True, text=True, timeout=600)

    assert again.returncode == 0, again.stderr
    assert any(k.endswith("batches/round-0001/_READY") for k in objects(name))


SHUTDOWN = """
import asyncio, logging, sys
import prefect.main  # Prefect's logging, as a round's process has it
from cli.console import quiet_prefect_console
if sys.argv[1] == "quiet":
    quiet_prefect_console()
log = logging.getLogger("prefect._internal.concurrency")
try:
    raise asyncio.CancelledError()
except asyncio.CancelledError:
    log.exception("%s was cancelled", "EventsWorker")  # as Prefect's worker threads say it at exit
log.error("Service 'APILogWorker' failed with 3 pending items.")
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_prefects_cancelled_threads_leave_no_traceback_on_a_quiet_console(mode):
    said = subprocess.run([sys.executable, "-c", SHUTDOWN, mode], capture_output=True, text=True, timeout=120)

    assert said.returncode == 0, said.stderr
    assert "Service 'APILogWorker' failed with 3 pending items." in said.stderr  # other errors still show
    assert ("CancelledError" in said.stderr) == (mode == "verbose"), said.stderr
    assert ("EventsWorker was cancelled" in said.stderr) == (mode == "verbose"), said.stderr
