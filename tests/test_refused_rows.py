"""Refused rows: bounded in the quarantine, named by their id, and the hostile shapes of issue 23.

A refused delivery's `.rejected.jsonl` keeps the first rows of each reason (the record counts them
all), so a 10^5-row refused file costs kilobytes, not several times its size; a row too long to
read still names its item when the line's head shows the id; a Label Studio element over the limit
that arrives in one read is `too_large`, and a Labelbox project that is not an object is a refused row.
"""

from __future__ import annotations

import json

import pytest
from test_hostile import outcome, with_format

from alflow.exchange.formats import reading
from alflow.intake.ingest import QUARANTINE_ROWS, ingest_campaign
from alflow.ledger.ledger import bucket

from helpers import ask
from helpers import deliver_files as deliver

LONG = "x" * (reading.MAX_LINE + 10)


def test_a_large_refused_delivery_keeps_a_bounded_sample_and_every_count(campaign):
    campaign = with_format(campaign, "csv")
    ask(campaign, ["t-1", "t-2"])
    n = 100_000
    body = "".join(f"unknown-{i:07d},cat\n" for i in range(n)) + "t-2,cow\n" * 3
    data = f"id,label\nt-1,cat\n{body}".encode()
    deliver(campaign, {"labels.csv": data})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat"}}
    [record] = state.ingests[1]
    assert record.reasons == {"id_not_in_batch": n, "label_not_in_class_set": 3} and record.refused_rows == n + 3
    store = bucket(campaign)
    rows = [json.loads(line) for line in store.read(record.quarantine).splitlines()]
    assert [r["reason"] for r in rows].count("id_not_in_batch") == QUARANTINE_ROWS
    assert [r["reason"] for r in rows].count("label_not_in_class_set") == 3  # every reason keeps its examples
    assert rows[0]["id"] == "unknown-0000000" and rows[0]["row"] == 2
    assert len(store.read(record.quarantine)) < len(data) / 10  # the old copy was 7x the input
    reason = json.loads(store.read(record.quarantine + ".reason.json"))
    assert reason["refused_rows"] == n + 3 and "labels.csv" in reason["all_rows"]


@pytest.mark.parametrize(
    ("fmt", "line", "id_"),
    [
        ("csv", f"t-2,{LONG}", "t-2"),
        ("csv", f"{LONG},cat", None),  # the id itself is cut off: none is made up
        ("jsonl", json.dumps({"id": "t-2", "label": LONG}), "t-2"),
        ("jsonl", json.dumps({"meta": {"id": "inner"}, "label": LONG, "id": "t-2"}), None),  # id after the cut
        ("ground_truth", json.dumps({"id": 7, "label": 0, "label-metadata": {"class-name": LONG}}), "7"),
        ("labelbox", json.dumps({"data_row": {"id": "dr-1", "global_key": "t-2", "row_data": LONG}}), "t-2"),
        ("doccano", json.dumps({"id": 1, "alflow_id": "t-2", "text": LONG, "label": ["cat"]}), "t-2"),
    ],
    ids=["csv", "csv-id-cut", "jsonl", "jsonl-nested-not-taken", "ground_truth-number", "labelbox", "doccano"],
)
def test_a_row_too_long_to_read_names_its_item(fmt, line, id_):
    header = "id,label\n" if fmt == "csv" else ""
    result = outcome(fmt, f"{header}{line}\n".encode())
    assert not isinstance(result, tuple), result
    [row] = result.rejected
    assert (row.reason, row.id) == ("too_long", id_)


def test_a_label_studio_element_over_the_limit_in_one_read_is_too_large():
    element = {"data": {"id": "t-1", "text": "x" * (20 << 20)}, "annotations": []}
    assert outcome("label_studio", json.dumps([element]).encode())[0] == "too_large"


def test_a_labelbox_project_that_is_not_an_object_is_a_refused_row():
    good = {"data_row": {"global_key": "t-1"}, "projects": {"p": {"labels": []}}}
    line = {"data_row": {"global_key": "t-2"}, "projects": {"p": "notadict"}}
    result = outcome("labelbox", (json.dumps(good) + "\n" + json.dumps(line) + "\n").encode())
    assert not isinstance(result, tuple), result
    assert [(r.id, r.reason) for r in result.rejected] == [("t-2", "malformed")]
    assert "not an object" in (result.rejected[0].detail or "")
