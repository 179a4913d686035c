"""Review of labels already taken (issue 22): seed and delivered labels scored for likely errors,
the likeliest sent to the vendor again, the verdicts applied once (confirmed, corrected, dropped),
used by the next training, shown in status, MLflow and the data set."""

from __future__ import annotations

import io
import json
import os
import time

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from alflow.config import load_campaign
from alflow.config.schema import QuietPeriod
from alflow.errors import ConfigError
from alflow.exchange import formats, layout
from alflow.exchange.bucket import open_store
from alflow.exchange.formats.base import ID
from alflow.intake.ingest import ingest_campaign
from alflow.intake.review_verdicts import classify
from alflow.ledger.ledger import campaign_state
from alflow.operations.dataset import labeled_dataset
from alflow.operations.demo import write_demo_data
from alflow.operations.label_review import request_review
from alflow.operations.plain import plain_round
from alflow.reporting.review_report import review_json, review_lines
from alflow.round.context import RoundContext
from alflow.round.inputs import validate_inputs

from helpers import deliver


def _answers(folder) -> dict[str, str]:
    frame = pd.read_csv(folder / "data" / "answers.csv", dtype=str)
    return dict(zip(frame["id"], frame["label"], strict=True))


def _flip(label: str) -> str:
    return str((int(label) + 1) % 10)


def _deliver_review(config, seq: int, rows: list[tuple[str, str]], name: str, *, done: bool = True) -> None:
    store = open_store(config.vendor.bucket)
    prefix = layout.review_delivery_prefix(config.campaign, seq)
    store.write_once(prefix + name, ("id,label\n" + "".join(f"{i},{lab}\n" for i, lab in rows)).encode())
    if done and not store.exists(prefix + layout.DONE):
        store.write_once(prefix + layout.DONE, b"")


