"""Changes of a campaign's settings between rounds (alflow.ledger.changes): recorded once each with
their round and reason, a stop that a change lifts, money as exact decimals, and a real campaign
whose raised budget lets it go on after `budget_spent` (status, MLflow and the round line agree)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from alflow.exchange.local import LocalStore
from alflow.ledger.budget import Budget, amount
from alflow.ledger.changes import changed_rounds, in_force, lifted, record_change, settings
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import BatchRecord, RoundRecord, SettingsChange
from alflow.ledger.state import CampaignState
from alflow.operations.plain import plain_round
from alflow.reporting import plots
from cli import app

from helpers import vendor_for

runner = CliRunner()


def _with(config, **budget):
    return config.model_copy(update={"budget": config.budget.model_copy(update=budget)})


def test_settings_are_recorded_once_each_with_what_changed_and_why(campaign, tmp_path):
    ledger = Ledger(LocalStore(tmp_path), campaign.campaign)
    first = record_change(ledger, campaign)
    assert first is not None and first.seq == 1 and first.changed == {} and first.round == 1
    assert first.settings["max_labels"] == 60 and first.settings["cost_per_label"] == "0.08"
    assert record_change(ledger, campaign) is None  # the same settings: nothing written
    raised = record_change(ledger, _with(campaign, max_labels=80), reason="new contract")
    assert raised is not None and raised.changed == {"max_labels": [60, 80]} and raised.reason == "new contract"
    state = ledger.state()
    assert [c.seq for c in state.changes] == [1, 2] and changed_rounds(state) == {1: "max_labels 60 -> 80"}
    assert sorted(k.rsplit("/", 1)[-1] for k in ledger.store.list(f"{campaign.campaign}/ledger/changes/")) == [
        "0001.json",
        "0002.json",
    ]


def _stopped(reason: str, metric: float = 0.9) -> CampaignState:
    batch = BatchRecord(ids=["a"], scores=[1.0], predicted=["1"])
    records = {
        r: RoundRecord(
            round=r, labels_used=20 + 10 * r, metrics={"accuracy": metric - 0.1 * (3 - r)}, metric_source="holdout",
            strategy="margin", model="LogisticRegression", stop_reason=reason if r == 3 else None, batch=batch,
        )
        for r in (1, 2, 3)
    }  # fmt: skip
    return CampaignState("c", records)


def _change(round_: int, before: dict, after: dict, reason: str | None = None) -> SettingsChange:
    changed = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v} if before else {}
    return SettingsChange(seq=round_, round=round_, at="t", by="me", settings=after, changed=changed, reason=reason)


LIFTS = [
    # stop reason, setting changed (name, value), budget left after the change, lifted?
    ("budget_spent", ("max_labels", 80), 20, True),
    ("budget_spent", ("max_labels", 80), 0, False),  # raised, but not past what was asked
    ("target_reached", ("stop_target", 0.95), 0, True),
    ("target_reached", ("stop_target", 0.85), 0, False),  # lowered: reached all the more
    ("no_improvement", ("stop_patience", 5), 0, True),
    ("pool_exhausted", ("max_labels", 80), 20, False),
]


@pytest.mark.parametrize(("reason", "change", "left", "goes_on"), LIFTS, ids=[f"{r[0]}-{r[3]}" for r in LIFTS])
def test_a_stop_is_lifted_only_by_a_change_its_rule_no_longer_meets(campaign, reason, change, left, goes_on):
    before = settings(campaign.model_copy(update={"stopping": campaign.stopping.model_copy(update={"target": 0.9})}))
    before["stop_patience"] = 2
    after = {**before, change[0]: change[1]}
    config = campaign.model_copy(
        update={
            "budget": campaign.budget.model_copy(update={"max_labels": after["max_labels"]}),
            "stopping": campaign.stopping.model_copy(
                update={"target": after["stop_target"], "patience": after["stop_patience"]}
            ),
        }
    )
    base = _stopped(reason)
    noted = CampaignState("c", base.rounds, changes=(_change(1, {}, before),))
    assert lifted(config, noted, budget_left=left) is None  # no change recorded since the stop
    changed = CampaignState("c", base.rounds, changes=(noted.changes[0], _change(4, before, after, "more money")))
    text = lifted(config, changed, budget_left=left)
    assert (text is not None) is goes_on
    if goes_on:
        assert f"the stop of round 3 ({reason}) is lifted by the change of round 4" in text and "more money" in text


def test_the_budget_in_force_at_each_round_is_the_one_recorded_then(campaign):
    before, after = settings(campaign), settings(_with(campaign, max_labels=80))
    state = CampaignState("c", changes=(_change(3, {}, before), _change(6, before, after)))
    assert [in_force(state, r)["max_labels"] for r in (1, 3, 5, 6, 9)] == [60, 60, 60, 80, 80]
    figure = plots.budget_burndown(
        [1, 2, 6], [30, 20, 40], max_labels=80, seed_labels=20, first_max_labels=60, changes={6: "max_labels 60 -> 80"}
    )
    ax = figure.axes[0]
    assert any(list(line.get_xdata()) == [5.5, 5.5] for line in ax.get_lines())  # drawn where it took effect
    assert ax.get_lines()[0].get_ydata()[0] == 40  # starts from the first budget less the seed labels


@pytest.mark.parametrize(("labels", "cost", "shown"), [(140, 0.08, "11.2"), (3, 0.1, "0.3"), (7, 0.07, "0.49")])
def test_money_is_exact_decimals(labels, cost, shown):
    assert repr(amount(labels, cost)) == shown
    figures = Budget(max_labels=labels + 20, seed_labels=20, asked=labels, cost_per_label=cost).figures()
    assert json.dumps(figures["spend"]) == shown


@pytest.mark.slow
def test_a_raised_budget_lets_a_stopped_campaign_go_on_and_everything_says_so(campaign_file):
    from mlflow import MlflowClient

    raw = yaml.safe_load(campaign_file.read_text())
    raw["budget"]["max_labels"] = 40  # 20 seed labels and two batches of 10
    raw["stopping"] = {"metric": "accuracy"}
    campaign_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    from alflow.config import load_campaign

    campaign = load_campaign(campaign_file)
    vendor = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv")
    for round_ in (1, 2):
        assert plain_round(campaign_file).status == "exported"
        vendor.deliver(round_)
    assert plain_round(campaign_file).stop_reason == "budget_spent"
    assert plain_round(campaign_file).status == "already_stopped"

    raw["budget"]["max_labels"] = 50
    campaign_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    recorded = runner.invoke(app, ["change", str(campaign_file), "--reason", "contract extended"])
    assert recorded.exit_code == 0 and "from round 4: max_labels 40 -> 50; recorded" in recorded.output
    shown = runner.invoke(app, ["status", str(campaign_file)])
    assert "changed in round 4: max_labels 40 -> 50 (contract extended)" in shown.output
    assert "is lifted by the change of round 4" in shown.output and "the next round goes on" in shown.output

    report = plain_round(campaign_file)
    assert report.status == "exported" and report.round == 4 and report.batch_size == 10
    assert "goes on: the stop of round 3 (budget_spent) is lifted" in report.message()
    assert "settings changed: max_labels 40 -> 50 (contract extended)" in report.message()
    status = json.loads(runner.invoke(app, ["status", str(campaign_file), "--json"]).output)
    assert [c["changed"] for c in status["changes"]] == [{}, {"max_labels": [40, 50]}]
    parent = MlflowClient(tracking_uri=campaign.tracking.uri).get_run(report_parent(campaign))
    assert parent.data.tags["alflow.setting.max_labels"] == "50" and "stop_reason" not in parent.data.tags
    assert parent.data.params["max_labels.from_round_0004"] == "50" and parent.info.status == "RUNNING"


def report_parent(campaign) -> str:
    return Ledger.of(campaign).state().rounds[4].tracking.parent_run_id
