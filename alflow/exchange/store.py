"""The store contract: write-once object storage, a few primitives; everything else is free functions.

Keys are relative, slash-separated paths (`digits/batches/round-0001/items.csv`). A key is never
trusted as a path: `..`, absolute keys and empty parts are refused before any I/O, and a folder
store never follows a link (`LinkRefusedError`). Two stores
implement it, a local folder (alflow.exchange.local) and S3 (alflow.exchange.s3); one contract
suite (tests/test_store.py) runs against both.
"""

from __future__ import annotations

from typing import IO, Protocol


class Store(Protocol):
    """Write-once object storage: the local-folder and S3 stores implement it."""

    uri: str

    def read(self, key: str) -> bytes:
        """The object's bytes. Raises FileNotFoundError when the key is absent."""
        ...

    def write_once(self, key: str, data: bytes) -> None:
        """Create the object; raises AlreadyExistsError if the key exists (nothing is changed)."""
        ...

    def write_once_from(self, key: str, source: IO[bytes]) -> None:
        """`write_once` of a file's contents, streamed from an open binary file (large quarantine
        copies never sit in memory)."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The object's size in bytes. FileNotFoundError if absent."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix` (a folder-like prefix ending in '/'), sorted."""
        ...

    def modified(self, key: str) -> str:
        """When the object was written, by the store's clock, ISO 8601 UTC. FileNotFoundError if absent."""
        ...

    def version(self, key: str) -> str:
        """A tag that changes whenever the object is rewritten (S3's ETag; a file's mtime, size, ctime and inode)."""
        ...

    def download(self, key: str, target: IO[bytes], *, version: str | None = None) -> None:
        """Stream the object into an open binary file. With `version`, only that version: a rewrite
        in between raises instead of mixing two versions."""
        ...


def check_key(key: str, *, empty_parts: bool = False) -> str:
    """Return `key` if it is a safe relative key, else raise ValueError naming it. With
    `empty_parts`, `//` inside a key is allowed (an object store's key, not a path: Label Studio
    writes them under a prefix ending in `/`); `..`, `.` and a leading `/` never are."""
    parts = [p for p in key.split("/") if p or not empty_parts]
    if not key or key.startswith("/") or key.endswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe store key {key!r}: keys are relative paths without '..' or '//'")
    return key
