"""Reading pools and label files, in chunks, from a local path or s3://.

Ids and labels are read as text: they travel through CSV files to the vendor and back, and
`"0042"` must stay `"0042"`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from alflow.config import PoolConfig
from alflow.errors import ConfigError, DataValidationError
from alflow.exchange.bucket import open_store
from alflow.learning import content, embeddings


def _as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    # Only the columns present: a missing one is reported by validation, with its name.
    return frame.astype({c: str for c in columns if c in frame.columns})


def _is_parquet(uri: str) -> bool:
    return uri.lower().endswith((".parquet", ".pq"))


def _cache_root() -> Path:
    return Path(os.environ.get("ALFLOW_CACHE_DIR") or Path(tempfile.gettempdir()) / "alflow-cache")


def _cached_copy(uri: str) -> Path:
    """A local copy of a remote object (`s3://bucket/key`), downloaded once per version of it.

    A round reads its pool several times (validation, training, selection, export); remotely each
    read would be a full download. The copy is named by the object's version (S3's ETag), so a
    rewritten pool is fetched again, and written under a temporary name then renamed, so a reader
    never sees half.
    """
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    store = open_store(f"{scheme}://{bucket}")
    version = store.version(key)
    folder = _cache_root() / hashlib.sha256(uri.encode()).hexdigest()[:16]
    path = folder / f"{version}{Path(key).suffix}"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as handle:
        store.download(key, handle, version=version)
    os.replace(handle.name, path)
    for older in folder.iterdir():  # earlier versions of this object
        if older != path and not older.name.endswith(".part"):
            older.unlink(missing_ok=True)
    return path


@contextmanager
def local_file(uri: str) -> Iterator[Path]:
    """A local path for `uri`; an s3:// object is downloaded once per version (see _cached_copy)."""
    if uri.startswith("s3://"):
        yield _cached_copy(uri)
        return
    path = Path(uri)
    if not path.is_file():
        raise ConfigError(f"{uri}: file not found")
    yield path


@contextmanager
def readable(source: str | Path) -> Iterator[None]:
    """Turn a file that cannot be read as a table (empty, not CSV, not Parquet) into one line naming it."""
    try:
        yield
    except pd.errors.EmptyDataError:
        message = f"{source}: the file is empty; it needs a header row, then one row per item"
        raise DataValidationError(message, reason="unreadable") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowException) as error:
        kind = "Parquet" if _is_parquet(str(source)) else "CSV"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataValidationError(f"{source}: cannot be read as {kind} ({first})", reason="unreadable") from None


def columns_of(path: Path, *, source: str | None = None) -> list[str]:
    """Column names, read from the header or the Parquet schema only."""
    with readable(source or path):
        if _is_parquet(str(path)):
            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)


def iter_chunks(
    path: Path, *, columns: list[str], text_columns: list[str], chunk_size: int, source: str | None = None
) -> Iterator[pd.DataFrame]:
    """The file's rows, `chunk_size` at a time, with `text_columns` as str."""
    with readable(source or path):
        if _is_parquet(str(path)):
            # pre_buffer (pyarrow's default) keeps every row group read so far: memory grew with the
            # pool (+2 GB at 10^7 rows, benchmarks/results/compute.md); without it, one row group at a time.
            for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=chunk_size, columns=columns):
                yield _as_text(batch.to_pandas(), text_columns)
            return
        dtypes = dict.fromkeys(text_columns, str)
        yield from pd.read_csv(path, usecols=columns, dtype=dtypes, chunksize=chunk_size)


def read_table(uri: str, *, text_columns: list[str]) -> pd.DataFrame:
    """A whole (small) table: seed labels, a holdout, a delivery."""
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


def pool_embeddings(pool: PoolConfig) -> np.ndarray:
    """The embedder's vectors of every pool row, in the pool's order (a read-only memory map),
    computed once per version of the pool file and cached beside the pool cache."""
    assert pool.embedder is not None and pool.text_column is not None
    column, name = pool.text_column, pool.embedder
    with local_file(pool.uri) as path:
        texts = (c[column] for c in iter_chunks(path, columns=[column], text_columns=[column], chunk_size=2_048))
        return embeddings.cached(
            _cache_root() / "embeddings", source=f"{pool.uri}|{_file_version(path)}|{column}", name=name, texts=texts
        )


def _file_version(path: Path) -> str:
    """The pool file as of now: a downloaded copy is named by its object version; a local file by size and mtime."""
    stat = path.stat()
    return f"{path.name}-{stat.st_size}-{stat.st_mtime_ns}"


def pool_chunks(pool: PoolConfig, features: list[str]) -> Iterator[pd.DataFrame]:
    """The pool's id and feature columns, `pool.chunk_size` rows at a time (one streamed pass);
    with an embedder, each row's position in the pool too (`embeddings.ROW`), to find its vector."""
    columns = [pool.id_column, *(c for c in features if c != pool.id_column)]
    with local_file(pool.uri) as path:
        start = 0
        chunks = iter_chunks(
            path, columns=columns, text_columns=text_columns(pool), chunk_size=pool.chunk_size, source=pool.uri
        )
        for chunk in chunks:
            if pool.embedder:
                chunk = chunk.assign(**{embeddings.ROW: np.arange(start, start + len(chunk))})
            start += len(chunk)
            yield chunk


def pool_ids(pool: PoolConfig) -> Iterator[pd.Series]:
    """The pool's id column, a chunk at a time."""
    with local_file(pool.uri) as path:
        for chunk in iter_chunks(
            path, columns=[pool.id_column], text_columns=[pool.id_column], chunk_size=pool.chunk_size, source=pool.uri
        ):
            yield chunk[pool.id_column]


def read_items(pool: PoolConfig, payload: bytes) -> pd.DataFrame:
    """Items from a CSV file outside the pool (an item file in the ledger, an arrival), in the pool's columns' types."""
    import io

    return pd.read_csv(io.BytesIO(payload), dtype=dict.fromkeys(text_columns(pool), str))
