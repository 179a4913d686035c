"""Several batches in flight (`vendor.batches_in_flight`): a round exports a new batch while earlier
ones are out, so the vendor always has work. No item is asked twice, the budget counts every label
asked across open batches, deliveries of any open batch are ingested in any order, each once.

Rounds run as plain library calls (alflow.operations.plain.plain_round: the flow's recipe without Prefect);
tests that run several are marked slow.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alflow.config import load_campaign
from alflow.exchange import layout
from alflow.ledger.ledger import Ledger, bucket, campaign_state
from alflow.ledger.records import BatchRecord, RoundRecord
from alflow.ledger.state import CampaignState
from alflow.operations.plain import plain_round
from alflow.round.context import Inputs, RoundContext
from cli import app

from helpers import vendor_for

WAITS = [
    # batches_in_flight, batch sizes of the open rounds, max_labels, pool size, stopped, expected verdict
    (3, [10, 10], 80, 1000, False, None),
    (3, [10, 10, 10], 80, 1000, False, "in_flight"),
    (1, [10], 80, 1000, False, "in_flight"),
    (3, [10, 10, 10, 10], 60, 1000, False, "in_flight"),  # over the limit (it was lowered): wait
    (3, [20, 20], 60, 1000, False, "last_batches"),  # 20 seed + 40 asked: nothing left to ask
    (3, [10, 10], 80, 40, False, "last_batches"),  # 20 seed + 20 asked of a 40-item pool
    (3, [], 20, 1000, False, None),  # nothing open: the round trains on everything and stops
    (3, [10], 80, 1000, True, "stopped"),
]


@pytest.mark.parametrize(
    ("limit", "sizes", "max_labels", "pool_size", "stopped", "expected"),
    WAITS,
    ids=["room", "full", "one", "over", "budget-asked", "pool-asked", "none-open", "stopped"],
)
def test_a_round_has_work_while_the_vendor_has_room_and_something_is_left_to_ask(
    campaign, limit, sizes, max_labels, pool_size, stopped, expected
):
    config = campaign.model_copy(
        update={
            "vendor": campaign.vendor.model_copy(update={"batches_in_flight": limit}),
            "budget": campaign.budget.model_copy(update={"max_labels": max_labels}),
        }
    )
    rounds = {}
    for r, size in enumerate(sizes, start=1):
        ids = [f"r{r}-{i}" for i in range(size)]
        batch = BatchRecord(ids=ids, scores=[1.0] * size, predicted=["1"] * size)
        rounds[r] = RoundRecord(
            round=r, labels_used=20, metrics={"accuracy": 0.5}, metric_source="holdout", strategy="margin",
            model="LogisticRegression", stop_reason="target_reached" if stopped else None, batch=batch,
        )  # fmt: skip
    seeds = {f"s{i}": "1" for i in range(20)}
    ctx = RoundContext(config, Inputs([], [], pool_size=pool_size, seed_labels=seeds), CampaignState("c", rounds))
    assert ctx.waits == expected and ctx.has_work is (expected is None)


def in_flight(campaign_file: Path, n: int, **budget) -> None:
    raw = yaml.safe_load(campaign_file.read_text())
    raw["vendor"]["batches_in_flight"] = n
    raw["budget"].update(budget)
    campaign_file.write_text(yaml.safe_dump(raw, sort_keys=False))


def deliver_rows(campaign, round_: int, rows: dict[str, str], *, name: str, done: bool = True) -> None:
    """A vendor's label file for `round_` (id -> label), with the completion marker unless it is a late file."""
    store = bucket(campaign)
    prefix = layout.delivery_prefix(campaign.campaign, round_)
    store.write_once(prefix + name, ("id,label\n" + "".join(f"{i},{v}\n" for i, v in rows.items())).encode())
    if done:
        store.write_once(prefix + layout.DONE, b"")


