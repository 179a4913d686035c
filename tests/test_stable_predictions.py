"""Stopping without a holdout: stabilising predictions (`stopping.stable_predictions`).

The agreement is Cohen's kappa (checked against scikit-learn's), the rule the mean of a window of
successive agreements; a real campaign of plain rounds draws its stop set once, never asks its
items, records the agreement each round, stops once the rule holds and not before, and shows the
agreement in its round line, `alflow status` and MLflow.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from alflow.config import load_campaign
from alflow.errors import ConfigError
from alflow.ledger.ledger import Ledger, campaign_state
from alflow.ledger.records import RoundRecord, Stability
from alflow.ledger.state import CampaignState
from alflow.ledger.stopset import agreements, still_stable, window_mean
from alflow.operations.plain import plain_round
from alflow.round.stability import cohen_kappa, decisions
from cli import app

from helpers import vendor_for

labels = st.lists(st.sampled_from("abc"), min_size=2, max_size=40)


@pytest.mark.filterwarnings("ignore:.*label")  # scikit-learn on constant labelings
@settings(max_examples=60, deadline=None)
@given(st.data())
def test_kappa_is_cohens_kappa(data):
    first = data.draw(labels)
    second = data.draw(st.lists(st.sampled_from("abc"), min_size=len(first), max_size=len(first)))
    expected = cohen_kappa_score(first, second)
    if math.isnan(expected):  # both constant and equal: scikit-learn's 0/0; they agree on every item
        assert cohen_kappa(first, second) == 1.0
    else:
        assert cohen_kappa(first, second) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("first", "second", "kappa"),
    [
        (["a", "b", "a", "b"], ["a", "b", "a", "b"], 1.0),
        (["a", "a", "a", "a"], ["a", "a", "a", "a"], 1.0),  # no variation, full agreement
        (["a", "b", "a", "b"], ["b", "a", "b", "a"], -1.0),
        (["a", "a", "b", "b"], ["a", "b", "a", "b"], 0.0),  # agreement at chance
    ],
    ids=["same", "constant", "opposite", "chance"],
)
def test_kappa_worked_examples(first, second, kappa):
    assert cohen_kappa(first, second) == pytest.approx(kappa)


def test_tags_are_compared_decision_by_decision():
    assert decisions(["a", "[]", "a;b"], ["a", "b"], multi=True) == ["1", "0", "0", "0", "1", "1"]
    assert decisions(["x", "y"], ["x", "y"], multi=False) == ["x", "y"]


def _round(n: int, kappa: float | None) -> RoundRecord:
    stability = Stability(kappa=kappa, previous=n - 1 if kappa is not None else None, changed=0, items=10)
    return RoundRecord(
        round=n, labels_used=10 * n, metrics={}, metric_source="cross_validation", strategy="margin",
        model="LogisticRegression", stop_reason=None, batch=None, stability=stability,
    )  # fmt: skip


def test_the_rule_is_the_mean_of_the_last_comparisons_and_a_lowered_threshold_keeps_the_stop(campaign):
    rounds = [_round(1, None), _round(2, 0.5), _round(3, 0.98), _round(4, 1.0)]
    assert agreements(rounds) == [0.5, 0.98, 1.0]
    assert window_mean([0.5, 0.98, 1.0], 2) == pytest.approx(0.99)
    assert window_mean([1.0], 2) is None
    state = CampaignState("c", {r.round: r for r in rounds})
    strict = load_campaign_like(campaign, kappa=0.995, rounds=2)
    assert not still_stable(strict, state)  # a raised threshold lifts the stop
    assert still_stable(load_campaign_like(campaign, kappa=0.99, rounds=2), state)
    assert not still_stable(load_campaign_like(campaign, kappa=0.99, rounds=3), state)  # 0.5 is in the window


def load_campaign_like(campaign, **rule):
    raw = campaign.model_dump(mode="json", exclude_none=True)
    raw["stopping"]["stable_predictions"] = rule
    return type(campaign).model_validate(raw)


def test_numbers_are_refused_in_one_line(tmp_path):
    from alflow.operations.demo import write_demo_data

    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, dataset="friedman")
    raw = yaml.safe_load(path.read_text())
    raw.setdefault("stopping", {})["stable_predictions"] = {"kappa": 0.99}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="stable_predictions compares predicted labels"):
        load_campaign(path)


@pytest.mark.slow  # rounds of a campaign
def test_a_campaign_without_a_holdout_stops_when_its_predictions_stabilise(campaign_file):
    raw = yaml.safe_load(campaign_file.read_text())
    del raw["holdout"]
    raw["budget"]["max_labels"] = 120
    raw["stopping"] = {"metric": "accuracy", "stable_predictions": {"kappa": 0.9, "rounds": 2, "stop_set": 150}}
    campaign_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    campaign = load_campaign(campaign_file)
    vendor = vendor_for(campaign, campaign_file.parent / "data" / "answers.csv")
    reports = []
    for _ in range(12):
        reports.append(report := plain_round(campaign))
        if report.status != "exported":
            break
        vendor.deliver(report.round)

    state = campaign_state(campaign)
    stop_set = state.stop_set
    assert stop_set is not None and len(stop_set.ids) == stop_set.size == 150 and stop_set.drawn_round == 1
    assert not set(stop_set.ids) & set(state.asked_ids)  # never asked
    assert not set(stop_set.ids) & _seeds(campaign_file)  # drawn from the free items
    last = reports[-1]
    assert last.status == "stopped" and last.stop_reason == "predictions_stable", [r.message() for r in reports]
    assert last.stop_set_kappa_mean is not None and last.stop_set_kappa_mean >= 0.9
    assert "predictions changed" in last.message() and "F1 moves <=" in last.message()
    rounds = [r for _, r in sorted(state.rounds.items())]
    assert rounds[0].stability.kappa is None  # the first model has nothing to compare with
    for earlier in rounds[:-1]:  # no round stopped while the predictions still moved
        assert earlier.stop_reason is None and (earlier.stability.mean is None or earlier.stability.mean < 0.9)
    assert last.labels_used < 120  # it stopped before the budget was spent

    result = CliRunner().invoke(app, ["status", str(campaign_file)])
    assert result.exit_code == 0, result.output
    assert "stop set: agreement with round" in result.output and "kappa" in result.output

    from mlflow import MlflowClient

    client = MlflowClient(campaign.tracking.uri)
    run = rounds[-1].tracking.run_id
    history = client.get_metric_history(run, "stopping/kappa")
    assert history and history[-1].value == pytest.approx(rounds[-1].stability.kappa)


def _seeds(campaign_file) -> set[str]:
    import pandas as pd

    return set(pd.read_csv(campaign_file.parent / "data" / "seed.csv", dtype=str)["id"])


def test_the_stop_set_is_recorded_once(campaign):
    from alflow.ledger.records import StopSet
    from alflow.ledger.stopset import record_stop_set

    ledger = Ledger.of(campaign)
    first = StopSet(ids=["a", "b"], size=2, seed=0, drawn_round=1, drawn_at="t")
    again = StopSet(ids=["c", "d"], size=2, seed=0, drawn_round=2, drawn_at="t")
    assert record_stop_set(ledger, first) == first
    assert record_stop_set(ledger, again) == first  # the one in force
    assert ledger.state().stop_set == first
    assert np.array_equal(ledger.state().stop_set.ids, ["a", "b"])


@pytest.mark.parametrize(
    ("metrics", "target", "patience", "expected"),
    [
        ([0.5, 0.7, 0.8, 0.9], 0.8, None, 2),
        ([0.5, 0.7, 0.8, 0.9], 0.95, None, None),
        ([0.5, 0.7, 0.7, 0.6, 0.9], None, 2, 3),  # 0.7 and 0.6 do not beat 0.7
        ([0.5, 0.6, 0.7, 0.8], None, 2, None),
    ],
    ids=["target", "target-unmet", "patience", "still-improving"],
)
def test_the_holdout_rules_stop_a_replay_where_a_round_would(metrics, target, patience, expected):
    from alflow.operations.stopping import patience_stop, target_stop

    curve = [(10 * (i + 2), m) for i, m in enumerate(metrics)]
    found = target_stop(curve, target) if target is not None else patience_stop(curve, patience)
    assert found == expected


def test_a_simulated_campaign_stops_once_its_predictions_stabilise_and_not_before(tmp_path):
    """alflow simulate's replay with a stop set: the rule stops it where the mean of the window first
    reaches kappa (as small-text's KappaAverage does, when installed), never while predictions move."""
    import pandas as pd

    from alflow.operations.demo import write_demo_data
    from alflow.operations.simulate import learning_curve, load_problem, stop_set_rows
    from alflow.operations.stopping import stable_stop, successive_kappas

    path = write_demo_data(tmp_path, bucket=None, max_labels=150, batch_size=10)
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    answers = pd.read_csv(tmp_path / "data" / "answers.csv", dtype=str).rename(columns={"label": "truth"})
    pool.merge(answers, on="id").to_csv(tmp_path / "data" / "pool.csv", index=False)
    config = load_campaign(path)
    problem = load_problem(config, answers="truth", seed=0)
    stop_set = stop_set_rows(problem, 200, seed=0)
    replay = learning_curve(config, problem, strategy="margin", seed=0, stop_set=stop_set)
    assert len(replay.stop_predictions) == len(replay.curve) and replay.curve[-1][0] == 150

    kappas = successive_kappas(replay.stop_predictions)
    stop = stable_stop(replay.stop_predictions, kappa=0.95, rounds=2)
    assert stop is not None and stop < len(replay.curve) - 1, kappas  # it stops before the budget is spent
    assert np.mean(kappas[stop - 2 : stop]) >= 0.95
    assert all(np.mean(kappas[i - 2 : i]) < 0.95 for i in range(2, stop))  # not while predictions still moved
    assert min(kappas[:3]) < 0.95  # they did move at first
    small_text = pytest.importorskip("small_text.stopping_criteria.kappa")
    criterion = small_text.KappaAverage(len(config.classes), window_size=2, kappa=0.95)
    codes = {c: i for i, c in enumerate(config.classes)}
    stops = [criterion.stop(predictions=np.array([codes[p] for p in ps])) for ps in replay.stop_predictions]
    assert stops.index(True) == stop
