"""Reading pools and label files, in chunks, from a local path or s3:// (a pool of many files: alflow.data.pools).

Ids and labels are read as text: they travel through CSV files to the vendor and back, and
`"0042"` must stay `"0042"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from alflow.config import PoolConfig
from alflow.data import content, embeddings, pools
from alflow.data.files import _cache_root, readable
from alflow.data.files import local_file as local_file  # readers of curves and label files take it from here


def _as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    # Only the columns present: a missing one is reported by validation, with its name.
    present = {c: str for c in columns if c in frame.columns}
    # astype({}) still copies the whole frame: a scoring chunk's features (half the cost of as_frame)
    return frame.astype(present) if present else frame


def _is_parquet(uri: str) -> bool:
    return uri.lower().endswith((".parquet", ".pq"))


def iter_chunks(path: Path, *, columns: list[str], text_columns: list[str], chunk_size: int) -> Iterator[pd.DataFrame]:
    """The file's rows, `chunk_size` at a time, with `text_columns` as str (benchmarks/compute.py;
    a round reads its pool part by part through alflow.data.pools)."""
    if _is_parquet(str(path)):
        # pre_buffer (pyarrow's default) keeps every row group read so far: memory grew with the
        # pool (+2 GB at 10^7 rows, benchmarks/results/compute.md); without it, one row group at a time.
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=chunk_size, columns=columns):
            yield _as_text(batch.to_pandas(), text_columns)
        return
    dtypes = dict.fromkeys(text_columns, str)
    yield from pd.read_csv(path, usecols=columns, dtype=dtypes, chunksize=chunk_size)


def read_table(uri: str, *, text_columns: list[str]) -> pd.DataFrame:
    """A whole (small) table: seed labels, a holdout, a delivery; a folder or s3:// prefix (ending
    in /) of files is read file by file, in key order, and concatenated (a pool, for simulation)."""
    if uri.endswith("/") or (not uri.startswith("s3://") and Path(uri).is_dir()):
        files = pools.open_pool(uri).files
        return pd.concat([read_table(f.uri, text_columns=text_columns) for f in files], ignore_index=True)
    with local_file(uri) as path, readable(uri):
        if _is_parquet(uri):
            return _as_text(pd.read_parquet(path), text_columns)
        return pd.read_csv(path, dtype=dict.fromkeys(text_columns, str))


def feature_columns(pool: PoolConfig, header: list[str]) -> list[str]:
    """The columns the model reads, in the pool's order (an embedder's input is its text column)."""
    if pool.vector_column:
        return [pool.vector_column]
    if pool.text_column:
        return [pool.text_column]
    if pool.feature_columns:
        return list(pool.feature_columns)
    return [c for c in header if c != pool.id_column]


def shown_columns(pool: PoolConfig, features: list[str]) -> list[str]:
    """The columns the vendor gets beside the id: the text and the reference when the pool has them
    (never a vector), else the features."""
    shown = [c for c in (pool.text_column, pool.reference_column) if c]
    return shown or features


def text_columns(pool: PoolConfig) -> list[str]:
    """The columns read as text wherever items are read: the id, the text and the reference."""
    return [pool.id_column] + [c for c in (pool.text_column, pool.reference_column) if c]


def model_input(frame: pd.DataFrame, pool: PoolConfig, columns: list[str]) -> Any:
    """What `fit`/`predict_proba` take: an (n, d) matrix of vectors (a vector column, or the
    embedder's: cached for pool rows, computed for others), a text Series, or the feature frame."""
    if pool.embedder:
        return _embedded(frame, pool)
    if pool.vector_column:
        return content.vectors(frame[pool.vector_column])
    if pool.text_column:
        return frame[pool.text_column]
    return frame[columns]


def as_frame(rows: pa.RecordBatch | pa.Table, pool: PoolConfig, positions: np.ndarray | None = None) -> pd.DataFrame:
    """Pool rows read as Arrow, as a frame with the id (and text) columns as str; with an embedder
    and the rows' pool `positions`, each row's position too (`embeddings.ROW`, to find its vector)."""
    frame = _as_text(rows.to_pandas(), text_columns(pool))
    if pool.embedder and positions is not None:
        frame[embeddings.ROW] = positions
    return frame


def _embedded(frame: pd.DataFrame, pool: PoolConfig) -> np.ndarray:
    """The embedder's vectors of `frame`'s texts: pool rows from the cache, other items (a holdout,
    arrivals, items outside the pool) embedded now."""
    assert pool.embedder is not None and pool.text_column is not None
    rows = frame[embeddings.ROW] if embeddings.ROW in frame else pd.Series(np.nan, index=frame.index)
    known = rows.notna().to_numpy()
    vectors = np.empty((len(frame), embeddings.dimensions(pool.embedder)), dtype=np.float32)
    if known.any():
        vectors[known] = pool_embeddings(pool)[rows[known].to_numpy(dtype=int)]
    if not known.all():
        vectors[~known] = embeddings.embed(frame[pool.text_column][~known].tolist(), pool.embedder)
    return vectors


def model_example(frame: pd.DataFrame, pool: PoolConfig, columns: list[str]) -> Any:
    """A few items as the logged model reads them: texts (also for an embedder's model, which
    embeds them itself), vectors, or feature rows. MLflow's input example and signature."""
    head = frame.head(5)
    if pool.text_column and not pool.vector_column:
        return head[pool.text_column].astype(str).tolist()
    return model_input(head.drop(columns=embeddings.ROW, errors="ignore"), pool, columns)


def pool_embeddings(pool: PoolConfig, source: pools.PoolSource | None = None) -> np.ndarray:
    """The embedder's vectors of every pool row, in the pool's order (a read-only memory map),
    computed once per version of the pool (the set of its files' versions) and cached beside the
    pool cache."""
    assert pool.embedder is not None and pool.text_column is not None
    column, name = pool.text_column, pool.embedder
    source = source or pools.open_pool(pool.uri)
    batches = pools.read_pool(source, columns=[column], id_column=pool.id_column, chunk_size=2_048, text=[column])
    texts = (batch.column(0).to_pylist() for _, batch in batches)
    return embeddings.cached(
        _cache_root() / "embeddings", source=f"{pool.uri}|{column}", version=source.version, name=name, texts=texts
    )


def read_items(pool: PoolConfig, payload: bytes) -> pd.DataFrame:
    """Items from a CSV file outside the pool (an item file in the ledger, an arrival), in the pool's columns' types."""
    import io

    return pd.read_csv(io.BytesIO(payload), dtype=dict.fromkeys(text_columns(pool), str))
