"""S3 and S3-compatible stores through boto3.

Credentials and the endpoint come from boto3's standard chain (environment, profile, instance
role; `AWS_ENDPOINT_URL_S3` for MinIO, moto and friends): never from the campaign file.
"""

from __future__ import annotations

import io
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from alflow.errors import AlreadyExistsError
from alflow.store import check_key

# Standard retry mode backs off on throttling and 5xx; checksums only when an API requires them,
# because several S3-compatible stores reject boto3's default checksum headers.
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 6},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Store:
    """Objects under `s3://bucket/prefix/`. Write-once is a conditional put (`IfNoneMatch`)."""

    def __init__(self, bucket: str, prefix: str = "", *, client=None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client or boto3.client("s3", config=_CLIENT_CONFIG)

    @classmethod
    def from_uri(cls, uri: str) -> S3Store:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"{uri!r} is not an s3://bucket/prefix URI")
        return cls(parsed.netloc, parsed.path)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            if _error_code(error) in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"{self.uri}/{key}") from None
            raise

    def write_once(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                IfNoneMatch="*",
                ChecksumAlgorithm="SHA256",
            )
        except ClientError as error:
            # 412: the key exists. 409: a concurrent conditional write to the same key won.
            if _error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise AlreadyExistsError(f"{self.uri}/{key} already exists") from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        full = self._key(prefix.rstrip("/")) + "/" if prefix.strip("/") else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return sorted(keys)

    def download(self, key: str, target: io.BufferedWriter) -> None:
        """Stream an object to an open binary file (large pools never sit in memory)."""
        self._client.download_fileobj(self.bucket, self._key(key), target)
