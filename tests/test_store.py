"""One contract suite, run against every Store (alflow.exchange.store): the local folder and S3
(moto server on loopback)."""

import uuid

import boto3
import pytest

from alflow.errors import AlreadyExistsError
from alflow.exchange.bucket import open_store
from alflow.exchange.local import LocalStore
from alflow.exchange.s3 import S3Store
from alflow.exchange.store import check_key


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "bucket")
    request.getfixturevalue("s3_endpoint")
    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return open_store(f"s3://{name}/team/campaigns")


def test_write_once_then_read(store):
    store.write_once("c/batches/round-0001/items.csv", b"id\n1\n")
    assert store.read("c/batches/round-0001/items.csv") == b"id\n1\n"
    assert store.exists("c/batches/round-0001/items.csv")


def test_second_write_is_refused_and_changes_nothing(store):
    store.write_once("c/ledger/round-0001/round.json", b"first")
    with pytest.raises(AlreadyExistsError, match="already exists"):
        store.write_once("c/ledger/round-0001/round.json", b"second")
    assert store.read("c/ledger/round-0001/round.json") == b"first"


def test_missing_key(store):
    assert not store.exists("c/nothing")
    with pytest.raises(FileNotFoundError):
        store.read("c/nothing")


def test_list_is_sorted_and_scoped_to_the_prefix(store):
    for key in ("c/b/2", "c/a/1", "c/a/sub/3", "other/x"):
        store.write_once(key, b"x")
    assert store.list("c/a/") == ["c/a/1", "c/a/sub/3"]
    assert store.list("c/") == ["c/a/1", "c/a/sub/3", "c/b/2"]
    assert store.list("missing/") == []


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", "a/../b", "", "a\\b"])
def test_unsafe_keys_are_refused_before_any_io(store, key):
    with pytest.raises(ValueError, match="unsafe store key"):
        store.write_once(key, b"x")
    with pytest.raises(ValueError, match="unsafe store key"):
        store.read(key)


def test_check_key_accepts_plain_relative_keys():
    assert check_key("campaign/deliveries/round-0001/labels.csv") == "campaign/deliveries/round-0001/labels.csv"


def test_open_store_picks_the_implementation(tmp_path, s3_endpoint):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store("s3://bucket/prefix"), S3Store)
    with pytest.raises(ValueError, match="use a local folder or s3://"):
        open_store("gs://bucket")


def test_modified_is_an_iso_utc_time_and_missing_keys_raise(store):
    store.write_once("c/deliveries/round-0001/_DONE", b"")
    assert store.modified("c/deliveries/round-0001/_DONE").endswith("+00:00")
    with pytest.raises(FileNotFoundError):
        store.modified("c/nothing")


def test_download_streams_one_version_of_an_object(store, tmp_path):
    store.write_once("pools/pool.csv", b"id,x\n1,2\n")
    version = store.version("pools/pool.csv")
    with (tmp_path / "copy").open("wb") as target:
        store.download("pools/pool.csv", target, version=version)
    assert (tmp_path / "copy").read_bytes() == b"id,x\n1,2\n"
    store.write_once("pools/other.csv", b"id\n")
    assert store.version("pools/other.csv") != version
