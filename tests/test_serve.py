"""`alflow serve` against a real `prefect server`: two campaigns in one long-lived process, a round on
each delivery (the watcher in its thread), the next batch asked at once while the vendor has room
(vendor.batches_in_flight), and paused deployments once it stops."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient

from alflow.config import load_campaign
from alflow.ledger.ledger import campaign_state
from alflow.operations.demo import write_demo_data

from helpers import vendor_for

BIN = Path(sys.executable).parent


def _campaign(folder: Path, name: str, mlflow_template: Path, *, in_flight: int) -> Path:
    path = write_demo_data(folder, bucket=None, max_labels=60, batch_size=10)
    (folder / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    raw = yaml.safe_load(path.read_text())
    raw["campaign"], raw["vendor"]["batches_in_flight"] = name, in_flight
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@contextmanager
def _prefect_client(prefect_api: dict) -> Iterator[SyncPrefectClient]:
    """Prefect's client on the server of `prefect_api`, in this process."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_api["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        yield client


def _wait(condition, *, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()[-3000:]}"
        time.sleep(1)
    return found


@pytest.mark.slow
def test_one_process_serves_two_campaigns_on_delivery_and_fills_the_vendors_room(
    prefect_api, tmp_path, mlflow_template
):
    solo = _campaign(tmp_path / "solo", "solo", mlflow_template, in_flight=1)
    pair = _campaign(tmp_path / "pair", "pair", mlflow_template, in_flight=2)
    log = tmp_path / "serve.log"
    served = subprocess.Popen(
        [BIN / "alflow", "serve", str(solo), str(pair), "--poll", "1", "--watch-interval", "1", "--cron", ""],
        env=prefect_api,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait(lambda: "serving solo, pair" in log.read_text(), timeout=180, what="alflow serve to start", log=log)
        with _prefect_client(prefect_api) as client:  # `prefect deployment run`, without a CLI process each
            for name in ("solo", "pair"):
                client.create_flow_run_from_deployment(
                    client.read_deployment_by_name(f"active-learning-round/{name}").id
                )

        # pair: round 1 leaves room for a second batch, so round 2 follows on its own; then it waits.
        pair_config, solo_config = load_campaign(pair), load_campaign(solo)
        _wait(lambda: sorted(campaign_state(pair_config).rounds) == [1, 2], timeout=300, what="pair round 2", log=log)
        _wait(lambda: 1 in campaign_state(solo_config).rounds, timeout=300, what="solo round 1", log=log)
        # solo: the vendor delivers round 1; the watcher announces it; this process runs round 2.
        vendor_for(solo_config, solo.parent / "data" / "answers.csv").deliver(1)
        _wait(lambda: 2 in campaign_state(solo_config).rounds, timeout=300, what="solo round 2", log=log)
        assert campaign_state(solo_config).rounds[2].labels_used == 30
    finally:
        served.send_signal(signal.SIGTERM)  # finishes the round in hand, pauses the deployments
        assert served.wait(timeout=300) == 0, log.read_text()

    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ")  # serve's lines say when
    raw = log.read_text().splitlines()
    assert all(stamp.match(line) for line in raw if " round " in line and "labels," in line), raw
    lines = [stamp.sub("", line) for line in raw]
    assert [line.split(":")[0].split(" round")[0] for line in lines if " round " in line and "labels," in line] in (
        [["solo", "pair", "pair", "solo"][i] for i in order] for order in ([0, 1, 2, 3], [1, 0, 2, 3], [1, 2, 0, 3])
    ), lines
    assert "solo: round 1 delivered" in log.read_text()
    assert lines[-1] == "stopped serving solo, pair; their deployments are paused until served again"
    assert sorted(campaign_state(pair_config).rounds) == [1, 2]  # two batches in flight: it waits for the vendor
    with _prefect_client(prefect_api) as client:
        for name in ("solo", "pair"):
            deployment = client.read_deployment_by_name(f"active-learning-round/{name}")
            assert deployment.paused is True, deployment
