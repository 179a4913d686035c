"""A round that cannot reach or start Prefect says so in one line, before it writes anything; a round
on a bare machine (a fresh PREFECT_HOME, no server) gives its temporary server the time it needs."""

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
    """Every file of the campaign's bucket and MLflow store written after the campaign file."""
    folder, since = campaign_file.parent, campaign_file.stat().st_mtime
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime > since)


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
def test_a_temporary_server_that_does_not_start_in_time_is_one_line_and_nothing_is_written(campaign_file, tmp_path):
    result = bare_round(
        campaign_file, tmp_path / "prefect-home", "--json", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1"
    )

    assert_one_line_and_nothing_written(
        result, campaign_file, "Prefect's temporary server did not answer within 1 s, 2 times"
    )


@pytest.mark.slow
def test_an_unreachable_prefect_api_is_one_line_and_nothing_is_written(campaign_file, tmp_path):
    result = bare_round(campaign_file, tmp_path / "prefect-home", "--json", PREFECT_API_URL="http://127.0.0.1:9/api")

    assert_one_line_and_nothing_written(
        result, campaign_file, "the Prefect API at http://127.0.0.1:9/api (PREFECT_API_URL) does not answer"
    )


@pytest.mark.slow
def test_a_round_on_a_bare_machine_starts_its_server_with_time_to_spare_and_says_one_line(campaign_file, tmp_path):
    """A fresh PREFECT_HOME: the temporary server migrates its database before it answers (the first
    `make demo` on a new machine), and the round's only output is its line: no shutdown traceback."""
    result = bare_round(campaign_file, tmp_path / "fresh-prefect-home")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
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
