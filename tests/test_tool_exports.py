"""Files as the labeling tools write them (issue 23): Ground Truth verification chains, Labelbox
skips, doccano's one file per annotator; each vote counted once, verdicts applied."""

from __future__ import annotations

import io
import json

import pandas as pd
from test_hostile import CLASSES, with_format

from alflow.exchange.formats import get
from alflow.exchange.formats.base import ReadOptions
from alflow.intake.ingest import ingest_campaign

from helpers import ask
from helpers import deliver_files as deliver

MANIFEST = "job-verify/manifests/output/output.manifest"


def _gt_line(id_: str, index: object, verdict: str | None, *, verifier: str = "animal-verify") -> dict:
    """An output manifest line of a labeling job, with a label verification job chained after it
    (its attribute, class index and metadata as Ground Truth's docs show them)."""
    name = CLASSES[int(index)]  # type: ignore[call-overload]
    line = {
        "source": f"text of {id_}",
        "id": id_,
        "animal": index,
        "animal-metadata": {
            "class-name": name,
            "confidence": 0.92,
            "type": "groundtruth/text-classification",
            "job-name": "labeling-job/animal",
            "human-annotated": "yes",
            "creation-date": "2026-12-01T10:00:00.000000",
        },
    }
    if verdict is not None:
        line[verifier] = 0 if verdict.endswith("good") else 1
        line[f"{verifier}-metadata"] = {
            "class-name": verdict,
            "confidence": 0.88,
            "type": "groundtruth/label-verification",
            "job-name": "labeling-job/animal-verify",
            "human-annotated": "yes",
            "creation-date": "2026-12-02T10:00:00.000000",
            "worker-feedback": [{"comment": "that is a dog"}] if verdict.endswith("bad") else [],
        }
    return line


def test_a_ground_truth_verification_chain_applies_each_verdict_without_configuration(campaign):
    campaign = with_format(campaign, "ground_truth")
    ask(campaign, ["t-1", "t-2", "t-3", "t-4"])
    lines = [
        _gt_line("t-1", 0, "good"),
        _gt_line("t-2", 0, "bad"),  # the verifier rejects "cat": not accepted, the item stays outstanding
        _gt_line("t-3", "2", "Label is correct"),  # an index written as text
        _gt_line("t-4", 1, None),  # not verified: the labeling job's label
    ]
    deliver(campaign, {MANIFEST: "".join(json.dumps(x) + "\n" for x in lines)})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat", "t-3": "eel", "t-4": "dog"}}
    assert state.missing(1) == ["t-2"]
    [record] = state.ingests[1]
    assert record.reasons == {"rejected_by_verifier": 1}
    [row] = record.rejected
    assert (row.id, row.label, row.reason) == ("t-2", "cat", "rejected_by_verifier")
    assert "'bad'" in (row.detail or "") and "that is a dog" in (row.detail or "")


def test_the_label_attribute_named_is_still_verified():
    data = io.BytesIO(json.dumps(_gt_line("t-1", 0, "bad")).encode())
    chunks = get("ground_truth").read_delivery(data, source="gt", options=ReadOptions(CLASSES, "animal"))
    [vote] = pd.concat(chunks).to_dict("records")
    assert (vote["label"], vote["problem"]) == ("cat", "rejected_by_verifier")


def test_a_verdict_neither_good_nor_bad_is_refused_not_guessed():
    [vote] = (
        get("ground_truth").votes(json.dumps(_gt_line("t-1", 0, "maybe")).encode(), classes=CLASSES).to_dict("records")
    )
    assert vote["problem"] == "malformed" and "neither good nor bad" in vote["detail"]


def test_a_labelbox_skipped_data_row_is_no_vote(campaign):
    campaign = with_format(campaign, "labelbox")
    ask(campaign, ["t-1", "t-2"])
    answer = {"name": "label", "value": "label", "radio_answer": {"name": "cat", "value": "cat"}}
    labeled = {
        "id": "lb-1",
        "label_details": {"created_by": "ann@vendor.example"},
        "performance_details": {"seconds_to_create": 4, "skipped": False},
        "annotations": {"objects": [], "classifications": [answer], "relationships": []},
    }
    skipped = {
        "id": "lb-2",
        "label_details": {"created_by": "ann@vendor.example"},
        "performance_details": {"seconds_to_create": 1, "skipped": True},
        "annotations": {"objects": [], "classifications": [], "relationships": []},
    }
    rows = [
        {"data_row": {"global_key": "t-1"}, "projects": {"p": {"labels": [labeled]}}},
        {"data_row": {"global_key": "t-2"}, "projects": {"p": {"labels": [skipped]}}},
    ]
    deliver(campaign, {"export.ndjson": "".join(json.dumps(r) + "\n" for r in rows)})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat"}} and state.missing(1) == ["t-2"]
    [record] = state.ingests[1]
    assert record.status == "accepted" and record.refused_rows == 0  # not `missing_label`


def _doccano(votes: dict[str, str]) -> str:
    """One annotator's file of doccano 1.8's export (a project that does not share annotations)."""
    lines = [
        {"id": n, "text": f"text of {id_}", "alflow_id": id_, "alflow_score": 0.5, "label": [label] if label else []}
        for n, (id_, label) in enumerate(votes.items(), start=1)
    ]
    return "".join(json.dumps(x) + "\n" for x in lines)


def test_doccano_files_per_annotator_are_one_set_of_votes(campaign):
    campaign = with_format(campaign, "doccano", annotators=2)
    ask(campaign, ["t-1", "t-2", "t-3"])
    deliver(
        campaign,
        {
            "alice.jsonl": _doccano({"t-1": "cat", "t-2": "dog", "t-3": "eel"}),
            "bob.jsonl": _doccano({"t-1": "cat", "t-2": "eel", "t-3": ""}),  # t-3 not labeled yet
        },
    )

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat"}}  # two votes agree; t-2 is a tie, t-3 has one vote of two
    first, second = sorted(state.ingests[1], key=lambda r: r.count, reverse=True)
    assert first.annotators == ["alice", "bob"] and first.votes == 5
    assert first.reasons == {"tie": 2, "too_few_votes": 1}  # never a conflicting relabel
    assert (second.count, second.labels, second.status) == (0, {}, "accepted") and "one set of votes" in second.message
    assert {first.file.rsplit("/", 1)[-1], second.file.rsplit("/", 1)[-1]} == {"alice.jsonl", "bob.jsonl"}
    assert ingest_campaign(campaign).ingested_now == ()  # each file once


def test_a_second_doccano_annotator_disagreeing_is_a_vote_not_a_relabel(campaign):
    campaign = with_format(campaign, "doccano")  # one vote wanted per item
    ask(campaign, ["t-1", "t-2"])
    deliver(campaign, {"ann1.jsonl": _doccano({"t-1": "cat", "t-2": "dog"}), "ann2.jsonl": _doccano({"t-1": "eel"})})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-2": "dog"}}  # t-1: cat against eel, a tie: outstanding
    assert sum(r.reasons.get("conflicting_relabel", 0) for r in state.ingests[1]) == 0
    assert sum(r.reasons.get("tie", 0) for r in state.ingests[1]) == 2
