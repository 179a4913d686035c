"""infra/prefect.yaml deployed to a real `prefect server`, run by a process worker: on its schedule,
and on a delivery that a vendor uploads with the AWS CLI, announced by `alflow watch`."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import boto3
import pandas as pd
import pytest
from prefect.client.schemas.objects import FlowRun, StateType

from alflow.config import load_campaign
from alflow.ledger.ledger import campaign_state
from alflow.operations.demo import write_demo_data

from helpers import wait_until

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _prefect(env, *args, timeout=180):
    result = subprocess.run(
        [BIN / "prefect", "--no-prompt", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def deploy(prefect_api: dict, campaign: Path) -> dict:
    """infra/prefect.yaml deployed for `campaign` as the README and docs/TEAM.md say; the env used."""
    name = load_campaign(campaign).campaign
    env = {**prefect_api, "ALFLOW_REPO": str(REPO), "ALFLOW_CAMPAIGN": str(campaign), "ALFLOW_CAMPAIGN_NAME": name}
    _prefect(env, "work-pool", "create", "alflow-process", "--type", "process")
    _prefect(env, "deploy", "--prefect-file", "infra/prefect.yaml", "--all")
    return env


@pytest.mark.slow
def test_scheduled_deployment_runs_a_round_on_a_process_worker(prefect_api, tmp_path, mlflow_template):
    campaign = write_demo_data(tmp_path / "campaign", bucket=None, max_labels=40, batch_size=10)
    (tmp_path / "campaign" / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    env = deploy(prefect_api, campaign)
    described = _prefect(env, "deployment", "inspect", "active-learning-round/digits-demo")
    assert "'cron': '0 * * * *'" in described
    assert "'limit': 1" in described and "'collision_strategy': 'ENQUEUE'" in described
    assert "'prefect.resource.id': 'alflow.campaign.digits-demo'" in described
    assert "'alflow.delivery.completed'" in described and "'alflow.batch.wanted'" in described
    _prefect(env, "deployment", "run", "active-learning-round/digits-demo")
    _prefect(env, "worker", "start", "--pool", "alflow-process", "--run-once", timeout=300)

    batch = tmp_path / "campaign" / "bucket" / "digits-demo" / "batches" / "round-0001"
    assert json.loads((batch / "batch.json").read_text())["count"] == 10
    assert (batch / "_READY").exists()
    completed = [run for run in _flow_runs(env) if run.state_type == StateType.COMPLETED]
    assert [run.deployment_id is not None for run in completed] == [True]


AWS = shutil.which("aws", path=str(BIN)) or shutil.which("aws")


def _aws(*args: str, endpoint: str, cwd: Path) -> None:
    done = subprocess.run([AWS, *args, "--endpoint-url", endpoint], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _flow_runs(env: dict) -> list[FlowRun]:
    """The flow runs on the server of `env`, read with Prefect's client in this process (polling with
    `prefect flow-run ls` started a CLI process every second: the CLI is not what is under test)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        return client.read_flow_runs(limit=50)


def _deployment_runs(env: dict) -> list[FlowRun]:
    """The deployment's runs but those its schedule made (the hourly safety net, not under test here)."""
    return [r for r in _flow_runs(env) if r.deployment_id is not None and not r.auto_scheduled]


def _finished(env: dict, count: int) -> list[FlowRun] | None:
    """The deployment's runs once there are `count` of them, all completed."""
    runs = _deployment_runs(env)
    return runs if len(runs) == count and all(r.state_type == StateType.COMPLETED for r in runs) else None


