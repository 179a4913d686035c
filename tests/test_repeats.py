"""Repeat labels in live rounds (issue 22, `vendor.repeats`): labels in doubt asked again inside the
batch under the same budget, each answer a further vote, the label the votes make trained on."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from alflow.config import load_campaign
from alflow.config.schema import RepeatsConfig
from alflow.exchange import formats, layout
from alflow.exchange.bucket import open_store
from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL
from alflow.intake.quality import REPEAT_WHEN, ask_again, repeat_when
from alflow.intake.votes import judge
from alflow.ledger.ledger import campaign_state
from alflow.ledger.records import IngestRecord
from alflow.ledger.repeat_votes import Vote, accuracy_evidence, repeat_outcomes, weigh
from alflow.operations.dataset import labeled_dataset
from alflow.operations.plain import plain_round
from alflow.reporting.repeat_report import repeat_counts, repeat_json, repeat_markdown, repeat_text


def _ingest(round_: int, labels: dict[str, str], annotators: list[str], **extra) -> IngestRecord:
    return IngestRecord(
        round=round_, ingested_in=round_ + 1, file=f"f{round_}", format="csv", aggregation="majority",
        tie_rule="outstanding", annotators_required=1, sha256=f"{round_}{annotators}", delivered_at="",
        status="accepted", labels=labels, annotators=annotators, ingested_at=f"2026-01-0{round_}", **extra,
    )  # fmt: skip


def test_the_votes_make_the_label_weighed_by_evidence_a_tie_keeps_it():
    batches = {1: ["a", "b"], 2: ["c", "a"], 3: ["a", "d"]}
    ingests = {1: [_ingest(1, {"a": "x", "b": "y"}, ["bad"])], 2: [_ingest(2, {"a": "z", "c": "y"}, ["good"])]}
    outcome = repeat_outcomes(batches, ingests)
    # asked three times, answered twice: a tie of equal annotators keeps the first label, no change
    assert set(outcome) == {"a"} and outcome["a"].label == "x" and not outcome["a"].changed
    assert outcome["a"].votes == (Vote(1, "x", "bad"), Vote(2, "z", "good")) and outcome["a"].method == "majority"
    ingests[3] = [_ingest(3, {}, ["good"], gold_annotators={"bad": [1, 10], "good": [10, 10]})]
    weighed = repeat_outcomes(batches, ingests)["a"]  # gold says who to believe
    assert weighed.label == "z" and weighed.changed and weighed.method == "quality"
    assert accuracy_evidence(ingests[3])["bad"] == pytest.approx((1 + 0.8 * 4) / 14)
    three = (Vote(1, "x", None), Vote(2, "z", None), Vote(3, "z", None))
    assert weigh(three, {}) == ("z", "majority")
    # a file of several annotators names the one who gave each label, where one did
    votes = pd.DataFrame(
        {ID: ["a", "b", "c", "c"], LABEL: ["x", "y", "x", "x"], ANNOTATOR: ["ann-1", "ann-2", "ann-1", "ann-2"]}
    )
    assert judge(votes, classes=("x", "y"), batch={"a", "b", "c"}, accepted={}).voters == {"a": "ann-1", "b": "ann-2"}
    assert judge(votes[votes[ANNOTATOR] == "ann-1"], classes=("x", "y"), batch={"a", "c"}, accepted={}).voters == {}
    voted = {2: [_ingest(2, {"a": "z"}, ["good", "other"], voters={"a": "good"})]}
    assert repeat_outcomes({1: ["a"], 2: ["a"]}, {**ingests, **voted})["a"].votes[1] == Vote(2, "z", "good")
    assert ask_again(pd.Series([0.1, 0.6, 0.35, 0.9]).to_numpy(), 2, when=0.3) == [3, 1]
    assert RepeatsConfig().when is None  # live rounds default to the simulation's rule, by class count:
    assert [round(repeat_when(k), 4) for k in (2, 3, 4, 10)] == [0.1667, 0.2222, 0.25, REPEAT_WHEN]
    with pytest.raises(ValueError, match=r"less than or equal to 0\.5"):
        RepeatsConfig(share=0.8)  # a batch of repeats only would buy no new item


def _vendor(config, round_: int, key: dict[str, str], wrong: set[str]) -> list[str]:
    """A scripted vendor of two annotators in a file each: ann-a answers the even positions of the
    batch (the whole batch when `wrong` is empty) and is right; ann-b the odd ones and says the
    next digit for the items in `wrong` (all of its items when `wrong` is None). Returns ann-b's items."""
    store, fmt = open_store(config.vendor.bucket), formats.get(config.vendor.format)
    ids = fmt.batch_ids(store.read(layout.batch_prefix(config.campaign, round_) + fmt.batch_file))
    b_items = [i for n, i in enumerate(ids) if n % 2 == 1] if wrong is None or wrong else []
    for who, items in (("ann-a", [i for i in ids if i not in b_items]), ("ann-b", b_items)):
        said = [
            str((int(key[i]) + 1) % 10) if who == "ann-b" and (wrong is None or i in wrong) else key[i] for i in items
        ]
        votes = pd.DataFrame({ID: items, LABEL: said, ANNOTATOR: who})
        _, payload = fmt.write_delivery(votes, classes=config.classes, job_name="j", created_at="")
        if items:
            store.write_once(layout.delivery_prefix(config.campaign, round_) + f"{who}.csv", payload)
    store.write_once(layout.delivery_prefix(config.campaign, round_) + layout.DONE, b"")
    return b_items


