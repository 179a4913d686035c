"""Deliveries without `_DONE` (`vendor.complete_when`): read when the campaign's rule says they are
complete, each version of a file once, and nothing counted twice when a tool rewrites an object."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from alflow.config.schema import QuietPeriod, VendorConfig
from alflow.exchange import layout
from alflow.intake.ingest import ingest_campaign

from helpers import ask, deliver_files

IDS = [f"item-{n}" for n in range(4)]


def _with(campaign, rule):
    return campaign.model_copy(update={"vendor": campaign.vendor.model_copy(update={"complete_when": rule})})


def _csv(rows: dict[str, str]) -> str:
    return "id,label\n" + "".join(f"{i},{label}\n" for i, label in rows.items())


def _path(campaign, name: str) -> Path:
    return Path(campaign.vendor.bucket) / layout.delivery_prefix(campaign.campaign, 1) / name


def test_without_a_rule_files_wait_for_the_marker(campaign):
    ask(campaign, IDS)
    deliver_files(campaign, {"a.csv": _csv({"item-0": "1"})}, done=False)
    assert ingest_campaign(campaign).ingested == {}


def test_all_answered_reads_each_file_as_it_arrives_and_a_rewrite_counts_once(campaign):
    campaign = _with(campaign, "all_answered")
    ask(campaign, IDS)
    deliver_files(campaign, {"a.csv": _csv({"item-0": "1", "item-1": "2"})}, done=False)
    state = ingest_campaign(campaign)
    assert state.ingested == {1: {"item-0": "1", "item-1": "2"}} and state.missing(1) == ["item-2", "item-3"]

    # The tool rewrites its object: one label changed, one added; and a second object arrives.
    _path(campaign, "a.csv").write_text(_csv({"item-0": "1", "item-1": "7", "item-2": "3"}))
    deliver_files(campaign, {"b.csv": _csv({"item-3": "4"})}, done=False)
    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"item-0": "1", "item-1": "2", "item-2": "3", "item-3": "4"}}
    assert state.missing(1) == []
    rewritten = next(r for r in state.ingested_now if r.file.endswith("a.csv"))
    assert rewritten.labels == {"item-2": "3"} and rewritten.duplicates == ["item-0"]
    assert rewritten.reasons == {"conflicting_relabel": 1}  # the first label stands, counted once
    assert ingest_campaign(campaign).ingested_now == ()


def test_quiet_minutes_reads_a_delivery_once_its_newest_file_is_old_enough(campaign):
    campaign = _with(campaign, QuietPeriod(quiet_minutes=10))
    ask(campaign, IDS)
    deliver_files(campaign, {"a.csv": _csv({"item-0": "1"}), "b.csv": _csv({"item-1": "2"})}, done=False)
    assert ingest_campaign(campaign).ingested == {}  # just written

    old = time.time() - 11 * 60
    os.utime(_path(campaign, "a.csv"), (old, old))
    assert ingest_campaign(campaign).ingested == {}  # b.csv is still recent

    os.utime(_path(campaign, "b.csv"), (old, old))
    state = ingest_campaign(campaign)
    assert state.ingested == {1: {"item-0": "1", "item-1": "2"}}


def test_the_marker_still_means_complete_under_another_rule(campaign):
    campaign = _with(campaign, QuietPeriod(quiet_minutes=60))
    ask(campaign, IDS)
    deliver_files(campaign, {"a.csv": _csv({"item-0": "1"})})
    assert ingest_campaign(campaign).ingested == {1: {"item-0": "1"}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("done_marker", "done_marker"),
        ("all_answered", "all_answered"),
        ({"quiet_minutes": 15}, QuietPeriod(quiet_minutes=15)),
    ],
    ids=["marker", "all-answered", "quiet"],
)
def test_the_rule_is_read_from_the_campaign_file(value, expected):
    assert VendorConfig(bucket="b", complete_when=value).complete_when == expected


@pytest.mark.parametrize("value", ["whenever", {"quiet_minutes": 0}, {"quiet": 5}], ids=["word", "zero", "key"])
def test_a_bad_rule_is_refused(value):
    with pytest.raises(ValidationError):
        VendorConfig(bucket="b", complete_when=value)