def test_a_review_corrects_and_confirms_labels_once_and_the_next_round_trains_on_them(campaign_file):
    folder = campaign_file.parent
    truth = _answers(folder)
    seed = pd.read_csv(folder / "data" / "seed.csv", dtype=str)
    more = [i for i in sorted(truth) if i not in set(seed["id"])][::7][:50]  # 70 seed labels: a model worth asking
    seed = pd.concat([seed, pd.DataFrame({"id": more, "label": [truth[i] for i in more]})], ignore_index=True)
    wrong_seed = list(seed["id"][::17][:4])
    seed.loc[seed["id"].isin(wrong_seed), "label"] = [_flip(truth[i]) for i in wrong_seed]  # four made wrong
    seed.to_csv(folder / "data" / "seed.csv", index=False)
    raw = yaml.safe_load(campaign_file.read_text())
    raw["budget"]["max_labels"] = 120
    campaign_file.write_text(yaml.safe_dump(raw))
    campaign = load_campaign(campaign_file)

    plain_round(campaign)
    batch = formats.get("csv").batch_ids(
        open_store(campaign.vendor.bucket).read(layout.batch_prefix(campaign.campaign, 1) + "items.csv")
    )
    wrong_vendor = batch[:2]
    labels = {i: _flip(truth[i]) if i in wrong_vendor else truth[i] for i in batch}
    deliver(campaign, 1, "id,label\n" + "".join(f"{i},{lab}\n" for i, lab in labels.items()))

    result = request_review(campaign, count=10, reason="a test")  # takes round 1's delivery in first
    review = result.review
    assert review is not None and not result.resumed and 75 <= result.scored <= 80 and len(review.items) == 10
    injected = set(wrong_seed) | set(wrong_vendor)
    assert len(injected & set(review.items)) >= 4, (review.items, injected)  # confident learning finds most
    assert review.quality == sorted(review.quality) or any(review.flagged)
    state = campaign_state(campaign)
    assert state.labels_asked == 20 and state.reviews_exported == {1}  # a review costs a label
    store = open_store(campaign.vendor.bucket)
    prefix = layout.review_batch_prefix(campaign.campaign, 1)
    shown = pd.read_csv(io.BytesIO(store.read(prefix + "items.csv")), dtype=str)
    assert list(shown[ID]) == review.items and list(shown["predicted"]) == review.labels  # the label under review
    assert json.loads(store.read(prefix + "batch.json"))["review"] == 1

    # The vendor answers every item truly; a second file answers the first item again, differently.
    _deliver_review(campaign, 1, [(i, truth[i]) for i in review.items], "answers.csv")
    _deliver_review(
        campaign, 1, [(review.items[0], _flip(truth[review.items[0]]))], "later.csv"
    )  # read after answers.csv (key order)
    report = plain_round(campaign)
    state = campaign_state(campaign)
    corrected = {i for i, lab in zip(review.items, review.labels, strict=True) if lab != truth[i]}
    assert corrected and corrected <= injected
    outcomes = {i: o for i, (o, _, _) in state.review_outcomes.items()}
    assert outcomes == {i: "corrected" if i in corrected else "confirmed" for i in review.items}
    assert [v.duplicates for v in sorted(state.review_verdicts[1], key=lambda v: v.file)] == [[], [review.items[0]]]
    assert f"review: {len(corrected)} label" in report.message()
    assert state.labels_asked == 30 and state.human_labels()  # no verdict counted as a new label
    ctx = RoundContext(campaign, validate_inputs(campaign, record=False), state)
    assert all(ctx.labeled[i] == truth[i] for i in review.items)  # what the model trained on in round 2
    assert state.rounds[2].labels_used == 80

    assert ingest_campaign(campaign).reviewed_now == ()  # a re-run takes nothing in twice
    [entry] = review_json(state)
    assert entry["corrected"] == len(corrected) and entry["awaiting"] == [] and entry["reason"] == "a test"
    [line] = review_lines(state)
    assert f"{len(corrected)} corrected, {10 - len(corrected)} confirmed, 0 dropped, 0 awaiting" in line

    run = MlflowClient(campaign.tracking.uri).search_runs(
        [state.rounds[2].tracking.experiment_id], "tags.`alflow.round` = '2'"
    )[0]
    assert run.data.metrics["review/corrected"] == len(corrected) and run.data.metrics["review/asked"] == 10

    table = labeled_dataset(campaign).table.to_pandas().set_index("id")
    assert set(table.index[table["review"] == "corrected"]) == corrected
    for i in corrected:
        row = table.loc[i]
        assert row["label"] == truth[i] and row["corrected_from"] != truth[i] and row["reviewed_in"] == 2
    assert len(table) == 80 and table.loc[review.items, "review"].notna().all()


def test_a_ground_truth_review_is_a_verification_job_and_its_bad_verdict_drops_the_label(tmp_path):
    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, fmt="ground_truth")
    config = load_campaign(path)
    review = request_review(config, count=3).review
    assert review is not None
    store = open_store(config.vendor.bucket)
    lines = store.read(layout.review_batch_prefix(config.campaign, 1) + "input.manifest").decode().splitlines()
    first = json.loads(lines[0])  # a label verification job's input: the label under its attribute, with metadata
    assert first["label"] == config.classes.index(review.labels[0])
    assert first["label-metadata"]["class-name"] == review.labels[0] and "source" in first

    # The verification job's output: the first item judged bad, the others good.
    out = []
    for n, text in enumerate(lines):
        line = json.loads(text)
        line["check"] = 0 if n else 1
        line["check-metadata"] = {
            "class-name": "bad" if n == 0 else "good",
            "type": "groundtruth/label-verification",
            "job-name": "labeling-job/verify",
            "human-annotated": "yes",
        }
        out.append(json.dumps(line))
    prefix = layout.review_delivery_prefix(config.campaign, 1)
    store.write_once(prefix + "verify/manifests/output/output.manifest", ("\n".join(out) + "\n").encode())
    store.write_once(prefix + layout.DONE, b"")
    state = ingest_campaign(config)
    [verdict] = state.reviewed_now
    assert verdict.dropped == {review.items[0]: review.labels[0]}
    assert verdict.confirmed == dict(zip(review.items[1:], review.labels[1:], strict=True))
    ctx = RoundContext(config, validate_inputs(config, record=False), state)
    assert review.items[0] not in ctx.labeled and review.items[0] in ctx.taken  # not trained on, never asked again


