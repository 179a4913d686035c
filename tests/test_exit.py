"""Every `alflow` command exits without the interpreter's collections walking the heap it leaves
(cli.console.cheap_exit): the collector's view is frozen after every other exit handler, never before."""

from __future__ import annotations

import subprocess
import sys

COMMAND = """
import atexit, gc, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))  # runs last
from cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("frozen after the command:", gc.get_freeze_count() > 0, flush=True)
"""


def test_a_command_freezes_the_heap_at_exit_only(tmp_path):
    ran = subprocess.run(
        [sys.executable, "-c", COMMAND, "init", "churn", "--path", str(tmp_path / "churn.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "churn.yaml").exists()
    assert ran.stdout.splitlines()[-2:] == ["frozen after the command: False", "frozen at exit: True"]


def test_without_a_command_nothing_is_frozen():
    ran = subprocess.run([sys.executable, "-c", COMMAND.replace("from cli import app", "app = print")],
                         capture_output=True, text=True, timeout=60)  # fmt: skip

    assert ran.stdout.splitlines()[-1] == "frozen at exit: False"
