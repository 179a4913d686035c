"""A delivered file rewritten in place is read again: versions that see every change.

The issue's scenario: 10 of 20 labels delivered with `_DONE`, a round ingests them; the file is
replaced by the other 10 (the same byte count) and its old mtime put back, as `cp -p`, `rsync -t`
or `touch -r` leave it; the next round must ingest those 10, and nothing twice. On a folder
bucket (rewritten in place, and replaced by a rename) and on S3 (moto's server, overwritten).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import boto3
import pytest

from alflow.exchange import layout
from alflow.exchange.local import LocalStore
from alflow.intake.ingest import ingest_campaign
from alflow.ledger.ledger import campaign_state

from helpers import ask, deliver_files

IDS = [f"item-{n:02d}" for n in range(20)]
LABELS = {id_: str(n % 10) for n, id_ in enumerate(IDS)}


def _csv(ids: list[str]) -> bytes:
    return ("id,label\n" + "".join(f"{i},{LABELS[i]}\n" for i in ids)).encode()


FIRST, SECOND = _csv(IDS[:10]), _csv(IDS[10:])


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """`cp -p` of a file of the same size over it: same inode, the old mtime put back."""
    before = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _replace_by_rename(path: Path, data: bytes) -> None:
    """`rsync -t`: a temporary file beside it, renamed over it, with the old mtime."""
    before = path.stat()
    tmp = path.with_name(".labels.csv.tmp")
    tmp.write_bytes(data)
    os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
    tmp.replace(path)


def _accepted(campaign) -> list[str]:
    """Every id accepted by any ingest record, once per record that accepted it."""
    state = campaign_state(campaign)
    return sorted(i for r in state.ingests.get(1, []) for i in r.labels)


@pytest.mark.parametrize("rewrite", [_rewrite_in_place, _replace_by_rename], ids=["cp-p", "rsync-t"])
def test_a_file_rewritten_with_its_old_size_and_mtime_is_read_again(campaign, rewrite):
    assert len(FIRST) == len(SECOND)
    ask(campaign, IDS)
    deliver_files(campaign, {"labels.csv": FIRST})
    ingest_campaign(campaign)
    assert _accepted(campaign) == IDS[:10]
    assert campaign_state(campaign).missing(1) == IDS[10:]

    path = Path(campaign.vendor.bucket) / layout.delivery_prefix(campaign.campaign, 1) / "labels.csv"
    before = path.stat()
    rewrite(path, SECOND)
    after = path.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)  # what the old tag saw

    state = ingest_campaign(campaign)
    assert [r.count for r in state.ingested_now] == [10]
    assert _accepted(campaign) == IDS  # each label once
    assert campaign_state(campaign).missing(1) == []
    assert ingest_campaign(campaign).ingested_now == ()  # and nothing again


def test_an_s3_object_overwritten_with_the_same_size_is_read_again(campaign, s3_endpoint):
    name = f"versions-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    campaign = campaign.model_copy(
        update={"vendor": campaign.vendor.model_copy(update={"bucket": f"s3://{name}/team"})}
    )
    ask(campaign, IDS)
    deliver_files(campaign, {"labels.csv": FIRST})
    ingest_campaign(campaign)
    key = "team/" + layout.delivery_prefix(campaign.campaign, 1) + "labels.csv"
    client.put_object(Bucket=name, Key=key, Body=SECOND)
    state = ingest_campaign(campaign)
    assert [r.count for r in state.ingested_now] == [10]
    assert _accepted(campaign) == IDS
    assert ingest_campaign(campaign).ingested_now == ()


def test_the_folder_tag_changes_with_content_and_not_with_a_read(tmp_path):
    store = LocalStore(tmp_path)
    store.write_once("d/labels.csv", FIRST)
    tag = store.version("d/labels.csv")
    store.read("d/labels.csv")
    assert store.version("d/labels.csv") == tag
    _rewrite_in_place(tmp_path / "d" / "labels.csv", SECOND)
    assert store.version("d/labels.csv") != tag
    shutil.copy2(tmp_path / "d" / "labels.csv", tmp_path / "copy.csv")
    assert store.version("copy.csv") != store.version("d/labels.csv")
