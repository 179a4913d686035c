"""The stream flow: arriving files screened once each, at the target rate, within the budget."""

import json

import pandas as pd
import pytest

from alflow.store import open_store
from flows.stream import screen_arrivals

from helpers import snapshot

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_each_arriving_file_is_screened_once_near_the_target_rate(campaign_file, campaign, tmp_path):
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    pool.iloc[:400].to_csv(arrivals / "day-1.csv", index=False)
    pool.iloc[400:800].to_csv(arrivals / "day-2.csv", index=False)

    records = screen_arrivals(str(campaign_file), str(arrivals), target_rate=0.05)
    assert [r["file"] for r in records] == ["day-1.csv", "day-2.csv"]
    asked = sum(len(r["asked_ids"]) for r in records)
    # budget 60 with 20 seed labels: at most 40 may be asked
    assert 0 < asked <= 40
    assert records[-1]["seen"] == 800
    store = open_store(campaign.vendor.bucket)
    items = pd.read_csv(tmp_path / "bucket" / "digits-demo" / "stream" / "day-1.csv", dtype={"id": str})
    assert items["id"].tolist() == records[0]["asked_ids"]
    assert json.loads(store.read("digits-demo/stream/day-2.json"))["asked"] == asked

    before = snapshot(tmp_path / "bucket")
    assert screen_arrivals(str(campaign_file), str(arrivals), target_rate=0.05) == []
    assert snapshot(tmp_path / "bucket") == before