@pytest.fixture
def three_open(campaign_file):
    """Budget 80 (20 seed labels + 60 asked), batches of 10, three in flight: rounds 1-3 exported."""
    in_flight(campaign_file, 3, max_labels=80)
    campaign = load_campaign(campaign_file)
    answers = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").answers
    reports = [plain_round(campaign) for _ in range(3)]
    assert [(r.status, r.round, r.batch_size) for r in reports] == [("exported", n, 10) for n in (1, 2, 3)]
    return campaign, answers


@pytest.mark.slow  # rounds of a campaign
def test_a_round_exports_while_batches_are_open_until_the_limit(three_open):
    campaign, _ = three_open
    state = campaign_state(campaign)
    asked = state.asked_ids

    assert len(asked) == len(set(asked)) == 30  # no item asked twice
    assert state.outstanding == [1, 2, 3]
    full = plain_round(campaign)
    assert full.status == "waiting" and full.waiting_reason == "in_flight"
    assert full.message() == (
        "digits-demo: waiting for 10 labels from round 1, 10 labels from round 2, 10 labels from round 3 "
        "(3 batches in flight, vendor.batches_in_flight); nothing exported"
    )
    assert campaign_state(campaign).rounds.keys() == {1, 2, 3}


@pytest.mark.slow  # a whole campaign, to its budget
def test_out_of_order_partial_and_bad_deliveries_are_ingested_once_and_the_budget_holds(three_open):
    campaign, answers = three_open
    batch = {r: campaign_state(campaign).batch_ids(r) for r in (1, 2, 3)}
    deliver_rows(campaign, 3, {i: answers[i] for i in batch[3]}, name="all.csv")
    deliver_rows(campaign, 1, {i: answers[i] for i in batch[1][:5]}, name="half.csv")  # partial
    bad = {i: answers[i] for i in batch[2]} | {batch[2][0]: "not-a-digit"}
    deliver_rows(campaign, 2, bad, name="one-bad-row.csv")

    fourth = plain_round(campaign)

    assert fourth.status == "exported" and fourth.round == 4
    assert fourth.labels_ingested == 10 + 5 + 9 and fourth.rows_rejected == 1
    assert fourth.waiting_for == {1: 5, 2: 1} and "(3 batches open)" in fourth.message()
    state = campaign_state(campaign)
    assert state.outstanding == [1, 2, 4]
    assert plain_round(campaign).waiting_reason == "in_flight"

    # The rest arrives late, out of order: round 4's batch, then what rounds 1 and 2 still miss.
    deliver_rows(campaign, 4, {i: answers[i] for i in state.batch_ids(4)}, name="all.csv")
    deliver_rows(campaign, 2, {batch[2][0]: answers[batch[2][0]]}, name="fix.csv", done=False)
    deliver_rows(campaign, 1, {i: answers[i] for i in batch[1]}, name="all-again.csv", done=False)
    reports = [plain_round(campaign) for _ in range(3)]

    assert [(r.status, r.round) for r in reports] == [("exported", 5), ("exported", 6), ("waiting", None)]
    assert reports[0].labels_ingested == 10 + 1 + 5 and reports[0].duplicates == 5
    assert reports[2].waiting_reason == "last_batches"  # all 60 asked: the last round waits for their labels
    assert "before the last round (nothing is left to ask)" in reports[2].message()

    state = campaign_state(campaign)
    for round_ in (5, 6):
        deliver_rows(campaign, round_, {i: answers[i] for i in state.batch_ids(round_)}, name="all.csv")
    last = plain_round(campaign)

    assert last.status == "stopped" and last.stop_reason == "budget_spent"
    assert last.labels_used == 80 and not last.waiting_for  # trained on every label bought
    state = campaign_state(campaign)
    assert len(state.asked_ids) == len(set(state.asked_ids)) == 60 == state.labels_asked
    assert state.human_labels() == {i: answers[i] for i in state.asked_ids}  # each label once, the right one
    assert sum(r.count for records in state.ingests.values() for r in records) == 60