@pytest.mark.parametrize(
    ("answers", "rejected", "decided", "expected"),
    [
        ({"a": "1", "b": "2"}, set(), set(), ({"a": "1"}, {"b": ["1", "2"]}, {}, [])),
        ({}, {"a"}, set(), ({}, {}, {"a": "1"}, [])),
        ({"a": "2"}, {"b"}, {"a"}, ({}, {}, {"b": "1"}, ["a"])),
        ({"zz": "1"}, set(), set(), ({}, {}, {}, [])),
    ],
    ids=["confirmed-and-corrected", "dropped", "first-verdict-stands", "not-under-review"],
)
def test_a_verdict_is_read_against_the_label_asked_and_the_verdicts_before(answers, rejected, decided, expected):
    assert classify({"a": "1", "b": "1"}, answers, rejected, decided) == expected


def test_review_refuses_bad_requests_in_one_line(campaign):
    with pytest.raises(ConfigError, match="--count 0"):
        request_review(campaign, count=0)
    spent = campaign.model_copy(update={"budget": campaign.budget.model_copy(update={"max_labels": 20})})
    with pytest.raises(ConfigError, match="budget is spent"):
        request_review(spent)


def test_a_label_studio_review_pre_annotates_each_task_with_its_current_label(tmp_path):
    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, fmt="label_studio")
    config = load_campaign(path)
    review = request_review(config, count=3).review
    assert review is not None
    store = open_store(config.vendor.bucket)
    prefix = layout.review_batch_prefix(config.campaign, 1)
    tasks = json.loads(store.read(prefix + formats.get("label_studio").batch_file))
    assert [t["data"]["id"] for t in tasks] == review.items
    shown = [t["predictions"][0]["result"][0]["value"]["choices"] for t in tasks]
    assert shown == [[label] for label in review.labels]
    assert store.exists(prefix + "tasks/tasks.json") and store.exists(prefix + "label_config.xml")


def test_review_answers_follow_complete_when_like_a_delivery(tmp_path):
    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10)
    marker = load_campaign(path)
    review = request_review(marker, count=3).review
    assert review is not None
    _deliver_review(marker, 1, [(review.items[0], review.labels[0])], "first.csv", done=False)  # a tool: no _DONE
    assert ingest_campaign(marker).reviewed_now == ()  # done_marker (the default): not read without _DONE

    answered = marker.model_copy(
        update={"vendor": marker.vendor.model_copy(update={"complete_when": "all_answered"})}
    )  # fmt: skip
    [first] = ingest_campaign(answered).reviewed_now  # all_answered: each file read as it arrives
    assert first.confirmed == {review.items[0]: review.labels[0]}
    assert campaign_state(answered).review_missing(1) == review.items[1:]
    asked = dict(zip(review.items, review.labels, strict=True))
    _deliver_review(answered, 1, [(i, _flip(lab)) for i, lab in asked.items()], "rest.csv", done=False)
    [rest] = ingest_campaign(answered).reviewed_now
    assert rest.corrected == {i: [lab, _flip(lab)] for i, lab in asked.items() if i != review.items[0]}
    assert rest.duplicates == [review.items[0]]  # the first verdict stands
    assert ingest_campaign(answered).reviewed_now == ()  # every answer in: nothing read twice

    quiet = marker.model_copy(
        update={"vendor": marker.vendor.model_copy(update={"complete_when": QuietPeriod(quiet_minutes=5)})}
    )  # fmt: skip
    second = request_review(quiet, count=2).review
    assert second is not None and second.seq == 2
    _deliver_review(quiet, 2, list(zip(second.items, second.labels, strict=True)), "answers.csv", done=False)
    assert ingest_campaign(quiet).reviewed_now == ()  # written just now: not quiet yet
    old = time.time() - 600
    os.utime(tmp_path / "bucket" / layout.review_delivery_prefix(quiet.campaign, 2) / "answers.csv", (old, old))
    [late] = ingest_campaign(quiet).reviewed_now
    assert late.confirmed == dict(zip(second.items, second.labels, strict=True))
