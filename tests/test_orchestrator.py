"""A round that cannot reach or start Prefect says so in one line, before it writes anything; a round
on a bare machine (a fresh PREFECT_HOME, no server) starts alflow's local server, gives it the time it
needs and leaves it running for later rounds; ALFLOW_PREFECT_SERVER=temporary runs Prefect's temporary
server instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.orchestrator import STARTUP_SECONDS, startup_seconds

ALFLOW = str(Path(sys.executable).parent / "alflow")


def bare_round(campaign_file: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`alflow round` as on a bare machine: its own PREFECT_HOME, no PREFECT_API_URL, Prefect's default log level."""
    environ = {k: v for k, v in os.environ.items() if k not in {"PREFECT_API_URL", "PREFECT_LOGGING_LEVEL"}}
    environ.update(PREFECT_HOME=str(home), **env)
    return subprocess.run(
        [ALFLOW, "round", str(campaign_file), *args], env=environ, capture_output=True, text=True, timeout=900
    )


def written(campaign_file: Path) -> list[str]:
    """Every file of the campaign's bucket and MLflow store written after the campaign file (Prefect's home aside)."""
    folder, since = campaign_file.parent, campaign_file.stat().st_mtime
    files = [p for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime > since]
    return sorted(str(p.relative_to(folder)) for p in files if not p.relative_to(folder).parts[0] == "prefect-home")


def assert_one_line_and_nothing_written(result: subprocess.CompletedProcess, campaign_file: Path, start: str) -> None:
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {start}") and line.endswith("nothing was written"), line
    assert "Traceback" not in result.stderr
    payload = json.loads(result.stdout)
    assert payload == {"error": line.removeprefix("error: "), "reason": "prefect_unavailable"}
    assert written(campaign_file) == []
    assert not (campaign_file.parent / "bucket" / "digits-demo" / "ledger").exists()


@pytest.mark.slow
def test_a_local_server_that_does_not_start_in_time_is_one_line_nothing_written_none_left(campaign_file, prefect_home):
    from cli.local_server import ServerFiles, running_server

    result = bare_round(campaign_file, prefect_home, "--json", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")

    assert_one_line_and_nothing_written(
        result, campaign_file, "alflow's local Prefect server did not answer within 1 s, 2 times"
    )
    assert running_server(prefect_home) is None
    assert not ServerFiles(prefect_home).state.exists()  # both attempts stopped and forgotten


@pytest.mark.slow
def test_the_opt_out_runs_prefects_temporary_server(campaign_file, prefect_home):
    result = bare_round(
        campaign_file,
        prefect_home,
        "--json",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1",
        ALFLOW_PREFECT_SERVER="temporary",
    )

    assert_one_line_and_nothing_written(
        result, campaign_file, "Prefect's temporary server did not answer within 1 s, 2 times"
    )
    assert not (prefect_home / "alflow-server").exists()


def test_an_unknown_server_choice_is_one_line(monkeypatch):
    from alflow.errors import ConfigError
    from cli.orchestrator import server_choice

    monkeypatch.setenv("ALFLOW_PREFECT_SERVER", "ephemeral")
    with pytest.raises(ConfigError, match=r"^ALFLOW_PREFECT_SERVER='ephemeral': use one of local, temporary"):
        server_choice()


@pytest.mark.slow
def test_an_unreachable_prefect_api_is_one_line_and_nothing_is_written(campaign_file, tmp_path):
    result = bare_round(campaign_file, tmp_path / "prefect-home", "--json", PREFECT_API_URL="http://127.0.0.1:9/api")

    assert_one_line_and_nothing_written(
        result, campaign_file, "the Prefect API at http://127.0.0.1:9/api (PREFECT_API_URL) does not answer"
    )


@pytest.mark.slow
def test_a_round_on_a_bare_machine_starts_the_local_server_says_where_and_leaves_it_running(
    campaign_file, prefect_home
):
    """A fresh PREFECT_HOME: the server migrates its database before it answers (the first `make demo`
    on a new machine); the round says its line, and where the server it started is (once, on stderr)."""
    from cli.local_server import running_server

    result = bare_round(campaign_file, prefect_home)

    assert result.returncode == 0, result.stderr
    server = running_server(prefect_home)
    assert server is not None  # outlives the round, for the next one
    assert result.stderr.splitlines() == [
        f"started alflow's local Prefect server for this and later rounds: UI at {server.url} "
        f"(log {server.log}; `alflow server stop` stops it)"
    ]
    [line] = result.stdout.splitlines()
    assert line.startswith("digits-demo round 1: 20/60 labels") and "exported 10 items" in line


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, STARTUP_SECONDS), ({"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "7"}, 7)],
    ids=["alflow's default", "the user's"],
)
def test_the_start_up_time_is_the_users_when_set_else_alflows(monkeypatch, tmp_path, environment, expected):
    from prefect.settings import Settings

    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert startup_seconds(Settings()) == expected


def test_a_timeout_set_in_the_users_prefect_profile_is_kept(monkeypatch, tmp_path):
    from prefect.settings import Settings

    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "mine"\n[profiles.mine]\nPREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 45\n')
    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))

    assert startup_seconds(Settings()) == 45


@pytest.mark.slow
def test_serve_against_an_unreachable_prefect_api_is_one_line(campaign_file, tmp_path):
    environ = {**os.environ, "PREFECT_HOME": str(tmp_path / "home"), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    served = subprocess.run(
        [ALFLOW, "serve", str(campaign_file)], env=environ, capture_output=True, text=True, timeout=300
    )

    assert served.returncode == 1
    assert served.stderr.splitlines() == [
        "error: the Prefect API at http://127.0.0.1:9/api (PREFECT_API_URL) does not answer (ConnectError): start "
        "that server (`prefect server start`), or unset PREFECT_API_URL to let alflow start a temporary one; "
        "nothing was written"
    ]
