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
from alflow.exchange.formats import FORMATS
from cli.console import beside_python, emit_json, err, errors_as_exit_codes, out, quiet_libraries
from cli.rounds import run_round

if TYPE_CHECKING:
    from rich.progress import TaskID

DEFAULT_DEMO_DIR = Path("alflow-demo")
DEFAULT_LABELING = "perfect,once,repeat3,adaptive"


def demo(
    workdir: Annotated[Path, typer.Option(help="all demo state goes here; wiped at start")] = DEFAULT_DEMO_DIR,
    bucket: Annotated[str | None, typer.Option(help="vendor bucket: a folder or s3://bucket/prefix")] = None,
    max_labels: Annotated[int, typer.Option(help="label budget, seed labels included")] = 200,
    batch_size: Annotated[int, typer.Option(help="labels asked per round")] = 20,
    data: Annotated[
        str,
        typer.Option(
            help="digits (scikit-learn's, pixels) or text (generated support tickets, TF-IDF); tags: multilabel "
            "(generated topics); numbers: friedman (generated) or diabetes (scikit-learn's)"
        ),
    ] = "digits",
    vendor_format: Annotated[
        str, typer.Option("--format", help=f"the vendor's exchange format: {', '.join(FORMATS)}")
    ] = "csv",
) -> None:
    """A campaign with a simulated vendor, until a stopping rule fires. --data is one of:

    digits: one class per item (scikit-learn's digits, pixels);
    text: one class per item (generated support tickets, TF-IDF);
    multilabel: tags (generated topics, several per item);
    friedman: a number (generated, make_friedman1);
    diabetes: a number (scikit-learn's diabetes progression).

    --format is any exchange format; ground_truth takes no numbers.
    """
    from alflow.operations.demo import run_demo
    from alflow.reporting.dashboard import ui_port

    workdir = workdir.resolve()
    quiet_libraries()
    started = time.monotonic()

    def on_round(report) -> None:
        out.print(f"[dim]{time.monotonic() - started:5.1f}s[/dim] {report.message()}", highlight=False)

    what = "support tickets (text, TF-IDF)" if data == "text" else data
    out.print(
        f"alflow demo in {workdir}: {what}, the default strategy (auto), a simulated vendor "
        f"delivering {vendor_format} (starting Prefect...)"
    )
    with errors_as_exit_codes():
        summary = run_demo(
            workdir,
            run_round=run_round,
            bucket=bucket,
            max_labels=max_labels,
            batch_size=batch_size,
            dataset=data,
            fmt=vendor_format,
            on_round=on_round,
        )
    status = shlex.join([beside_python("alflow"), "status", str(workdir / "campaign.yaml")])
    port = ui_port(summary.tracking_uri)
    open_ui = shlex.join([beside_python("mlflow"), "ui", "--backend-store-uri", summary.tracking_uri])
    open_ui += f" --port {port}" if port is not None else ""
    out.print(
        f"\n[bold]Done in {time.monotonic() - started:.0f}s:[/bold] {summary.rounds} rounds, "
        f"{summary.labels_used} labels, holdout {summary.metric} {summary.accuracy:.3f} "
        f"(random sampling with the same labels: {summary.random_accuracy:.3f}); "
        + (f"{summary.spend_text}; " if summary.spend_text else "")
        + f"stopped: {summary.stop_reason}",
        highlight=False,
    )
    out.print(f"Vendor bucket: {summary.bucket}  (layout and AWS CLI commands: docs/VENDORS.md)", highlight=False)
    out.print(f"The campaign, round by round: [bold]{status}[/bold]", highlight=False)
    out.print(f"Open the dashboards: [bold]{open_ui}[/bold]", highlight=False)
    if summary.dashboard_url:
        out.print(
            f"  then the campaign, as stakeholders see it: {summary.dashboard_url}", highlight=False, soft_wrap=True
        )
    say_prefect_ui()


def say_prefect_ui() -> None:
    """Where the rounds' flow runs are: the Prefect UI of PREFECT_API_URL's server or of alflow's local one."""
    from cli.orchestrator import prefect_ui

    found = prefect_ui()
    if found is None:
        out.print("Prefect's UI: none (the temporary server stopped with the demo)", highlight=False)
        return
    url, local = found
    stop = " (alflow's local server, left running for later rounds: `alflow server stop` stops it)" if local else ""
    out.print(f"The rounds as Prefect flow runs: [bold]{url}[/bold]{stop}", highlight=False)


