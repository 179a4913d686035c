"""Local copies of the files a round reads: a path for a local file, a cached download for s3://.

A round reads its pool more than once, and a cluster's workers each read their parts; remotely
each read would be a full download, so an object is downloaded once per version into a cache
(`ALFLOW_CACHE_DIR`, else the system's temporary folder) and read from there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa

from alflow.errors import ConfigError, DataValidationError
from alflow.exchange.bucket import open_store
from alflow.exchange.local import LocalStore


def _cache_root() -> Path:
    return Path(os.environ.get("ALFLOW_CACHE_DIR") or Path(tempfile.gettempdir()) / "alflow-cache")


def _cached_copy(uri: str, version: str | None = None) -> Path:
    """A local copy of a remote object (`s3://bucket/key`), downloaded once per version of it.

    A round reads its pool several times (validation, training, selection, export); remotely each
    read would be a full download. The copy is named by the object's version (S3's ETag), so a
    rewritten pool is fetched again, and written under a temporary name then renamed, so a reader
    never sees half. With `version` (known from a listing), no request is made for a copy at hand.
    """
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    store = open_store(f"{scheme}://{bucket}")
    version = version or store.version(key)
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
def local_file(uri: str, *, version: str | None = None) -> Iterator[Path]:
    """A local path for `uri`; an s3:// object is downloaded once per version (see _cached_copy)."""
    if uri.startswith("s3://"):
        yield _cached_copy(uri, version)
        return
    path = Path(uri)
    if not path.is_file():
        raise ConfigError(f"{uri}: file not found")
    if version is not None and LocalStore(path.parent).version(path.name) != version:
        raise ConfigError(f"{uri} changed while the round read it; run the round again once it is written")
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
        kind = "Parquet" if str(source).lower().endswith((".parquet", ".pq")) else "CSV"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = f"{source}: not a readable {kind} file ({first}); replace or remove it"
        raise DataValidationError(message, reason="unreadable") from None


def file_version(uri: str) -> str:
    """The version of one file (`Store.version`: S3's ETag, a local file's mtime, size, ctime and inode).

    Raises ConfigError when it is missing.
    """
    if uri.startswith("s3://"):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            return open_store(f"s3://{bucket}").version(key)
        except FileNotFoundError:
            raise ConfigError(f"{uri}: file not found") from None
    path = Path(uri)
    if not path.is_file():
        raise ConfigError(f"{uri}: file not found")
    return LocalStore(path.parent).version(path.name)
