"""The `alflow` command's first step: hand `alflow round` to alflow's warm runner (cli.runner) when one
answers, else let the command run in this process.

Cheap on purpose: the standard library and cli.runner only (which imports nothing more), so that a
round handed off pays no import of the heavy stack here. The runner's round process gets this
process's argv, environment, folder, sys.path and stdin/stdout/stderr, so its output, exit code,
`--json` and error lines are the in-process round's; this process passes on SIGINT, SIGTERM and
SIGHUP, and exits as the round did (with its code, or by its signal). Anything that fails before the
round's process starts means the round runs here instead: silently, a line with `--verbose`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from cli import runner

COMMANDS = ("round",)
"""The commands handed off (the ones whose start-up imports cost most)."""
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def say(verbose: bool, message: str) -> None:
    if verbose:
        print(f"alflow: {message}", file=sys.stderr, flush=True)


def hand_off(argv: Sequence[str]) -> int | None:
    """Run the command in the runner: its exit code; None when it should run in this process."""
    if len(argv) < 2 or argv[1] not in COMMANDS or runner.switched_off(os.environ):
        return None
    verbose = any(a in ("--verbose", "-v") for a in argv[2:])
    files = runner.RunnerFiles(runner.prefect_home(os.environ))
    try:
        connection = runner.connect(files.socket, timeout=runner.READY_SECONDS)  # then the round runs here
    except OSError as error:  # none runs (a round on alflow's local server starts one for the next rounds)
        say(verbose, f"no warm runner answers ({error.strerror or type(error).__name__}); running the round here")
        return None
    with connection:
        try:
            request = {
                "fingerprint": runner.fingerprint(),
                "argv": list(argv),
                "env": dict(os.environ),
                "cwd": os.getcwd(),
                "path": sys.path,
            }
            runner.send_message(connection, request, [0, 1, 2])
            reply, _ = runner.receive_message(connection)
        except (OSError, ValueError) as error:
            say(verbose, f"alflow's runner did not take the round ({type(error).__name__}: {error}); running it here")
            return None
        if not reply or not reply.get("ready"):
            why = (reply or {}).get("refused", "no answer")
            say(verbose, f"alflow's runner did not take the round ({why}); running it here")
            return None
        return see_through(connection, verbose)


def see_through(connection: Any, verbose: bool) -> int | None:
    """Start the round in the runner, pass signals on until it ends, and return its exit code (a round
    ended by a signal ends this process by the same signal); None when the runner ended before the
    round's process started."""

    def forward(number: int, _: FrameType | None) -> None:
        runner.send_message(connection, {"signal": number})

    previous = {number: signal.signal(number, forward) for number in FORWARDED}
    connection.settimeout(None)
    ended: dict[str, Any] | None = None
    started: dict[str, Any] | None = None
    try:
        runner.send_message(connection, {"go": True})
        while (message := runner.receive_message(connection)[0]) is not None:
            if "started" in message:
                say(verbose, f"round running in alflow's runner (PID {message['runner']}) as PID {message['started']}")
                started = message
            if "exit" in message:
                ended = message
                break
    except (OSError, ValueError):
        ended = None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if started is None:
        say(verbose, "alflow's runner ended before the round's process started; running it here")
        return None
    if ended is None:
        print(
            "error: alflow's runner ended before the round did; run the round again "
            "(ALFLOW_RUNNER=off runs it in its own process)",
            file=sys.stderr,
        )
        return 1
    if usage_file := os.environ.get(runner.USAGE_FILE):
        report = {"runner": started["runner"], "keeper": started["keeper"], "round": started["started"]}
        with open(usage_file, "w") as handle:
            json.dump({**report, **ended["usage"], "exit": ended["exit"]}, handle)
    code = int(ended["exit"])
    if code < 0:  # ended by a signal: end the same way
        sys.stdout.flush()
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code
