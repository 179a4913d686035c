"""Exchange formats, both ways: the contract every format of the registry passes (golden batch
files, ids read back, a vendor tool's delivery read back to the same votes), then each format's
own details.

Regenerate the batch golden files after an intended format change with
`ALFLOW_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_vendors.py`, then review the diff.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from alflow.config import VendorConfig
from alflow.errors import DataValidationError
from alflow.exchange.formats import FORMATS, get, ground_truth, label_studio
from alflow.exchange.formats.base import ReadOptions

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
    data = spec.write_batch(items(), model_version="pets/3", text_column="text")
    assert data == golden(f"batch-{fmt}-{spec.batch_file}", data)
    assert spec.batch_ids(data) == ["t-1", "t-2", "t-3"]
    for name, extra in spec.batch_extras(CLASSES, text_column="text").items():
        assert extra == golden(f"batch-{fmt}-{name}", extra)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_campaign_file_accepts_every_format_of_the_registry(fmt):
    assert VendorConfig(bucket="b", format=fmt).format == fmt


def test_a_campaign_file_refuses_a_format_the_registry_does_not_hold():
    names = "csv, jsonl, ground_truth, label_studio, labelbox, doccano"
    with pytest.raises(ValueError, match=f"unknown format 'xml'; use one of {names}"):
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


def test_ground_truth_writes_each_feature_once():
    frame = pd.DataFrame({"id": ["a"], "score": [0.5], "predicted": ["cat"], "f1": [1.5], "f2": [-2.0]})
    [line] = [json.loads(x) for x in ground_truth.write_batch(frame, model_version="m", text_column=None).splitlines()]
    assert line == {"source": json.dumps({"f1": 1.5, "f2": -2.0}), "id": "a", "score": 0.5, "predicted": "cat"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("x" * 20_001, "at most 20000 per attribute"), ("ok", "names starting with '\\$'")],
    ids=["attribute-too-long", "dollar-name"],
)
def test_ground_truth_limits_are_checked_on_export(text, message):
    frame = pd.DataFrame({"id": ["a"], "score": [0.5], "predicted": ["cat"], "text": [text]})
    if text == "ok":
        frame["$ref"] = "x"
    with pytest.raises(DataValidationError, match=message):
        ground_truth.write_batch(frame, model_version="m", text_column="text")


def test_ground_truth_limits_cover_the_whole_line():
    frame = pd.DataFrame({"id": ["a"], "score": [0.5], "predicted": ["cat"], "text": ["t"]})
    for n in range(6):
        frame[f"c{n}"] = "y" * 19_000
    with pytest.raises(
        DataValidationError, match=r"manifest line is 114\d{3} characters and Ground Truth takes at most 100000"
    ):
        ground_truth.write_batch(frame, model_version="m", text_column="text")


def test_label_studio_scores_in_the_order_label_studio_serves_and_names_the_model_version():
    tasks = json.loads(label_studio.write_batch(items(), model_version="pets/3", text_column="text"))
    assert tasks[0]["data"] == {"id": "t-1", "text": "the cat sat on the mat", "alflow_rank": 1}
    scores = [t["predictions"][0]["score"] for t in tasks]
    # Label Studio's active-learning ordering serves the lowest score first: alflow's best item first.
    assert scores == sorted(scores) and scores[0] == 0.0 and all(0 <= s < 1 for s in scores)
    assert {t["predictions"][0]["model_version"] for t in tasks} == {"pets/3"}
    assert tasks[0]["predictions"][0]["result"][0]["value"] == {"choices": ["cat"]}


def test_label_studio_label_config_names_the_tags_the_tasks_use():
    [(name, xml)] = label_studio.label_config(("cat", 'd"og'), text_column="text").items()
    assert name == "label_config.xml"
    text = xml.decode()
    assert '<Choices name="label" toName="item"' in text and '<Text name="item" value="$text"/>' in text
    assert "<Choice value='d\"og'/>" in text  # quoted as XML
    tabular = label_studio.label_config(("cat",), text_column=None)["label_config.xml"].decode()
    assert '<Table name="item" value="$features"/>' in tabular
    frame = pd.DataFrame({"id": ["a"], "score": [0.5], "predicted": ["cat"], "f1": [1.5]})
    [task] = json.loads(label_studio.write_batch(frame, model_version="m", text_column=None))
    assert task["data"]["features"] == {"f1": 1.5}


def test_ground_truth_output_manifest_keeps_the_label_metadata():
    votes = get("ground_truth").votes((GOLDEN / "gt-output.manifest").read_bytes(), source="gt", classes=CLASSES)
    assert votes[["id", "label"]].values.tolist() == [["t-1", "cat"], ["t-2", "dog"], ["t-3", "eel"]]
    first = votes.iloc[0]
    assert first["confidence"] == 0.93 and first["human_annotated"] == "yes"
    assert first["job_name"] == "labeling-job/pets-round-1" and first["created_at"] == "2026-11-20T10:31:02.123456"
    assert votes.iloc[1]["human_annotated"] == "no"  # t-2 has no class-name: its index 1 is looked up


def test_ground_truth_chained_jobs_take_the_last_job_or_the_attribute_named():
    data = (GOLDEN / "gt-chained-output.manifest").read_bytes()
    spec = get("ground_truth")
    last = spec.votes(data, source="gt", classes=CLASSES)
    assert last[["id", "label", "problem"]].values.tolist() == [
        ["t-1", "cat", None],
        ["t-2", "eel", None],  # the adjustment job changed the first job's "dog"
        ["t-3", "eel", None],  # source-ref-metadata is the item's, not a label attribute
    ]
    assert last.iloc[1]["job_name"] == "labeling-job/pets-round-1-adjust"
    chunks = spec.read_delivery(io.BytesIO(data), source="gt", options=ReadOptions(CLASSES, "animal"))
    first = pd.concat(chunks)
    assert first["label"].tolist() == ["cat", "dog", "eel"]
    missing = pd.concat(spec.read_delivery(io.BytesIO(data), source="gt", options=ReadOptions(CLASSES, "nope")))
    assert set(missing["problem"]) == {"malformed"} and "no label attribute 'nope'" in missing["detail"].iloc[0]


@pytest.mark.parametrize(
    ("value", "problem"),
    [(True, "bad_value"), (1.0, "bad_value"), (7, "bad_value"), ([0, 2], "multiple_labels"), ([2], None)],
    ids=["json-true", "float", "out-of-range", "multi-label", "one-of-list"],
)
def test_ground_truth_class_indices_are_integers_of_the_class_set(value, problem):
    line = {"id": "t-1", "label": value, "label-metadata": {"job-name": "j"}}
    [vote] = get("ground_truth").votes(json.dumps(line).encode(), classes=CLASSES).to_dict("records")
    assert vote["problem"] == problem
    assert vote["label"] == (None if problem else "eel")


def test_label_studio_export_skips_cancelled_annotations_and_keeps_annotators():
    votes = get("label_studio").votes((GOLDEN / "ls-export.json").read_bytes(), source="ls", classes=CLASSES)
    assert votes[["id", "label", "annotator"]].values.tolist() == [
        ["t-1", "cat", "7"],
        ["t-1", "cat", "ann@vendor.example"],
        ["t-2", "dog", "7"],
    ]
    assert votes["created_at"].tolist()[0] == "2026-11-20T10:00:00.000000Z"


def test_a_label_studio_project_with_other_tag_names_is_refused_with_the_reason():
    data = (GOLDEN / "ls-other-tags-export.json").read_bytes()
    with pytest.raises(DataValidationError, match=r"label_config\.xml") as caught:
        get("label_studio").votes(data, source="ls", classes=CLASSES)
    assert caught.value.reason == "wrong_tag_names"
    mixed = json.loads(data) + json.loads((GOLDEN / "ls-export.json").read_bytes())
    votes = get("label_studio").votes(json.dumps(mixed).encode(), source="ls", classes=CLASSES)
    assert votes["problem"].tolist().count("wrong_tag_names") == 2  # per row, when others match


VOTES = pd.DataFrame({"id": ["t-1", "t-1", "t-2"], "label": ["cat", "dog", "eel"], "annotator": ["a1", "a2", "a1"]})


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_delivery_written_by_a_vendor_tool_reads_back_to_the_same_votes(fmt):
    spec = get(fmt)
    consolidated = fmt == "ground_truth"  # one label per item, no annotator
    votes = VOTES.drop(columns="annotator").iloc[[0, 2]] if consolidated else VOTES
    if fmt == "doccano":  # a shared export names no annotator (per-annotator exports are named by them)
        votes = VOTES.drop(columns="annotator")
    name, data = spec.write_delivery(votes, classes=CLASSES, job_name="pets-round-1", created_at="")
    assert spec.is_delivery_file(name)
    back = spec.votes(data, source=name, classes=CLASSES)
    columns = [c for c in ("id", "label", "annotator") if c in votes.columns]
    assert back[columns].astype(str).values.tolist() == votes[columns].values.tolist()
    assert back["problem"].isna().all()


@pytest.mark.parametrize(
    ("fmt", "data", "reason", "message"),
    [
        ("label_studio", b'{"data": {}}', "unreadable", "is a JSON list, and this file does not start with '\\['"),
        ("label_studio", b"\xff\xfe[", "unreadable", "does not start with"),
        ("label_studio", b'[{"data": {"id": 1}, "annotations": []} {"x": 1}]', "unreadable", "expected ',' or ']'"),
        ("label_studio", b"[" * 100_000, "unreadable", "nested too deeply"),
        ("csv", b"ident,class\nt-1,cat\n", "missing_column", "required column 'id' is missing"),
        ("csv", b"\xff\xfe\x00garbage\n", "unreadable", "not UTF-8 text"),
        ("csv", b"\n\n", "empty", "no header"),
    ],
    ids=["ls-not-list", "ls-binary", "ls-broken-middle", "ls-deep", "csv-columns", "csv-binary", "csv-blank"],
)
def test_files_unreadable_as_a_whole_are_named_with_the_problem(fmt, data, reason, message):
    with pytest.raises(DataValidationError, match=message) as caught:
        get(fmt).votes(data, source="s3://b/c/deliveries/round-0001/x", classes=CLASSES)
    assert str(caught.value).startswith("s3://b/c/deliveries/round-0001/x: ")
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("fmt", "data", "problem", "detail"),
    [
        ("jsonl", b'{"id": "t-1", "label": "cat"}\nnot json\n', "malformed", "line 2 is not JSON"),
        ("jsonl", b'{"id": "t-1", "label": "cat"}\n[1, 2]\n', "malformed", "line 2 is a JSON list"),
        ("jsonl", b'{"id": "t-1", "label": "cat"}\n{"id": "t-2", "label": "\xff"}\n', "undecodable", "not UTF-8"),
        ("jsonl", b'{"id": "t-1", "label": "cat"}\n' + b"[" * 100_000 + b"\n", "malformed", "nested too deeply"),
        ("jsonl", b'{"id": "t-1", "label": "cat"}\n{"id": {"x": 1}, "label": "cat"}\n', "bad_value", "an object"),
        ("ground_truth", b'{"id": "t-1", "a": 0, "a-metadata": {"class-name": "cat"}}\n{"id": "t-2"}\n',
         "malformed", "line 2 has no label attribute"),
        ("csv", b'id,label\nt-1,cat\nt-2,d\xffg\n', "undecodable", "label is not valid UTF-8"),
        ("csv", b'id,label\nt-1,cat\nt-2,dog,extra\n', "malformed", "3 fields, the header 2"),
        ("label_studio", b'[{"data": {"id": "t-1"}, "annotations": [{"result": [{"from_name": "label", '
         b'"to_name": "item", "type": "choices", "value": {"choices": ["cat"]}}]}]}, 5]', "malformed", "task 2"),
    ],
    ids=["jsonl-not-json", "jsonl-list", "jsonl-bad-byte", "jsonl-deep", "jsonl-object-id", "gt-no-attribute",
         "csv-bad-byte", "csv-extra-field", "ls-task-not-object"],
)  # fmt: skip
def test_a_bad_row_costs_that_row_only(fmt, data, problem, detail):
    votes = get(fmt).votes(data, source="x", classes=CLASSES)
    assert votes["label"].iloc[0] == "cat" and votes["problem"].iloc[0] is None  # the good row is kept
    assert votes["problem"].iloc[1] == problem and detail in votes["detail"].iloc[1]


def test_labelbox_export_reads_every_label_of_every_project_as_a_vote():
    votes = get("labelbox").votes((GOLDEN / "labelbox-export.ndjson").read_bytes(), source="lb", classes=CLASSES)
    assert votes[["id", "label", "annotator", "problem"]].values.tolist() == [
        ["t-1", "cat", "ann@vendor.example", None],
        ["t-1", "cat", "bo@vendor.example", None],  # the option's value, not its display name
        ["t-2", "dog", "ann@vendor.example", None],  # a single-answer checklist
    ]  # t-3 has no label yet: no vote
    assert votes["created_at"].iloc[0] == "2026-11-20T10:00:00.000+00:00"


def test_labelbox_data_rows_carry_the_item_and_the_models_guess():
    rows = json.loads(get("labelbox").write_batch(items(), model_version="pets/3", text_column="text"))
    assert rows[0]["row_data"] == "the cat sat on the mat" and rows[0]["global_key"] == "t-1"
    assert rows[0]["attachments"][0]["value"] == "model pets/3 guesses cat; item 1 of 3 to label"


def test_labelbox_data_rows_of_references_are_the_image_or_pdf_with_the_text_beside_it():
    batch = items().assign(**{"source-ref": ["s3://team/scans/1.png", "s3://team/scans/a b.PDF", "/data/3.jpg"]})
    rows = json.loads(get("labelbox").write_batch(batch, model_version="pets/3", text_column="text"))
    assert [r["row_data"] for r in rows] == [  # Labelbox refuses s3:// assets: their https URL
        "https://team.s3.amazonaws.com/scans/1.png",
        "https://team.s3.amazonaws.com/scans/a%20b.PDF",
        "/data/3.jpg",
    ]
    assert [r["media_type"] for r in rows] == ["IMAGE", "PDF", "IMAGE"]
    assert rows[0]["attachments"][0] == {"type": "RAW_TEXT", "value": "the cat sat on the mat"}  # the text beside
    assert rows[0]["attachments"][1]["value"].startswith("model pets/3 guesses cat")
    images = json.loads(get("labelbox").write_batch(batch.drop(columns="text"), model_version="p/1", text_column=None))
    assert [len(r["attachments"]) for r in images] == [1, 1, 1]  # the guess only: no features shown as text


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ({"annotations": {"classifications": [
            {"name": "label", "checklist_answers": [{"value": "cat"}, {"value": "dog"}]}]}}, "multiple_labels"),
        ({"annotations": {"classifications": [
            {"name": "a", "radio_answer": {"value": "cat"}}, {"name": "b", "radio_answer": {"value": "dog"}}]}},
         "malformed"),
        ({"annotations": None}, "malformed"),
        ("x", "malformed"),
        ({"annotations": {"classifications": [{"name": "q", "radio_answer": {"value": "cat"}}]}}, None),
    ],
    ids=["two-answers", "two-questions", "no-annotations", "not-object", "one-question-any-name"],
)  # fmt: skip
def test_labelbox_labels_of_an_unexpected_shape_are_bad_rows(label, problem):
    line = {"data_row": {"global_key": "t-1"}, "projects": {"p": {"labels": [label]}}}
    [vote] = get("labelbox").votes(json.dumps(line).encode(), classes=CLASSES).to_dict("records")
    assert vote["problem"] == problem and vote["id"] == "t-1"


def test_doccano_export_reads_labeled_examples_and_skips_the_rest():
    data = (GOLDEN / "doccano-export.jsonl").read_bytes()
    votes = get("doccano").votes(data, source="s3://b/c/deliveries/round-0001/all.jsonl", classes=CLASSES)
    assert votes[["id", "label", "annotator"]].values.tolist() == [["t-1", "cat", None], ["t-2", "dog", None]]
    mine = get("doccano").votes(data, source="s3://b/c/deliveries/round-0001/ann.jsonl", classes=CLASSES)
    assert set(mine["annotator"]) == {"ann"}  # a per-annotator export is named by its annotator
    two = get("doccano").votes(b'{"alflow_id": "t-1", "label": ["cat", "dog"]}\n', classes=CLASSES)
    assert two["problem"].tolist() == ["multiple_labels"]


def test_doccano_dataset_keeps_the_item_id_beside_doccanos_own():
    lines = [
        json.loads(x) for x in get("doccano").write_batch(items(), model_version="m", text_column="text").splitlines()
    ]
    assert lines[0] == {"text": "the cat sat on the mat", "label": [], "alflow_id": "t-1", "alflow_score": 0.91,
                        "alflow_predicted": "cat", "alflow_model": "m"}  # fmt: skip
