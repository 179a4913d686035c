"""When a round's delivery is complete enough to read (`vendor.complete_when`).

Tools that write into the bucket themselves (Label Studio's target storage, a tool's per-task
objects) never write `_DONE`, so the campaign says what complete means:

- `done_marker` (the default): the `_DONE` marker exists, as the AWS CLI vendor writes it last;
- `all_answered`: every file is read as it arrives (each version once); the batch is done when
  every open item has an answer, and rounds wait until then, as for any outstanding item;
- `quiet_minutes: N`: the delivery's newest file is at least N minutes old, by the store's clock.

Reading early is safe for exactly-once: a file rewritten later is a new version, read again; its
labels already accepted are duplicates, a changed one a conflicting relabel (the first label wins).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alflow.config.schema import QuietPeriod, VendorConfig
from alflow.exchange import layout
from alflow.exchange.store import Store
from alflow.ledger.state import CampaignState


def may_read(vendor: VendorConfig, state: CampaignState, round_: int) -> bool:
    """Whether a round without its marker could be read (without listing again): a rule other than
    `done_marker`, and files under its delivery prefix in the state's listing."""
    prefix = layout.delivery_prefix(state.campaign, round_)
    return vendor.complete_when != "done_marker" and any(k.startswith(prefix) for k in state.vendor_keys)


def ready(vendor: VendorConfig, store: Store, state: CampaignState, round_: int, keys: list[str]) -> bool:
    """Whether round `round_`'s delivery (its files `keys`, markers left out) is to be read now."""
    rule = vendor.complete_when
    if rule == "done_marker":
        return round_ in state.delivered
    if round_ in state.delivered:  # a vendor may still write the marker: it always means complete
        return True
    return settled(vendor, store, keys)


def settled(vendor: VendorConfig, store: Store, keys: list[str]) -> bool:
    """Whether a delivery's files `keys` (no marker among them) are to be read by a rule other than
    `done_marker`: any file under `all_answered`, files all quiet under `quiet_minutes`."""
    rule = vendor.complete_when
    if rule == "done_marker" or not keys:
        return False
    if isinstance(rule, QuietPeriod):
        return _quiet(store, keys, timedelta(minutes=rule.quiet_minutes))
    return True  # all_answered


def _quiet(store: Store, keys: list[str], period: timedelta) -> bool:
    """Whether every file was last written at least `period` ago (a file gone since the listing counts as quiet)."""
    limit = datetime.now(UTC) - period
    for key in keys:
        try:
            written = datetime.fromisoformat(store.modified(key))
        except (FileNotFoundError, OSError, ValueError):
            continue
        if written > limit:
            return False
    return True
