"""Delivery notices: a completed delivery announced once, so that a round can start on it.

A watcher (`alflow watch`, `alflow serve`) lists the campaign's completion markers cheaply, sends
one event per new `_DONE` and then writes the round's notice record, once. A restart finds the
notices and re-announces nothing; a watcher killed between the event and the notice sends the
same event again (same id), which starts no second round: the ledger has nothing new to give it.
A delivery a round has already ingested (the cron got there first) is not announced. Under a
campaign's `vendor.complete_when` other than `done_marker` (a tool that never writes `_DONE`), a
round's delivery is announced once too, when its files are to be read (alflow.intake.completion:
the first files under `all_answered`, later ones being read by the next scheduled round; all
files quiet under `quiet_minutes`), its marker being the delivery folder's URI. A review's answers
(`deliveries/review-NNNN/`, alflow.intake.review_verdicts) are announced the same way, once, unless
their verdicts were read already: the same event, `review` in its payload, the round 0.
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
    """A completed delivery to announce: the campaign, the round (0 for a review's), and its
    marker's URI; `review` the review's number for a review's answers."""

    campaign: str
    round: int
    marker: str
    review: int | None = None

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
            "payload": {"campaign": self.campaign, "round": self.round, "marker": self.marker}
            | ({} if self.review is None else {"review": self.review}),
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
    rounds = [Delivery(campaign, r, found[r]) for r in sorted(found)]
    return rounds + _reviews(ledger, delivered, records, vendor)


def _reviews(ledger: Ledger, delivered: list[str], records: list[str], vendor: VendorConfig | None) -> list[Delivery]:
    """Review deliveries neither announced nor read (no notice, no verdict record), complete by
    their `_DONE` or, under the `vendor`'s `complete_when`, settled; in review order."""
    store, campaign = ledger.store, ledger.campaign
    handled = {s for k in records if (s := layout.review_of(k)) and ("/verdict-" in k or k.endswith("/" + NOTICE))}
    found = []
    for seq in sorted({s for k in delivered if (s := layout.review_of(k)) is not None} - handled):
        prefix = layout.review_delivery_prefix(campaign, seq)
        keys = [k for k in delivered if k.startswith(prefix)]
        if prefix + layout.DONE in keys:
            found.append(Delivery(campaign, 0, f"{store.uri}/{prefix}{layout.DONE}", review=seq))
        elif vendor is not None and completion.settled(vendor, store, keys):
            found.append(Delivery(campaign, 0, f"{store.uri}/{prefix}", review=seq))
    return found


def record_notice(ledger: Ledger, delivery: Delivery) -> bool:
    """Write the delivery's notice once; False if another watcher wrote it first."""
    notice = DeliveryNotice(
        round=delivery.round,
        marker=delivery.marker,
        event=EVENT,
        event_id=delivery.event_id,
        announced_at=now(),
        review=delivery.review,
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
    key = _key(uri, ledger)
    round_ = None if key is None else layout.round_of(key)
    if key is None or round_ is None:
        return None
    return round_ if _completes(key, layout.delivery_prefix(ledger.campaign, round_), any_file) else None


def marker_review(uri: str, ledger: Ledger, any_file: bool = False) -> int | None:
    """As `marker_round`, for a review's answers (`deliveries/review-NNNN/`): the review's number."""
    key = _key(uri, ledger)
    seq = None if key is None else layout.review_of(key)
    if key is None or seq is None:
        return None
    return seq if _completes(key, layout.review_delivery_prefix(ledger.campaign, seq), any_file) else None


def _key(uri: str, ledger: Ledger) -> str | None:
    """The key in the campaign's store of an object's `uri` (URL-encoded as S3 events give it), or None."""
    uri, root = unquote_plus(uri), ledger.store.uri
    return uri[len(root) + 1 :] if uri.startswith(root + "/") else None


def _completes(key: str, prefix: str, any_file: bool) -> bool:
    return key == prefix + layout.DONE or (any_file and key.startswith(prefix) and len(key) > len(prefix))
