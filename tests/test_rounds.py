"""Round stages as plain functions: stopping rules, budget, crash recovery. No Prefect here."""

import math

import pytest

from alflow import ledger, rounds
from alflow.errors import RoundConflictError
from alflow.ledger import CampaignState
from alflow.store import open_store

from helpers import deliver, snapshot


def _state(metrics, batch_sizes=None):
    records = {}
    for i, m in enumerate(metrics, start=1):
        ids = [f"r{i}-{j}" for j in range((batch_sizes or {}).get(i, 0))]
        records[i] = {"round": i, "metrics": {"accuracy": m}, "batch": {"ids": ids} if ids else None}
    return CampaignState("c", rounds=records)


STOPS = [
    # earlier accuracies, this round's, budget left, unlabeled left, settings, expected reason
    ([], 0.5, 0, 100, {}, "budget_spent"),
    ([], 0.95, 10, 100, {"target": 0.9}, "target_reached"),
    ([], 0.95, 0, 100, {"target": 0.9}, "budget_spent"),  # the budget rule comes first
    ([0.8, 0.85, 0.84], 0.85, 10, 100, {"patience": 2}, "no_improvement"),
    ([0.8, 0.84], 0.86, 10, 100, {"patience": 2}, None),
    ([0.8, 0.85], 0.855, 10, 100, {"patience": 1, "min_delta": 0.01}, "no_improvement"),
    ([0.8, math.nan], 0.81, 10, 100, {"patience": 1}, None),  # NaN estimates are skipped
    ([], 0.5, 10, 0, {}, "pool_exhausted"),
    ([], 0.5, 10, 100, {}, None),
]


@pytest.mark.parametrize(
    ("earlier", "current", "budget", "unlabeled", "settings", "expected"),
    STOPS,
    ids=["budget", "target", "budget-first", "patience", "improving", "min-delta", "nan", "exhausted", "go-on"],
)
def test_stop_rules(campaign, earlier, current, budget, unlabeled, settings, expected):
    config = campaign.model_copy(update={"stopping": campaign.stopping.model_copy(update=settings)})
    reason = rounds.stop_reason(config, _state(earlier), {"accuracy": current}, budget=budget, unlabeled=unlabeled)
    assert reason == expected


def test_budget_counts_seed_labels_and_every_label_asked(campaign):
    inputs = rounds.Inputs([], [], pool_size=1000, seed_labels={f"s{i}": "1" for i in range(20)})
    assert rounds.budget_left(campaign, inputs, _state([0.5, 0.6], {1: 10, 2: 10})) == 60 - 20 - 20
    assert rounds.budget_left(campaign, inputs, _state([0.5] * 5, dict.fromkeys(range(1, 6), 10))) == 0


def test_decide_never_asks_beyond_the_budget(campaign):
    inputs = rounds.Inputs([], [], pool_size=1000, seed_labels={f"s{i}": "1" for i in range(20)})
    state = _state([0.5, 0.6, 0.7], {1: 10, 2: 10, 3: 5})  # 45 of 60 spent
    decision = rounds.decide(campaign, inputs, state, rounds.Evaluation({"accuracy": 0.8}, "holdout"))
    assert decision.batch_size == 10  # min(batch 10, budget 15)
    assert decision.progress["labels_remaining"] == 5
    assert decision.promote is True


def _first_round(campaign):
    inputs = rounds.validate_inputs(campaign)
    state = rounds.ingest_deliveries(campaign)
    trained = rounds.train_model(campaign, inputs, state)
    evaluation = rounds.evaluate_model(campaign, inputs, trained)
    decision = rounds.decide(campaign, inputs, state, evaluation)
    batch = rounds.select_batch(campaign, inputs, state, trained, k=decision.batch_size)
    return inputs, decision, trained, evaluation, batch


def test_a_crash_between_commit_and_export_is_finished_by_the_next_round(campaign):
    inputs, decision, trained, evaluation, batch = _first_round(campaign)
    record = rounds.commit_round(campaign, decision, trained, evaluation, batch, {})
    # ...the process dies here: the decision is committed, the vendor has nothing yet.
    state = rounds.load_state(campaign)
    assert state.unexported == [1]

    rounds.finish_exports(campaign, inputs, state)
    rounds.finish_exports(campaign, inputs, rounds.load_state(campaign))  # a retry changes nothing

    state = rounds.load_state(campaign)
    assert state.unexported == [] and state.outstanding == [1]
    store = open_store(campaign.vendor.bucket)
    items = store.read(ledger.batch_prefix(campaign.campaign, 1) + "items.csv").decode().splitlines()
    assert [line.split(",")[0] for line in items[1:]] == record["batch"]["ids"]


def test_a_second_commit_of_the_same_round_is_refused(campaign):
    _, decision, trained, evaluation, batch = _first_round(campaign)
    rounds.commit_round(campaign, decision, trained, evaluation, batch, {})
    with pytest.raises(RoundConflictError, match="round 1 of campaign 'digits-demo' was recorded by another run"):
        rounds.commit_round(campaign, decision, trained, evaluation, batch, {})


def test_ingest_is_idempotent(campaign, campaign_file):
    inputs, decision, trained, evaluation, batch = _first_round(campaign)
    record = rounds.commit_round(campaign, decision, trained, evaluation, batch, {})
    rounds.export_batch(campaign, inputs, record)
    deliver(campaign, 1, "id,label\n" + "".join(f"{i},7\n" for i in record["batch"]["ids"]))

    first = rounds.ingest_deliveries(campaign)
    bucket = campaign_file.parent / "bucket"
    before = snapshot(bucket)
    second = rounds.ingest_deliveries(campaign)

    assert first.ingested == second.ingested and len(first.human_labels()) == 10
    assert snapshot(bucket) == before
