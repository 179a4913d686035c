"""Where campaign files live: a few primitives, everything else is free functions over them.

Keys are relative, slash-separated paths (`digits/batches/round-0001/items.csv`). A key is never
trusted as a path: `..`, absolute keys and empty parts are refused before any I/O.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from alflow.errors import AlreadyExistsError


class Store(Protocol):
    """Write-once object storage: the local-folder and S3 stores implement it."""

    uri: str

    def read(self, key: str) -> bytes:
        """The object's bytes. Raises FileNotFoundError when the key is absent."""
        ...

    def write_once(self, key: str, data: bytes) -> None:
        """Create the object; raises AlreadyExistsError if the key exists (nothing is changed)."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix` (a folder-like prefix ending in '/'), sorted."""
        ...


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative key, else raise ValueError naming it."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe store key {key!r}: keys are relative paths without '..' or '//'")
    return key


class LocalStore:
    """A folder. Write-once is an exclusive hard link of a fully written temp file: atomic."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def write_once(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # fails if the key exists; readers never see a partial file
            except FileExistsError:
                raise AlreadyExistsError(f"{self.uri}/{key} already exists") from None
        finally:
            os.unlink(tmp)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def modified(self, key: str) -> str:
        """When the file was written (its mtime), ISO 8601 UTC."""
        mtime = self._path(key).stat().st_mtime
        return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")

    def list(self, prefix: str) -> list[str]:
        base = self.root / check_key(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )
        return sorted(keys)


def open_store(uri: str, **s3_options) -> Store:
    """The store behind a bucket URI: `s3://bucket/prefix` or a local folder.

    `s3_options` (sse, kms_key_id) go to S3Store; a folder ignores them.
    """
    if uri.startswith("s3://"):
        from alflow.s3 import S3Store

        return S3Store.from_uri(uri, **s3_options)
    if "://" in uri:
        raise ValueError(f"bucket {uri!r}: use a local folder or s3://bucket/prefix")
    return LocalStore(uri)
