"""alflow.ActiveLearner: modAL's loop on current scikit-learn, query by committee, and custom strategies.

Cases ported from modAL's tests/core_tests.py (TestActiveLearner: add_training_data, teach, fit,
query, sparse matrices, NaN; TestCommittee; TestUtils.test_make_query_strategy) and its
examples (pool-based sampling on iris, query by committee). The code of docs/MIGRATING.md runs here too.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import alflow
from alflow.selection.learner import top_k, weighted_random
from alflow.selection.measures import entropy, margin

DOCS = Path(__file__).resolve().parents[1] / "docs" / "MIGRATING.md"


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_modals_pool_based_example_runs_as_an_active_learner(iris):
    """modAL's examples/pool-based_sampling.py, one query at a time, items removed from the pool."""
    X, y = iris
    train = [0, 50, 100]
    X_pool, y_pool = np.delete(X, train, axis=0), np.delete(y, train)
    learner = alflow.ActiveLearner(KNeighborsClassifier(n_neighbors=3), X[train], y[train], random_state=0)
    for _ in range(20):
        chosen = learner.query(X_pool)
        learner.teach(X_pool[chosen.indices], y_pool[chosen.indices])
        X_pool, y_pool = np.delete(X_pool, chosen.indices, axis=0), np.delete(y_pool, chosen.indices)
    assert len(learner.y_labeled) == 23 and len(X_pool) == 127
    assert learner.score(X, y) > 0.9


def test_query_says_what_it_chose_and_why(iris):
    X, y = iris
    learner = alflow.ActiveLearner(LogisticRegression(max_iter=500), X[::10], y[::10], random_state=0)
    chosen = learner.query(X, 5)
    assert len(set(chosen.indices.tolist())) == 5 and chosen.scores.shape == (5,)
    assert chosen.strategy in alflow.selection.registry.STRATEGIES and chosen.reason.startswith("auto")
    assert set(chosen.predicted) <= set(learner.estimator.classes_)
    assert learner.history == [chosen]


def test_the_same_random_state_gives_the_same_sequence_of_batches(iris):
    X, y = iris

    def run():
        learner = alflow.ActiveLearner(LogisticRegression(max_iter=500), X[::25], y[::25], random_state=3)
        batches = []
        for _ in range(3):
            picked = learner.query(X, 4).indices
            learner.teach(X[picked], y[picked])
            batches.append(picked.tolist())
        return batches

    assert run() == run()


def test_teach_adds_to_the_labels_and_fit_replaces_them(iris):
    X, y = iris
    learner = alflow.ActiveLearner(LogisticRegression(max_iter=500), X[:10], y[:10])
    learner.teach(X[50:55], y[50:55])
    assert np.array_equal(learner.X_labeled, np.vstack([X[:10], X[50:55]]))
    assert learner.y_labeled.tolist() == [*y[:10], *y[50:55]]
    learner.fit(X[40:60], y[40:60])
    assert len(learner.y_labeled) == 20 and learner.estimator.classes_.tolist() == [0, 1]
    learner.fit(X[100:110], y[100:110])  # one class: a cold start again, the old fit forgotten
    assert not learner.fitted and not hasattr(learner.estimator, "classes_")


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.zeros((3, 4)), [0, 1], "X has 3 rows but y 2 labels"),
        (np.zeros((2, 4)), [0, 1, 2, 0], "X has 2 rows but y 4 labels"),
    ],
    ids=["more-rows", "more-labels"],
)
def test_teach_refuses_rows_and_labels_that_do_not_pair(iris, X, y, message):
    learner = alflow.ActiveLearner(LogisticRegression(), iris[0][:10], iris[1][:10])
    with pytest.raises(ValueError, match=message):
        learner.teach(X, y)


def test_labels_without_rows_are_refused():
    with pytest.raises(ValueError, match="X_labeled and y_labeled go together"):
        alflow.ActiveLearner(LogisticRegression(), None, [0, 1])


