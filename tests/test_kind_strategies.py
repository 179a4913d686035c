"""Strategies for tags and numbers (alflow.selection.multilabel, regression; the registry's
KIND_STRATEGIES and `auto` per kind): their measures by hand, and each through `select` with
alflow's LabelModel and with plain scikit-learn models, diverse batches included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_friedman1, make_multilabel_classification
from sklearn.linear_model import Ridge

from alflow import select
from alflow.config.schema import ModelConfig
from alflow.kinds import LabelKind, spell_number, spell_tags
from alflow.model import targets
from alflow.selection import multilabel, regression
from alflow.selection.registry import KIND_NAMES, KIND_STRATEGIES, lookup

TAGS = LabelKind("multi", ("a", "b", "c", "d"))
NUMBER = LabelKind("number")


def test_multi_label_measures_by_hand():
    P = np.array([[0.9, 0.1, 0.5], [0.8, 0.8, 0.2], [0.6, 0.3, 0.3]])
    assert multilabel.binary_minimum(P).tolist() == pytest.approx([1.0, 0.4, 0.8])
    assert multilabel.mean_max_loss(P).tolist() == pytest.approx([(0.2 + 0.2 + 1) / 3, 0.4, (0.8 + 0.6 + 0.6) / 3])
    # y = +1 for the most likely tag, -1 elsewhere: loss max(0, 1 - y f) per tag, f = 2p - 1
    assert multilabel.max_loss(P).tolist() == pytest.approx([0.2 + 0.2 + 1.0, 0.4 + 1.6 + 0.4, 0.8 + 0.6 + 0.6])
    assert multilabel.min_confidence(P).tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert multilabel.avg_confidence(P).tolist() == pytest.approx([0.5, 0.6, 0.4])


def test_regression_measures_by_hand():
    X_labeled, y = np.array([[0.0], [2.0]]), np.array([0.0, 2.0])
    model = Ridge(alpha=1e-9).fit(X_labeled, y)  # f(x) = x
    # iGS: inputs standardised by the labeled set (mean 1, std 1); min_m |z - z_m| |f - y_m|
    assert regression.improved_greedy(model, np.array([[1.0], [4.0]]), X_labeled, y).tolist() == pytest.approx(
        [1.0, min(4.0 * 4.0, 2.0 * 2.0)]
    )
    exact = regression.committee_variance(model, np.array([[1.0], [5.0]]), X_labeled, y, size=4)
    assert exact.tolist() == pytest.approx([0.0, 0.0], abs=1e-12)  # two points: every refit is the line
    noisy_X = np.linspace(0, 1, 30)[:, None]
    noisy = regression.committee_variance(
        Ridge(), np.array([[0.5], [10.0]]), noisy_X, np.sin(9 * noisy_X.ravel()), size=5
    )
    assert noisy[1] > noisy[0] > 0  # the committee disagrees most far from the labeled items


def test_committee_variance_of_a_forest_is_its_trees_spread(monkeypatch):
    """A fitted bagging ensemble is its own committee: the variance over its members, nothing refit,
    chunked scoring equal to whole; inside a Pipeline (alflow's LabelModel too) the earlier steps first."""
    import sklearn.base
    from sklearn.ensemble import BaggingRegressor, RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_friedman1(n_samples=120, n_features=6, random_state=0)
    forest = RandomForestRegressor(n_estimators=7, random_state=0).fit(X[:40], y[:40])
    bagged = make_pipeline(StandardScaler(), BaggingRegressor(Ridge(), n_estimators=4, max_features=3, random_state=0))
    bagged.fit(X[:40], y[:40])
    labels = np.asarray([spell_number(v) for v in y[:40]])
    wrapped = targets.train(
        targets.build_model(ModelConfig(preset="random_forest", params={"n_estimators": 5}), NUMBER, seed=0),
        X[:40],
        labels,
    )

    copies = RandomForestRegressor(n_estimators=3, bootstrap=False, random_state=0).fit(X[:40], y[:40])

    def refuse(*args, **kwargs):
        raise AssertionError("a bagging ensemble's committee is refit")

    monkeypatch.setattr(sklearn.base, "clone", refuse)
    monkeypatch.setattr(RandomForestRegressor, "fit", refuse)
    trees = np.var([tree.predict(X[40:]) for tree in forest.estimators_], axis=0)
    whole = regression.committee_variance(forest, X[40:], X[:40], y[:40], size=5)
    assert whole == pytest.approx(trees) and whole.max() > 0
    halves = [regression.committee_variance(forest, part, X[:40], y[:40], size=5) for part in (X[40:80], X[80:])]
    assert np.concatenate(halves).tolist() == whole.tolist()
    Z, final = bagged[:-1].transform(X[40:]), bagged[-1]
    members = np.var(
        [m.predict(Z[:, f]) for m, f in zip(final.estimators_, final.estimators_features_, strict=True)], axis=0
    )
    assert regression.committee_variance(bagged, X[40:], X[:40], y[:40], size=5) == pytest.approx(members)
    own = np.var([tree.predict(X[40:]) for tree in wrapped.fitted_.estimators_], axis=0)
    assert regression.committee_variance(wrapped, X[40:], X[:40], labels, size=5) == pytest.approx(own)
    assert regression.ensemble_members(copies) is None  # trees of the same rows and columns: refits instead


def _tags_problem(seed=0):
    X, Y = make_multilabel_classification(n_samples=400, n_features=8, n_classes=4, random_state=seed)
    y = np.asarray([spell_tags(t for t, on in zip(TAGS.classes, row, strict=True) if on) for row in Y])
    model = targets.train(targets.build_model(ModelConfig(), TAGS, seed=0), X[:40], y[:40])
    return model, X[40:], X[:40], y[:40]


def _number_problem(seed=0):
    X, t = make_friedman1(n_samples=400, n_features=6, noise=0.5, random_state=seed)
    y = np.asarray([spell_number(v) for v in t])
    model = targets.train(targets.build_model(ModelConfig(preset="ridge"), NUMBER, seed=0), X[:30], y[:30])
    return model, X[30:], X[:30], y[:30]


PROBLEMS = {"multi": _tags_problem, "number": _number_problem}
CASES = [(kind, name) for kind in KIND_STRATEGIES for name in KIND_NAMES[kind]]


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_every_strategy_of_a_kind_gives_k_distinct_items_the_same_whole_or_chunked(kind, name):
    model, X_pool, X_labeled, y_labeled = PROBLEMS[kind]()
    whole = select(model, X_pool, 12, strategy=name, X_labeled=X_labeled, y_labeled=y_labeled, random_state=3)
    assert len(set(whole.indices)) == 12 and whole.indices.max() < len(X_pool)
    chunked = select(
        model, X_pool, 12, strategy=name, X_labeled=X_labeled, y_labeled=y_labeled, random_state=3, chunk_size=50
    )
    assert chunked.indices.tolist() == whole.indices.tolist()
    if name != "auto":
        assert whole.strategy == lookup(name).name


@pytest.mark.parametrize(
    ("kind", "expected", "reason"),
    [("multi", "typiclust", "TypiClust"), ("number", "gsx", "greedy sampling, GSx), at least")],
)
def test_auto_chooses_per_kind_and_says_why(kind, expected, reason):
    model, X_pool, X_labeled, y_labeled = PROBLEMS[kind]()
    chosen = select(model, X_pool, 5, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0)
    assert chosen.strategy == expected and reason in chosen.reason
    unfitted = targets.build_model(
        ModelConfig(preset="ridge") if kind == "number" else ModelConfig(), model.kind, seed=0
    )
    cold = select(unfitted, X_pool, 5, X_labeled=X_labeled[:1], y_labeled=y_labeled[:1], random_state=0)
    assert cold.strategy == ("gsx" if kind == "number" else "typiclust") and "yet" in cold.reason


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k in KIND_STRATEGIES for n in KIND_STRATEGIES[k]])
def test_a_batch_is_not_a_heap_of_near_duplicates(kind, name):
    model, X_pool, X_labeled, y_labeled = PROBLEMS[kind]()
    first = select(model, X_pool, 1, strategy=name, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0)
    best = X_pool[first.indices[0]]
    rng = np.random.default_rng(0)
    copies = best + rng.normal(scale=1e-6, size=(40, X_pool.shape[1]))  # 40 near-copies of the top item
    pool = np.vstack([X_pool, copies])
    batch = select(model, pool, 10, strategy=name, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0)
    near = np.isin(batch.indices, np.r_[first.indices[0], np.arange(len(X_pool), len(pool))])
    assert near.sum() <= 1, f"{name} took {near.sum()} near-duplicates of one item"


