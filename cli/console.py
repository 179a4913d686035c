"""What every command shares: the consoles, the one error boundary, and the environment helpers."""

from __future__ import annotations

import atexit
import dataclasses
import gc
import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.status import Status

from alflow import progress
from alflow.errors import AlflowError
from alflow.values import plain

out = Console(soft_wrap=True)  # lines stay whole in pipes and logs
err = Console(stderr=True, soft_wrap=True)
progress.draw_on(err)  # the stages' bars nest under the round's status line (rich >= 14.1)


@contextmanager
def errors_as_exit_codes(*, as_json: bool = False) -> Iterator[None]:
    """Print alflow's errors as one red line each and exit 1; anything else is a bug: let it show.

    With `as_json`, stdout also gets the error as JSON (`error`: its lines, `reason`: a code when it has one),
    so a script that reads `--json` never finds it empty.
    """
    try:
        yield
    except AlflowError as error:
        for line in str(error).splitlines():
            err.print(f"[red]error:[/red] {escape(line)}", highlight=False)  # a message's [a-z] is text, not markup
        if as_json:
            emit_json({"error": str(error), "reason": getattr(error, "reason", None)})
        raise typer.Exit(code=1) from None


def beside_python(command: str) -> str:
    """A command installed in this environment, as the user can type it from here."""
    path = Path(sys.executable).parent / command
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def analytics_off() -> None:
    """No usage reports from Prefect, GX or MLflow (offline, each would log an error per attempt).

    Read by each library at import, which has not happened yet when a command starts: the CLI
    imports them inside the commands that use them. A value the user set is kept.
    """
    for name, value in (
        ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        ("GX_ANALYTICS_ENABLED", "false"),
        ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ):
        os.environ.setdefault(name, value)


def start() -> None:
    """What every command does first: no usage reports (`analytics_off`), and a cheap exit (`cheap_exit`)."""
    analytics_off()
    cheap_exit()


def cheap_exit() -> None:
    """Freeze the garbage collector's view of the heap at exit, after every other exit handler.

    A round leaves millions of objects (Prefect, MLflow, GX, pandas, scikit-learn); the interpreter's
    collections while it tears them down took seconds after the command had returned
    (benchmarks/results/exit_cost.md). Frozen, they are freed by reference counting alone. This
    runs after the other `atexit` handlers (registered later, run first: Prefect's temporary server
    is stopped, its log and event workers have drained in threading's exit hooks before any of
    them) and only at exit, so a test process running commands in-process keeps its collector.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def quiet_libraries() -> None:
    # A round says one line; Prefect's and MLflow's INFO chatter would bury it. Both read these at
    # import, which has not happened yet: the flows are imported lazily. Prefect's loggers stay at
    # INFO so that its own log (the UI, `prefect flow-run logs`) keeps everything; only its console is quiet.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # "View run at ..." per run
    os.environ.setdefault("MLFLOW_PRINT_MODEL_URLS_ON_CREATION", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if "mlflow" in sys.modules:  # imported already (alflow's warm runner preloads it): its level now
        logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())


RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class QuietConsole(logging.Filter):
    """Prefect's console without its INFO chatter and without the tracebacks of a failed run.

    A failed run's error comes back to the command, which says it once (`errors_as_exit_codes`);
    Prefect's own log keeps the traceback. Warnings and retries still show, one line each.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(RUN_LOGGERS):
            if record.levelno >= logging.ERROR:
                return False
            return record.levelno >= logging.WARNING or str(record.msg).startswith("Task run failed with exception")
        return record.levelno >= logging.WARNING


class _StageProgress(logging.Handler):
    """Turns Prefect's records into the status line: the temporary server, then each finished stage."""

    def __init__(self, status: Status) -> None:
        super().__init__(logging.INFO)
        self.status, self.done = status, list[str]()

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        if message.startswith("Starting temporary server"):
            self.status.update("starting Prefect's temporary server (a running server at PREFECT_API_URL skips this)")
        elif message.startswith("Beginning flow run"):
            self.status.update("round: opening (ingest, validate)")
        elif message.startswith("Finished in state") and (task := getattr(record, "task_run_name", None)):
            self.done.append(str(task).rsplit("-", 1)[0])
            self.status.update("round: " + " → ".join(self.done))


@contextmanager
def round_progress() -> Iterator[None]:
    """On a terminal, one transient status line naming the round's stages as they finish; else nothing."""
    if not err.is_terminal:
        yield
        return
    with err.status("starting the round") as status:
        handler = _StageProgress(status)
        logger = logging.getLogger("prefect")
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)


class NoCancelledTracebacks(logging.Filter):
    """Drops records that carry a CancelledError: Prefect's worker threads, cancelled as the process
    exits after the round, log `<thread> was cancelled` with a traceback on `prefect._internal`'s own
    stderr handler. Nothing is lost that the round needed; `--verbose` still shows them."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (error is not None and type(error).__name__ == "CancelledError")


def quiet_prefect_console() -> None:
    """Filter Prefect's console handlers (set up when Prefect is imported) through QuietConsole, and
    its internal loggers' stderr handler through NoCancelledTracebacks."""
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler" and not any(
            isinstance(f, QuietConsole) for f in handler.filters
        ):
            handler.addFilter(QuietConsole())
    for handler in logging.getLogger("prefect._internal").handlers:
        if not any(isinstance(f, NoCancelledTracebacks) for f in handler.filters):
            handler.addFilter(NoCancelledTracebacks())


def jsonable(value: Any) -> Any:
    """`value` as plain JSON: dataclasses and mappings recursively, tuples as lists, numpy scalars
    as Python ones, NaN, NA and infinities as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    value = plain(value)
    return None if isinstance(value, float) and math.isinf(value) else value


def emit_json(payload: Any) -> None:
    """Print `payload` as JSON on stdout: the one output of a command run with `--json`."""
    typer.echo(json.dumps(jsonable(payload), indent=2))
