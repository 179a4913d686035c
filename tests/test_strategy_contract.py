"""One contract for every strategy `alflow.select_batch` knows (the registry's), plus worked examples and properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_blobs, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import alflow
from alflow.config import StrategyConfig
from alflow.errors import ModelError
from alflow.selection import diversity
from alflow.selection import measures as strategies
from alflow.selection.arrays import chunked
from alflow.selection.options import SelectionOptions
from alflow.selection.registry import NAMES as STRATEGY_NAMES
from alflow.selection.registry import STRATEGIES, resolve
from alflow.selection.scorer import make_scorer

PER_ROW = [s.name for s in STRATEGIES.values() if s.pick is None]


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_classes=3, random_state=0)
    labeled = np.arange(40)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X[labeled], y[labeled])
    return model, X[40:], X[labeled], y[labeled]


def _select(problem, strategy, k=12, seed=3, **options):
    model, X_pool, X_labeled, y_labeled = problem
    return alflow.select_batch(
        model, X_pool, k, strategy=strategy, X_labeled=X_labeled, y_labeled=y_labeled, random_state=seed, **options
    )


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_k_distinct_in_range_indices(problem, strategy):
    picked = _select(problem, strategy)
    assert picked.shape == (12,)
    assert len(set(picked.tolist())) == 12
    assert picked.min() >= 0 and picked.max() < len(problem[1])


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_same_seed_same_batch(problem, strategy):
    assert np.array_equal(_select(problem, strategy, seed=5), _select(problem, strategy, seed=5))


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_batch_larger_than_pool_is_a_clear_error(problem, strategy):
    n = len(problem[1])
    with pytest.raises(ValueError, match=f"batch_size={n + 1} must be between 1 and the pool size {n}"):
        _select(problem, strategy, k=n + 1)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_scores_come_best_first(problem, strategy):
    model, X_pool, X_labeled, y_labeled = problem
    scorer = make_scorer(
        model,
        SelectionOptions(strategy),
        k=10,
        rng=np.random.default_rng(0),
        X_labeled=X_labeled,
        y_labeled=y_labeled,
        reference=X_pool[:100] if strategy == "density" else None,
    )
    batch = scorer.rank(chunked(X_pool, 50), 10).batch
    assert batch["score"].is_monotonic_decreasing
    assert set(batch["predicted"]) <= set(model.classes_)


@pytest.mark.parametrize("strategy", PER_ROW)
def test_chunked_scoring_equals_whole_pool(problem, strategy):
    whole = _select(problem, strategy, chunk_size=10_000)
    chunks = _select(problem, strategy, chunk_size=37)
    assert whole.tolist() == chunks.tolist()


@pytest.mark.parametrize("strategy", ["least_confident", "margin", "entropy"])
def test_per_row_batch_is_the_top_of_the_scores(problem, strategy):
    model, X_pool, *_ = problem
    scores = getattr(strategies, strategy)(model.predict_proba(X_pool))
    picked = _select(problem, strategy, k=10)
    assert np.allclose(np.sort(scores[picked])[::-1], np.sort(scores)[::-1][:10])


def test_unknown_strategy_names_the_choices(problem):
    with pytest.raises(ValueError, match="strategy 'best' is unknown; use one of auto, margin"):
        _select(problem, "best")


# --- cold start ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_cold_start_without_a_fitted_model_picks_by_diversity(strategy):
    X, _ = make_blobs(n_samples=300, centers=4, random_state=1)
    picked = alflow.select_batch(LogisticRegression(), X, 8, strategy=strategy, random_state=0)
    assert len(set(picked.tolist())) == 8


def test_cold_start_with_one_labeled_class_does_not_fail():
    X, blob = make_blobs(n_samples=300, centers=4, cluster_std=0.5, random_state=1)
    picked = alflow.select_batch(
        LogisticRegression(), X, 4, strategy="margin", X_labeled=X[:3], y_labeled=np.zeros(3), random_state=0
    )
    # typicality on four well-separated blobs: the first picks cover more than one blob
    assert len(set(blob[picked].tolist())) >= 3


@pytest.mark.parametrize(
    ("name", "cold", "expected"),
    [
        ("margin", "LogisticRegression is not fitted", "typiclust"),
        ("kcenter", "LogisticRegression is not fitted", "kcenter"),
        ("entropy", None, "entropy"),
    ],
    ids=["cold-margin", "cold-kcenter", "explicit"],
)
def test_resolve_strategy(name, cold, expected):
    choice = resolve(name, cold=cold)
    assert choice.strategy.name == expected
    assert (cold if expected != name else "as asked") in choice.reason


def _blobs(n_labeled, *, seed=0):
    X, y = make_blobs(n_samples=600, centers=4, cluster_std=1.0, random_state=seed)
    model = LogisticRegression(max_iter=500).fit(X[:n_labeled], y[:n_labeled])
    return model, X[n_labeled:], X[:n_labeled], y[:n_labeled]


@pytest.mark.parametrize(
    ("n_labeled", "expected", "reason"),
    [
        (16, "typiclust", "auto: 16 labels for 4 classes, fewer than 5 a class"),
        (20, "combined", "auto: 20 labels for 4 classes, at least 5 a class"),
    ],
    ids=["warm-up", "uncertainty"],
)
def test_auto_says_which_strategy_it_ran_and_why(n_labeled, expected, reason):
    model, X_pool, X_labeled, y_labeled = _blobs(n_labeled)
    chosen = alflow.select(model, X_pool, 10, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0)
    assert chosen.strategy == expected and chosen.reason.startswith(reason)


def test_auto_without_a_usable_model_covers_the_data_and_says_why():
    X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    chosen = alflow.select(LogisticRegression(), X, 5, random_state=0)
    assert chosen.strategy == "typiclust" and chosen.reason == (
        "auto: LogisticRegression is not fitted, so typical items of uncovered clusters"
    )


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_a_campaign_file_accepts_every_strategy_of_the_registry(name):
    assert StrategyConfig(name=name).name == name


def test_a_campaign_file_refuses_a_name_the_registry_does_not_hold():
    with pytest.raises(ValueError, match="unknown strategy 'marginal'; use one of auto, margin"):
        StrategyConfig(name="marginal")


# --- worked examples ----------------------------------------------------------------------------------


def test_vote_entropy_by_hand():
    # three members vote 0, 0, 1 on the item: shares 2/3, 1/3
    members = np.array([[[0.9, 0.1]], [[0.6, 0.4]], [[0.2, 0.8]]])
    expected = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    assert strategies.vote_entropy(members)[0] == pytest.approx(expected)


def test_kl_to_consensus_by_hand():
    members = np.array([[[1.0, 0.0]], [[0.5, 0.5]]])  # consensus 0.75, 0.25
    kl_first = np.log(1 / 0.75)
    kl_second = 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25)
    assert strategies.kl_to_consensus(members)[0] == pytest.approx((kl_first + kl_second) / 2)


def test_committee_agreement_scores_zero():
    agree = np.repeat(np.array([[[0.7, 0.2, 0.1]]]), 4, axis=0)
    assert strategies.vote_entropy(agree)[0] == pytest.approx(0.0)
    assert strategies.kl_to_consensus(agree)[0] == pytest.approx(0.0)


def test_expected_gradient_length_by_hand():
    binary = LogisticRegression().fit(np.array([[0.0, 0.0], [1.0, 1.0]]), [0, 1])
    # p1 = 0.5 at x = (3, 4): 2 * 0.5 * 0.5 * ||(3, 4, 1)||
    egl = strategies.expected_gradient_length(binary, np.array([[3.0, 4.0]]), np.array([[0.5, 0.5]]))
    assert egl[0] == pytest.approx(0.5 * np.sqrt(26))
    three = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0]]), [0, 1, 2])
    # x = 0 (norm of (0, 1) is 1), p = (0.5, 0.5, 0): each label with p > 0 has ||p - e_y|| = sqrt(0.5)
    egl = strategies.expected_gradient_length(three, np.array([[0.0]]), np.array([[0.5, 0.5, 0.0]]))
    assert egl[0] == pytest.approx(np.sqrt(0.5))


def test_expected_gradient_length_names_a_model_without_one(problem):
    _, X_pool, X_labeled, y_labeled = problem
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X_labeled, y_labeled)
    with pytest.raises(ModelError, match=r"strategy 'egl' needs .* got RandomForestClassifier"):
        alflow.select_batch(forest, X_pool, 5, strategy="egl", X_labeled=X_labeled, y_labeled=y_labeled)


def test_committee_needs_labels(problem):
    model, X_pool, *_ = problem
    with pytest.raises(ValueError, match="strategy 'qbc_kl' needs X_labeled and y_labeled"):
        alflow.select_batch(model, X_pool, 5, strategy="qbc_kl")


def test_class_balance_weights_by_hand():
    weights = strategies.class_balance_weights(["a", "b"], {"a": 1, "b": 3})
    assert weights.tolist() == pytest.approx([1.5, 0.75])


def test_class_balance_favours_the_rare_class():
    X, y = make_classification(n_samples=600, n_features=5, n_informative=3, weights=[0.8, 0.2], random_state=2)
    labeled = np.concatenate([np.flatnonzero(y == 0)[:40], np.flatnonzero(y == 1)[:3]])
    model = LogisticRegression().fit(X[labeled], y[labeled])
    pool = np.setdiff1d(np.arange(600), labeled)
    kwargs = {"strategy": "margin", "X_labeled": X[labeled], "y_labeled": y[labeled], "random_state": 0}
    plain = alflow.select_batch(model, X[pool], 30, **kwargs)
    balanced = alflow.select_batch(model, X[pool], 30, class_balance=True, **kwargs)
    rare = (model.predict(X[pool][balanced]) == 1).sum()
    assert rare >= (model.predict(X[pool][plain]) == 1).sum()
    assert rare > 15


def test_k_center_greedy_by_hand():
    Z = np.array([[0.0], [1.0], [2.0], [10.0]])
    picked = diversity.k_center_greedy(Z, 2, Z_labeled=np.array([[0.0]]), rng=np.random.default_rng(0))
    assert picked.tolist() == [3, 2]  # farthest from the label, then farthest from both


def test_typical_representatives_cover_the_blobs():
    Z, blob = make_blobs(n_samples=400, centers=5, cluster_std=0.4, random_state=3)
    picked = diversity.typical_representatives(Z, 5, rng=np.random.default_rng(0))
    assert sorted(blob[picked].tolist()) == [0, 1, 2, 3, 4]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.integers(0, 5))
def test_committee_measures_are_zero_when_members_agree_and_positive_otherwise(n_classes, n_members, cls):
    cls = cls % n_classes
    agree = np.zeros((n_members, 1, n_classes))
    agree[:, 0, cls] = 1.0
    assert strategies.vote_entropy(agree)[0] == pytest.approx(0.0)
    split = agree.copy()
    split[0, 0] = np.roll(split[0, 0], 1)
    assert strategies.vote_entropy(split)[0] > 0
    assert strategies.kl_to_consensus(split)[0] > 0
