"""Exporting a committed round's batch to the vendor, in the campaign's format: the record's
idempotent materialisation, finished by the next round if a crash interrupts it."""

from __future__ import annotations

import pandas as pd

from alflow.exchange import formats, layout
from alflow.exchange.formats.base import ID
from alflow.ledger.crash import crash_point
from alflow.ledger.records import BatchMetadata, RoundRecord, now
from alflow.ledger.writes import write_batch
from alflow.round.context import RoundContext
from alflow.round.decide import Batch
from alflow.round.pool import item_rows
from alflow.selection import synthesis


def batch_items(ctx: RoundContext, record: RoundRecord, *, known: pd.DataFrame | None = None) -> pd.DataFrame:
    """The batch as the vendor sees it: id, score, predicted, then each item's features (or text).

    Rows in `known` (the pool rows scoring read) are taken from there; only the others are read.
    """
    assert record.batch is not None
    rows = item_rows(ctx, record.batch.ids, [record], known=known).rename(columns={ctx.config.pool.id_column: ID})
    head = pd.DataFrame({"score": record.batch.scores, "predicted": record.batch.predicted})
    return pd.concat([head, rows], axis=1)[[ID, "score", "predicted", *[c for c in rows.columns if c != ID]]]


def export_batch(ctx: RoundContext, record: RoundRecord, batch: Batch | None = None) -> str | None:
    """Materialise a committed round's batch for the vendor; returns where, or None if no batch.

    `batch` is the round's batch as selected: its pool rows are at hand, so the pool is not read.
    """
    if record.batch is None:
        return None
    crash_point("export:before")
    config, fmt = ctx.config, formats.get(ctx.config.vendor.format)
    items = batch_items(ctx, record, known=batch.rows if batch is not None else None)
    payload = fmt.write_batch(items, model_version=record.model, text_column=config.pool.text_column)
    metadata = BatchMetadata(
        campaign=config.campaign,
        round=record.round,
        count=len(record.batch.ids),
        synthetic=sum(i.startswith(synthesis.PREFIX) for i in record.outside_ids),
        classes=list(config.classes),
        instructions=config.vendor.instructions,
        format=fmt.name,
        deliver_to=layout.delivery_prefix(config.campaign, record.round),
        delivery_files=f"*{fmt.delivery_suffix}, then an empty {layout.DONE} marker last",
        strategy=record.strategy,
        created_at=now(),
    )
    return write_batch(ctx.store, config.campaign, record.round, fmt.batch_file, payload, metadata)


def finish_exports(ctx: RoundContext) -> list[str]:
    """Export the batches of rounds that were committed but interrupted before their marker."""
    return [where for r in ctx.state.unexported if (where := export_batch(ctx, ctx.state.rounds[r]))]
