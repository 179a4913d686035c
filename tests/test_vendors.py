"""Exchange formats, both ways: the contract every format of the registry passes (golden batch
files, ids read back, a vendor tool's delivery read back to the same votes), then each format's
own details.

Regenerate the batch golden files after an intended format change with
`ALFLOW_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_vendors.py`, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from alflow.config import VendorConfig
from alflow.errors import DataValidationError
from alflow.exchange.formats import FORMATS, get, ground_truth, label_studio

GOLDEN = Path(__file__).parent / "golden"
CLASSES = ("cat", "dog", "eel")


def items() -> pd.DataFrame:
    """A batch as export_batch builds it: id, score (higher = label first), predicted, the item."""
    return pd.DataFrame(
        {
            "id": ["t-1", "t-2", "t-3"],
            "score": [0.91, 0.5, 0.125],
            "predicted": ["cat", "dog", "cat"],
            "text": ["the cat sat on the mat", "a dog barks", 'an eel, "quoted"'],
        }
    )


def golden(name: str, data: bytes) -> bytes:
    path = GOLDEN / name
    if os.environ.get("ALFLOW_REGENERATE_GOLDEN"):
        path.write_bytes(data)
    return path.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_batch_file_matches_its_golden_file_and_reads_back(fmt):
    spec = get(fmt)
    data = spec.write_batch(items(), model_version="LogisticRegression", text_column="text")
    assert data == golden(f"batch-{fmt}-{spec.batch_file}", data)
    assert spec.batch_ids(data) == ["t-1", "t-2", "t-3"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_campaign_file_accepts_every_format_of_the_registry(fmt):
    assert VendorConfig(bucket="b", format=fmt).format == fmt


def test_a_campaign_file_refuses_a_format_the_registry_does_not_hold():
    with pytest.raises(ValueError, match="unknown format 'xml'; use one of csv, jsonl, ground_truth, label_studio"):
        VendorConfig(bucket="b", format="xml")


def test_ground_truth_input_manifest_puts_text_in_source_and_objects_in_source_ref():
    frame = items().assign(**{"source-ref": ["s3://pets/t-1.jpg", "s3://pets/t-2.jpg", "s3://pets/t-3.jpg"]})
    manifest = ground_truth.write_batch(frame.drop(columns="text"), model_version="m", text_column=None)
    lines = [json.loads(x) for x in manifest.splitlines()]
    assert lines[0] == {"source-ref": "s3://pets/t-1.jpg", "id": "t-1", "score": 0.91, "predicted": "cat"}
    inline = [
        json.loads(x) for x in ground_truth.write_batch(items(), model_version="m", text_column="text").splitlines()
    ]
    assert inline[2]["source"] == 'an eel, "quoted"' and inline[2]["id"] == "t-3"


def test_label_studio_tasks_carry_the_prediction_and_score_as_pre_annotation():
    tasks = json.loads(label_studio.write_batch(items(), model_version="LogisticRegression", text_column="text"))
    assert tasks[0]["data"] == {"id": "t-1", "text": "the cat sat on the mat"}
    [prediction] = tasks[0]["predictions"]
    assert prediction["model_version"] == "LogisticRegression" and prediction["score"] == 0.91
    assert prediction["result"][0]["value"] == {"choices": ["cat"]}


def test_ground_truth_output_manifest_keeps_the_label_metadata():
    votes = ground_truth.read_delivery((GOLDEN / "gt-output.manifest").read_bytes(), source="gt", classes=CLASSES)
    assert votes[["id", "label"]].values.tolist() == [["t-1", "cat"], ["t-2", "dog"], ["t-3", "eel"]]
    first = votes.iloc[0]
    assert first["confidence"] == 0.93 and first["human_annotated"] == "yes"
    assert first["job_name"] == "labeling-job/pets-round-1" and first["created_at"] == "2026-11-20T10:31:02.123456"
    assert votes.iloc[1]["human_annotated"] == "no"  # t-2 has no class-name: its index 1 is looked up


def test_label_studio_export_skips_cancelled_annotations_and_keeps_annotators():
    votes = label_studio.read_delivery((GOLDEN / "ls-export.json").read_bytes(), source="ls", classes=CLASSES)
    assert votes[["id", "label", "annotator"]].values.tolist() == [
        ["t-1", "cat", "7"],
        ["t-1", "cat", "ann@vendor.example"],
        ["t-2", "dog", "7"],
    ]
    assert votes["created_at"].tolist()[0] == "2026-11-20T10:00:00.000000Z"


VOTES = pd.DataFrame({"id": ["t-1", "t-1", "t-2"], "label": ["cat", "dog", "eel"], "annotator": ["a1", "a2", "a1"]})


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_delivery_written_by_a_vendor_tool_reads_back_to_the_same_votes(fmt):
    spec = get(fmt)
    votes = VOTES if fmt != "ground_truth" else VOTES.drop(columns="annotator").iloc[[0, 2]]  # consolidated
    name, data = spec.write_delivery(votes, classes=CLASSES, job_name="pets-round-1", created_at="")
    assert spec.is_delivery_file(name)
    back = spec.read_delivery(data, source=name, classes=CLASSES)
    columns = [c for c in ("id", "label", "annotator") if c in votes.columns]
    assert back[columns].astype(str).values.tolist() == votes[columns].values.tolist()


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("jsonl", b'{"id": "t-1", "label": "cat"}\nnot json\n', "line 2 is not JSON"),
        ("jsonl", b"[1, 2]\n", "line 1 is not a JSON object"),
        ("ground_truth", b'{"id": "t-1", "label": 0}\n', "line 1 has 0 label attributes"),
        ("label_studio", b'{"data": {}}', "a Label Studio JSON export is a list of tasks, got dict"),
        ("label_studio", b"[1]", "task 1 has no `data` object"),
        ("label_studio", b"\xff", "not a Label Studio JSON export"),
        ("csv", b'id,label\n"t-1,cat\n', "not a readable CSV file"),
    ],
    ids=[
        "jsonl-bad-line",
        "jsonl-not-object",
        "gt-no-attribute",
        "ls-not-list",
        "ls-no-data",
        "ls-binary",
        "csv-quote",
    ],
)
def test_unreadable_delivery_files_are_named_with_the_problem(fmt, data, message):
    with pytest.raises(DataValidationError, match=message) as caught:
        get(fmt).read_delivery(data, source="s3://b/c/deliveries/round-0001/x", classes=CLASSES)
    assert str(caught.value).startswith("s3://b/c/deliveries/round-0001/x: ")
    assert caught.value.reason == "unreadable"
