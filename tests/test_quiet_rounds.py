"""`alflow round` as a user sees it in a terminal log: one line for the round, one line for an error
raised inside the flow (its traceback stays in Prefect's log and behind --verbose)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ALFLOW = str(Path(sys.executable).parent / "alflow")
pytestmark = pytest.mark.usefixtures("prefect_server")


def alflow_round(*args: str) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    env.pop("PREFECT_LOGGING_LEVEL", None)  # as a user runs it: Prefect's default level, INFO
    return subprocess.run([ALFLOW, "round", *args], env=env, capture_output=True, text=True, timeout=300)


def test_an_error_raised_inside_the_flow_is_one_line_without_prefects_traceback(campaign_file, tmp_path):
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    (arrivals / "day-1.csv").write_text("id,colour\nnew-1,blue\n")  # passes the pre-check; the flow refuses it

    quiet = alflow_round(str(campaign_file), "--arrivals", str(arrivals))

    assert quiet.returncode == 1
    lines = (quiet.stdout + quiet.stderr).splitlines()
    assert lines == [f"error: {arrivals / 'day-1.csv'}: required column 'px0' is missing (columns: ['id', 'colour'])"]

    verbose = alflow_round(str(campaign_file), "--arrivals", str(arrivals), "--verbose")

    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr and "Encountered exception during execution" in verbose.stderr
    assert verbose.stderr.rstrip().endswith(lines[0])


def test_a_round_says_one_line_unless_verbose(campaign_file):
    quiet = alflow_round(str(campaign_file))

    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    [line] = quiet.stdout.splitlines()
    assert line.startswith("digits-demo round 1: 20/60 labels") and "exported 10 items" in line

    verbose = alflow_round(str(campaign_file), "--verbose")

    assert verbose.returncode == 0, verbose.stderr
    assert "Finished in state Completed()" in verbose.stderr
    assert verbose.stdout.splitlines() == ["digits-demo: waiting for 10 labels from round 1; nothing exported"]
