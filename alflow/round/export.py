"""Exporting a committed round's batch to the vendor, in the campaign's format: the record's
idempotent materialisation, finished by the next round if a crash interrupts it."""

from __future__ import annotations

import pandas as pd

from alflow.exchange import formats, layout
from alflow.exchange.formats.base import ID, SOURCE_REF
from alflow.learning import content, data, embeddings
from alflow.ledger.crash import crash_point
from alflow.ledger.records import BatchMetadata, RoundRecord, now
from alflow.ledger.writes import write_batch
from alflow.round.context import RoundContext
from alflow.round.pool import item_rows
from alflow.selection import synthesis


def batch_items(ctx: RoundContext, record: RoundRecord) -> pd.DataFrame:
    """The batch as the vendor sees it: id, score, predicted, then what the annotator needs of each
    item: its text and its reference (as `source-ref`, made absolute) when the pool has them, else
    its features. Never a vector."""
    assert record.batch is not None
    pool = ctx.config.pool
    shown = data.shown_columns(pool, ctx.inputs.features)
    rows = item_rows(ctx, record.batch.ids, [record], shown).rename(columns={pool.id_column: ID})
    rows = rows.drop(columns=embeddings.ROW, errors="ignore")
    if pool.reference_column:
        base = content.base_of(pool.uri)
        references = [content.resolve(str(r), base) for r in rows.pop(pool.reference_column)]
        rows[SOURCE_REF] = references
    head = pd.DataFrame({"score": record.batch.scores, "predicted": record.batch.predicted})
    return pd.concat([head, rows], axis=1)[[ID, "score", "predicted", *[c for c in rows.columns if c != ID]]]


def export_batch(ctx: RoundContext, record: RoundRecord) -> str | None:
    """Materialise a committed round's batch for the vendor; returns where, or None if no batch."""
    if record.batch is None:
        return None
    crash_point("export:before")
    config, fmt = ctx.config, formats.get(ctx.config.vendor.format)
    text_column = config.pool.text_column
    payload = fmt.write_batch(
        batch_items(ctx, record), model_version=model_version(ctx, record), text_column=text_column
    )
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
    extras = fmt.batch_extras(config.classes, text_column=text_column, reference=bool(config.pool.reference_column))
    return write_batch(ctx.store, config.campaign, record.round, fmt.batch_file, payload, metadata, extras)


def model_version(ctx: RoundContext, record: RoundRecord) -> str:
    """The model that chose the batch, as the vendor's tool shows it: `<registered model>/<version>`
    (the round's registered MLflow model version), or `<campaign>/round-N-cold-start` before one."""
    version = record.tracking.model_version
    return f"{ctx.config.campaign}/{version}" if version else f"{ctx.config.campaign}/round-{record.round}-cold-start"


def finish_exports(ctx: RoundContext) -> list[str]:
    """Export the batches of rounds that were committed but interrupted before their marker."""
    return [where for r in ctx.state.unexported if (where := export_batch(ctx, ctx.state.rounds[r]))]