def simulate(
    config: Annotated[Path, typer.Argument(help="the campaign file; its pool must hold the true labels")],
    answers: Annotated[str, typer.Option(help="the pool column with the true labels (the oracle)")],
    strategies: Annotated[
        str | None,
        typer.Option(
            help="comma-separated strategies or package.module:attribute paths; random is always added "
            "[default: auto,margin,entropy,combined,typiclust; tags: auto,mean_max_loss,max_loss,typiclust; "
            "numbers: auto,committee_variance,gsx,typiclust]"
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="replays per strategy (seed, seed+1, ...)")] = 3,
    optimise: Annotated[
        str, typer.Option(help="what the recommendation optimises: aulc (area under the curve), labels, final")
    ] = "aulc",
    output: Annotated[
        Path | None, typer.Option("--out", help="output folder (default: simulation/ beside CONFIG)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the table and recommendation as JSON")] = False,
    annotators: Annotated[
        Path | None,
        typer.Option(
            help="a YAML file of simulated annotators (error rates, confusions, or from_gold); docs/ANNOTATORS.md"
        ),
    ] = None,
    labeling: Annotated[
        str, typer.Option(help="with --annotators: comma-separated plans among perfect, once, repeat3, adaptive")
    ] = DEFAULT_LABELING,
) -> None:
    """Replay the campaign on labeled data for each strategy and random; recommend a strategy."""
    from alflow.errors import ConfigError
    from alflow.operations import summary
    from alflow.operations.simulate import DEFAULT_STRATEGIES
    from alflow.reporting import tracking

    quiet_libraries()
    with errors_as_exit_codes():
        plans = [p.strip() for p in labeling.split(",") if p.strip()]
        if annotators is None and labeling != DEFAULT_LABELING:
            raise ConfigError("--labeling needs --annotators: plans say how a noisy vendor's annotations are used")
        campaign = load_campaign(config)
        names = [s.strip() for s in (strategies or "").split(",") if s.strip()] or list(
            DEFAULT_STRATEGIES[campaign.labels.kind]
        )
        summary.check_objective(optimise)
        with replay_progress() as progress:
            result = _replay(campaign, answers, names, seeds, optimise, annotators, plans, progress)
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
                **({"annotators": str(annotators), "labeling": ",".join(plans)} if annotators else {}),
            },
            curves=result.curves,
            table=result.table,
            recommended=result.recommended,
            artifacts=str(folder),
        )
    if as_json:
        emit_json(
            {
                "campaign": campaign.campaign,
                "metric": result.metric,
                "full_score": result.full_score,
                "recommended": result.recommended,
                "optimised": result.objective,
                "reason": result.reason,
                "targets_reached": list(result.targets),
                "table": result.table,
                **({"annotators": list(result.annotators), "plans": result.plans} if result.annotators else {}),
                "files": {name: str(path) for name, path in paths.items()},
                "mlflow_run_id": run_id,
            }
        )
        return
    out.print(summary.table_markdown(result), highlight=False, soft_wrap=True)
    out.print(f"curves: {paths['curves']}  plot: {paths['plot']}  MLflow run: {run_id}", highlight=False)


def _replay(campaign, answers: str, names: list[str], seeds: int, optimise: str, annotators, plans, progress):
    """The simulation: with an oracle, or with the annotators of the file `annotators` under each plan."""
    from alflow.operations import simulate as simulation

    if annotators is None:
        return simulation.simulate(
            campaign, answers=answers, strategies=names, seeds=seeds, objective=optimise, progress=progress
        )
    from alflow.operations.annotators import load_annotators
    from alflow.operations.noisy import simulate_with_annotators

    crowd = load_annotators(annotators, tuple(campaign.classes))
    return simulate_with_annotators(
        campaign,
        crowd,
        answers=answers,
        strategies=names,
        seeds=seeds,
        plans=plans,
        objective=optimise,
        progress=progress,
    )


@contextmanager
def replay_progress() -> Iterator[Callable[..., None]]:
    """One progress bar per strategy and seed, on stderr (the table on stdout stays clean), drawn
    only where `alflow.progress` draws (a terminal, unless ALFLOW_PROGRESS=0). The bars stay when
    done: each replay's time is worth reading beside the table."""
    from alflow import progress

    if not progress.enabled():
        yield lambda strategy, seed, done, total: None
        return
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
