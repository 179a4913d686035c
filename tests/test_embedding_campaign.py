"""Campaigns over images through embeddings: the pool carries a vector per item (the model's
features) and a reference to the image (what the vendor sees), locally and on moto's S3 server."""

import json
import shutil

import boto3
import mlflow
import numpy as np
import pandas as pd
import pytest

from alflow.config import load_campaign
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.exchange.formats import label_studio
from alflow.ledger.ledger import campaign_state
from flows.round import active_learning_round

from helpers import IMAGE_CLASSES, image_items, vendor_for, write_image_campaign

pytestmark = pytest.mark.usefixtures("prefect_server")


def _run(path, campaign, rounds, fmt):
    vendor = vendor_for(campaign, path.parent / "data" / "answers.csv")
    reports = []
    for _ in range(rounds):
        report = active_learning_round(str(path))
        assert report.status == "exported", report.message()
        reports.append(report)
        vendor.deliver(report.round, fmt=fmt)
    return reports


def _assert_trained_on_returned_labels(campaign, reports, items):
    assert [r.labels_used for r in reports] == [8, 18, 28][: len(reports)]
    state = campaign_state(campaign)
    assert sum(len(labels) for labels in state.ingested.values()) == 10 * (len(reports) - 1)
    assert all(r.metric_source == "holdout" for r in state.rounds.values())
    assert reports[-1].metrics["accuracy"] > 0.6  # four digit classes from 28 labels, on the pixels
    mlflow.set_tracking_uri(campaign.tracking.uri)
    model = mlflow.pyfunc.load_model(f"models:/{campaign.campaign}@challenger")
    vectors = np.stack(items["embedding"].head(5).map(np.asarray).to_list())
    assert set(model.predict(vectors)) <= set(IMAGE_CLASSES)  # the logged model reads embeddings


def test_image_campaign_exports_label_studio_image_tasks_and_trains_on_their_labels(tmp_path, mlflow_template):
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    items = image_items(tmp_path / "data")
    path = write_image_campaign(tmp_path, items, pool_uri="data/pool.parquet", bucket="bucket", fmt="label_studio")
    campaign = load_campaign(path)

    reports = _run(path, campaign, 3, "label_studio")

    store = open_store(campaign.vendor.bucket)
    tasks = json.loads(store.read(layout.batch_prefix(campaign.campaign, 1) + "tasks.json"))
    assert len(tasks) == 10
    for task in tasks:
        assert set(task["data"]) == {"id", "image", "alflow_rank"}  # the reference, never the vector
        assert task["data"]["image"] == str(tmp_path / "data" / "images" / f"{task['data']['id']}.png")
        assert (tmp_path / "data" / "images" / f"{task['data']['id']}.png").is_file()
        [prediction] = task["predictions"]
        assert prediction["result"][0]["to_name"] == label_studio.TO_NAME
    config = store.read(layout.batch_prefix(campaign.campaign, 1) + label_studio.LABEL_CONFIG).decode()
    assert '<Image name="item" value="$image"/>' in config and 'toName="item"' in config  # exported beside it
    _assert_trained_on_returned_labels(campaign, reports, items)


@pytest.fixture
def s3_images(s3_endpoint, tmp_path):
    """Images and the pool on moto's S3 server (the pool's references relative to its prefix)."""
    items = image_items(tmp_path / "data")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    for bucket in ("scans-data", "scans-vendor"):
        s3.create_bucket(Bucket=bucket)
    for image in (tmp_path / "data" / "images").iterdir():
        s3.upload_file(str(image), "scans-data", f"campaign-a/images/{image.name}")
    return items, s3


def test_image_campaign_on_s3_exports_ground_truth_source_refs(tmp_path, mlflow_template, s3_images):
    items, s3 = s3_images
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_image_campaign(
        tmp_path,
        items,
        pool_uri="s3://scans-data/campaign-a/pool.parquet",
        bucket="s3://scans-vendor/alflow",
        fmt="ground_truth",
    )
    s3.upload_file(str(tmp_path / "data" / "pool.parquet"), "scans-data", "campaign-a/pool.parquet")
    campaign = load_campaign(path)

    reports = _run(path, campaign, 2, "ground_truth")

    manifest = open_store(campaign.vendor.bucket).read(layout.batch_prefix(campaign.campaign, 2) + "input.manifest")
    lines = [json.loads(line) for line in manifest.decode().splitlines()]
    assert len(lines) == 10
    for line in lines:
        assert line["source-ref"] == f"s3://scans-data/campaign-a/images/{line['id']}.png"
        assert "embedding" not in line and "source" not in line
        s3.head_object(Bucket="scans-data", Key=line["source-ref"].removeprefix("s3://scans-data/"))
    _assert_trained_on_returned_labels(campaign, reports, items)


def test_a_reference_missing_from_s3_stops_the_round_before_anything_is_written(tmp_path, mlflow_template, s3_images):
    items, s3 = s3_images
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_image_campaign(
        tmp_path, items, pool_uri="s3://scans-data/campaign-a/pool.parquet", bucket="bucket", fmt="ground_truth"
    )
    s3.upload_file(str(tmp_path / "data" / "pool.parquet"), "scans-data", "campaign-a/pool.parquet")
    gone = pd.read_parquet(tmp_path / "data" / "pool.parquet")["id"].iloc[7]
    s3.delete_object(Bucket="scans-data", Key=f"campaign-a/images/{gone}.png")

    from alflow.errors import DataValidationError

    with pytest.raises(DataValidationError, match=rf"column 'image' must name an item that exists .* row 8: .*{gone}"):
        active_learning_round(str(path))
    assert not (tmp_path / "bucket").exists()
