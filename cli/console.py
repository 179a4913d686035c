"""What every command shares: the consoles, the one error boundary, and the environment helpers."""

from __future__ import annotations

import dataclasses
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

from alflow.errors import AlflowError
from alflow.values import plain

out = Console(soft_wrap=True)  # lines stay whole in pipes and logs
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def errors_as_exit_codes() -> Iterator[None]:
    """Print alflow's errors as one red line each and exit 1; anything else is a bug: let it show."""
    try:
        yield
    except AlflowError as error:
        for line in str(error).splitlines():
            err.print(f"[red]error:[/red] {line}", highlight=False)
        raise typer.Exit(code=1) from None


def beside_python(command: str) -> str:
    """A command installed in this environment, as the user can type it from here."""
    path = Path(sys.executable).parent / command
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def quiet_libraries() -> None:
    # The demo prints one line per round; Prefect's and MLflow's INFO chatter would bury them.
    # Both read these at import, which has not happened yet: the flows are imported lazily.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)


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
