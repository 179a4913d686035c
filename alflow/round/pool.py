"""Reading the pool in a round: its rows part by part, the rows of given items, which items it holds.

Ids are compared as Arrow strings (alflow.learning.pools.ids_mask) before any row becomes a pandas
row, so only the rows a stage keeps are converted, whatever pandas' string backend.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alflow.learning import data, pools
from alflow.ledger.records import RoundRecord
from alflow.round.context import RoundContext


def columns(ctx: RoundContext) -> list[str]:
    """The columns a round reads of the pool: the id, then the model's input columns."""
    id_column = ctx.config.pool.id_column
    return [id_column, *(c for c in ctx.inputs.features if c != id_column)]


def pool_batches(ctx: RoundContext, names: list[str] | None = None) -> Iterator[tuple[int, pa.RecordBatch]]:
    """`(position of the first row, batch)` over the whole pool, `pool.chunk_size` rows at a time."""
    pool = ctx.config.pool
    chosen = names or columns(ctx)
    text = data.text_columns(pool)
    return pools.read_pool(ctx.pool, columns=chosen, id_column=pool.id_column, chunk_size=pool.chunk_size, text=text)


def as_frame(ctx: RoundContext, batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """Rows as the model and the exports take them (ids and text as str)."""
    return data.as_frame(batch, ctx.config.pool)


def arrow_ids(ids: Collection[str]) -> pa.Array:
    return pa.array(sorted(ids), pa.string())


def pool_rows(ctx: RoundContext, ids: Collection[str]) -> pd.DataFrame:
    """The pool rows of `ids`, in pool order (one streamed pass, which stops once all are found)."""
    wanted, found, count = arrow_ids(ids), [], 0
    for _, batch in pool_batches(ctx) if len(ids) else []:
        rows = batch.filter(pools.ids_mask(batch.column(0), wanted))
        found.append(rows)
        count += rows.num_rows
        if count >= len(wanted):
            break
    if not found:
        return pd.DataFrame(columns=columns(ctx))
    return as_frame(ctx, pa.Table.from_batches(found))


def _outside_rows(ctx: RoundContext, wanted: set[str], records: list[RoundRecord]) -> list[pd.DataFrame]:
    id_column = ctx.config.pool.id_column
    found = []
    for record in records:
        outside = record.batch.outside if record.batch else None
        if outside and wanted & set(outside.ids):
            frame = data.read_items(ctx.config.pool, ctx.store.read(outside.key))
            found.append(frame[frame[id_column].isin(wanted)])
    return found


def item_rows(
    ctx: RoundContext, ids: list[str], records: list[RoundRecord], *, known: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The rows of `ids`, in that order: items outside the pool from the item files that `records`
    name (synthetic items, stream arrivals), rows at hand in `known` (keyed by the id column), and
    the rest from the pool (one streamed pass, only when some are left)."""
    id_column = ctx.config.pool.id_column
    found = _outside_rows(ctx, set(ids), records)
    if known is not None and len(known):
        found.append(known[known[id_column].isin(ids)])
    wanted = set(ids) - set().union(*(set(f[id_column]) for f in found))
    if wanted:
        found.append(pool_rows(ctx, wanted))
    rows = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[id_column])
    return rows.drop_duplicates(id_column).set_index(id_column).loc[ids].reset_index()


def pool_members(ctx: RoundContext, ids: set[str]) -> set[str]:
    """Those of `ids` that are pool items (one streamed pass over the id column)."""
    wanted, found = arrow_ids(ids), set()
    id_column = ctx.config.pool.id_column
    for _, batch in pool_batches(ctx, [id_column]) if ids else []:
        found.update(pc.filter(batch.column(0), pools.ids_mask(batch.column(0), wanted)).to_pylist())
    return found
