"""End to end on S3: alflow exports to a bucket on a real S3 API (moto server on loopback) and a
vendor delivers with the AWS CLI, typing the commands of docs/VENDORS.md. Deliveries are then
replayed, duplicated, corrupted and relabelled; every label must be accounted for once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml

from alflow.config import load_campaign
from alflow.ledger.ledger import bucket, campaign_state
from flows.round import active_learning_round

pytestmark = pytest.mark.usefixtures("prefect_server")
AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


def aws(*args: str, endpoint: str, cwd: Path) -> str:
    done = subprocess.run(
        [AWS, *args, "--endpoint-url", endpoint], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(AWS is None, reason="the AWS CLI (`aws`) is not installed: `pip install awscli` (dev extra)")
def test_a_vendor_delivers_with_the_aws_cli_and_every_label_counts_once(s3_endpoint, campaign_file, tmp_path):
    name = f"vendor-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=name)
    raw = yaml.safe_load(campaign_file.read_text())
    raw["vendor"]["bucket"] = f"s3://{name}/team"
    campaign_file.write_text(yaml.safe_dump(raw))
    campaign = load_campaign(campaign_file)
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str).set_index("id")["label"]
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    batches = f"s3://{name}/team/digits-demo/batches"
    deliveries = f"s3://{name}/team/digits-demo/deliveries"

    report = active_learning_round(str(campaign_file))
    assert report.status == "exported"

    # The vendor, by hand: list, download, label, upload the labels, then the marker, last.
    listing = aws("s3", "ls", f"{batches}/round-0001/", endpoint=s3_endpoint, cwd=vendor)
    assert "_READY" in listing and "items.csv" in listing and "batch.json" in listing
    aws("s3", "cp", f"{batches}/round-0001/items.csv", "items.csv", endpoint=s3_endpoint, cwd=vendor)
    ids = pd.read_csv(vendor / "items.csv", dtype={"id": str})["id"].tolist()
    pd.DataFrame({"id": ids, "label": answers.loc[ids].to_numpy()}).to_csv(vendor / "labels.csv", index=False)
    (vendor / "_DONE").write_bytes(b"")
    aws("s3", "cp", "labels.csv", f"{deliveries}/round-0001/labels.csv", endpoint=s3_endpoint, cwd=vendor)
    aws("s3", "cp", "_DONE", f"{deliveries}/round-0001/_DONE", endpoint=s3_endpoint, cwd=vendor)

    second = active_learning_round(str(campaign_file))
    assert second.status == "exported" and second.labels_ingested == 10 and second.round == 2

    # Replayed, duplicated, corrupted and relabelled deliveries for round 1, then round 2 for real.
    (vendor / "garbage.csv").write_bytes(b"\x00\xffnot a csv")
    relabel = ids[0]
    wrong = str((int(answers[relabel]) + 1) % 10)
    (vendor / "relabel.csv").write_text(f"id,label\n{relabel},{wrong}\n")
    for local, remote in [
        ("labels.csv", "labels.csv"),  # the same file again (overwritten in place, as S3 allows)
        ("labels.csv", "labels-copy.csv"),  # the same bytes under a new name
        ("garbage.csv", "garbage.csv"),
        ("relabel.csv", "relabel.csv"),
    ]:
        aws("s3", "cp", local, f"{deliveries}/round-0001/{remote}", endpoint=s3_endpoint, cwd=vendor)
    aws("s3", "cp", f"{batches}/round-0002/items.csv", "items2.csv", endpoint=s3_endpoint, cwd=vendor)
    ids2 = pd.read_csv(vendor / "items2.csv", dtype={"id": str})["id"].tolist()
    pd.DataFrame({"id": ids2, "label": answers.loc[ids2].to_numpy()}).to_csv(vendor / "labels2.csv", index=False)
    aws("s3", "cp", "labels2.csv", f"{deliveries}/round-0002/labels.csv", endpoint=s3_endpoint, cwd=vendor)
    aws("s3", "cp", "_DONE", f"{deliveries}/round-0002/_DONE", endpoint=s3_endpoint, cwd=vendor)

    third = active_learning_round(str(campaign_file))

    assert third.status == "exported" and third.labels_used == 40
    assert third.labels_ingested == 10 and third.rows_rejected == 2  # the garbage file and the relabel
    state = campaign_state(campaign)
    labels = state.human_labels()
    assert labels == {i: answers[i] for i in ids + ids2}  # every label once, the first one kept
    assert sum(r.count for rs in state.ingests.values() for r in rs) == 20  # counted once
    store = bucket(campaign)
    reasons = {
        r.file.rsplit("/", 1)[-1]: r.reason or r.rejected[0].reason for r in state.ingests[1] if r.status == "rejected"
    }
    assert reasons == {"garbage.csv": "unreadable", "relabel.csv": "conflicting_relabel"}
    quarantine = aws(
        "s3", "ls", f"s3://{name}/team/digits-demo/quarantine/round-0001/", endpoint=s3_endpoint, cwd=vendor
    )
    assert quarantine.count(".reason.json") == 2
    reason_key = next(r.quarantine for r in state.ingests[1] if r.file.endswith("relabel.csv"))
    assert json.loads(store.read(reason_key + ".reason.json"))["reasons"] == {"conflicting_relabel": 1}
