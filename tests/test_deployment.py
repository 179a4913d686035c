"""infra/prefect.yaml deployed to a real `prefect server`, run by a process worker."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from alflow.tools.demo import write_demo_data

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prefect(env, *args, timeout=180):
    result = subprocess.run(
        [BIN / "prefect", "--no-prompt", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def prefect_api(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError((tmp_path / "server.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_scheduled_deployment_runs_a_round_on_a_process_worker(prefect_api, tmp_path, mlflow_template):
    campaign = write_demo_data(tmp_path / "campaign", bucket=None, max_labels=40, batch_size=10)
    (tmp_path / "campaign" / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    env = {**prefect_api, "ALFLOW_REPO": str(REPO), "ALFLOW_CAMPAIGN": str(campaign)}

    _prefect(env, "work-pool", "create", "alflow-process", "--type", "process")
    _prefect(env, "deploy", "--prefect-file", "infra/prefect.yaml", "--all")
    described = _prefect(env, "deployment", "inspect", "active-learning-round/hourly-round")
    assert "'cron': '0 * * * *'" in described
    assert "'limit': 1" in described
    _prefect(env, "deployment", "run", "active-learning-round/hourly-round")
    _prefect(env, "worker", "start", "--pool", "alflow-process", "--run-once", timeout=300)

    batch = tmp_path / "campaign" / "bucket" / "digits-demo" / "batches" / "round-0001"
    assert json.loads((batch / "batch.json").read_text())["count"] == 10
    assert (batch / "_READY").exists()
    completed = json.loads(_prefect(env, "flow-run", "ls", "--state-type", "COMPLETED", "--output", "json"))
    assert [run["deployment_id"] is not None for run in completed] == [True]
