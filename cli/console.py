"""What every command shares: the consoles, the one error boundary, and the environment helpers."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from alflow.errors import AlflowError

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
