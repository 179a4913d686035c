"""A pool as the files it is made of, read part by part as Arrow record batches.

A pool is one CSV or Parquet file, or a folder or `s3://` prefix of many (a partitioned dataset, as
Spark or DuckDB write them: files whose name or folder starts with `_` or `.` are not data). Its
files are read in key order, so every row has one position in the pool, and its version is the set
of its files' versions (`Store.version`: S3's ETag, a file's mtime, size, ctime and inode): a rewritten, added
or removed file is a new version. A *part* is what is read on its own: one row group of a Parquet
file, or one CSV file. Reading part by part gives the same chunks in one process and spread over a
cluster's workers (alflow.round.cluster), so both score the same rows the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alflow.data.files import local_file, readable
from alflow.errors import ConfigError
from alflow.exchange.bucket import open_store

PARQUET = (".parquet", ".pq")
SUFFIXES = (*PARQUET, ".csv")
READ_BUFFER = 1024 * 1024
"""Bytes read ahead per column: a row group is read a page at a time, not whole (170 MB at 10^6 rows)."""


@dataclass(frozen=True)
class PoolFile:
    uri: str  # a local path or s3://bucket/key
    version: str


@dataclass(frozen=True)
class PoolSource:
    """The files of a pool, in the order their rows are numbered."""

    uri: str
    files: tuple[PoolFile, ...]

    @property
    def version(self) -> str:
        """One tag for the set of the files' versions: it changes when any file is rewritten, added or removed."""
        listing = "\n".join(f"{f.uri} {f.version}" for f in self.files)
        return hashlib.sha256(listing.encode()).hexdigest()[:32]

    @property
    def is_parquet(self) -> bool:
        return self.files[0].uri.lower().endswith(PARQUET)


@dataclass(frozen=True)
class Part:
    """What is read on its own: row group `row_group` of a Parquet file, or a whole CSV file (None).

    `offset` is the pool position of its first row; None for a CSV file (its rows are not counted
    before it is read).
    """

    file: PoolFile
    row_group: int | None
    offset: int | None
    rows: int | None


def _is_data(key: str) -> bool:
    parts = PurePosixPath(key).parts
    return key.lower().endswith(SUFFIXES) and not any(p.startswith(("_", ".")) for p in parts)


def _s3_source(uri: str) -> PoolSource:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if key.lower().endswith(SUFFIXES):
        store = open_store(f"s3://{bucket}")
        return PoolSource(uri, (PoolFile(uri, store.version(key)),))
    store = open_store(uri)
    base = store.uri.rstrip("/")
    files = tuple(PoolFile(f"{base}/{k}", store.version(k)) for k in store.list("") if _is_data(k))
    return PoolSource(uri, files)


def _local_source(uri: str) -> PoolSource:
    from alflow.exchange.local import LocalStore

    path = Path(uri)
    if path.is_file():
        return PoolSource(uri, (PoolFile(uri, LocalStore(path.parent).version(path.name)),))
    if not path.is_dir():
        raise ConfigError(f"{uri}: file not found")
    store = LocalStore(path)
    return PoolSource(uri, tuple(PoolFile(str(path / k), store.version(k)) for k in store.list("") if _is_data(k)))


def open_pool(uri: str) -> PoolSource:
    """The pool's files and their versions: one file, or the data files under a folder or s3:// prefix.

    Raises ConfigError for a missing file, a folder without data files, or CSV and Parquet mixed.
    """
    source = _s3_source(uri) if uri.startswith("s3://") else _local_source(uri)
    if not source.files:
        raise ConfigError(f"{uri}: no Parquet or CSV files under it; point pool.uri at a file, folder or s3:// prefix")
    kinds = {f.uri.lower().endswith(PARQUET) for f in source.files}
    if len(kinds) > 1:
        raise ConfigError(f"{uri}: holds both CSV and Parquet files; a pool is one or the other")
    return source


def reference_base(uri: str) -> str:
    """The folder an item's relative reference is read against: a pool folder or s3:// prefix
    itself, a single file's own folder."""
    if uri.endswith("/") or (not uri.startswith("s3://") and Path(uri).is_dir()):
        return uri.rstrip("/")
    return uri.rsplit("/", 1)[0] if uri.startswith("s3://") else str(Path(uri).parent)


def header_of(source: PoolSource) -> list[str]:
    """The pool's columns: those of its first file (every file is checked to have the ones a round reads)."""
    return file_columns(source.files[0])


def file_columns(file: PoolFile) -> list[str]:
    """A file's columns, from its Parquet footer or CSV header; DataValidationError if it has neither."""
    parquet = file.uri.lower().endswith(PARQUET)
    with local_file(file.uri, version=file.version) as path, readable(file.uri):
        return list(pq.read_schema(path).names) if parquet else list(pd.read_csv(path, nrows=0).columns)


def parts(source: PoolSource) -> list[Part]:
    """The pool's parts in order, with their offsets when the files say how many rows they hold."""
    found: list[Part] = []
    offset: int | None = 0
    for file in source.files:
        if not source.is_parquet:
            found.append(Part(file, None, None, None))
            offset = None
            continue
        with local_file(file.uri, version=file.version) as path:
            metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            found.append(Part(file, group, offset, rows))
            offset = None if offset is None else offset + rows
    return found


def size(source: PoolSource) -> int | None:
    """Rows in the pool, from the Parquet footers (None for CSV: unknown until read)."""
    counted = parts(source)
    return None if any(p.rows is None for p in counted) else sum(p.rows or 0 for p in counted)


def _text_id(batch: pa.RecordBatch, id_column: str) -> pa.RecordBatch:
    """The batch with its id column as Arrow strings, whatever type the file stores ids in."""
    index = batch.schema.get_field_index(id_column)
    if index < 0 or pa.types.is_string(batch.column(index).type):
        return batch
    return batch.set_column(index, id_column, pc.cast(batch.column(index), pa.string()))


def read_part(
    part: Part, *, columns: list[str], id_column: str, chunk_size: int, text: Collection[str] = ()
) -> Iterator[pa.RecordBatch]:
    """The part's rows, `chunk_size` at a time, with only `columns` (ids as Arrow strings; in a CSV
    file the `text` columns are read as written, `"0042"` staying `"0042"`)."""
    with local_file(part.file.uri, version=part.file.version) as path, readable(part.file.uri):
        if part.row_group is not None:
            # pre_buffer (pyarrow's default) keeps every row group read so far; without it and without a
            # read buffer, a whole row group at a time; with both, a chunk's pages at a time.
            reader = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER)
            for batch in reader.iter_batches(batch_size=chunk_size, columns=columns, row_groups=[part.row_group]):
                yield _text_id(batch, id_column)
            return
        dtypes = dict.fromkeys([id_column, *text], str)
        for frame in pd.read_csv(path, usecols=columns, dtype=dtypes, chunksize=chunk_size):
            yield _text_id(pa.RecordBatch.from_pandas(frame[columns], preserve_index=False), id_column)


def read_pool(
    source: PoolSource, *, columns: list[str], id_column: str, chunk_size: int, text: Collection[str] = ()
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Every row of the pool once, as `(position of the first row, batch)`, part by part."""
    offset = 0
    for part in parts(source):
        for batch in read_part(part, columns=columns, id_column=id_column, chunk_size=chunk_size, text=text):
            yield offset, batch
            offset += batch.num_rows


def ids_mask(ids: pa.Array, wanted: pa.Array) -> pa.Array:
    """Which of `ids` are in `wanted` (an Arrow string array), as a boolean array without nulls."""
    return pc.fill_null(pc.is_in(ids, value_set=wanted), False)