def test_a_cold_learner_asks_for_typical_items_until_two_classes_are_labeled():
    X, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    learner = alflow.ActiveLearner(LogisticRegression(), random_state=0)
    assert not learner.fitted
    chosen = learner.query(X, 3)
    assert chosen.strategy == "typiclust" and "not fitted" in chosen.reason
    first = np.flatnonzero(y == 0)[:2]
    learner.teach(X[first], y[first])  # one class: still cold, nothing fitted
    assert not learner.fitted and learner.query(X, 3).strategy == "typiclust"
    second = np.flatnonzero(y == 1)[:2]
    learner.teach(X[second], y[second])
    assert learner.fitted and learner.estimator.classes_.tolist() == [0, 1]


def test_a_learner_takes_dataframes(iris):
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    learner = alflow.ActiveLearner(LogisticRegression(max_iter=500), frame.iloc[::10], y[::10], strategy="margin")
    chosen = learner.query(frame, 5)
    learner.teach(frame.iloc[chosen.indices], y[chosen.indices])
    assert list(learner.X_labeled.columns) == ["a", "b", "c", "d"] and len(learner.X_labeled) == 20


@pytest.mark.parametrize("fmt", ["lil", "csc", "csr", "coo"])
def test_sparse_rows_are_queried_and_taught(fmt):
    """modAL's test_sparse_matrices: a random forest on sparse pools of each format."""
    X = sp.random(20, 4, density=0.6, format=fmt, random_state=1)
    y = np.random.default_rng(1).integers(0, 2, size=20)
    y[:2] = [0, 1]
    learner = alflow.ActiveLearner(
        RandomForestClassifier(n_estimators=10, random_state=0), X.tocsr()[:5], y[:5], strategy="margin"
    )
    chosen = learner.query(X, 2)
    learner.teach(X.tocsr()[chosen.indices], y[chosen.indices])
    assert learner.X_labeled.shape == (7, 4)


def test_a_model_that_takes_nan_is_taught_rows_with_nan():
    """modAL's test_nan: labels whose rows hold NaN, for a model that accepts them."""
    X, y = make_classification(n_samples=60, n_features=3, n_informative=2, n_redundant=0, random_state=2)
    X[::7, 0] = np.nan
    learner = alflow.ActiveLearner(HistGradientBoostingClassifier(max_iter=10), X[:20], y[:20], random_state=0)
    chosen = learner.query(X[20:], 5)
    learner.teach(X[20:][chosen.indices], y[20:][chosen.indices])
    assert learner.fitted and len(learner.y_labeled) == 25


# --- custom strategies: a measure and a selector (modAL's make_query_strategy) -------------------------


def test_a_strategy_made_of_margin_and_top_k_is_the_built_in_margin(iris):
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X[::10], y[::10])
    custom = alflow.make_strategy(margin, top_k)
    assert isinstance(custom, alflow.Strategy)
    chosen = alflow.select(model, X, 6, strategy=custom, X_labeled=X[::10], y_labeled=y[::10], random_state=0)
    built_in = alflow.select(model, X, 6, strategy="margin", random_state=0)
    assert chosen.indices.tolist() == built_in.indices.tolist()
    assert np.allclose(chosen.scores, margin(model.predict_proba(X))[chosen.indices])
    assert chosen.strategy == "margin"


@pytest.mark.parametrize("strategy", ["custom_strategy:SQUARED_MARGIN", "spec"])
def test_a_made_strategy_drives_a_learner_by_spec_or_import_path(iris, strategy):
    import custom_strategy

    X, y = iris
    learner = alflow.ActiveLearner(
        LogisticRegression(max_iter=500),
        X[::10],
        y[::10],
        strategy=custom_strategy.SQUARED_MARGIN if strategy == "spec" else strategy,
        random_state=0,
    )
    chosen = learner.query(X, 6)
    assert chosen.strategy == "squared_margin" and chosen.reason == "squared_margin, as asked"
    assert np.allclose(chosen.scores, margin(learner.predict_proba(X))[chosen.indices] ** 2)
    learner.teach(X[chosen.indices], y[chosen.indices])
    assert len(learner.y_labeled) == 21


def test_a_made_strategy_starts_cold_as_the_built_in_ones_do(iris):
    X, _ = iris
    learner = alflow.ActiveLearner(LogisticRegression(), strategy=alflow.make_strategy(margin), random_state=0)
    chosen = learner.query(X, 5)
    assert chosen.strategy == "typiclust" and chosen.reason.startswith("margin needs a model")


