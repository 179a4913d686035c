"""The round's selection stage with the new strategies: streamed chunks, bounded candidates."""

import numpy as np
import pytest
import yaml

from alflow.config import load_campaign
from alflow.ledger.ledger import campaign_state
from alflow.operations.plain import plain_round
from alflow.round.context import RoundContext
from alflow.round.inputs import validate_inputs
from alflow.round.select import pool_batch, pool_selection
from alflow.round.train import train_model
from alflow.selection.measures import margin


def _edit(campaign_file, *, strategy: dict, pool: dict | None = None):
    raw = yaml.safe_load(campaign_file.read_text())
    raw["strategy"].update(strategy)
    raw["pool"].update(pool or {})
    campaign_file.write_text(yaml.safe_dump(raw))
    return load_campaign(campaign_file)


def _trained(campaign):
    ctx = RoundContext(campaign, validate_inputs(campaign), campaign_state(campaign))
    return ctx, train_model(ctx)


@pytest.mark.parametrize("strategy", ["auto", "typiclust", "qbc_vote_entropy"])
def test_round_selects_unlabeled_items_with_every_kind_of_strategy(campaign_file, strategy):
    campaign = _edit(campaign_file, strategy={"name": strategy}, pool={"chunk_size": 100})
    assert campaign.strategy.name == strategy and campaign.pool.chunk_size == 100
    ctx, trained = _trained(campaign)
    batch = pool_batch(ctx, trained, k=10)
    again = pool_batch(ctx, trained, k=10)
    assert batch["id"].tolist() == again["id"].tolist()
    assert len(set(batch["id"])) == 10
    assert not set(batch["id"]) & set(ctx.inputs.seed_labels)
    assert batch["score"].is_monotonic_decreasing


def test_round_committee_from_import_paths(campaign_file):
    committee = ["sklearn.naive_bayes.GaussianNB", "sklearn.tree.DecisionTreeClassifier"]
    campaign = _edit(campaign_file, strategy={"name": "qbc_kl", "committee": committee})
    assert campaign.strategy.committee == ("sklearn.naive_bayes.GaussianNB", "sklearn.tree.DecisionTreeClassifier")
    ctx, trained = _trained(campaign)
    batch = pool_batch(ctx, trained, k=5)
    assert len(set(batch["id"])) == 5
    assert (batch["score"] > 0).all()  # two different models disagree somewhere in the pool


def test_round_committee_has_the_configured_size(campaign_file, monkeypatch):
    from alflow.selection import scorer

    sizes = []
    real_fit = scorer.fit_committee

    def recorded(*args, size, **kwargs):
        sizes.append(size)
        return real_fit(*args, size=size, **kwargs)

    monkeypatch.setattr(scorer, "fit_committee", recorded)
    campaign = _edit(campaign_file, strategy={"name": "qbc_vote_entropy", "committee_size": 3})
    ctx, trained = _trained(campaign)
    pool_batch(ctx, trained, k=5)
    assert sizes == [3]


def test_a_strategy_made_with_make_strategy_runs_a_round_by_its_import_path(campaign_file):
    from mlflow import MlflowClient

    campaign = _edit(campaign_file, strategy={"name": "custom_strategy:SQUARED_MARGIN"})
    ctx, trained = _trained(campaign)
    batch = pool_selection(ctx, trained, k=10)
    assert batch.strategy == "squared_margin" and batch.reason == "squared_margin, as asked"
    scores = margin(trained.model.predict_proba(batch.rows[list(trained.X.columns)])) ** 2
    assert np.allclose(batch.items["score"], scores)

    report = plain_round(campaign)
    assert (report.status, report.batch_size) == ("exported", 10)
    client = MlflowClient(tracking_uri=campaign.tracking.uri)
    experiment = client.get_experiment_by_name(campaign.experiment)
    (run,) = client.search_runs([experiment.experiment_id], "params.strategy_used = 'squared_margin'")
    assert run.data.params["strategy_reason"] == "squared_margin, as asked"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("custom_strategy:NOWHERE", "strategy 'custom_strategy:NOWHERE' cannot be imported"),
        ("no_such_module:X", "strategy 'no_such_module:X' cannot be imported"),
        ("custom_strategy:NOT_A_STRATEGY", "is a function, not a Strategy; make it with alflow.make_strategy"),
    ],
)
def test_a_bad_strategy_import_path_is_one_line_when_the_campaign_loads(campaign_file, name, error):
    from alflow.errors import ConfigError

    with pytest.raises(ConfigError, match=error) as raised:
        _edit(campaign_file, strategy={"name": name})
    assert "strategy.name" in str(raised.value)