def test_plain_scikit_learn_models_run_the_strategies_of_their_kind():
    from sklearn.ensemble import RandomForestClassifier

    X, Y = make_multilabel_classification(n_samples=200, n_features=6, n_classes=3, random_state=1)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[:50], Y[:50])  # multi-output
    chosen = select(forest, X[50:], 8, strategy="binary_minimum", random_state=0)
    assert len(set(chosen.indices)) == 8 and chosen.strategy == "binary_minimum"
    X, t = make_friedman1(n_samples=200, random_state=1)
    ridge = Ridge().fit(X[:40], t[:40])
    chosen = select(ridge, X[40:], 8, strategy="committee_variance", X_labeled=X[:40], y_labeled=t[:40], random_state=0)
    assert len(set(chosen.indices)) == 8 and chosen.strategy == "committee_variance"


def test_an_active_learner_asks_and_learns_tags_and_numbers():
    from alflow import ActiveLearner

    model, X_pool, X_labeled, y_labeled = _tags_problem()
    learner = ActiveLearner(targets.build_model(ModelConfig(), TAGS, seed=0), X_labeled, y_labeled, random_state=0)
    first = learner.query(X_pool, 5)
    assert first.strategy == "typiclust" and len(set(first.indices)) == 5
    truth = model.predict(X_pool[first.indices])  # any label text of the kind teaches it
    learner.teach(X_pool[first.indices], truth)
    assert len(learner.y_labeled) == 45 and learner.estimator.predict(X_pool[:3]).shape == (3,)

    X, t = make_friedman1(n_samples=300, noise=0.5, random_state=2)
    numbers = ActiveLearner(Ridge(), X[:20], t[:20], strategy="igs", random_state=0)
    asked = numbers.query(X[20:], 6)
    numbers.teach(X[20:][asked.indices], t[20:][asked.indices])
    assert asked.strategy == "igs" and len(numbers.y_labeled) == 26


