"""S3 and S3-compatible stores through boto3.

Credentials and the endpoint come from boto3's standard chain (environment, profile, instance
role; `AWS_ENDPOINT_URL_S3` for MinIO, moto and friends): never from the campaign file, and this
module never logs or returns them.

Exactly-once on S3:
- write-once is a conditional put (`IfNoneMatch="*"`): 412 means the key exists. A 409
  (`ConditionalRequestConflict`, a concurrent conditional writer) is retried, then decided by 412.
- every put carries its SHA-256 (`ChecksumSHA256`, which S3 verifies and stores; and as object
  metadata, which every S3-compatible store returns). When a put
  lands but its response is lost, botocore retries it and gets 412: if the stored checksum is
  ours, the object is ours and the write succeeded (it is not reported as a conflict).
- throttling (503 SlowDown, 429), 5xx and dropped connections are retried by botocore's
  standard mode with exponential backoff and jitter (`max_attempts` tries in all, the first included).

What is still wrong after the retries reaches the caller as one line: an endpoint that does not
answer (or keeps failing) as ServiceUnavailableError, missing credentials, a missing bucket or a
refused access as ConfigError.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import shutil
import time
from collections.abc import Callable
from typing import IO, Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from alflow.errors import AlreadyExistsError, ConfigError, ServiceUnavailableError
from alflow.exchange.store import check_key

SSE = ("none", "AES256", "aws:kms")
_EXISTS = ("PreconditionFailed", "412")
_CONFLICT = ("ConditionalRequestConflict", "409")
_MISSING = ("NoSuchKey", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "ExpiredToken")
_UNAVAILABLE = ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "500", "502", "503", "504")


def client_config(*, max_attempts: int = 8) -> Config:
    # Checksums only when an API requires them: several S3-compatible stores reject boto3's
    # default checksum headers. We send our own SHA-256 on every put instead.
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=10,  # botocore's 60 s, times every attempt, is minutes before an unreachable endpoint fails
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        signature_version="s3v4",
    )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


_BLOCK = 8 * 1024 * 1024


F = TypeVar("F", bound=Callable[..., Any])


def _one_line(error: Exception, store: S3Store) -> Exception | None:
    """What an error left after botocore's retries means, as an alflow error; None to let it through."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return ServiceUnavailableError(
            f"{store.uri}: the S3 endpoint did not answer ({error}); check the network and AWS_ENDPOINT_URL_S3 "
            "or the region, then run again"
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            f"{store.uri}: no AWS credentials: provide them the AWS way (environment, profile or instance role)"
        )
    code = _error_code(error) if isinstance(error, ClientError) else ""
    if code == "NoSuchBucket":
        return ConfigError(f"{store.uri}: bucket {store.bucket!r} does not exist: create it, or fix the URI")
    if code in _DENIED:
        return ConfigError(
            f"{store.uri}: access denied ({code}): the credentials in use may not read and write this prefix "
            "(see infra/iam/pipeline-policy.json)"
        )
    if code in _UNAVAILABLE:
        return ServiceUnavailableError(f"{store.uri}: S3 still answered {code} after retries; try again later")
    return None


