"""The store behind a bucket URI: a local folder or s3://bucket/prefix."""

from __future__ import annotations

from alflow.exchange.local import LocalStore
from alflow.exchange.store import Store


def open_store(uri: str, *, sse: str = "none", kms_key_id: str | None = None, max_attempts: int = 8) -> Store:
    """The store behind `uri`: `s3://bucket/prefix` (with server-side encryption `sse`; `max_attempts`
    tries per request) or a folder.

    Raises ValueError for another scheme.
    """
    if uri.startswith("s3://"):
        from alflow.exchange.s3 import S3Store  # boto3 only when a bucket is on S3

        return S3Store.from_uri(uri, sse=sse, kms_key_id=kms_key_id, max_attempts=max_attempts)
    if "://" in uri:
        raise ValueError(f"bucket {uri!r}: use a local folder or s3://bucket/prefix")
    return LocalStore(uri)
