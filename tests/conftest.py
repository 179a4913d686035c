"""Shared fixtures: real servers on loopback, started once per session.

Environment is set before Prefect is imported anywhere: a private PREFECT_HOME, no analytics.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="alflow-tests-"))
os.environ["PREFECT_HOME"] = str(_HOME / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
# A warm runner per test's PREFECT_HOME would cost ~5 CPU s each (cli.runner): tests/test_runner.py switches it on.
os.environ["ALFLOW_RUNNER"] = "off"
os.environ["HF_HUB_OFFLINE"] = "1"  # Hugging Face `datasets` reads the exported data set from disk: never the Hub
# boto3 reads these; moto accepts any credentials. Never real ones in tests.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)

import pytest  # noqa: E402

from alflow.config import load_campaign  # noqa: E402
from alflow.operations.demo import write_demo_data  # noqa: E402

SERVERS = {
    "prefect_server",
    "s3_endpoint",
    "mlflow_server",
    "dashboard_campaign",
    "dask_cluster",
    "prefect_api",
    "team_stack",
}


def pytest_collection_modifyitems(config, items):
    """`slow` means what it says: every test that starts a server (through one of SERVERS) is slow,
    besides those marked by hand (whole campaigns, simulations, subprocess rounds)."""
    for item in items:
        if SERVERS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    _name_xdist_groups(config, items)


def _name_xdist_groups(config, items) -> None:
    """`--dist loadgroup` keeps a group on one worker by the `@group` that pytest-xdist (3.8) appends
    to each marked test's `item._nodeid`; pytest 9.2 reads node ids from `item._id` instead, so the
    suffix was lost and every group was split across the workers (each worker starting its own
    servers). The same suffix, through the structured id; nothing to do where xdist's own works."""
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest before 9.2: xdist's suffix takes effect
        return
    if not getattr(config.option, "loadgroup", False):  # set on an xdist worker under --dist loadgroup
        return
    for item in items:
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")
        }
        if names and item.nodeid.rfind("@") <= item.nodeid.rfind("]"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(names))}")


def pytest_sessionfinish(session, exitstatus):
    from cli.local_server import stop_server
    from cli.runner import stop_runner

    stop_server(_HOME / "prefect")  # alflow's local Prefect server, if a round without PREFECT_API_URL started one
    stop_runner(_HOME / "prefect")  # and the warm runner, if a test switched it on there
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def prefect_home(tmp_path) -> Iterator[Path]:
    """A PREFECT_HOME of the test's own, for commands run without PREFECT_API_URL: alflow's local
    Prefect server started there, and a warm runner, are stopped at the test's end (none outlives the suite)."""
    from cli.local_server import stop_server
    from cli.runner import stop_runner

    home = tmp_path / "prefect-home"
    yield home
    stop_server(home)
    stop_runner(home)


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect API for the whole session (about 8 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):  # a bound on a hang: generous on a loaded machine
        yield


