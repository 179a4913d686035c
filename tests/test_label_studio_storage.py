"""Label Studio's target storage as it writes into the bucket (issue 23): one object per annotation
named by its id, no extension, the task nested (its default); one `<task id>.json` per task
(FUTURE_SAVE_TASK_TO_STORAGE); keys with `//` under a prefix ending in `/`; cancelled
annotations; an annotation updated after it was read. No `_DONE`: `complete_when: all_answered`.
Shapes as its `StorageAnnotationSerializer` and export serializer write them."""

from __future__ import annotations

import io
import json
import uuid

import boto3
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile import with_format

from alflow.errors import DataValidationError
from alflow.exchange import layout
from alflow.exchange.formats import get, reading
from alflow.exchange.formats.base import ReadOptions
from alflow.intake.ingest import ingest_campaign
from alflow.ledger.ledger import bucket

from helpers import ask

ITEMS = ["t-1", "t-2", "t-3"]
TASK_IDS = {"t-1": 101, "t-2": 102, "t-3": 103}
OPTIONS = ReadOptions(("cat", "dog", "eel"))


def _result(label: str) -> list[dict]:
    return [{"id": "r1", "from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]},
             "origin": "manual"}]  # fmt: skip


def _annotation(number: int, item: str, label: str, who: str, *, cancelled: bool = False) -> dict:
    return {
        "id": number,
        "result": [] if cancelled else _result(label),
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2026-12-06T10:00:00.000000Z",
        "updated_at": "2026-12-06T10:00:00.000000Z",
        "lead_time": 4.2,
        "completed_by": {"id": 1, "first_name": "", "last_name": "", "email": who},
        "project": 1,
    }


def _annotation_object(number: int, item: str, label: str, who: str = "ann@vendor.example", **kw) -> bytes:
    """The default layout: the annotation, its task nested (without the task's annotations)."""
    task = {"id": TASK_IDS[item], "data": {"id": item, "text": f"text of {item}", "alflow_rank": 1},
            "meta": {}, "is_labeled": True, "project": 1}  # fmt: skip
    return json.dumps({**_annotation(number, item, label, who, **kw), "task": task}).encode()


def _task_object(item: str, *annotations: dict) -> bytes:
    """FUTURE_SAVE_TASK_TO_STORAGE: the task with its annotations (an object, not a list)."""
    return json.dumps({"id": TASK_IDS[item], "data": {"id": item, "text": f"text of {item}"},
                       "annotations": list(annotations), "predictions": []}).encode()  # fmt: skip


@pytest.fixture(params=["local", "s3"])
def storage_campaign(request, campaign):
    campaign = with_format(campaign, "label_studio", complete_when="all_answered")
    if request.param == "s3":
        request.getfixturevalue("s3_endpoint")
        name = f"ls-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=name)
        campaign = with_format(campaign, "label_studio", bucket=f"s3://{name}/team", complete_when="all_answered")
    ask(campaign, ITEMS)
    return campaign


def _put(campaign, name: str, data: bytes) -> None:
    """Write (or rewrite, as Label Studio does) an object under the round's delivery prefix."""
    key = layout.delivery_prefix(campaign.campaign, 1) + name
    store = bucket(campaign)
    if campaign.vendor.bucket.startswith("s3://"):
        name_, _, prefix = campaign.vendor.bucket.removeprefix("s3://").partition("/")
        boto3.client("s3").put_object(Bucket=name_, Key=f"{prefix}/{key}", Body=data)
    else:
        path = store.root / key  # type: ignore[attr-defined]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_one_object_per_annotation_named_by_its_id_is_read_as_votes(storage_campaign):
    campaign = storage_campaign
    _put(campaign, "11", _annotation_object(11, "t-1", "cat"))
    _put(campaign, "12", _annotation_object(12, "t-2", "dog"))
    _put(campaign, "13", _annotation_object(13, "t-3", "eel", cancelled=True))  # skipped by the labeler

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat", "t-2": "dog"}} and state.missing(1) == ["t-3"]
    assert all(r.reason is None and r.refused_rows == 0 for r in state.ingests[1])  # nothing quarantined
    assert sorted(r.file.rsplit("/", 1)[-1] for r in state.ingests[1]) == ["11", "12", "13"]

    _put(campaign, "14", _annotation_object(14, "t-3", "eel"))  # annotated after all
    _put(campaign, "12", _annotation_object(12, "t-2", "dog"))  # rewritten unchanged: no vote twice
    state = ingest_campaign(campaign)
    assert state.ingested == {1: {"t-1": "cat", "t-2": "dog", "t-3": "eel"}} and state.missing(1) == []
    assert ingest_campaign(campaign).ingested_now == ()


def test_one_task_object_per_task_is_read_as_votes_and_several_annotators_aggregate(storage_campaign):
    campaign = with_format(storage_campaign, "label_studio", annotators=2)
    a, b = "a@vendor.example", "b@vendor.example"
    _put(campaign, "101.json", _task_object("t-1", _annotation(1, "t-1", "cat", a), _annotation(2, "t-1", "cat", b)))
    _put(campaign, "102.json", _task_object("t-2", _annotation(3, "t-2", "dog", a)))
    _put(campaign, "103.json", _task_object("t-3", _annotation(4, "t-3", "eel", a, cancelled=True)))

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat"}}
    [first] = [r for r in state.ingests[1] if r.count]
    assert first.reasons == {"too_few_votes": 1} and first.annotators == [a, b]