@pytest.mark.slow
@pytest.mark.skipif(AWS is None, reason="the AWS CLI (`aws`) is not installed: `pip install awscli` (dev extra)")
def test_a_delivery_uploaded_with_the_aws_cli_starts_a_round_on_its_own(
    s3_endpoint, prefect_api, tmp_path, mlflow_template
):
    bucket_name = f"team-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket_name)
    folder = tmp_path / "campaign"
    campaign_file = write_demo_data(folder, bucket=f"s3://{bucket_name}/team", max_labels=60, batch_size=10)
    (folder / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    campaign = load_campaign(campaign_file)
    env = {**deploy(prefect_api, campaign_file), "AWS_ENDPOINT_URL_S3": s3_endpoint}
    alflow = str(BIN / "alflow")
    first = subprocess.run([alflow, "round", str(campaign_file)], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "exported 10 items" in first.stdout, first.stdout + first.stderr

    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("worker", "watcher")}
    worker = subprocess.Popen(
        [BIN / "prefect", "worker", "start", "--pool", "alflow-process"],
        env=env, stdout=logs["worker"], stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    watcher = subprocess.Popen(
        [alflow, "watch", str(campaign_file), "--interval", "2"],
        env=env, stdout=logs["watcher"], stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        # The vendor, by hand: download the batch, label it, upload the labels, then the marker, last.
        vendor, prefix = tmp_path / "vendor", f"s3://{bucket_name}/team/digits-demo"
        vendor.mkdir()
        _aws("s3", "cp", f"{prefix}/batches/round-0001/items.csv", "items.csv", endpoint=s3_endpoint, cwd=vendor)
        answers = pd.read_csv(folder / "data" / "answers.csv", dtype=str).set_index("id")["label"]
        ids = pd.read_csv(vendor / "items.csv", dtype={"id": str})["id"].tolist()
        pd.DataFrame({"id": ids, "label": answers.loc[ids].to_numpy()}).to_csv(vendor / "labels.csv", index=False)
        (vendor / "_DONE").write_bytes(b"")
        delivery = f"{prefix}/deliveries/round-0001"
        _aws("s3", "cp", "labels.csv", f"{delivery}/labels.csv", endpoint=s3_endpoint, cwd=vendor)
        marked = datetime.now().astimezone()
        _aws("s3", "cp", "_DONE", f"{delivery}/_DONE", endpoint=s3_endpoint, cwd=vendor)

        # No cron fires in this test and nobody starts a run: the watcher's event does, once _DONE is there.
        what = "a flow run of the deployment started by the watcher's event on the delivery"
        [run] = wait_until(lambda: _deployment_runs(env), what=what, every=1)
        assert run.expected_start_time >= marked, f"the run was made before _DONE: {run.expected_start_time}"
        wait_until(lambda: 2 in campaign_state(campaign).rounds, what="round 2 in the ledger", every=1)
        assert campaign_state(campaign).rounds[2].labels_used == 30  # it trained on the delivered labels

        # A replayed upload is announced no second time; a duplicate event runs a flow that finds nothing new.
        _aws("s3", "cp", "labels.csv", f"{delivery}/labels.csv", endpoint=s3_endpoint, cwd=vendor)
        _aws("s3", "cp", "_DONE", f"{delivery}/_DONE", endpoint=s3_endpoint, cwd=vendor)
        resource = json.dumps({"prefect.resource.id": "alflow.campaign.digits-demo"})
        _prefect(env, "event", "emit", "alflow.delivery.completed", "--resource", resource)
        runs = wait_until(lambda: _finished(env, 2), what="the duplicate event's run completing", every=1)
        time.sleep(6)  # three more looks of the watcher at the replayed marker
        assert len(_deployment_runs(env)) == len(runs) == 2
        state = campaign_state(campaign)
        assert sorted(state.rounds) == [1, 2] and state.labels_asked == 20  # no second round, nothing asked twice
        watched = (tmp_path / "watcher.log").read_text()
        assert watched.count("round 1 delivered") == 1, watched
    finally:
        for process in (watcher, worker):
            _stop(process)
        for log in logs.values():
            log.close()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group; SIGKILL it if it has not ended in 30 s (a worker on a loaded machine
    can take longer to shut down than the test's work took)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
