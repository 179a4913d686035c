"""`alflow server status|start|stop`: alflow's local Prefect server, the one rounds use without PREFECT_API_URL,
and the warm runner beside it (cli.runner), which runs later rounds in warm processes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.console import emit_json, errors_as_exit_codes, out

if TYPE_CHECKING:
    from cli.local_server import LocalServer
    from cli.runner import Runner

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


def runner_line(runner: Runner | None, home: Path) -> str:
    from cli.runner import answers

    if runner is None:
        return "no warm runner runs; the next round on the local server starts one (rounds run in their own process)"
    state = "answering" if answers(home) == runner.pid else "preloading"
    return f"alflow's warm runner: PID {runner.pid}, {state}, started {runner.started}, log {runner.log}"


@app.command()
def status(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """Whether it runs: its UI's URL, PID, port and log (and whether rounds use it)."""
    from cli.local_server import running_server
    from cli.runner import running_runner

    with errors_as_exit_codes():
        home, api = prefect_home(), configured_api()
        server, runner = running_server(home), running_runner(home)
    if as_json:
        warm = dataclasses.asdict(runner) if runner else None
        emit_json(
            {
                "running": server is not None,
                **(described(server) if server else {}),
                "prefect_api_url": api,
                "runner": warm,
            }
        )
        return
    if server is None:
        out.print(f"no local Prefect server runs for PREFECT_HOME={home}; the next round starts one", highlight=False)
    else:
        out.print(
            f"alflow's local Prefect server: UI at {server.url} (API {server.api_url}), PID {server.pid}, "
            f"started {server.started}, log {server.log}",
            highlight=False,
        )
    out.print(runner_line(runner, home), highlight=False)
    if api:
        out.print(f"rounds here use PREFECT_API_URL={api}, not the local server", highlight=False)


@app.command()
def start(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """Start it now when it does not run (a round would start it anyway), and the warm runner beside it."""
    from cli.local_server import local_server
    from cli.orchestrator import startup_seconds
    from cli.runner import prefect_home as runner_home
    from cli.runner import running_runner, start_runner, switched_off

    with errors_as_exit_codes(as_json=as_json):
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        environment = settings.to_environment_variables(exclude_unset=True)
        server, started = local_server(Path(settings.home), timeout=startup_seconds(settings), environment=environment)
        home = runner_home(os.environ)
        runner = None if switched_off(os.environ) else (start_runner(home) or running_runner(home))
    if as_json:
        emit_json({"started": started, **described(server), "runner": dataclasses.asdict(runner) if runner else None})
        return
    verb = "started" if started else "already running"
    out.print(f"alflow's local Prefect server {verb}: UI at {server.url}, log {server.log}", highlight=False)
    if runner is not None:
        out.print(f"alflow's warm runner: PID {runner.pid} (it preloads in the background), log {runner.log}")


@app.command()
def stop(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """Stop it, and the warm runner (the next round without PREFECT_API_URL starts both again).
    `prefect server stop` stops the server only."""
    from cli.local_server import stop_server
    from cli.runner import prefect_home as runner_home
    from cli.runner import stop_runner

    with errors_as_exit_codes(as_json=as_json):
        stopped = stop_server(prefect_home())
        runner = stop_runner(runner_home(os.environ))
    if as_json:
        warm = dataclasses.asdict(runner) if runner else None
        emit_json({"stopped": stopped is not None, **(described(stopped) if stopped else {}), "runner": warm})
        return
    if stopped is None:
        out.print("no local Prefect server was running", highlight=False)
    else:
        out.print(f"stopped alflow's local Prefect server (PID {stopped.pid}, {stopped.url})", highlight=False)
    if runner is not None:
        out.print(f"stopped alflow's warm runner (PID {runner.pid})", highlight=False)
