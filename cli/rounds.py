"""`alflow round` and `alflow write-off`: running a round, and giving up on items the vendor cannot label."""

from __future__ import annotations

import dataclasses
import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from alflow.config import load_campaign
from alflow.errors import AlflowError
from alflow.reporting.reports import RoundReport
from alflow.values import counted
from cli.console import (
    emit_json,
    err,
    errors_as_exit_codes,
    out,
    quiet_libraries,
    quiet_prefect_console,
    round_progress,
)

if TYPE_CHECKING:
    from cli.orchestrator import PrefectApi

VERBOSE = typer.Option("--verbose", "-v", help="show Prefect's and MLflow's logs, with tracebacks")


def run_round(
    config_path: str,
    arrivals: str | None = None,
    target_rate: float = 0.1,
    *,
    verbose: bool = False,
    warm_next: bool = False,
) -> RoundReport:
    """One round as a Prefect flow run (Prefect is imported here, only when a round runs).

    Quiet unless `verbose`: Prefect's console shows warnings and retries only, and an error raised
    inside the flow comes back here to be said once; Prefect's own log keeps everything. With
    `warm_next` (`alflow round`), a round on alflow's local server then starts the warm runner.
    """
    if not verbose:
        quiet_libraries()
    from cli.orchestrator import ensure_prefect_api, using
    from flows.round import active_learning_round

    if not verbose:
        quiet_prefect_console()
    with nullcontext() if verbose else round_progress():
        api = say_started(ensure_prefect_api())  # a Prefect that cannot be reached or started stops here, in one line
        with using(api):
            try:
                report = active_learning_round(config_path, arrivals=arrivals, target_rate=target_rate)
            except Exception:
                if warm_next:
                    warm_next_rounds(api)  # a round that failed still warms the next (not one interrupted)
                raise
    if warm_next:
        warm_next_rounds(api)
    return report


def warm_next_rounds(api: PrefectApi) -> None:
    """After a round run in its own process on alflow's local server (the README's way), start the warm
    runner in the background for the next rounds when none runs (cli.runner; not waited for). A round
    with PREFECT_API_URL or Prefect's temporary server starts none: alflow leaves no process behind
    there (it still uses one that runs)."""
    from cli import runner

    if api.local is None or runner.IN_RUNNER or runner.switched_off(os.environ):
        return
    try:
        runner.start_runner(runner.prefect_home(os.environ))  # where the next round looks for it
    except OSError as error:  # the next round runs in its own process again; nothing of this one is lost
        err.print(f"alflow's warm runner could not be started: {error}", highlight=False, soft_wrap=True)


def say_started(api: PrefectApi) -> PrefectApi:
    """Say on stderr, once (the round that started it), where alflow's local Prefect server is."""
    if api.started and api.local is not None:
        err.print(
            f"started alflow's local Prefect server for this and later rounds: UI at {api.local.url} "
            f"(log {api.local.log}; `alflow server stop` stops it)",
            highlight=False,
            soft_wrap=True,
        )
    return api


def precheck(config: Path) -> None:
    """What `alflow check` checks, bar the work pool, before Prefect starts: every problem, one line each."""
    from alflow.operations.preflight import check_campaign

    problems = [f for f in check_campaign(config) if not f.ok]
    if problems:
        raise AlflowError("\n".join(f"{f.check}: {f.message}" for f in problems))


def round_(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    arrivals: Annotated[
        str | None,
        typer.Option(help="stream-based: screen the new CSV files in this folder or s3:// prefix instead of the pool"),
    ] = None,
    target_rate: Annotated[float, typer.Option(help="with --arrivals: the share of arriving items to ask for")] = 0.1,
    verbose: Annotated[bool, VERBOSE] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the round's report as JSON for scripts")] = False,
) -> None:
    """Run one round: ingest delivered labels, train, log, then stop or export the next batch."""
    with errors_as_exit_codes(as_json=as_json):
        from alflow.round.arrivals import check_target_rate

        check_target_rate(target_rate)
        precheck(config)  # a bad file, input or service fails here in one line each, before Prefect starts
        report = run_round(str(config), arrivals, target_rate, verbose=verbose and not as_json, warm_next=True)
    if as_json:
        emit_json({**dataclasses.asdict(report), "message": report.message()})
        return
    out.print(report.message(), highlight=False)


def write_off(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    round_: Annotated[int, typer.Option("--round", help="the round whose batch holds the items")],
    reason: Annotated[str, typer.Option(help="why: kept in the ledger beside the ids")],
    ids: Annotated[
        str | None, typer.Option(help="comma-separated item ids (default: every item still outstanding)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the ids written off as JSON")] = False,
) -> None:
    """Stop waiting for items the vendor cannot label, so the campaign goes on without them."""
    from alflow.ledger.ledger import Ledger

    with errors_as_exit_codes():
        campaign = load_campaign(config)
        chosen_ids = None if ids is None else [i.strip() for i in ids.split(",") if i.strip()]
        if chosen_ids == []:
            raise AlflowError("--ids is empty: name the items, or leave --ids out to write off every outstanding item")
        chosen = Ledger.of(campaign).write_off(round_, chosen_ids, reason=reason)
    if as_json:
        emit_json({"campaign": campaign.campaign, "round": round_, "written_off": chosen, "reason": reason})
        return
    out.print(
        f"{campaign.campaign} round {round_}: wrote off {counted(len(chosen), 'item')}; no longer waited for",
        highlight=False,
    )
