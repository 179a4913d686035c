"""`alflow`: the command line, the top of the stack. The only place where errors become exit codes.

Prefect and the flows are imported inside the commands that run them, so `alflow init` and
`alflow status` start fast.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from alflow.config import NAME_PATTERN, example_campaign, load_campaign
from alflow.errors import AlflowError
from alflow.values import plain

app = typer.Typer(
    help="Active-learning campaigns: Prefect rounds, MLflow tracking, vendor buckets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)  # lines stay whole in pipes and logs
err = Console(stderr=True, soft_wrap=True)

DEFAULT_DEMO_DIR = Path("alflow-demo")


@contextmanager
def errors_as_exit_codes():
    """Print alflow's errors as one red line each and exit 1; anything else is a bug: let it show."""
    try:
        yield
    except AlflowError as error:
        for line in str(error).splitlines():
            err.print(f"[red]error:[/red] {line}", highlight=False)
        raise typer.Exit(code=1) from None


def _run_round(config_path: str, arrivals: str | None = None, target_rate: float = 0.1):
    from flows.round import active_learning_round

    return active_learning_round(config_path, arrivals=arrivals, target_rate=target_rate)


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="campaign name: lowercase letters, digits, dashes")],
    path: Annotated[Path | None, typer.Option(help="where to write it (default NAME.yaml)")] = None,
) -> None:
    """Write a commented example campaign file."""
    import re

    with errors_as_exit_codes():
        if not re.match(NAME_PATTERN, name):
            raise AlflowError(f"campaign name {name!r} must be lowercase letters, digits and dashes")
        target = path or Path(f"{name}.yaml")
        if target.exists():
            raise AlflowError(f"{target} already exists; pass --path to write elsewhere")
        target.write_text(example_campaign(name))
    out.print(f"wrote {target}: edit the pool, labels and bucket, then run `alflow round {target}`")


@app.command(name="round")
def round_(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    arrivals: Annotated[
        str | None,
        typer.Option(help="stream-based: screen the new CSV files in this folder or s3:// prefix instead of the pool"),
    ] = None,
    target_rate: Annotated[float, typer.Option(help="with --arrivals: the share of arriving items to ask for")] = 0.1,
) -> None:
    """Run one round: ingest delivered labels, train, log, then stop or export the next batch."""
    with errors_as_exit_codes():
        from alflow.round.arrivals import check_target_rate

        load_campaign(config)  # a bad file or option fails here in one line, before Prefect starts
        check_target_rate(target_rate)
        report = _run_round(str(config), arrivals, target_rate)
    out.print(report.message(), highlight=False)


@app.command(name="write-off")
def write_off(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    round_: Annotated[int, typer.Option("--round", help="the round whose batch holds the items")],
    reason: Annotated[str, typer.Option(help="why: kept in the ledger beside the ids")],
    ids: Annotated[
        str | None, typer.Option(help="comma-separated item ids (default: every item still outstanding)")
    ] = None,
) -> None:
    """Stop waiting for items the vendor cannot label, so the campaign goes on without them."""
    from alflow.ledger.campaign import write_off as give_up

    with errors_as_exit_codes():
        campaign = load_campaign(config)
        chosen_ids = None if ids is None else [i.strip() for i in ids.split(",") if i.strip()]
        if chosen_ids == []:
            raise AlflowError("--ids is empty: name the items, or leave --ids out to write off every outstanding item")
        chosen = give_up(campaign, round_, chosen_ids, reason=reason)
    out.print(
        f"{campaign.campaign} round {round_}: wrote off {len(chosen)} items; no longer waited for", highlight=False
    )


def _show(value: object, fmt: str = "{}") -> str:
    return "-" if plain(value) is None else fmt.format(value)