@pytest.fixture(scope="module")
def dask_cluster():
    """A Dask LocalCluster of two worker processes on loopback (the `dask` extra); yields its address.
    Module-scoped, its one module an xdist group: started once per run, stopped when that module ends
    (not idling beside the rest of the run)."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed: pip install -e '.[dask]'")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


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


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_prefect_server(folder: Path, **settings: str) -> Iterator[dict[str, str]]:
    """`prefect server start` on a free loopback port, as a team starts it (`settings`: e.g. its
    database URL); yields the environment that points a client at it."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(folder / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        **settings,
    }
    log = open(folder / "prefect-server.log", "w")
    server = subprocess.Popen(
        [Path(sys.executable).parent / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300  # a bound on a hang, generous on a loaded machine
        while True:
            try:
                urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    log = (folder / "prefect-server.log").read_text()[-2000:]
                    why = "within 300 s" if server.poll() is None else f"(it exited with {server.returncode})"
                    raise RuntimeError(f"prefect server did not answer /health {why}: {log}") from None
                time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def prefect_api(tmp_path):
    """A real `prefect server` of its own for one test; yields the environment pointing at it."""
    with running_prefect_server(tmp_path) as env:
        yield env


@contextmanager
def running_mlflow_server(folder: Path, backend: str, artifacts: str, **env: str) -> Iterator[str]:
    """`mlflow server` on a free loopback port over the `backend` store, serving the artifacts it keeps
    at `artifacts` (a folder or s3://); yields its URL."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (folder / "mlflow-server.log").open("wb")
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
            *("--backend-store-uri", backend, "--artifacts-destination", artifacts, "--serve-artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env},  # no GenAI job runner process
        start_new_session=True,  # its own process group: the server's uvicorn child stops with it
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            os.killpg(server.pid, signal.SIGKILL)
            raise RuntimeError(f"mlflow server did not start: {(folder / 'mlflow-server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    try:
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, mlflow_template) -> Iterator[str]:
    """A real `mlflow server` on a free loopback port (SQLite copied from the template, artifacts
    served by the server from a temp folder); yields its URL."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    shutil.copy(mlflow_template, folder / "mlflow.db")
    with running_mlflow_server(folder, f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts")) as url:
        yield url


@pytest.fixture(scope="session")
def team_stack(tmp_path_factory, postgres, s3_endpoint) -> Iterator[dict]:
    """The team set-up of docs/TEAM.md on loopback: PostgreSQL behind `prefect server` and `mlflow
    server`, MLflow's artifacts and the vendor exchange on S3 (moto's server standing in). Its one
    module (tests/test_team_stack.py) is an xdist group: one stack per run, not one per worker.

    Yields a dict: `prefect_env` (the environment that points a client at the Prefect server),
    `mlflow` (the tracking URL), `exchange` (the bucket URI campaigns use), `artifacts`, `postgres`.
    """
    import boto3

    folder = tmp_path_factory.mktemp("team")
    for bucket in ("team-artifacts", "team-exchange"):
        boto3.client("s3").create_bucket(Bucket=bucket)
    prefect_db = create_database(postgres, "prefect").replace("postgresql://", "postgresql+asyncpg://")
    mlflow_db = create_database(postgres, "mlflow").replace("postgresql://", "postgresql+psycopg2://")
    artifacts = "s3://team-artifacts/mlflow"
    with (
        running_mlflow_server(folder, mlflow_db, artifacts, MLFLOW_S3_ENDPOINT_URL=s3_endpoint) as mlflow_url,
        running_prefect_server(folder, PREFECT_API_DATABASE_CONNECTION_URL=prefect_db) as env,
    ):
        yield {
            "prefect_env": env,
            "mlflow": mlflow_url,
            "exchange": "s3://team-exchange/campaigns",
            "artifacts": artifacts,
            "postgres": postgres,
        }


def run_dashboard_campaign(folder: Path, tracking_uri: str, *, bucket: str | None = None, env: dict | None = None):
    """Four rounds of a small campaign tracked at `tracking_uri` (four: the first with a forecast);
    round 4 runs in a new process.

    Rounds 1-3 run in this process against the Prefect API of `env` (default: the session's).
    Returns (config, reports of rounds 1-3, the round-4 `alflow status --json` row). A
    random-sampling curve file stands in for a simulation's output.
    """
    import json
    import subprocess
    import sys

    import yaml
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.round import active_learning_round

    from helpers import vendor_for

    env = env or {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    path = write_demo_data(folder, bucket=bucket, max_labels=60, batch_size=10)
    (folder / "random_curve.json").write_text(
        json.dumps({"labels": [20, 30, 40, 50, 60], "curves": {"random": [0.45, 0.55, 0.62, 0.68, 0.72]}})
    )
    raw = yaml.safe_load(path.read_text())
    raw["campaign"] = "dashboard-demo"
    raw["tracking"] = {"uri": tracking_uri, "reference_curve": "random_curve.json", "data_docs": True}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_campaign(path)
    vendor = vendor_for(config, folder / "data" / "answers.csv")
    reports = []
    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
        for _ in range(3):
            report = active_learning_round(str(path))
            assert report.status == "exported", report.message()
            vendor.deliver(report.round)
            reports.append(report)
    # Round 4 in a new process against the same servers: it must attach to the same parent run.
    cli = [str(Path(sys.executable).with_name("alflow"))]
    # A bound on a hang, generous: 300 s ran out at load 30 on the shared 2-core machine.
    done = subprocess.run([*cli, "round", str(path)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    status = subprocess.run([*cli, "status", str(path), "--json"], env=env, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    return config, reports, json.loads(status.stdout)["rounds"][-1]


@pytest.fixture(scope="session")
def dashboard_campaign(tmp_path_factory, mlflow_server, prefect_server):
    """run_dashboard_campaign on the session's `mlflow_server` (SQLite) and temporary Prefect server."""
    return run_dashboard_campaign(tmp_path_factory.mktemp("dashboard"), mlflow_server)


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """Debian's PostgreSQL in a throwaway cluster on a free loopback port, password-protected, as a
    team would run it (initdb + pg_ctl, as the postgres user when the tests run as root); yields the
    URL of its superuser `alflow` without a database: `postgresql://alflow:PASSWORD@127.0.0.1:PORT`."""
    import subprocess

    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    folder = Path(tempfile.mkdtemp(prefix="alflow-postgres-"))  # not under pytest's 0700 folders
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    password = "alflow-test-password"
    (folder / "password").write_text(password)
    if as_postgres:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "password", "postgres")
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_postgres, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    data = str(folder / "data")
    run(str(bin_dir / "initdb"), "-D", data, "-U", "alflow", "--auth=scram-sha-256", f"--pwfile={folder / 'password'}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
    run(str(bin_dir / "pg_ctl"), "-D", data, "-l", str(folder / "server.log"), "-o", options, "-w", "start")
    try:
        yield f"postgresql://alflow:{password}@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"], timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server: str, name: str) -> str:
    """A new database on the PostgreSQL `server` (a URL without a database); its URL."""
    import psycopg2

    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return f"{server}/{name}"