def test_an_annotation_changed_after_it_was_read_replaces_its_label(storage_campaign):
    campaign = storage_campaign
    _put(campaign, "21", _annotation_object(21, "t-1", "cat"))
    _put(campaign, "22", _annotation_object(22, "t-2", "dog"))
    ingest_campaign(campaign)
    _put(campaign, "21", _annotation_object(21, "t-1", "dog"))  # changed in Label Studio: it rewrites the object
    _put(campaign, "23", _annotation_object(23, "t-1", "eel"))  # another annotation of t-1: a second vote, no revision

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "dog", "t-2": "dog"}}  # the annotation's new label, counted once
    revised = next(r for r in state.ingested_now if r.file.endswith("/21"))
    assert (revised.revised, revised.labels, revised.count, revised.refused_rows) == ({"t-1": "dog"}, {}, 0, 0)
    other = next(r for r in state.ingested_now if r.file.endswith("/23"))
    assert other.reasons == {"conflicting_relabel": 1} and other.rejected[0].accepted_label == "dog"
    assert sum(r.count for r in state.ingests[1]) == 2


def test_with_several_annotators_a_changed_annotation_stays_a_conflicting_relabel(storage_campaign):
    campaign = with_format(storage_campaign, "label_studio", annotators=2)
    a, b = "a@vendor.example", "b@vendor.example"
    _put(campaign, "101.json", _task_object("t-1", _annotation(1, "t-1", "cat", a), _annotation(2, "t-1", "cat", b)))
    ingest_campaign(campaign)
    _put(campaign, "101.json", _task_object("t-1", _annotation(1, "t-1", "dog", a), _annotation(2, "t-1", "cat", b)))

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat"}}  # one vote changed: the item's label is not the tool's to replace
    [again] = state.ingested_now
    assert again.revised == {} and again.reasons == {"tie": 2}


def test_keys_with_a_double_slash_from_a_prefix_ending_in_a_slash(campaign, s3_endpoint):
    name = f"ls-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    campaign = with_format(campaign, "label_studio", bucket=f"s3://{name}/team", complete_when="all_answered")
    ask(campaign, ITEMS)
    prefix = "team/" + layout.delivery_prefix(campaign.campaign, 1)  # ends in '/': Label Studio adds another
    client.put_object(Bucket=name, Key=f"{prefix}/31", Body=_annotation_object(31, "t-1", "cat"))
    client.put_object(Bucket=name, Key=f"{prefix}/32", Body=_annotation_object(32, "t-2", "dog"))

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat", "t-2": "dog"}}
    assert {r.file.rsplit("/", 2)[-2:][0] for r in state.ingests[1]} == {""}  # read at their own keys
    assert state.strays_now == ()


def test_a_cancelled_annotation_arriving_alone_is_no_vote_and_not_quarantined(storage_campaign):
    campaign = storage_campaign
    _put(campaign, "41", _annotation_object(41, "t-1", "cat", cancelled=True))

    state = ingest_campaign(campaign)

    [record] = state.ingests[1]
    assert (record.status, record.reason, record.count, record.quarantine) == ("accepted", None, 0, None)
    assert state.missing(1) == ITEMS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                              st.sampled_from(["task", "data", "result", "annotations", "id", "was_cancelled",
                                               "reviews", "accepted", "created_at",
                                               "fixed_annotation_history_result"]),
                              inner, max_size=4), max_leaves=12))  # fmt: skip
def test_any_json_in_a_storage_object_gives_votes_bad_rows_or_a_file_reason(value):
    data = json.dumps(value).encode()
    try:
        chunks = list(get("label_studio").read_delivery(io.BytesIO(data), source="b/round-0001//7", options=OPTIONS))
    except DataValidationError as error:
        assert error.reason in ("unreadable", "too_large", "wrong_tag_names")
        return
    assert all(list(chunk.columns) == reading.COLUMNS for chunk in chunks)


def test_a_storage_object_over_the_element_limit_is_too_large():
    big = _annotation_object(9, "t-1", "cat")[:-1] + b', "pad": "' + b"x" * (reading.MAX_ELEMENT + 1) + b'"}'
    with pytest.raises(DataValidationError) as caught:
        list(get("label_studio").read_delivery(io.BytesIO(big), source="b/9", options=OPTIONS))
    assert caught.value.reason == "too_large"