@app.command()
def status(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """The campaign so far: one row per round."""
    from alflow.reporting.reports import status_rows

    with errors_as_exit_codes():
        campaign = load_campaign(config)
        rows = status_rows(campaign)
    if as_json:
        payload = {
            "campaign": campaign.campaign,
            "max_labels": campaign.budget.max_labels,
            "rounds": [{k: plain(v) for k, v in row.items()} for row in rows],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(
        title=f"{campaign.campaign}: budget {campaign.budget.max_labels} labels", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for column in ("round", "labels", "asked", "delivered", "ingested", "accuracy", "f1", "state"):
        table.add_column(column, justify="left" if column == "state" else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["round"]),
            str(row["labels_used"]),
            str(row["asked"]),
            _show(row["delivered"]),
            _show(row["ingested"]),
            _show(row["accuracy"], "{:.3f}"),
            _show(row["f1_macro"], "{:.3f}"),
            row["state"],
        )
    # In a pipe Rich assumes 80 columns and would squeeze the table: give it room instead.
    console = out if out.is_terminal else Console(width=120)
    console.print(table if rows else f"{campaign.campaign}: no rounds yet; run `alflow round {config}`")


def _beside_python(command: str) -> str:
    """A command installed in this environment, as the user can type it from here."""
    path = Path(sys.executable).parent / command
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def _quiet_libraries() -> None:
    # The demo prints one line per round; Prefect's and MLflow's INFO chatter would bury them.
    # Both read these at import, which has not happened yet: the flows are imported lazily.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="all demo state goes here; wiped at start")] = DEFAULT_DEMO_DIR,
    bucket: Annotated[str | None, typer.Option(help="vendor bucket: a folder or s3://bucket/prefix")] = None,
    max_labels: Annotated[int, typer.Option(help="label budget, seed labels included")] = 200,
    batch_size: Annotated[int, typer.Option(help="labels asked per round")] = 20,
) -> None:
    """A campaign on scikit-learn's digits with a simulated vendor, until a stopping rule fires."""
    from alflow.tools.demo import run_demo

    workdir = workdir.resolve()
    _quiet_libraries()
    started = time.monotonic()

    def on_round(report) -> None:
        out.print(f"[dim]{time.monotonic() - started:5.1f}s[/dim] {report.message()}", highlight=False)

    out.print(
        f"alflow demo in {workdir}: digits, the default strategy (auto), a simulated vendor (starting Prefect...)"
    )
    with errors_as_exit_codes():
        summary = run_demo(
            workdir,
            run_round=_run_round,
            bucket=bucket,
            max_labels=max_labels,
            batch_size=batch_size,
            on_round=on_round,
        )
    status = shlex.join([_beside_python("alflow"), "status", str(workdir / "campaign.yaml")])
    open_ui = shlex.join([_beside_python("mlflow"), "ui", "--backend-store-uri", summary.tracking_uri])
    out.print(
        f"\n[bold]Done in {time.monotonic() - started:.0f}s:[/bold] {summary.rounds} rounds, "
        f"{summary.labels_used} labels, holdout accuracy {summary.accuracy:.3f} "
        f"(random sampling with the same labels: {summary.random_accuracy:.3f}); "
        f"stopped: {summary.stop_reason}",
        highlight=False,
    )
    out.print(f"Vendor bucket: {summary.bucket}  (layout and AWS CLI commands: docs/VENDORS.md)", highlight=False)
    out.print(f"The campaign, round by round: [bold]{status}[/bold]", highlight=False)
    out.print(f"Open the dashboards: [bold]{open_ui}[/bold]", highlight=False)


@app.command()
def simulate(
    config: Annotated[Path, typer.Argument(help="the campaign file; its pool must hold the true labels")],
    answers: Annotated[str, typer.Option(help="the pool column with the true labels (the oracle)")],
    strategies: Annotated[str, typer.Option(help="comma-separated strategies; random is always added")] = (
        "auto,margin,entropy,combined,typiclust"
    ),
    seeds: Annotated[int, typer.Option(min=1, help="replays per strategy (seed, seed+1, ...)")] = 3,
    output: Annotated[
        Path | None, typer.Option("--out", help="output folder (default: simulation/ beside CONFIG)")
    ] = None,
) -> None:
    """Replay the campaign on labeled data for each strategy and random; recommend a strategy."""
    from alflow.reporting import tracking
    from alflow.tools import simulate as simulation

    _quiet_libraries()
    with errors_as_exit_codes():
        campaign = load_campaign(config)
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        result = simulation.simulate(campaign, answers=answers, strategies=names, seeds=seeds)
        folder = output or config.resolve().parent / "simulation"
        paths = simulation.write_outputs(result, folder)
        run_id = tracking.log_simulation(
            campaign.tracking.uri,
            experiment=campaign.experiment,
            campaign=campaign.campaign,
            params={
                "metric": result.metric,
                "strategies": ",".join(names),
                "seeds": seeds,
                "batch_size": campaign.strategy.batch_size,
                "max_labels": campaign.budget.max_labels,
                "model": campaign.model.preset or campaign.model.estimator,
            },
            curves=result.curves,
            table=result.table,
            recommended=result.recommended,
            artifacts=str(folder),
        )
    out.print(simulation.table_markdown(result), highlight=False, soft_wrap=True)
    out.print(f"curves: {paths['curves']}  plot: {paths['plot']}  MLflow run: {run_id}", highlight=False)
