"""The round's selection stage with the new strategies: streamed chunks, bounded candidates."""

import pytest
import yaml

from alflow.config import load_campaign
from alflow.ledger.ledger import campaign_state
from alflow.round.context import RoundContext
from alflow.round.inputs import validate_inputs
from alflow.round.select import pool_batch
from alflow.round.train import train_model


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
    from alflow.selection import scoring

    sizes = []
    real_fit = scoring.fit_committee

    def recorded(*args, size, **kwargs):
        sizes.append(size)
        return real_fit(*args, size=size, **kwargs)

    monkeypatch.setattr(scoring, "fit_committee", recorded)
    campaign = _edit(campaign_file, strategy={"name": "qbc_vote_entropy", "committee_size": 3})
    ctx, trained = _trained(campaign)
    pool_batch(ctx, trained, k=5)
    assert sizes == [3]
