"""The `alflow` command (app): the top of the stack, above flows/ and tasks/.

`main` is the console script: it hands `alflow round` to alflow's warm runner when one answers
(cli.handoff, which imports nothing heavy), else runs the app here. `app` (the Typer app) is
imported on first use, so that the hand-off path does not pay for it.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main", "run"]


def main() -> None:
    from cli.handoff import hand_off

    code = hand_off(sys.argv)
    if code is not None:
        sys.exit(code)
    run()


def run() -> None:
    """The app on sys.argv, in this process (the warm runner's round process calls it too)."""
    from cli.main import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":
        from cli.main import app

        return app
    raise AttributeError(f"module 'cli' has no attribute {name!r}")