def _answering(method: F) -> F:
    """Let a store method's S3 errors out as one-line alflow errors (see `_one_line`)."""

    @functools.wraps(method)
    def wrapper(self: S3Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (ClientError, BotoConnectionError, HTTPClientError, NoCredentialsError, PartialCredentialsError) as err:
            translated = _one_line(err, self)
            if translated is None:
                raise
            raise translated from None

    return wrapper  # type: ignore[return-value]


SHA_META = "alflow-sha256"  # x-amz-meta-alflow-sha256: ours to compare, whatever the store keeps


class S3Store:
    """Objects under `s3://bucket/prefix/`. Write-once is a conditional put (`IfNoneMatch`).

    `sse` encrypts every object the store writes: "AES256" (SSE-S3) or "aws:kms" (SSE-KMS, with
    `kms_key_id`, or the account's default KMS key when it is None).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        sse: str = "none",
        kms_key_id: str | None = None,
        client: Any = None,
        max_attempts: int = 8,
    ) -> None:
        if sse not in SSE:
            raise ConfigError(f"sse={sse!r}: use none, AES256 (SSE-S3) or aws:kms (SSE-KMS)")
        if kms_key_id and sse != "aws:kms":
            raise ConfigError(f"kms_key_id is set but sse={sse!r}: set sse to aws:kms to use a KMS key")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.sse = sse
        self.kms_key_id = kms_key_id
        self._client = client or boto3.client("s3", config=client_config(max_attempts=max_attempts))

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> S3Store:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"{uri!r} is not an s3://bucket/prefix URI")
        if "@" in parsed.netloc or parsed.query:
            # Never accept credentials or options in a URI: they would end up in logs and MLflow.
            raise ConfigError(
                f"bucket URI {parsed.scheme}://{parsed.hostname}/...: remove the credentials or query "
                "from it; alflow takes credentials only from the AWS chain (environment, profile, role)"
            )
        return cls(parsed.netloc, parsed.path, **options)

    def _key(self, key: str, *, vendors: bool = False) -> str:
        """The object's full key. alflow writes only plain keys; with `vendors` (what the ingest
        reads: head and download), `a//b` too: Label Studio writes them, and on S3 it is a key
        like any other, never a path."""
        check_key(key, empty_parts=vendors)
        return f"{self.prefix}/{key}" if self.prefix else key

    @_answering
    def read(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise FileNotFoundError(f"{self.uri}/{key}") from None
            raise

    def _encryption(self) -> dict:
        if self.sse == "none":
            return {}
        extra = {"ServerSideEncryption": self.sse}
        if self.kms_key_id:
            extra["SSEKMSKeyId"] = self.kms_key_id
        return extra

    @_answering
    def write_once(self, key: str, data: bytes) -> None:
        self._put_once(key, data, _b64_sha256(data))

    @_answering
    def write_once_from(self, key: str, source: IO[bytes]) -> None:
        """`write_once` streamed from a seekable binary file (read twice: its checksum, then the put)."""
        digest = hashlib.sha256()
        while block := source.read(_BLOCK):
            digest.update(block)
        source.seek(0)
        self._put_once(key, source, base64.b64encode(digest.digest()).decode())

    def _put_once(self, key: str, body: bytes | IO[bytes], checksum: str) -> None:
        full = self._key(key)
        for attempt in range(6):
            if not isinstance(body, bytes):
                body.seek(0)
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=body,
                    IfNoneMatch="*",
                    ChecksumSHA256=checksum,
                    Metadata={SHA_META: checksum},
                    **self._encryption(),
                )
                return
            except ClientError as error:
                code = _error_code(error)
                if code in _CONFLICT:  # another conditional put to this key is in flight
                    time.sleep(0.05 * 2**attempt)
                    continue
                if code in _EXISTS:
                    if self.checksum(key) == checksum:
                        return  # our own earlier attempt landed; its response was lost
                    raise AlreadyExistsError(f"{self.uri}/{key} already exists") from None
                raise
        raise AlreadyExistsError(f"{self.uri}/{key}: concurrent writers kept conflicting; it is taken")

    @_answering
    def checksum(self, key: str) -> str | None:
        """The base64 SHA-256 alflow wrote with the object (S3's own, else our metadata), or None."""
        head = self._client.head_object(Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED")
        return head.get("ChecksumSHA256") or head.get("Metadata", {}).get(SHA_META)

    @_answering
    def _head(self, key: str) -> dict[str, Any]:
        """The object's metadata; FileNotFoundError when it is absent."""
        try:
            return self._client.head_object(Bucket=self.bucket, Key=self._key(key, vendors=True))
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise FileNotFoundError(f"{self.uri}/{key}") from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def modified(self, key: str) -> str:
        """When the object was written (the store's clock), ISO 8601 UTC."""
        return self._head(key)["LastModified"].isoformat(timespec="seconds")

    @_answering
    def list(self, prefix: str) -> list[str]:
        if prefix.strip("/"):
            full = self._key(prefix.rstrip("/")) + "/"
        else:
            full = f"{self.prefix}/" if self.prefix else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return sorted(keys)

    def version(self, key: str) -> str:
        """The object's ETag: it changes whenever the object is rewritten."""
        return str(self._head(key)["ETag"]).strip('"')

    @_answering
    def download(self, key: str, target: IO[bytes], *, version: str | None = None) -> None:
        """Stream an object to an open binary file (large pools never sit in memory).

        With `version` (an ETag), only that version: a rewrite in between fails (412) instead of
        mixing versions.
        """
        extra = {"IfMatch": f'"{version}"'} if version else {}
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(key, vendors=True), **extra)["Body"]
        except ClientError as error:
            if _error_code(error) in _EXISTS:  # 412: rewritten since `version`
                raise FileNotFoundError(
                    f"{self.uri}/{key} was rewritten since version {version}; read it again"
                ) from None
            if _error_code(error) in _MISSING:
                raise FileNotFoundError(f"{self.uri}/{key}") from None
            raise
        shutil.copyfileobj(body, target, length=_BLOCK)


def ensure_bucket(uri: str) -> bool:
    """Create the bucket of `uri` if it does not exist (for demos and tests); True if created."""
    store = S3Store.from_uri(uri)
    try:
        store._client.head_bucket(Bucket=store.bucket)
        return False
    except ClientError as error:
        if _error_code(error) not in _MISSING:
            raise
    store._client.create_bucket(Bucket=store.bucket)
    return True
