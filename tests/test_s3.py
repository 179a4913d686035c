"""S3Store beyond the contract suite: encryption, checksums, and transient errors retried.

Faults are injected by a small HTTP proxy between boto3 and the moto server (both on loopback):
boto3, botocore's retry logic and the S3 wire protocol run for real; only the network misbehaves.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import boto3
import pytest

from alflow.errors import AlreadyExistsError, ConfigError, ServiceUnavailableError
from alflow.exchange.s3 import S3Store, client_config

SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
INTERNAL = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"


class FaultyProxy:
    """Forwards to `upstream`; `faults` is a list of (method, action) consumed in order.

    Actions: "503" and "500" answer an error without forwarding; "lose" forwards the request,
    then answers 500 as if the response had been lost on the way back.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlparse(upstream)
        self.faults: list[tuple[str, str]] = []
        self.seen: list[tuple[str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = None
                if proxy.faults and proxy.faults[0][0] in (self.command, "*"):
                    action = proxy.faults.pop(0)[1]
                if action in ("503", "500"):
                    return self._reply(int(action), SLOW_DOWN if action == "503" else INTERNAL, {})
                status, payload, headers = proxy.forward(self.command, self.path, dict(self.headers), body)
                if action == "lose":
                    return self._reply(500, INTERNAL, {})
                self._reply(status, payload, headers)

            def _reply(self, status, payload, headers):
                proxy.seen.append((self.command, status))
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method, path, headers, body):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return response.status, payload, dict(response.getheaders())

    def close(self):
        self.server.shutdown()


@pytest.fixture
def bucket(s3_endpoint) -> str:
    name = f"s3-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def proxy(s3_endpoint):
    proxy = FaultyProxy(s3_endpoint)
    yield proxy
    proxy.close()


def store_via(proxy: FaultyProxy, bucket: str, *, max_attempts: int = 8) -> S3Store:
    client = boto3.client("s3", endpoint_url=proxy.url, config=client_config(max_attempts=max_attempts))
    return S3Store(bucket, "camp", client=client)


def test_throttling_and_server_errors_are_retried_with_backoff(proxy, bucket):
    store = store_via(proxy, bucket)
    proxy.faults = [("PUT", "503"), ("PUT", "503"), ("GET", "500"), ("GET", "503")]

    store.write_once("c/ledger/round-0001/round.json", b"committed")
    assert store.read("c/ledger/round-0001/round.json") == b"committed"

    assert proxy.faults == []
    assert [s for _, s in proxy.seen] == [503, 503, 200, 500, 503, 200]


def test_a_put_whose_response_was_lost_is_not_reported_as_a_conflict(proxy, bucket):
    store = store_via(proxy, bucket)
    proxy.faults = [("PUT", "lose")]

    store.write_once("c/ledger/round-0001/round.json", b"ours")  # retried: 412, but the bytes are ours

    assert store.read("c/ledger/round-0001/round.json") == b"ours"
    assert [s for m, s in proxy.seen if m == "PUT"] == [500, 412]
    with pytest.raises(AlreadyExistsError, match=r"round\.json already exists"):
        store.write_once("c/ledger/round-0001/round.json", b"another run's record")
    assert store.read("c/ledger/round-0001/round.json") == b"ours"


def test_retries_give_up_after_max_attempts_and_nothing_is_written(proxy, bucket):
    store = store_via(proxy, bucket, max_attempts=2)
    proxy.faults = [("PUT", "503")] * 2

    with pytest.raises(ServiceUnavailableError, match="still answered SlowDown after retries"):
        store.write_once("c/x", b"data")
    assert not store.exists("c/x")


def test_every_put_carries_a_sha256_the_store_keeps(s3_endpoint, bucket):
    store = S3Store(bucket, "camp")
    store.write_once("c/items.csv", b"id\n1\n")
    assert store.checksum("c/items.csv") == base64.b64encode(hashlib.sha256(b"id\n1\n").digest()).decode()


def test_sse_s3_encrypts_every_object(s3_endpoint, bucket):
    S3Store(bucket, "camp", sse="AES256").write_once("c/a", b"x")
    head = boto3.client("s3").head_object(Bucket=bucket, Key="camp/c/a")
    assert head["ServerSideEncryption"] == "AES256"


def test_sse_kms_uses_the_named_key(s3_endpoint, bucket):
    key_id = boto3.client("kms", endpoint_url=s3_endpoint).create_key()["KeyMetadata"]["KeyId"]
    S3Store(bucket, "camp", sse="aws:kms", kms_key_id=key_id).write_once("c/a", b"x")
    head = boto3.client("s3").head_object(Bucket=bucket, Key="camp/c/a")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sse": "aes"}, "sse='aes': use none, AES256"),
        ({"kms_key_id": "k"}, "kms_key_id is set but sse='none'"),
    ],
)
def test_bad_encryption_settings_are_refused(s3_endpoint, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        S3Store("b", **kwargs)


def test_credentials_in_a_bucket_uri_are_refused_without_echoing_them(s3_endpoint):
    with pytest.raises(ConfigError, match="remove the credentials") as caught:
        S3Store.from_uri("s3://AKIAEXAMPLE:secret@bucket/prefix")
    assert "secret" not in str(caught.value) and "AKIA" not in str(caught.value)


def test_modified_is_the_store_clock(s3_endpoint, bucket):
    store = S3Store(bucket)
    store.write_once("c/_DONE", b"")
    assert store.modified("c/_DONE").endswith("+00:00")


def test_the_demo_creates_its_bucket_and_never_reuses_a_campaign_prefix(s3_endpoint):
    from alflow.exchange.s3 import ensure_bucket
    from alflow.operations.demo import CAMPAIGN, fresh_s3_prefix

    uri = f"s3://demo-{uuid.uuid4().hex[:10]}/team"
    assert fresh_s3_prefix(uri) == uri  # created, and empty
    assert ensure_bucket(uri) is False
    S3Store.from_uri(uri).write_once(f"{CAMPAIGN}/ledger/round-0001/round.json", b"{}")
    again = fresh_s3_prefix(uri)
    assert again.startswith(f"{uri}/run-") and not S3Store.from_uri(again).list(f"{CAMPAIGN}/")
