"""Step boundaries where tests kill or pause a round: every place a crash must lose nothing.

`crash_point(name)` is a no-op unless a test set `ALFLOW_CRASH_AT=name` (the process SIGKILLs
itself there, as abruptly as a power cut) or `ALFLOW_PAUSE_AT=name` with `ALFLOW_RELEASE=PATH`
(it waits there until PATH exists, so a test can start a race at a known moment whatever the
machine's speed).
tests/test_exactly_once.py kills a round at each of `CRASH_POINTS` and checks the next round.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CRASH_ENV = "ALFLOW_CRASH_AT"
PAUSE_ENV = "ALFLOW_PAUSE_AT"
RELEASE_ENV = "ALFLOW_RELEASE"
PAUSE_LIMIT = 600.0  # seconds a paused process waits for its release before going on

CRASH_POINTS = (
    "round:after_claim",  # the round is claimed, nothing trained
    "ingest:after_read",  # a delivery file is read, nothing written
    "ingest:after_quarantine",  # its rejected rows are quarantined, its record not written
    "ingest:after_record",  # its record is written
    "commit:before",  # the round is logged to MLflow, its record not committed
    "export:before",  # the record is committed, nothing exported
    "export:after:items",  # the batch file is written
    "export:after:metadata",  # batch.json is written, not _READY
    "export:after:marker",  # _READY is written: the vendor may take the batch
    "watch:after_emit",  # a delivery's event is sent, its notice not written
    "review:before_export",  # `alflow review`: the review is recorded, its batch not exported
)


def crash_point(name: str) -> None:
    """A step boundary (one of CRASH_POINTS). Raises ValueError for a name not declared there."""
    if name not in CRASH_POINTS:
        raise ValueError(f"crash point {name!r} is not declared in CRASH_POINTS")
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(PAUSE_ENV) == name:
        release = Path(os.environ.get(RELEASE_ENV, ""))
        deadline = time.monotonic() + PAUSE_LIMIT
        while not release.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
