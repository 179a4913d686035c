"""Shared fixtures: real servers on loopback, started once per session.

Environment is set before Prefect is imported anywhere: a private PREFECT_HOME, no analytics.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="alflow-tests-"))
os.environ["PREFECT_HOME"] = str(_HOME / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
# boto3 reads these; moto accepts any credentials. Never real ones in tests.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)

import pytest  # noqa: E402

from alflow.config import load_campaign  # noqa: E402
from alflow.demo import write_demo_data  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect API for the whole session (about 8 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow SQLite database migrated once; tests copy it (a fresh migration costs seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def campaign_file(tmp_path, mlflow_template) -> Path:
    """A small digits campaign (budget 60, batches of 10) with its own bucket and MLflow DB."""
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    return write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10)


@pytest.fixture
def campaign(campaign_file):
    return load_campaign(campaign_file)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API (moto's server mode) on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL_S3")
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    yield endpoint
    if previous is None:
        os.environ.pop("AWS_ENDPOINT_URL_S3", None)
    else:
        os.environ["AWS_ENDPOINT_URL_S3"] = previous
    server.stop()
