"""`vendor.aggregation: quality`: delivered votes aggregated with annotator quality once a file has
the evidence (overlap), each annotator's accuracy recorded in the ingest record (issue 22)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alflow.intake.ingest import ingest_campaign
from alflow.intake.quality import MIN_OVERLAP, aggregate_with_quality
from alflow.intake.votes import judge
from alflow.ledger.ledger import campaign_state

from helpers import ask
from helpers import deliver_files as deliver

CLASSES = ("cat", "dog", "eel")


ERRORS = {"good": 0.05, "fair": 0.25, "poor": 0.55}


def crowd_votes(n: int, *, seed: int = 0) -> tuple[pd.DataFrame, dict[str, str]]:
    """n items, a vote from each of three annotators wrong 5, 25 and 55 % of the time (evenly over
    the other classes); and the answers."""
    rng = np.random.default_rng(seed)
    truth = {f"i{n:03d}": CLASSES[c] for n, c in enumerate(rng.integers(0, 3, size=n))}
    rows = []
    for item, answer in truth.items():
        for name, error in ERRORS.items():
            other = [c for c in CLASSES if c != answer][int(rng.integers(0, 2))]
            rows.append((item, other if rng.random() < error else answer, name))
    return pd.DataFrame(rows, columns=["id", "label", "annotator"]), truth


def test_quality_labels_more_items_right_than_a_majority_and_ranks_annotators():
    frame, truth = crowd_votes(300)
    common = {"classes": CLASSES, "batch": set(truth), "accepted": {}, "annotators": 3}
    by_majority = judge(frame, **common)
    by_quality = judge(frame, aggregation="quality", **common)
    right = lambda labels: sum(labels.get(i) == t for i, t in truth.items())  # noqa: E731
    # a majority leaves three-way splits outstanding and follows fair and poor when they agree
    assert right(by_quality.labels) > right(by_majority.labels) + 15
    assert right(by_quality.labels) > 0.9 * len(truth)
    accuracy = by_quality.annotator_accuracy
    assert accuracy["good"] > accuracy["fair"] + 0.05 and accuracy["fair"] > accuracy["poor"] + 0.2
    assert accuracy["good"] == pytest.approx(0.95, abs=0.1)  # expected share right: soft posteriors
    assert by_majority.annotator_accuracy == {}


def test_without_enough_overlap_it_is_the_majority_and_estimates_nothing():
    frame, truth = crowd_votes(MIN_OVERLAP - 1)
    weighed = aggregate_with_quality(frame, classes=CLASSES, annotators=1, tie_rule="outstanding")
    plain = judge(frame, classes=CLASSES, batch=set(truth), accepted={})
    assert weighed.method == "majority" and weighed.accuracy == {}
    assert weighed.labels == plain.labels


@pytest.mark.parametrize(("rule", "labeled"), [("outstanding", False), ("class_order", True)])
def test_a_tied_posterior_follows_the_tie_rule(rule, labeled):
    frame, _ = crowd_votes(MIN_OVERLAP + 5)
    # with its mirror (dog and eel swapped), so nothing tells dog from eel but the votes
    mirror = frame.assign(id=frame["id"] + "m", label=frame["label"].replace({"dog": "eel", "eel": "dog"}))
    frame = pd.concat([frame, mirror])
    frame = pd.concat(
        [frame, pd.DataFrame([("tied", "dog", "lazy1"), ("tied", "eel", "lazy2")], columns=frame.columns)]
    )
    weighed = aggregate_with_quality(frame, classes=CLASSES, annotators=1, tie_rule=rule)
    assert weighed.method == "dawid_skene"
    assert ("tied" in weighed.labels) is labeled
    assert ("tied" in weighed.refused) is not labeled


def test_items_with_too_few_votes_are_refused():
    frame, _ = crowd_votes(30)
    frame = frame[~((frame["id"] == "i000") & (frame["annotator"] != "good"))]
    weighed = aggregate_with_quality(frame, classes=CLASSES, annotators=3, tie_rule="outstanding")
    assert weighed.refused == {"i000": "too_few_votes"} and "i000" not in weighed.labels


def test_a_delivery_through_the_bucket_records_each_annotators_accuracy(campaign):
    campaign = campaign.model_copy(
        update={"vendor": campaign.vendor.model_copy(update={"aggregation": "quality", "annotators": 3})}
    )
    frame, truth = crowd_votes(40, seed=1)
    ids = [f"digit-{n:04d}" for n in range(1, 41)]
    rename = dict(zip(truth, ids, strict=True))
    digits = {"cat": "1", "dog": "2", "eel": "3"}
    frame = frame.assign(id=frame["id"].map(rename), label=frame["label"].map(digits))
    ask(campaign, ids)
    deliver(campaign, {"labels.csv": frame.to_csv(index=False)})

    state = ingest_campaign(campaign)

    expected = {rename[i]: digits[t] for i, t in truth.items()}
    assert sum(state.ingested[1].get(i) == label for i, label in expected.items()) >= 36
    [record] = campaign_state(campaign).ingests[1]
    assert record.aggregation == "quality"
    assert set(record.annotator_accuracy) == {"good", "fair", "poor"}
    assert record.annotator_accuracy["good"] > record.annotator_accuracy["poor"]