def test_status_shows_a_delivery_without_done_as_delivered_under_its_rule(campaign):
    from alflow.config.schema import QuietPeriod
    from alflow.ledger.ledger import Ledger
    from alflow.reporting.reports import status_rows

    campaign = with_format(campaign, "label_studio", complete_when="all_answered")
    ask(campaign, ITEMS)  # the round's record only, no _READY: "export interrupted" until a delivery
    assert status_rows(campaign, Ledger.of(campaign).state())[0]["state"] == "export interrupted"
    _put(campaign, "11", _annotation_object(11, "t-1", "cat"))

    [row] = status_rows(campaign, Ledger.of(campaign).state())
    assert (row["state"], row["delivered"]) == ("delivered, not read yet", 0)
    quiet = with_format(campaign, "label_studio", complete_when=QuietPeriod(quiet_minutes=5))
    assert status_rows(quiet, Ledger.of(quiet).state())[0]["state"] == "delivering (read once quiet for 5 min)"
    assert status_rows(with_format(campaign, "label_studio", complete_when="done_marker"), Ledger.of(campaign).state())[
        0
    ]["state"] == (
        "export interrupted"  # done_marker: files without _DONE are not a delivery
    )
    ingest_campaign(campaign)
    [row] = status_rows(campaign, Ledger.of(campaign).state())
    assert (row["state"], row["delivered"], row["ingested"]) == ("partly ingested: 2 outstanding", 1, 1)


# --- reviews (Label Studio Enterprise): an annotation's `reviews`, its annotation review objects -------------


def test_an_annotation_its_latest_review_rejected_is_one_refused_row_and_a_fix_is_the_label():
    """t-1 accepted, t-2 accepted then rejected (listed newest first), t-3 unreviewed, t-4 accepted with
    the reviewer's fix, t-5 two annotators of which one rejected: every annotation one row, none lost."""
    from test_vendors import GOLDEN

    from alflow.intake.votes import judge

    data = (GOLDEN / "ls-reviews-export.json").read_bytes()
    votes = pd.concat(list(get("label_studio").read_delivery(io.BytesIO(data), source="export.json", options=OPTIONS)))
    assert len(votes) == 6 and votes["problem"].tolist().count("rejected_in_review") == 2
    verdict = judge(votes, classes=OPTIONS.classes, batch={"t-1", "t-2", "t-3", "t-4", "t-5"}, accepted={})
    assert verdict.labels == {"t-1": "cat", "t-3": "eel", "t-4": "dog", "t-5": "cat"}
    assert [(r.id, r.label, r.reason) for r in verdict.rejected] == [
        ("t-2", "dog", "rejected_in_review"),
        ("t-5", "eel", "rejected_in_review"),
    ]
    [t2, t5] = verdict.rejected
    assert "rev@vendor.example" in (t2.detail or "") and "'this is an eel'" in (t2.detail or "")
    assert (t5.detail or "").endswith("rejected in review by 3")  # an empty comment is not quoted
    assert len(verdict.labels) + verdict.refused_rows == len(votes)  # every annotation once: a label or refused


@pytest.mark.parametrize("reviews", [{"accepted": False}, [{"accepted": "no"}], ["rejected"]])
def test_reviews_of_another_shape_are_one_malformed_row(reviews):
    task = json.loads(_task_object("t-1", {**_annotation(1, "t-1", "cat", "a@x"), "reviews": reviews}))
    data = io.BytesIO(json.dumps([task]).encode())
    chunks = get("label_studio").read_delivery(data, source="export.json", options=OPTIONS)
    [vote] = pd.concat(list(chunks)).to_dict("records")
    assert (vote["id"], vote["label"], vote["problem"]) == ("t-1", None, "malformed")
    assert "`reviews`" in vote["detail"]


def test_a_rejected_label_delivered_through_the_bucket_is_not_trained_on(campaign_file):
    """A real round of a Label Studio campaign, its export delivered into the folder bucket with the
    first item's annotation rejected in review: the next round takes every other label once, the
    rejected one is one refused row, and the data set the round trained on has no label for it."""
    import yaml

    from alflow.config import load_campaign
    from alflow.ledger.ledger import campaign_state
    from alflow.operations.dataset import labeled_dataset
    from alflow.operations.plain import plain_round

    from helpers import deliver_files

    raw = yaml.safe_load(campaign_file.read_text())
    raw["vendor"]["format"] = "label_studio"
    campaign_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_campaign(campaign_file)
    assert plain_round(campaign_file).status == "exported"
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str).set_index("id")["label"]
    batch = campaign_state(config).batch_ids(1)
    votes = pd.DataFrame({"id": batch, "label": [answers[i] for i in batch], "annotator": "ann-a"})
    _, data = get("label_studio").write_delivery(votes, classes=config.classes, job_name="r1", created_at="2026-12-01")
    tasks = json.loads(data)
    tasks[0]["annotations"][0]["reviews"] = [{"annotation": 1, "accepted": False, "created_by": 3, "comment": "no"}]
    deliver_files(config, {"export.json": json.dumps(tasks)})

    second = plain_round(campaign_file)

    rejected = batch[0]
    assert second.labels_ingested == len(batch) - 1
    [record] = campaign_state(config).ingests[1]
    assert [(r.id, r.label, r.reason) for r in record.rejected] == [(rejected, answers[rejected], "rejected_in_review")]
    assert campaign_state(config).ingested[1] == {i: answers[i] for i in batch[1:]}
    table = labeled_dataset(campaign_file).table.to_pandas().set_index(config.pool.id_column)
    assert rejected not in table.index and set(batch[1:]) <= set(table.index)
