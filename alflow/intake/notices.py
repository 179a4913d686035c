"""Delivery notices: a completed delivery announced once, so that a round can start on it.

A watcher (`alflow watch`, `alflow serve`) lists the campaign's completion markers cheaply, sends
one event per new `_DONE` and then writes the round's notice record, once. A restart finds the
notices and re-announces nothing; a watcher killed between the event and the notice sends the
same event again (same id), which starts no second round: the ledger has nothing new to give it.
A delivery a round has already ingested (the cron got there first) is not announced. Under a
campaign's `vendor.complete_when` other than `done_marker` (a tool that never writes `_DONE`), a
round's delivery is announced once too, when its files are to be read (alflow.intake.completion:
the first files under `all_answered`, later ones being read by the next scheduled round; all
files quiet under `quiet_minutes`), its marker being the delivery folder's URI.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from alflow.config.schema import VendorConfig
from alflow.exchange import layout
from alflow.intake import completion
from alflow.ledger.crash import crash_point
from alflow.ledger.ledger import NOTICE, Ledger
from alflow.ledger.records import DeliveryNotice, now

EVENT = "alflow.delivery.completed"
WANTED = "alflow.batch.wanted"  # a round exported a batch and the vendor has room for another (batches_in_flight)


def resource_id(campaign: str) -> str:
    """The Prefect resource a campaign's events are about (what a deployment trigger matches)."""
    return f"alflow.campaign.{campaign}"


def resource(campaign: str) -> dict[str, str]:
    return {"prefect.resource.id": resource_id(campaign), "prefect.resource.name": campaign}


@dataclass(frozen=True)
class Delivery:
    """A completed delivery to announce: the campaign, the round, and its marker's URI."""

    campaign: str
    round: int
    marker: str

    @property
    def event_id(self) -> str:
        """The same for every announcement of this marker: a re-sent event can be told for a repeat."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.marker))

    def event(self) -> dict:
        """The event, as JSON for Prefect's events API (`POST /events`)."""
        return {
            "id": self.event_id,
            "occurred": now(),
            "event": EVENT,
            "resource": resource(self.campaign),
            "payload": {"campaign": self.campaign, "round": self.round, "marker": self.marker},
        }


def _rounds(keys: list[str], suffix: str) -> set[int]:
    return {r for key in keys if key.endswith(suffix) and (r := layout.round_of(key)) is not None}


def unannounced(ledger: Ledger, vendor: VendorConfig | None = None) -> list[Delivery]:
    """Completed deliveries neither announced nor ingested yet, oldest round first (two listings);
    with the campaign's `vendor`, also those its `complete_when` reads without `_DONE` (see the module)."""
    store, campaign = ledger.store, ledger.campaign
    delivered = store.list(f"{campaign}/deliveries/")
    done = _rounds(delivered, "/" + layout.DONE)
    records = store.list(f"{campaign}/ledger/")
    handled = _rounds(records, "/" + NOTICE) | {r for k in records if "/ingest-" in k and (r := layout.round_of(k))}
    marker = f"{store.uri}/{{}}{layout.DONE}"
    found = {r: marker.format(layout.delivery_prefix(campaign, r)) for r in done - handled}
    if vendor is not None and vendor.complete_when != "done_marker":
        for round_ in _rounds(delivered, "") - done - handled:
            prefix = layout.delivery_prefix(campaign, round_)
            if completion.settled(vendor, store, [k for k in delivered if k.startswith(prefix)]):
                found[round_] = f"{store.uri}/{prefix}"
    return [Delivery(campaign, r, found[r]) for r in sorted(found)]


def record_notice(ledger: Ledger, delivery: Delivery) -> bool:
    """Write the delivery's notice once; False if another watcher wrote it first."""
    notice = DeliveryNotice(
        round=delivery.round, marker=delivery.marker, event=EVENT, event_id=delivery.event_id, announced_at=now()
    )
    return ledger.record_notice(notice)


def announce_new(ledger: Ledger, emit: Callable[[dict], None], vendor: VendorConfig | None = None) -> list[Delivery]:
    """Send one event (`emit`, which raises if it was not delivered) per new completed delivery, then
    record its notice; returns the deliveries announced now (`vendor`: as for `unannounced`)."""
    announced = []
    for delivery in unannounced(ledger, vendor):
        emit(delivery.event())
        crash_point("watch:after_emit")
        if record_notice(ledger, delivery):
            announced.append(delivery)
    return announced


def marker_round(uri: str, ledger: Ledger, any_file: bool = False) -> int | None:
    """The round whose completion marker the object at `uri` is (`s3://bucket/key`, the key as an S3
    event notification gives it, URL-encoded), or None for any other object or campaign; with
    `any_file` (a campaign whose `complete_when` reads deliveries without `_DONE`), any file under
    a round's delivery folder."""
    uri, root = unquote_plus(uri), ledger.store.uri
    if not uri.startswith(root + "/"):
        return None
    key = uri[len(root) + 1 :]
    round_ = layout.round_of(key)
    if round_ is None:
        return None
    prefix = layout.delivery_prefix(ledger.campaign, round_)
    if key == prefix + layout.DONE or (any_file and key.startswith(prefix) and len(key) > len(prefix)):
        return round_
    return None