def test_a_live_campaign_asks_again_where_the_votes_and_the_model_doubt(campaign_file):
    raw = yaml.safe_load(campaign_file.read_text())
    raw["vendor"]["repeats"] = {"share": 0.3}
    campaign_file.write_text(yaml.safe_dump(raw))
    config = load_campaign(campaign_file)
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str)
    key = dict(zip(answers["id"], answers["label"], strict=True))

    assert plain_round(campaign_file).status == "exported"  # round 1: no vendor label yet, no repeat
    assert campaign_state(config).rounds[1].repeats is None
    wrong = _vendor(config, 1, key, None)  # ann-b says the next digit on each of its 5 items

    second = plain_round(campaign_file)
    state = campaign_state(config)
    mix = state.rounds[2].repeats
    assert second.status == "exported" and mix is not None and 1 <= len(mix.ids) <= 3
    # likeliest wrong first, and those are the wrong labels (a right label in doubt may follow)
    assert mix.ids[0] in wrong and len(set(mix.ids) & set(wrong)) >= 2 and all(w >= 0.3 for w in mix.wrong)
    assert mix.wrong == sorted(mix.wrong, reverse=True)
    assert all(r.startswith("wrong with probability") for r in mix.reasons)
    # the batch keeps its size and the budget counts each repeat as a label asked
    assert (
        len(state.rounds[2].batch_ids) == 10 and state.labels_asked == 20 and set(mix.ids) <= set(state.asked_ids[10:])
    )
    store, fmt = open_store(config.vendor.bucket), formats.get(config.vendor.format)
    batch = layout.batch_prefix(config.campaign, 2)
    assert set(mix.ids) <= set(fmt.batch_ids(store.read(batch + fmt.batch_file)))
    assert json.loads(store.read(batch + "batch.json"))["repeats"] == dict(zip(mix.ids, mix.reasons, strict=True))
    labeled_before = len(state.human_labels())

    _vendor(config, 2, key, set())  # rounds 2 and 3 answered by ann-a alone, right: a further vote on each repeat
    plain_round(campaign_file)
    _vendor(config, 3, key, set())
    fourth = plain_round(campaign_file)
    again = plain_round(campaign_file)  # a re-run: nothing new is read, no vote counted twice
    state = campaign_state(config)
    assert again.status != "exported" and state.repeats == campaign_state(config).repeats
    labels = state.human_labels()
    for id_, outcome in state.repeats.items():
        asked = [r for r in (1, 2, 3) if id_ in state.rounds[r].batch_ids]
        assert [v.round for v in outcome.votes] == asked  # each answer one vote, none lost, none twice
        right = sum(v.label == key[id_] for v in outcome.votes)
        # no evidence on the annotators: a majority, a tie keeps the label the item had
        assert outcome.label == labels[id_] == (key[id_] if 2 * right > len(outcome.votes) else outcome.first)
    assert any(o.changed and o.label == key[i] for i, o in state.repeats.items())  # a wrong label put right
    # a repeat is never a new label: what the next round trained on counts each item once
    record = state.rounds[4]
    assert sum(record.class_counts.values()) == record.labels_used == 20 + len(labels)
    assert fourth.status == "exported" and state.labels_asked == 40 and labeled_before < len(labels) < 30
    # seen: the round line, `alflow status`, MLflow and the data set
    counts = repeat_counts(state)
    changed = {i for i, o in state.repeats.items() if o.changed}
    assert counts["asked"] == state.repeats_asked == sum(len(r.repeats.ids) for r in state.rounds.values() if r.repeats)
    assert counts["changed"] == len(changed) and counts["answered"] + counts["awaiting"] == counts["asked"]
    assert f"repeats: {counts['asked']} asked" in fourth.message()
    assert repeat_markdown(state) == f"- {repeat_text(state)}\n" and repeat_markdown(state).startswith(
        f"- repeats: {counts['asked']} asked, {counts['answered']} answered"
    )  # the Prefect summary's line, beside gold's
    listed = repeat_json(state)
    assert listed is not None and listed["items"][min(changed)]["label"] == labels[min(changed)]
    metrics = MlflowClient(config.tracking.uri).get_run(fourth.mlflow_run_id).data.metrics
    assert metrics["repeats/labels_changed"] == len(changed) and metrics["repeats/asked"] == counts["asked"]
    frame = pd.read_parquet(io.BytesIO(labeled_dataset(campaign_file).data)).set_index(config.pool.id_column)
    assert len(frame) == 20 + len(labels)  # each item once
    for id_ in changed:
        outcome = state.repeats[id_]
        row = frame.loc[id_]
        assert row["label"] == outcome.label and row["repeated_from"] == outcome.first
        assert row["votes"] == len(outcome.votes) and list(row["annotators"]) == [v.annotator for v in outcome.votes]
