"""Class balance for tags (alflow.selection.tag_balance): its weights by hand, and through `select`,
`ActiveLearner`, the campaign file and a real round of a tagging campaign; numbers refuse it."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import make_multilabel_classification
from sklearn.linear_model import Ridge

from alflow import ActiveLearner, select
from alflow.config import load_campaign
from alflow.config.schema import ModelConfig
from alflow.errors import ConfigError
from alflow.kinds import LabelKind, spell_tags
from alflow.model import targets
from alflow.operations.kind_data import write_kind_data
from alflow.selection import multilabel, tag_balance

TAGS = LabelKind("multi", ("a", "b", "c", "d", "e", "f"))


def test_tag_and_item_weights_by_hand():
    Y = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0]])  # counts 4, 2, 0: mean 2
    v = tag_balance.tag_weights(Y)
    assert v.tolist() == pytest.approx([3 / 5, 3 / 3, 3 / 1])
    P = np.array([[0.9, 0.9, 0.0], [0.1, 0.1, 0.5], [0.0, 0.0, 1.0], [0.2, 0.0, 0.0]])
    # max_t 1 + p_t (v_t - 1): common tags never lower an item below 1, a likely rare tag raises it
    assert tag_balance.item_weights(P, v).tolist() == pytest.approx([1.0, 2.0, 3.0, 1.0])
    assert tag_balance.item_weights(np.zeros((2, 0)), np.zeros(0)).tolist() == [1.0, 1.0]
    keys = tag_balance.weighted_draws(np.array([0.25, 0.25, 0.0]), np.array([1.0, 2.0, 1.0]))
    assert keys.tolist() == pytest.approx([0.25, 0.5, 0.0])  # u^(1/w): a heavier item draws a higher key


def test_the_tags_of_a_plain_multi_label_model_are_its_matrix_and_a_single_class_model_has_none():
    Y = np.array([[1, 0], [0, 1]])
    assert tag_balance.tag_indicator(object(), Y).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert tag_balance.tag_indicator(object(), np.array(["x", "y"])) is None
    model = targets.build_model(ModelConfig(), TAGS, seed=0)
    assert tag_balance.tag_indicator(model, ["a;c", "[]"]).tolist() == [[1, 0, 1, 0, 0, 0], [0] * 6]


def _rare_tag_problem():
    """Six tags, the last two rare; 40 labels, a pool of 560 items."""
    X, Y = make_multilabel_classification(
        n_samples=600, n_features=10, n_classes=6, n_labels=2, random_state=7, return_distributions=False
    )
    Y[:, 4:] = Y[:, 4:] * (np.random.default_rng(0).random((600, 2)) < 0.2)  # tags e and f made rare
    y = np.asarray([spell_tags(t for t, on in zip(TAGS.classes, row, strict=True) if on) for row in Y])
    model = targets.train(targets.build_model(ModelConfig(), TAGS, seed=0), X[:40], y[:40])
    return model, X, Y, y


@pytest.mark.parametrize("strategy", ["auto", "mean_max_loss", "random"])
def test_a_balanced_batch_leans_to_items_likely_to_carry_the_rare_tags(strategy):
    model, X, Y, y = _rare_tag_problem()
    v = tag_balance.tag_weights(Y[:40])
    assert v.max() > 3 * v.min()  # the labeled set is far from balanced over the tags
    rare_weight = tag_balance.item_weights(multilabel.label_proba(model, X[40:]), v)
    kwargs = {"strategy": strategy, "X_labeled": X[:40], "y_labeled": y[:40]}
    plain, balanced = [], []
    for seed in range(3):
        off = select(model, X[40:], 20, random_state=seed, **kwargs)
        on = select(model, X[40:], 20, random_state=seed, class_balance=True, **kwargs)
        chunked = select(model, X[40:], 20, random_state=seed, class_balance=True, chunk_size=70, **kwargs)
        assert on.indices.tolist() == chunked.indices.tolist() and len(set(on.indices)) == 20
        assert on.strategy == off.strategy
        plain.append(rare_weight[off.indices].mean())
        balanced.append(rare_weight[on.indices].mean())
    assert np.mean(balanced) > np.mean(plain) + 0.1, (balanced, plain)


def test_an_active_learner_balances_tags_as_it_learns():
    _, X, _, y = _rare_tag_problem()
    learner = ActiveLearner(
        targets.build_model(ModelConfig(), TAGS, seed=0), X[:40], y[:40], random_state=0, class_balance=True
    )
    for _ in range(2):
        asked = learner.query(X[40:], 10)
        learner.teach(X[40:][asked.indices], y[40:][asked.indices])
    assert len(learner.y_labeled) == 60 and learner.options.class_balance


def test_numbers_have_no_classes_to_balance():
    X = np.random.default_rng(0).normal(size=(60, 3))
    ridge = Ridge().fit(X[:20], X[:20, 0])
    with pytest.raises(ValueError, match="a model of numbers has none"):
        select(ridge, X[20:], 5, strategy="gsx", X_labeled=X[:20], y_labeled=X[:20, 0], class_balance=True)


def _campaign(tmp_path, dataset: str, balance: bool):
    path = write_kind_data(tmp_path, dataset, max_labels=60, batch_size=20)
    raw = yaml.safe_load(path.read_text())
    raw["strategy"]["class_balance"] = balance
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_campaign_file_takes_class_balance_for_tags_and_refuses_it_for_numbers(tmp_path):
    assert load_campaign(_campaign(tmp_path / "m", "multilabel", True)).strategy.class_balance
    with pytest.raises(ConfigError, match=r"labels\.kind number has none to balance: remove it"):
        load_campaign(_campaign(tmp_path / "n", "friedman", True))


@pytest.mark.slow
def test_a_round_of_a_tagging_campaign_with_class_balance_asks_for_items_of_its_rarer_tags(tmp_path, mlflow_template):
    from alflow.ledger.ledger import campaign_state
    from alflow.operations.plain import plain_round

    weight = {}
    for balance in (False, True):
        folder = tmp_path / str(balance)
        folder.mkdir()
        shutil.copy(mlflow_template, folder / "mlflow.db")
        path = _campaign(folder, "multilabel", balance)
        assert plain_round(path).status == "exported"
        config = load_campaign(path)
        batch = campaign_state(config).rounds[1].batch
        assert len(set(batch.ids)) == 20
        # the round's model, refit here on the seed labels: how much each batch item leans to the rarer tags
        pool = pd.read_csv(folder / "data" / "pool.csv", index_col="id")
        seed = pd.read_csv(folder / "data" / "seed.csv", dtype=str)
        model = targets.build_model(config.model, config.label_kind, seed=config.seed)
        model = targets.train(model, pool.loc[seed["id"]].to_numpy(), seed["label"].to_numpy())
        v = tag_balance.tag_weights(model.target(seed["label"].to_numpy()))
        P = multilabel.label_proba(model, pool.loc[list(batch.ids)].to_numpy())
        weight[balance] = tag_balance.item_weights(P, v).mean()
    assert weight[True] > weight[False], weight


@pytest.mark.slow
def test_simulate_replays_a_tagging_campaign_with_class_balance(tmp_path):
    from alflow.operations.simulate import simulate

    path = _campaign(tmp_path, "multilabel", True)
    data = tmp_path / "data"
    pool = pd.read_csv(data / "pool.csv").merge(pd.read_csv(data / "answers.csv", dtype=str), on="id")
    pool.rename(columns={"label": "truth"}).to_csv(data / "pool.csv", index=False)
    raw = yaml.safe_load(path.read_text())
    raw["pool"]["feature_columns"] = [c for c in pool.columns if c.startswith("f")]
    path.write_text(yaml.safe_dump(raw))
    config = load_campaign(path)
    assert config.strategy.class_balance
    result = simulate(config, answers="truth", strategies=["auto"], seeds=1)
    assert [n for n, _ in result.curves["auto"]] == [20, 40, 60]
    assert all(0 < v <= 1 for _, v in result.curves["auto"])