@pytest.mark.slow  # rounds of a campaign
def test_a_stop_leaves_open_batches_to_be_delivered_and_says_so(three_open, campaign_file):
    campaign, answers = three_open
    deliver_rows(campaign, 1, {i: answers[i] for i in campaign_state(campaign).batch_ids(1)}, name="all.csv")
    raw = yaml.safe_load(campaign_file.read_text())
    raw["stopping"]["target"] = 0.05  # reached by any model: the next round stops
    campaign_file.write_text(yaml.safe_dump(raw))
    campaign = load_campaign(campaign_file)

    stopped = plain_round(campaign)

    assert stopped.status == "stopped" and stopped.stop_reason == "target_reached"
    assert "still open: 10 labels from round 2, 10 labels from round 3 (ingested as delivered)" in stopped.message()
    deliver_rows(campaign, 3, {i: answers[i] for i in campaign_state(campaign).batch_ids(3)}, name="all.csv")
    after = plain_round(campaign)
    assert after.message() == (
        "digits-demo: campaign stopped (target_reached); still open: 10 labels from round 2 (ingested as "
        "delivered); nothing to do; ingested 10 labels"
    )
    assert campaign_state(campaign).outstanding == [2]


@pytest.mark.slow  # rounds of a campaign
def test_status_shows_each_open_batch_and_its_age(three_open, campaign_file):
    campaign, answers = three_open
    deliver_rows(campaign, 2, {i: answers[i] for i in campaign_state(campaign).batch_ids(2)[:4]}, name="part.csv")
    assert plain_round(campaign).labels_ingested == 4  # round 2's part; three batches are still open

    batches = Ledger.of(campaign).open_batches(campaign_state(campaign))
    assert [(b.round, b.items, b.outstanding) for b in batches] == [(1, 10, 10), (2, 10, 6), (3, 10, 10)]
    assert all(0 <= (b.age_seconds() or -1) < 600 for b in batches)

    result = CliRunner().invoke(app, ["status", str(campaign_file), "--json"])
    payload = json.loads(result.stdout)
    assert payload["batches_in_flight"] == 3
    assert [(b["round"], b["outstanding"]) for b in payload["open_batches"]] == [(1, 10), (2, 6), (3, 10)]
    table = CliRunner().invoke(app, ["status", str(campaign_file)])
    assert "open batches (3 of at most 3): round 1: 10/10 outstanding, out " in table.output
    assert "round 2: 6/10 outstanding" in table.output


def test_one_batch_in_flight_stays_the_default(campaign_file, campaign):
    assert campaign.vendor.batches_in_flight == 1
    assert plain_round(campaign).status == "exported"
    waiting = plain_round(campaign)
    assert waiting.message() == "digits-demo: waiting for 10 labels from round 1; nothing exported"


@pytest.mark.slow  # rounds of a campaign
def test_an_ingest_of_several_open_batches_killed_midway_resumes_and_counts_once(three_open, campaign_file):
    campaign, answers = three_open
    batches = {r: campaign_state(campaign).batch_ids(r) for r in (1, 2, 3)}
    for round_ in (3, 1, 2):
        deliver_rows(campaign, round_, {i: answers[i] for i in batches[round_]}, name="labels.csv")
    code = (
        "from alflow.config import load_campaign\n"
        "from alflow.intake.ingest import ingest_campaign\n"
        f"ingest_campaign(load_campaign({str(campaign_file)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**__import__("os").environ, "ALFLOW_CRASH_AT": "ingest:after_record"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert sorted(campaign_state(campaign).ingests) == [1]  # killed after the first batch's record

    resumed = plain_round(campaign)

    assert resumed.status == "exported" and resumed.labels_ingested == 20  # the other two batches, once each
    state = campaign_state(campaign)
    assert state.human_labels() == {i: answers[i] for r in (1, 2, 3) for i in batches[r]}
    assert [len(state.ingests[r]) for r in (1, 2, 3)] == [1, 1, 1]
