"""`alflow server status|start|stop`: alflow's local Prefect server, the one rounds use without PREFECT_API_URL."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.console import emit_json, errors_as_exit_codes, out

if TYPE_CHECKING:
    from cli.local_server import LocalServer

app = typer.Typer(
    help="alflow's local Prefect server: the one rounds start and reuse when PREFECT_API_URL is not set.",
    no_args_is_help=True,
)
AS_JSON = typer.Option("--json", help="print it as JSON for scripts")


def prefect_home() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home)


def configured_api() -> str | None:
    from cli.check import prefect_api_url

    return prefect_api_url()


def described(server: LocalServer) -> dict[str, Any]:
    return {**dataclasses.asdict(server), "url": server.url, "api_url": server.api_url}


@app.command()
def status(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """Whether it runs: its UI's URL, PID, port and log (and whether rounds use it)."""
    from cli.local_server import running_server

    with errors_as_exit_codes():
        home, api = prefect_home(), configured_api()
        server = running_server(home)
    if as_json:
        emit_json({"running": server is not None, **(described(server) if server else {}), "prefect_api_url": api})
        return
    if server is None:
        out.print(f"no local Prefect server runs for PREFECT_HOME={home}; the next round starts one", highlight=False)
    else:
        out.print(
            f"alflow's local Prefect server: UI at {server.url} (API {server.api_url}), PID {server.pid}, "
            f"started {server.started}, log {server.log}",
            highlight=False,
        )
    if api:
        out.print(f"rounds here use PREFECT_API_URL={api}, not the local server", highlight=False)


@app.command()
def start(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """Start it now when it does not run (a round would start it anyway)."""
    from cli.local_server import local_server
    from cli.orchestrator import startup_seconds

    with errors_as_exit_codes(as_json=as_json):
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        environment = settings.to_environment_variables(exclude_unset=True)
        server, started = local_server(Path(settings.home), timeout=startup_seconds(settings), environment=environment)
    if as_json:
        emit_json({"started": started, **described(server)})
        return
    verb = "started" if started else "already running"
    out.print(f"alflow's local Prefect server {verb}: UI at {server.url}, log {server.log}", highlight=False)


@app.command()
def stop(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """Stop it (the next round without PREFECT_API_URL starts it again). `prefect server stop` does the same."""
    from cli.local_server import stop_server

    with errors_as_exit_codes(as_json=as_json):
        stopped = stop_server(prefect_home())
    if as_json:
        emit_json({"stopped": stopped is not None, **(described(stopped) if stopped else {})})
        return
    if stopped is None:
        out.print("no local Prefect server was running", highlight=False)
    else:
        out.print(f"stopped alflow's local Prefect server (PID {stopped.pid}, {stopped.url})", highlight=False)
