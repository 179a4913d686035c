"""Reading the pool in a round: its rows part by part, the rows of given items, which items it holds.

Ids are compared as Arrow strings (alflow.data.pools.ids_mask) before any row becomes a pandas
row, so only the rows a stage keeps are converted, whatever pandas' string backend.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alflow.data import embeddings, frames, pools
from alflow.ledger.records import RoundRecord
from alflow.round.context import RoundContext


def columns(ctx: RoundContext, names: list[str] | None = None) -> list[str]:
    """The columns a round reads of the pool: the id, then `names` (default: the model's input columns)."""
    id_column = ctx.config.pool.id_column
    return [id_column, *(c for c in (names or ctx.inputs.features) if c != id_column)]


def pool_batches(ctx: RoundContext, names: list[str] | None = None) -> Iterator[tuple[int, pa.RecordBatch]]:
    """`(position of the first row, batch)` over the whole pool, `pool.chunk_size` rows at a time."""
    pool = ctx.config.pool
    chosen = names or columns(ctx)
    text = frames.text_columns(pool)
    return pools.read_pool(ctx.pool, columns=chosen, id_column=pool.id_column, chunk_size=pool.chunk_size, text=text)


def as_frame(ctx: RoundContext, batch: pa.RecordBatch | pa.Table, positions: np.ndarray | None = None) -> pd.DataFrame:
    """Rows as the model and the exports take them (ids and text as str; with an embedder, the
    rows' pool `positions` as `embeddings.ROW`, where their cached vectors are)."""
    return frames.as_frame(batch, ctx.config.pool, positions)


def arrow_ids(ids: Collection[str]) -> pa.Array:
    return pa.array(sorted(ids), pa.string())


def pool_rows(ctx: RoundContext, ids: Collection[str], names: list[str] | None = None) -> pd.DataFrame:
    """The pool rows of `ids` with the id and `names` (default: the model's input columns), in pool
    order (one streamed pass, which stops once all are found)."""
    wanted, found, positions, count = arrow_ids(ids), [], [], 0
    for offset, batch in pool_batches(ctx, columns(ctx, names)) if len(ids) else []:
        mask = pools.ids_mask(batch.column(0), wanted)
        found.append(batch.filter(mask))
        positions.append(offset + np.flatnonzero(mask.to_numpy(zero_copy_only=False)))
        count += found[-1].num_rows
        if count >= len(wanted):
            break
    if not found:
        return pd.DataFrame(columns=columns(ctx, names))
    return as_frame(ctx, pa.Table.from_batches(found), np.concatenate(positions))


def _outside_rows(ctx: RoundContext, wanted: set[str], records: list[RoundRecord]) -> list[pd.DataFrame]:
    id_column = ctx.config.pool.id_column
    found = []
    for record in records:
        outside = record.batch.outside if record.batch else None
        if outside and wanted & set(outside.ids):
            frame = frames.read_items(ctx.config.pool, ctx.ledger.store.read(outside.key))
            found.append(frame[frame[id_column].isin(wanted)])
    return found


def item_rows(
    ctx: RoundContext,
    ids: list[str],
    records: list[RoundRecord],
    columns: list[str] | None = None,
    *,
    known: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The rows of `ids`, in that order, with the id and `columns` (default: the model's features):
    items outside the pool from the item files that `records` name (synthetic items, stream
    arrivals), rows at hand in `known` (keyed by the id column; used when it has all `columns`), and
    the rest from the pool (one streamed pass, only when some are left)."""
    id_column, columns = ctx.config.pool.id_column, columns or ctx.inputs.features
    found = _outside_rows(ctx, set(ids), records)
    if known is not None and len(known) and set(columns) <= set(known.columns):
        found.append(known[known[id_column].isin(ids)])
    wanted = set(ids) - set().union(*(set(f[id_column]) for f in found))
    if wanted:
        found.append(pool_rows(ctx, wanted, columns))
    rows = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[id_column])
    keep = [c for c in rows.columns if c in (id_column, *columns, embeddings.ROW)]
    return rows[keep].drop_duplicates(id_column).set_index(id_column).loc[ids].reset_index()


def pool_members(ctx: RoundContext, ids: set[str]) -> set[str]:
    """Those of `ids` that are pool items (one streamed pass over the id column)."""
    wanted, found = arrow_ids(ids), set()
    id_column = ctx.config.pool.id_column
    for _, batch in pool_batches(ctx, [id_column]) if ids else []:
        found.update(pc.filter(batch.column(0), pools.ids_mask(batch.column(0), wanted)).to_pylist())
    return found
