"""The rows of a round's items: pool rows, and items outside the pool from the ledger's item files."""

from __future__ import annotations

import pandas as pd

from alflow.learning import data, embeddings
from alflow.ledger.records import RoundRecord
from alflow.round.context import RoundContext


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
    ctx: RoundContext, ids: list[str], records: list[RoundRecord], columns: list[str] | None = None
) -> pd.DataFrame:
    """The rows of `ids`, in that order, with the id and `columns` (default: the model's features):
    items outside the pool from the item files that `records` name (synthetic items, stream
    arrivals), the rest from the pool (one streamed pass)."""
    id_column, columns = ctx.config.pool.id_column, columns or ctx.inputs.features
    found = _outside_rows(ctx, set(ids), records)
    wanted = set(ids) - set().union(*(set(f[id_column]) for f in found))
    if wanted:
        found += [c[c[id_column].isin(wanted)] for c in data.pool_chunks(ctx.config.pool, columns)]
    rows = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[id_column])
    keep = [c for c in rows.columns if c in (id_column, *columns, embeddings.ROW)]
    return rows[keep].set_index(id_column).loc[ids].reset_index()


def pool_members(ctx: RoundContext, ids: set[str]) -> set[str]:
    """Those of `ids` that are pool items (one streamed pass over the id column)."""
    found: set[str] = set()
    for chunk in data.pool_ids(ctx.config.pool) if ids else []:
        found |= ids & set(chunk)
    return found