# --- alflow simulate against an answer key ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "strategy"), [("multilabel", "mean_max_loss"), ("friedman", "igs")])
def test_simulate_replays_a_campaign_of_tags_or_numbers_against_its_answer_key(tmp_path, dataset, strategy):
    import pandas as pd
    import yaml

    from alflow.config import load_campaign
    from alflow.operations.kind_data import write_kind_data
    from alflow.operations.simulate import simulate

    path = write_kind_data(tmp_path, dataset, max_labels=60, batch_size=20)
    data = tmp_path / "data"
    pool = pd.read_csv(data / "pool.csv").merge(pd.read_csv(data / "answers.csv", dtype=str), on="id")
    pool.rename(columns={"label": "truth"}).to_csv(data / "pool.csv", index=False)
    raw = yaml.safe_load(path.read_text())
    raw["pool"]["feature_columns"] = [c for c in pool.columns if c.startswith("f")]
    path.write_text(yaml.safe_dump(raw))
    config = load_campaign(path)
    result = simulate(config, answers="truth", strategies=["auto", strategy], seeds=2)
    assert {"auto", strategy, "random"} <= {row["strategy"] for row in result.table}
    assert result.metric == ("f1_macro" if dataset == "multilabel" else "r2")
    for name in ("auto", strategy, "random"):
        curve = result.curves[name]
        assert [n for n, _ in curve] == [20, 40, 60] and all(np.isfinite(v) for _, v in curve)
    bad = pool.rename(columns={"label": "truth"})
    bad.loc[3, "truth"] = "nonsense"
    bad.to_csv(data / "pool.csv", index=False)
    from alflow.errors import ConfigError

    with pytest.raises(ConfigError, match=f"answers column 'truth' has labels not of labels.kind {config.labels.kind}"):
        simulate(config, answers="truth", strategies=["auto"], seeds=1)
