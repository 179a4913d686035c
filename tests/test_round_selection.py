"""The round's selection stage with the new strategies: streamed chunks, bounded candidates."""

import pytest

from alflow import rounds
from alflow.config import load_campaign


@pytest.mark.parametrize("strategy", ["auto", "typiclust", "qbc_vote_entropy"])
def test_round_selects_unlabeled_items_with_every_kind_of_strategy(campaign_file, strategy):
    text = campaign_file.read_text().replace("name: margin", f"name: {strategy}")
    text = text.replace("  id_column: id\n", "  id_column: id\n  chunk_size: 100\n", 1)
    campaign_file.write_text(text)
    campaign = load_campaign(campaign_file)
    assert campaign.strategy.name == strategy and campaign.pool.chunk_size == 100
    inputs = rounds.validate_inputs(campaign)
    state = rounds.load_state(campaign)
    trained = rounds.train_model(campaign, inputs, state)
    batch = rounds.select_batch(campaign, inputs, state, trained, k=10)
    again = rounds.select_batch(campaign, inputs, state, trained, k=10)
    assert batch["id"].tolist() == again["id"].tolist()
    assert len(set(batch["id"])) == 10
    assert not set(batch["id"]) & set(inputs.seed_labels)
    assert batch["score"].is_monotonic_decreasing


def test_round_committee_from_import_paths(campaign_file):
    text = campaign_file.read_text().replace(
        "name: margin",
        "name: qbc_kl\n  committee: [sklearn.naive_bayes.GaussianNB, sklearn.tree.DecisionTreeClassifier]",
    )
    campaign_file.write_text(text)
    campaign = load_campaign(campaign_file)
    assert campaign.strategy.committee == ("sklearn.naive_bayes.GaussianNB", "sklearn.tree.DecisionTreeClassifier")
    inputs = rounds.validate_inputs(campaign)
    state = rounds.load_state(campaign)
    trained = rounds.train_model(campaign, inputs, state)
    batch = rounds.select_batch(campaign, inputs, state, trained, k=5)
    assert len(set(batch["id"])) == 5
    assert (batch["score"] > 0).all()  # two different models disagree somewhere in the pool
