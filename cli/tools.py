"""`alflow demo` and `alflow simulate`: whole campaigns, with a simulated vendor or an answer key."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from alflow.config import load_campaign
from cli.console import beside_python, err, errors_as_exit_codes, out, quiet_libraries
from cli.rounds import run_round

if TYPE_CHECKING:
    from rich.progress import TaskID

DEFAULT_DEMO_DIR = Path("alflow-demo")


def demo(
    workdir: Annotated[Path, typer.Option(help="all demo state goes here; wiped at start")] = DEFAULT_DEMO_DIR,
    bucket: Annotated[str | None, typer.Option(help="vendor bucket: a folder or s3://bucket/prefix")] = None,
    max_labels: Annotated[int, typer.Option(help="label budget, seed labels included")] = 200,
    batch_size: Annotated[int, typer.Option(help="labels asked per round")] = 20,
) -> None:
    """A campaign on scikit-learn's digits with a simulated vendor, until a stopping rule fires."""
    from alflow.tools.demo import run_demo

    workdir = workdir.resolve()
    quiet_libraries()
    started = time.monotonic()

    def on_round(report) -> None:
        out.print(f"[dim]{time.monotonic() - started:5.1f}s[/dim] {report.message()}", highlight=False)

    out.print(
        f"alflow demo in {workdir}: digits, the default strategy (auto), a simulated vendor (starting Prefect...)"
    )
    with errors_as_exit_codes():
        summary = run_demo(
            workdir,
            run_round=run_round,
            bucket=bucket,
            max_labels=max_labels,
            batch_size=batch_size,
            on_round=on_round,
        )
    status = shlex.join([beside_python("alflow"), "status", str(workdir / "campaign.yaml")])
    open_ui = shlex.join([beside_python("mlflow"), "ui", "--backend-store-uri", summary.tracking_uri])
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


def simulate(
    config: Annotated[Path, typer.Argument(help="the campaign file; its pool must hold the true labels")],
    answers: Annotated[str, typer.Option(help="the pool column with the true labels (the oracle)")],
    strategies: Annotated[str, typer.Option(help="comma-separated strategies; random is always added")] = (
        "auto,margin,entropy,combined,typiclust"
    ),
    seeds: Annotated[int, typer.Option(min=1, help="replays per strategy (seed, seed+1, ...)")] = 3,
    optimise: Annotated[
        str, typer.Option(help="what the recommendation optimises: aulc (area under the curve), labels, final")
    ] = "aulc",
    output: Annotated[
        Path | None, typer.Option("--out", help="output folder (default: simulation/ beside CONFIG)")
    ] = None,
) -> None:
    """Replay the campaign on labeled data for each strategy and random; recommend a strategy."""
    from alflow.reporting import tracking
    from alflow.tools import simulate as simulation
    from alflow.tools import summary

    quiet_libraries()
    with errors_as_exit_codes():
        campaign = load_campaign(config)
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        summary.check_objective(optimise)
        with replay_progress() as progress:
            result = simulation.simulate(
                campaign, answers=answers, strategies=names, seeds=seeds, objective=optimise, progress=progress
            )
        folder = output or config.resolve().parent / "simulation"
        paths = summary.write_outputs(result, folder)
        run_id = tracking.log_simulation(
            campaign.tracking.uri,
            experiment=campaign.experiment,
            campaign=campaign.campaign,
            params={
                "metric": result.metric,
                "strategies": ",".join(names),
                "seeds": seeds,
                "optimise": optimise,
                "batch_size": campaign.strategy.batch_size,
                "max_labels": campaign.budget.max_labels,
                "model": campaign.model.preset or campaign.model.estimator,
            },
            curves=result.curves,
            table=result.table,
            recommended=result.recommended,
            artifacts=str(folder),
        )
    out.print(summary.table_markdown(result), highlight=False, soft_wrap=True)
    out.print(f"curves: {paths['curves']}  plot: {paths['plot']}  MLflow run: {run_id}", highlight=False)


@contextmanager
def replay_progress() -> Iterator[Callable[..., None]]:
    """One progress bar per strategy and seed (on stderr, so the table on stdout stays clean)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bars:
        tasks: dict[tuple[str, int], TaskID] = {}

        def update(strategy: str, seed: int, done: int, total: int) -> None:
            key = (strategy, seed)
            if key not in tasks:
                tasks[key] = bars.add_task(f"{strategy}, seed {seed}", total=total)
            bars.update(tasks[key], completed=done)

        yield update
