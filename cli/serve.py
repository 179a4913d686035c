"""`alflow serve`: the rounds of one or more campaigns in one long-lived process, on delivery and hourly.

Each campaign becomes a deployment served by this process, as `flow.serve` makes them: the
Prefect server holds its schedule (the hourly safety net), its trigger (`alflow.delivery.completed`,
`alflow.batch.wanted`) and its concurrency limit, and creates the runs. Unlike `flow.serve`, which
starts a fresh Python process for every run (paying the imports, Great Expectations' context and
MLflow's store again each round), this process runs them itself, one after another, so that set-up
is paid once. The delivery watcher (cli.watch) runs in a thread beside it. A paused campaign
(`alflow pause`) gets no delivery event, and a run of it that starts anyway (the schedule) says it
is paused and does nothing. On exit the deployments
are paused, as `flow.serve` leaves them: no run piles up for a server nobody serves.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from rich.markup import escape

from alflow.config import CampaignConfig, load_campaign
from alflow.errors import AlflowError
from alflow.intake.notices import EVENT, WANTED, resource_id
from alflow.reporting.reports import RoundReport
from cli.console import err, errors_as_exit_codes, out, quiet_libraries, quiet_prefect_console
from cli.orchestrator import answering
from cli.rounds import VERBOSE
from cli.watch import DeliveryWatcher, prefect_api, say_delivered, say_paused, say_problem, stamped

if TYPE_CHECKING:
    from prefect.client.schemas.responses import FlowRunResponse as FlowRun

HOURLY = "0 * * * *"


def campaign_deployment(flow: Any, config: CampaignConfig, path: Path, *, cron: str | None) -> Any:
    """The campaign's deployment: its trigger, its schedule (None: none) and one round at a time."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.events import DeploymentEventTrigger

    trigger = DeploymentEventTrigger(
        expect={EVENT, WANTED}, match={"prefect.resource.id": resource_id(config.campaign)}
    )
    return flow.to_deployment(
        name=config.campaign,
        parameters={"config_path": str(path.resolve())},
        cron=cron,
        triggers=[trigger],
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        paused=False,
        description=f"Rounds of campaign {config.campaign}, served by `alflow serve` (in-process, warm).",
    )


@dataclass(frozen=True)
class Served:
    """What one served run gave: its report, or the error it failed with."""

    flow_run: str
    report: RoundReport | None = None
    error: BaseException | None = None


class InProcessRunner:
    """Polls the Prefect API for the due runs of some deployments and runs each in this process."""

    def __init__(self, flow: Any, deployment_ids: list[UUID]) -> None:
        self.flow, self.deployment_ids = flow, deployment_ids

    def due(self) -> list[FlowRun]:
        from prefect.client.orchestration import get_client
        from prefect.types._datetime import now

        with get_client(sync_client=True) as client:
            runs = client.get_scheduled_flow_runs_for_deployments(
                deployment_ids=self.deployment_ids, scheduled_before=now("UTC")
            )
        return sorted(runs, key=lambda run: (run.next_scheduled_start_time is None, run.next_scheduled_start_time))

    def execute(self, flow_run: FlowRun) -> Served | None:
        """Take the run (Pending, as a worker does) and run the flow here; None if the server kept it."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import Abort
        from prefect.flow_engine import run_flow
        from prefect.states import Pending
        from prefect.utilities.engine import propose_state_sync

        try:
            with get_client(sync_client=True) as client:
                if not propose_state_sync(client, Pending(), flow_run_id=flow_run.id).is_pending():
                    return None
                taken = client.read_flow_run(flow_run.id)
        except Abort:
            return None  # another process took it, or its deployment's slot is taken
        state: Any = run_flow(self.flow, flow_run=taken, return_type="state")
        try:
            return Served(flow_run.name, report=state.result())
        except Exception as error:  # noqa: BLE001 - a failed round is reported; the process serves on
            return Served(flow_run.name, error=error)

    def serve(self, *, poll: float, on_served: Callable[[Served], None], stop: threading.Event) -> None:
        while not stop.is_set():
            for flow_run in self.due():
                if served := self.execute(flow_run):
                    on_served(served)
            stop.wait(poll)


def say_served(served: Served) -> None:
    if served.report is not None:
        out.print(stamped(served.report.message()), highlight=False)
    elif isinstance(served.error, AlflowError):
        for line in str(served.error).splitlines():
            err.print(stamped(f"[red]error:[/red] {escape(line)}"), highlight=False)
    else:
        name = type(served.error).__name__
        err.print(stamped(f"[red]error:[/red] flow run {served.flow_run!r} failed ({name}: {served.error}); "
                          "its traceback is in Prefect's log"), highlight=False)  # fmt: skip


def serve(
    configs: Annotated[list[Path], typer.Argument(help="the campaign files to serve")],
    cron: Annotated[str, typer.Option(help="the safety-net schedule (cron); '' for none")] = HOURLY,
    poll: Annotated[float, typer.Option(min=0.5, help="seconds between two looks for due runs")] = 2.0,
    watch_interval: Annotated[
        float, typer.Option(min=1, help="seconds between two looks at the buckets for deliveries")
    ] = 10.0,
    queue: Annotated[str | None, typer.Option(help="an SQS queue of the bucket's S3 event notifications")] = None,
    verbose: Annotated[bool, VERBOSE] = False,
) -> None:
    """Run rounds for one or more campaigns in this process, warm: on each delivery, and hourly."""
    if not verbose:
        quiet_libraries()
    with errors_as_exit_codes():
        campaigns = [(load_campaign(path), path) for path in configs]
        api = answering(prefect_api())  # a server that does not answer is one line, not a traceback
        from prefect.client.orchestration import get_client

        from flows.round import active_learning_round

        if not verbose:
            quiet_prefect_console()
        deployments = [campaign_deployment(active_learning_round, c, p, cron=cron or None) for c, p in campaigns]
        ids = [d.apply() for d in deployments]
    names = ", ".join(c.campaign for c, _ in campaigns)
    out.print(stamped(f"serving {names} on {api}: rounds on delivery and on '{cron}'; Ctrl-C stops"), highlight=False)
    stop = threading.Event()
    watcher = DeliveryWatcher([c for c, _ in campaigns], queue=queue, on_pause=say_paused)
    looks = {"interval": watch_interval, "on_delivery": say_delivered, "on_problem": say_problem, "stop": stop}
    threading.Thread(target=watcher.run, kwargs=looks, name="alflow-watch", daemon=True).start()
    # Rounds run in a thread of their own, so that SIGTERM and Ctrl-C reach this one (Prefect takes
    # SIGTERM over in the main thread during a run, and aborts it): a stop finishes the round in hand.
    runner = InProcessRunner(active_learning_round, ids)
    rounds = threading.Thread(target=runner.serve, kwargs={"poll": poll, "on_served": say_served, "stop": stop})
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rounds.start()
    try:
        while rounds.is_alive():
            rounds.join(timeout=0.5)
    except KeyboardInterrupt:
        out.print(stamped("stopping: the round in hand finishes first"))
        stop.set()
        rounds.join()
    finally:
        stop.set()
        with get_client(sync_client=True) as client:
            for deployment_id in ids:
                client.pause_deployment(deployment_id)
        out.print(stamped(f"stopped serving {names}; their deployments are paused until served again"))
