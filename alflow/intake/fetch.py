"""A delivery file from the store to a local copy, or why it is refused before it is read.

`probe` looks at the file without reading it (a key that is not safe, a link in a folder bucket,
a file over the size limit); `fetch` copies it once into a local temporary file while hashing it,
so the ingest never holds a delivery in memory and keys its record by the bytes it read.
"""

from __future__ import annotations

import hashlib
from typing import IO

from alflow.errors import LinkRefusedError, NotAFileError
from alflow.exchange.store import Store, check_key
from alflow.ledger.records import sha256

Refusal = tuple[str, str]  # (reason code, message)
NOT_COPIED = ("unsafe_key", "link", "not_a_file", "too_large")  # refused before (or instead of) reading a byte


class _Copy:
    """A local copy of a delivery file being written: hashed on the way, refused past `limit` bytes."""

    def __init__(self, target: IO[bytes], limit: int) -> None:
        self.target, self.limit, self.size = target, limit, 0
        self.digest = hashlib.sha256()

    def write(self, block: bytes) -> int:
        self.size += len(block)
        if self.size > self.limit:
            raise _TooLarge
        self.digest.update(block)
        return self.target.write(block)


class _TooLarge(Exception):
    pass


def probe(store: Store, key: str, limit: int) -> tuple[str | None, Refusal | None]:
    """(the file's version tag, or why it is refused before a byte of it is read)."""
    try:
        check_key(key, empty_parts=True)  # a folder store refuses `//` itself (ValueError below)
        version = store.version(key)
        size = store.size(key)
    except ValueError as error:
        return None, ("unsafe_key", str(error))
    except LinkRefusedError as error:
        return None, ("not_a_file" if isinstance(error, NotAFileError) else "link", str(error))
    if size > limit:
        return version, (
            "too_large",
            f"{key}: {size} bytes, over the campaign's limit of {limit} (vendor.max_delivery_bytes); not read",
        )
    return version, None


def fetch(store: Store, key: str, version: str | None, target: IO[bytes], limit: int) -> tuple[str, Refusal | None]:
    """Copy the file into `target` while hashing it: (its SHA-256, or why it is refused)."""
    copy = _Copy(target, limit)
    try:
        store.download(key, copy, version=version)  # type: ignore[arg-type]
    except _TooLarge:
        return sha256(f"{key}\n{version}".encode()), ("too_large", f"{key}: over the campaign's limit of {limit} bytes")
    except LinkRefusedError as error:
        return sha256(key.encode()), ("link", str(error))
    target.seek(0)
    return copy.digest.hexdigest(), None
