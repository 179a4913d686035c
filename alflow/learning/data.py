"""Reading pools and label files, in chunks, from a local path or s3:// (a pool of many files: alflow.learning.pools).

Ids and labels are read as text: they travel through CSV files to the vendor and back, and
`"0042"` must stay `"0042"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from alflow.config import PoolConfig
from alflow.learning import pools
from alflow.learning.files import local_file as local_file  # readers of curves and label files take it from here


def _as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    # Only the columns present: a missing one is reported by validation, with its name.
    return frame.astype({c: str for c in columns if c in frame.columns})


def _is_parquet(uri: str) -> bool:
    return uri.lower().endswith((".parquet", ".pq"))


def iter_chunks(path: Path, *, columns: list[str], text_columns: list[str], chunk_size: int) -> Iterator[pd.DataFrame]:
    """The file's rows, `chunk_size` at a time, with `text_columns` as str (benchmarks/compute.py;
    a round reads its pool part by part through alflow.learning.pools)."""
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
    with local_file(uri) as path:
        if _is_parquet(uri):
            return _as_text(pd.read_parquet(path), text_columns)
        return pd.read_csv(path, dtype=dict.fromkeys(text_columns, str))


def feature_columns(pool: PoolConfig, header: list[str]) -> list[str]:
    """The columns the model reads, in the pool's order."""
    if pool.text_column:
        return [pool.text_column]
    if pool.feature_columns:
        return list(pool.feature_columns)
    return [c for c in header if c != pool.id_column]


def text_columns(pool: PoolConfig) -> list[str]:
    """The columns read as text wherever items are read: the id, and the text of text models."""
    return [pool.id_column] + ([pool.text_column] if pool.text_column else [])


def model_input(frame: pd.DataFrame, pool: PoolConfig, columns: list[str]) -> pd.DataFrame | pd.Series:
    """What `fit`/`predict_proba` take: a text Series for text models, else the feature frame."""
    if pool.text_column:
        return frame[pool.text_column]
    return frame[columns]


def as_frame(rows: pa.RecordBatch | pa.Table, pool: PoolConfig) -> pd.DataFrame:
    """Pool rows read as Arrow, as a frame with the id (and text) columns as str."""
    return _as_text(rows.to_pandas(), text_columns(pool))


def read_items(pool: PoolConfig, payload: bytes) -> pd.DataFrame:
    """Items from a CSV file outside the pool (an item file in the ledger, an arrival), in the pool's columns' types."""
    import io

    return pd.read_csv(io.BytesIO(payload), dtype=dict.fromkeys(text_columns(pool), str))