def test_a_combined_measure_drives_a_learner(iris):
    X, y = iris

    def margin_plus_entropy(proba):
        return margin(proba) + entropy(proba)

    learner = alflow.ActiveLearner(
        LogisticRegression(max_iter=500),
        X[::10],
        y[::10],
        strategy=alflow.make_strategy(margin_plus_entropy, weighted_random),
        random_state=0,
    )
    chosen = learner.query(X, 8)
    assert chosen.strategy == "margin_plus_entropy" and len(set(chosen.indices.tolist())) == 8
    learner.teach(X[chosen.indices], y[chosen.indices])
    assert len(learner.y_labeled) == 23


def test_weighted_random_draws_distinct_items_and_never_a_zero_weight():
    scores = np.array([0.0, 1.0, 2.0, 0.0, 3.0])
    for seed in range(20):
        picked = weighted_random(scores, 3, rng=np.random.default_rng(seed))
        assert sorted(picked.tolist()) == [1, 2, 4]


# --- query by committee (modAL's Committee and examples/query_by_committee.py): a strategy like the others ---


def test_modals_query_by_committee_example_runs_as_a_qbc_strategy(iris):
    X, y = iris
    start = np.random.default_rng(0).choice(len(X), 10, replace=False)
    learner = alflow.ActiveLearner(
        RandomForestClassifier(n_estimators=10, random_state=0),
        X[start],
        y[start],
        strategy="qbc_vote_entropy",
        committee_size=2,
        random_state=0,
    )
    pool = np.setdiff1d(np.arange(len(X)), start)
    for _ in range(10):
        chosen = learner.query(X[pool])
        learner.teach(X[pool[chosen.indices]], y[pool[chosen.indices]])
        pool = np.delete(pool, chosen.indices)
    assert len(learner.y_labeled) == 20
    assert {c.strategy for c in learner.history} <= {"qbc_vote_entropy", "typiclust"}
    assert learner.score(X, y) > 0.8


@pytest.mark.parametrize("strategy", ["qbc_vote_entropy", "qbc_kl"])
def test_a_committee_asks_where_its_members_disagree(iris, strategy):
    X, y = iris
    members = [LogisticRegression(max_iter=500), KNeighborsClassifier(3), RandomForestClassifier(10, random_state=0)]
    learner = alflow.ActiveLearner(
        LogisticRegression(max_iter=500), X[::15], y[::15], strategy=strategy, committee=members, random_state=0
    )
    chosen = learner.query(X, 5)
    assert chosen.strategy == strategy
    assert (chosen.scores[:-1] >= chosen.scores[1:]).all() and chosen.scores[0] > 0


def test_a_learners_options_are_checked_when_it_is_made():
    with pytest.raises(ValueError, match="committee_size=0 must be at least 1"):
        alflow.ActiveLearner(LogisticRegression(), strategy="qbc_kl", committee_size=0)


# --- the migration page -------------------------------------------------------------------------------------


def test_every_python_block_of_the_migration_page_runs():
    code = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(code) >= 2
    for block in code:
        exec(compile(block, str(DOCS), "exec"), {})


def test_a_learner_takes_lists_of_texts_and_starts_cold_on_them():
    """A text pipeline learns from plain lists of strings: cold start by TF-IDF typicality, then auto."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from alflow.operations.corpus import support_tickets

    frame = support_tickets(200, seed=2)
    texts, labels = frame["text"].tolist(), frame["label"].to_numpy()
    learner = alflow.ActiveLearner(make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)), random_state=0)
    pool = list(range(len(texts)))
    strategies = []
    for _ in range(4):
        chosen = learner.query([texts[i] for i in pool], 8)
        picked = [pool[i] for i in chosen.indices]
        assert len(set(picked)) == 8
        learner.teach([texts[i] for i in picked], labels[picked])
        pool = [i for i in pool if i not in set(picked)]
        strategies.append(chosen.strategy)
    assert strategies[0] == "typiclust"  # nothing labeled yet: typical texts by TF-IDF
    assert learner.y_labeled is not None and len(set(learner.y_labeled)) >= 3  # spread over the classes
    assert learner.fitted and len(learner.X_labeled) == 32
