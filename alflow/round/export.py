"""Exporting a committed round's batch to the vendor, in the campaign's format: the record's
idempotent materialisation, finished by the next round if a crash interrupts it."""

from __future__ import annotations

import pandas as pd

from alflow.data import content, embeddings, frames, pools
from alflow.errors import ServiceUnavailableError
from alflow.exchange import formats, layout
from alflow.exchange.formats.base import ID, SOURCE_REF
from alflow.intake.gold import read_gold
from alflow.ledger.crash import crash_point
from alflow.ledger.ledger import BatchFiles
from alflow.ledger.records import BatchMetadata, RoundRecord, now
from alflow.round.context import RoundContext
from alflow.round.decide import Batch
from alflow.round.pool import item_rows
from alflow.selection import synthesis


def batch_items(ctx: RoundContext, record: RoundRecord, *, known: pd.DataFrame | None = None) -> pd.DataFrame:
    """The batch as the vendor sees it: id, score, predicted, then what the annotator needs of each
    item: its text and its reference (as `source-ref`, made absolute) when the pool has them, else
    its features. Never a vector.

    Rows in `known` (the pool rows scoring read) are taken from there when they hold those columns;
    only the others are read.
    """
    assert record.batch is not None
    pool = ctx.config.pool
    shown = frames.shown_columns(pool, ctx.inputs.features)
    rows = item_rows(ctx, record.batch.ids, [record], shown, known=known).rename(columns={pool.id_column: ID})
    rows = rows.drop(columns=embeddings.ROW, errors="ignore")
    if pool.reference_column:
        base = pools.reference_base(pool.uri)
        references = [content.resolve(str(r), base) for r in rows.pop(pool.reference_column)]
        rows[SOURCE_REF] = references
    head = pd.DataFrame({"score": record.batch.scores, "predicted": record.batch.predicted})
    items = pd.concat([head, rows], axis=1)[[ID, "score", "predicted", *[c for c in rows.columns if c != ID]]]
    return with_gold(ctx, record, items)


def with_gold(ctx: RoundContext, record: RoundRecord, items: pd.DataFrame) -> pd.DataFrame:
    """The batch's items with its gold items at their positions (`record.gold`), under their opaque
    ids, with the same columns and types as the pool items beside them: nothing tells them apart."""
    if record.gold is None:
        return items
    mix, pool = record.gold, ctx.config.pool
    gold = read_gold(ctx.config, ctx.inputs.features).set_index(pool.id_column).loc[mix.items].reset_index()
    if pool.reference_column:
        base = pools.reference_base(ctx.config.gold.uri if ctx.config.gold else pool.uri)
        gold[SOURCE_REF] = [content.resolve(str(r), base) for r in gold.pop(pool.reference_column)]
    gold[ID], gold["score"], gold["predicted"] = mix.ids, mix.scores, mix.predicted
    for column in items.columns:
        if column not in (ID, "predicted") and len(items):
            gold[column] = gold[column].astype(items[column].dtype)
    rows = items.to_dict("records")
    for position, row in zip(mix.positions, gold[list(items.columns)].to_dict("records"), strict=True):
        rows.insert(position, row)
    return pd.DataFrame(rows, columns=list(items.columns)).astype(items.dtypes.to_dict())


def export_batch(ctx: RoundContext, record: RoundRecord, batch: Batch | None = None) -> str | None:
    """Materialise a committed round's batch for the vendor; returns where, or None if no batch.

    `batch` is the round's batch as selected: its pool rows are at hand, so the pool is not read.
    Raises ServiceUnavailableError saying the round is committed and the next run finishes the
    export when the bucket does not answer.
    """
    if record.batch is None:
        return None
    crash_point("export:before")
    try:
        return _export(ctx, record, batch)
    except ServiceUnavailableError as error:
        raise ServiceUnavailableError(
            f"round {record.round} is committed but its batch was not exported: {error}; the next "
            f"`alflow round` finishes this export (the same {len(record.batch.ids)} items) before anything else"
        ) from None


def _export(ctx: RoundContext, record: RoundRecord, batch: Batch | None) -> str:
    assert record.batch is not None
    config, fmt = ctx.config, formats.get(ctx.config.vendor.format)
    text_column = config.pool.text_column
    items = batch_items(ctx, record, known=batch.rows if batch is not None else None)
    kind = config.label_kind
    payload = fmt.write_batch(items, model_version=model_version(ctx, record), text_column=text_column, kind=kind)
    metadata = BatchMetadata(
        campaign=config.campaign,
        round=record.round,
        count=len(record.batch_ids),
        synthetic=sum(i.startswith(synthesis.PREFIX) for i in record.outside_ids),
        classes=list(config.classes),
        instructions=config.vendor.instructions,
        format=fmt.name,
        deliver_to=layout.delivery_prefix(config.campaign, record.round),
        delivery_files=f"*{fmt.delivery_suffix}, then an empty {layout.DONE} marker last",
        strategy=record.strategy,
        strategy_used=record.strategy_used,
        strategy_reason=record.strategy_reason,
        repeats=dict(zip(record.repeats.ids, record.repeats.reasons, strict=True)) if record.repeats else {},
        created_at=now(),
    )
    reference = bool(config.pool.reference_column)
    extras = fmt.batch_extras(config.classes, text_column=text_column, reference=reference, kind=kind)
    if fmt.batch_copy:
        extras = {**extras, fmt.batch_copy: payload}
    return ctx.ledger.write_batch(record.round, BatchFiles(fmt.batch_file, payload, metadata, extras))


def model_version(ctx: RoundContext, record: RoundRecord) -> str:
    """The model that chose the batch, as the vendor's tool shows it: `<registered model>/<version>`
    (the round's registered MLflow model version), or `<campaign>/round-N-cold-start` before one."""
    version = record.tracking.model_version
    return f"{ctx.config.campaign}/{version}" if version else f"{ctx.config.campaign}/round-{record.round}-cold-start"


def finish_exports(ctx: RoundContext) -> list[str]:
    """Export the batches of rounds that were committed but interrupted before their marker."""
    return [where for r in ctx.state.unexported if (where := export_batch(ctx, ctx.state.rounds[r]))]
