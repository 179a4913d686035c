import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from alflow.selection.measures import entropy, least_confident, margin
from alflow.selection.options import SelectionOptions
from alflow.selection.scorer import make_scorer, select_top_k

UNCERTAINTY = {"least_confident": least_confident, "margin": margin, "entropy": entropy}

WORKED = [
    # proba row, least_confident, margin, entropy (nats), all by hand
    ([1.0, 0.0, 0.0], 0.0, 0.0, 0.0),
    ([0.5, 0.5, 0.0], 0.5, 1.0, np.log(2)),
    ([0.7, 0.2, 0.1], 0.3, 0.5, -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))),
    ([1 / 3, 1 / 3, 1 / 3], 2 / 3, 1.0, np.log(3)),
]


@pytest.mark.parametrize(("row", "lc", "mg", "ent"), WORKED, ids=["one-hot", "tie", "skewed", "uniform"])
def test_worked_examples(row, lc, mg, ent):
    proba = np.array([row])
    assert least_confident(proba)[0] == pytest.approx(lc)
    assert margin(proba)[0] == pytest.approx(mg)
    assert entropy(proba)[0] == pytest.approx(ent)


def proba_rows(n_classes):
    weights = arrays(float, (n_classes,), elements=st.floats(0.0, 1.0)).filter(lambda w: w.sum() > 1e-6)
    return weights.map(lambda w: w / w.sum())


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 8).flatmap(lambda c: st.lists(proba_rows(c), min_size=1, max_size=20)))
@pytest.mark.parametrize("name", sorted(UNCERTAINTY))
def test_one_hot_lowest_uniform_highest(name, rows):
    strategy = UNCERTAINTY[name]
    n_classes = len(rows[0])
    scores = strategy(np.array(rows))
    one_hot = strategy(np.eye(n_classes)[:1])[0]
    uniform = strategy(np.full((1, n_classes), 1 / n_classes))[0]
    assert scores.shape == (len(rows),)
    assert np.all(scores >= one_hot - 1e-9)
    assert np.all(scores <= uniform + 1e-9)


def test_select_top_k_best_first_and_ties_by_rng():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.3])
    assert select_top_k(scores, 3).tolist() == [1, 3, 2]
    picks = {tuple(select_top_k(scores, 1, rng=np.random.default_rng(s)).tolist()) for s in range(20)}
    assert picks == {(1,), (3,)}


@settings(max_examples=50, deadline=None)
@given(arrays(float, st.integers(1, 50), elements=st.floats(0, 1)), st.data())
def test_select_top_k_returns_k_distinct_in_range(scores, data):
    k = data.draw(st.integers(1, scores.size))
    picked = select_top_k(scores, k, rng=np.random.default_rng(0))
    assert len(set(picked.tolist())) == k
    assert picked.min() >= 0 and picked.max() < scores.size
    assert scores[picked].min() >= np.sort(scores)[-k]
    assert np.array_equal(picked, select_top_k(scores, k, rng=np.random.default_rng(0)))


@pytest.mark.parametrize("k", [0, 6])
def test_select_top_k_rejects_k_outside_pool(k):
    with pytest.raises(ValueError, match=f"k={k} must be between 1 and the number of scored items 5"):
        select_top_k(np.zeros(5), k)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_classes=3, random_state=0)
    return LogisticRegression(max_iter=500).fit(X[:60], y[:60]), X


def _chunks(X, size):
    ids = np.array([f"item-{i}" for i in range(len(X))])
    return [(ids[i : i + size], X[i : i + size]) for i in range(0, len(X), size)]


@pytest.mark.parametrize("strategy", [*sorted(UNCERTAINTY), "random"])
def test_chunked_scoring_equals_whole_pool(fitted, strategy):
    model, X = fitted
    options = SelectionOptions(strategy)
    whole = make_scorer(model, options, k=25, rng=np.random.default_rng(7)).rank(_chunks(X, len(X)), 25).batch
    chunked = make_scorer(model, options, k=25, rng=np.random.default_rng(7)).rank(_chunks(X, 37), 25).batch
    assert whole["id"].tolist() == chunked["id"].tolist()
    assert np.allclose(whole["score"], chunked["score"])
    assert whole["score"].is_monotonic_decreasing


def test_uncertainty_batch_is_the_top_of_the_scores(fitted):
    model, X = fitted
    scorer = make_scorer(model, SelectionOptions("margin"), k=10, rng=np.random.default_rng(0))
    batch = scorer.rank(_chunks(X, 100), 10).batch
    expected = np.sort(margin(model.predict_proba(X)))[::-1][:10]
    assert np.allclose(batch["score"], expected)
    assert set(batch["predicted"]) <= set(model.classes_)
