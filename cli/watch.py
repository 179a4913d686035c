"""`alflow watch`: one Prefect event per completed delivery, so that a round starts within a minute.

The watcher lists each campaign's completion markers every few seconds (two listings a campaign),
or, with `--queue`, waits on an SQS queue that receives the bucket's S3 event notifications and
lists only the campaigns an event is about. Each new `_DONE` becomes one `alflow.delivery.completed`
event (resource `alflow.campaign.<name>`, the round in the payload; a review's answers too, `review`
in the payload, so that the next round takes its verdicts in) and then a notice in the ledger
(alflow.intake.notices): a restart re-announces nothing. The deployment's trigger
(infra/prefect.yaml) runs the round; the hourly schedule stays as the safety net. A paused
campaign's deliveries are not announced (alflow.ledger.control); once resumed, the next look
announces them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from alflow.config import CampaignConfig, load_campaign
from alflow.errors import AlflowError, ConfigError, ServiceUnavailableError
from alflow.intake.notices import Delivery, announce_new, marker_review, marker_round
from alflow.ledger.control import paused
from alflow.ledger.ledger import Ledger
from cli.console import err, errors_as_exit_codes, out


def prefect_api() -> str:
    """The Prefect server events go to; ConfigError without one (a temporary server would forget them)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError("no Prefect server to announce deliveries to: set PREFECT_API_URL (docs/TEAM.md)")
    return str(url)


def post_event(event: dict) -> None:
    """Send one event to the Prefect API and return once the server has taken it (`POST /events`)."""
    import httpx
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.request("POST", "/events", json=[event])
    except httpx.HTTPError as error:
        raise ServiceUnavailableError(f"the Prefect API did not take the event ({error})") from None


class DeliveryWatcher:
    """Announces the new deliveries of some campaigns, by listing their markers or from an SQS queue."""

    def __init__(
        self,
        configs: list[CampaignConfig],
        *,
        emit: Callable[[dict], None] = post_event,
        queue: str | None = None,
        on_pause: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.ledgers = [Ledger.of(c) for c in configs]
        self.vendors = {c.campaign: c.vendor for c in configs}  # complete_when: deliveries without _DONE
        self.emit, self.queue, self.on_pause = emit, queue, on_pause
        self.swept = False
        self.held: set[str] = set()  # the campaigns found paused on the last look

    def _running(self, ledger: Ledger) -> bool:
        """Whether the campaign is not paused; a change since the last look is said once."""
        pause, name = paused(ledger.store, ledger.campaign), ledger.campaign
        if pause is not None and name not in self.held:
            why = f": {pause.reason}" if pause.reason else ""
            self.on_pause(f"{name}: paused since {pause.at}{why}; its deliveries are not announced")
            self.held.add(name)
        elif pause is None and name in self.held:
            self.on_pause(f"{name}: resumed; its deliveries are announced again")
            self.held.discard(name)
        return pause is None

    def sweep(self, names: set[str] | None = None) -> list[Delivery]:
        """List the markers of the campaigns named (all by default) and announce what is new, but
        for paused campaigns."""
        return [
            delivery
            for ledger in self.ledgers
            if (names is None or ledger.campaign in names) and self._running(ledger)
            for delivery in announce_new(ledger, self.emit, self.vendors.get(ledger.campaign))
        ]

    def _any(self, ledger: Ledger) -> bool:
        """Whether any file under a delivery (not only `_DONE`) may complete it (`vendor.complete_when`)."""
        vendor = self.vendors.get(ledger.campaign)
        return vendor is not None and vendor.complete_when != "done_marker"

    def poll(self, wait: float) -> list[Delivery]:
        """One look: a sweep, or (with a queue, after a first sweep) up to `wait` seconds on the queue."""
        if not self.queue or not self.swept:
            self.swept = True
            return self.sweep()
        from alflow.exchange.sqs import created_objects

        uris = created_objects(self.queue, wait_seconds=max(1, min(20, int(wait))))
        names = {
            ledger.campaign
            for uri in uris
            for ledger in self.ledgers
            if marker_round(uri, ledger, self._any(ledger)) or marker_review(uri, ledger, self._any(ledger))
        }
        return self.sweep(names) if names else []

    def run(
        self,
        *,
        interval: float,
        on_delivery: Callable[[Delivery], None],
        on_problem: Callable[[AlflowError], None],
        stop: threading.Event,
        once: bool = False,
    ) -> None:
        """Poll until `stop` is set (or once): a service that does not answer is reported and tried again."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                for delivery in self.poll(interval):
                    on_delivery(delivery)
            except ServiceUnavailableError as error:
                if once:
                    raise
                on_problem(error)
            if once:
                return
            if not self.queue:
                stop.wait(max(0.0, interval - (time.monotonic() - started)))


def stamped(line: str) -> str:
    """A line of a long-running command (`watch`, `serve`) with the local time it was said at."""
    return f"{datetime.now().astimezone().isoformat(timespec='seconds')} {line}"


def say_delivered(delivery: Delivery) -> None:
    what = f"round {delivery.round}" if delivery.review is None else f"review {delivery.review}"
    out.print(stamped(f"{delivery.campaign}: {what} delivered ({delivery.marker}); announced"), highlight=False)


def say_paused(message: str) -> None:
    out.print(stamped(message), highlight=False)


def say_problem(error: AlflowError) -> None:
    err.print(stamped(f"[yellow]warning:[/yellow] {error}; trying again"), highlight=False)


def watch(
    configs: Annotated[list[Path], typer.Argument(help="the campaign files to watch")],
    interval: Annotated[float, typer.Option(min=1, help="seconds between two looks at the buckets")] = 10.0,
    queue: Annotated[
        str | None,
        typer.Option(help="an SQS queue URL receiving the bucket's S3 event notifications, instead of listing"),
    ] = None,
    once: Annotated[bool, typer.Option(help="look once and exit (for cron or CI)")] = False,
) -> None:
    """Announce each completed delivery to Prefect as an event, once, so that its round starts at once."""
    from cli.console import quiet_libraries

    quiet_libraries()
    with errors_as_exit_codes():
        campaigns = [load_campaign(path) for path in configs]
        api = prefect_api()
        watcher = DeliveryWatcher(campaigns, queue=queue, on_pause=say_paused)
        how = f"SQS queue {queue}" if queue else f"every {interval:g} s"
        if not once:
            out.print(
                stamped(f"watching {len(campaigns)} campaign(s) ({how}) for deliveries; events to {api}"),
                highlight=False,
            )
        try:
            watcher.run(
                interval=interval,
                on_delivery=say_delivered,
                on_problem=say_problem,
                stop=threading.Event(),
                once=once,
            )
        except KeyboardInterrupt:
            out.print(stamped("stopped watching"))
