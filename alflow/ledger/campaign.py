"""A campaign's ledger, from its config: its bucket, its state, and the write-offs an operator makes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from alflow.config import CampaignConfig
from alflow.errors import ConfigError
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.exchange.store import Store
from alflow.ledger.ingest import ingest_deliveries, report_strays
from alflow.ledger.records import WriteOff, now
from alflow.ledger.state import CampaignState, load_state
from alflow.ledger.writes import write_attachment


def bucket(config: CampaignConfig) -> Store:
    """The campaign's vendor bucket: where its batches, deliveries and ledger live."""
    return open_store(config.vendor.bucket, sse=config.vendor.sse, kms_key_id=config.vendor.kms_key_id)


def campaign_state(config: CampaignConfig) -> CampaignState:
    """The campaign's state, from one listing of its bucket."""
    return load_state(bucket(config), config.campaign)


def ingest_campaign(config: CampaignConfig) -> CampaignState:
    """Ingest what the campaign's completed deliveries hold (alflow.ledger.ingest); the state afterwards.

    Bad rows and files are quarantined with their reasons and reported (`ingested_now`), never
    raised: the valid part of a delivery is accepted and the rest stays outstanding. Files the
    vendor left where nothing reads them are recorded once and reported (`strays_now`).
    """
    store = bucket(config)
    before = load_state(store, config.campaign)
    written = ingest_deliveries(store, config, before)
    strays = report_strays(store, config, before)
    return replace(load_state(store, config.campaign), ingested_now=tuple(written), strays_now=tuple(strays))


def write_off(config: CampaignConfig, round_: int, ids: list[str] | None, *, reason: str) -> list[str]:
    """Stop waiting for items of round `round_`'s batch that the vendor cannot label (all its
    outstanding items when `ids` is None); returns the ids written off.

    The items stay counted as asked (the budget spent on them is not returned) and a label the
    vendor delivers later is still accepted. Raises ConfigError for ids that are not outstanding.
    """
    state = campaign_state(config)
    if round_ not in state.rounds:
        raise ConfigError(f"campaign {config.campaign!r} has no round {round_}: see `alflow status`")
    outstanding = state.missing(round_)
    chosen = outstanding if ids is None else list(dict.fromkeys(ids))
    unknown = [i for i in chosen if i not in outstanding]
    if unknown:
        raise ConfigError(
            f"round {round_} is not waiting for {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}: "
            f"only items of its batch without a label can be written off ({len(outstanding)} are)"
        )
    if chosen:
        record = WriteOff(round=round_, ids=chosen, reason=reason, written_at=now())
        write_attachment(bucket(config), config.campaign, round_, "writeoff", ".json", record.to_json())
    return chosen


@dataclass(frozen=True)
class OpenBatch:
    """A batch the vendor still holds: `outstanding` of its `items` have no label yet (nor a write-off)."""

    round: int
    items: int
    outstanding: int
    exported_at: str | None  # when its _READY marker was written; None while its export is unfinished

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if self.exported_at is None:
            return None
        return ((now or datetime.now(UTC)) - datetime.fromisoformat(self.exported_at)).total_seconds()


def open_batches(config: CampaignConfig, state: CampaignState) -> list[OpenBatch]:
    """Every batch still out with the vendor, oldest first (one look at each batch's marker)."""
    store = bucket(config)
    batches = []
    for round_ in state.outstanding:
        marker = layout.batch_prefix(config.campaign, round_) + layout.READY
        exported = store.modified(marker) if round_ in state.exported else None
        batches.append(OpenBatch(round_, len(state.batch_ids(round_)), len(state.missing(round_)), exported))
    return batches
