"""Test cases of modAL's and scikit-activeml's own suites, ported to alflow, and the defects they found.

Sources: modAL `tests/core_tests.py` (TestActiveLearner.test_sparse_matrices, test_nan,
TestDensity.test_information_density, TestUtils.test_make_query_strategy); scikit-activeml
`skactiveml/tests/template_query_strategy.py` (batch_size, random_state, reproducibility) and
`skactiveml/pool/tests/test_core_set.py`, `test_typi_clust.py`, `test_uncertainty_sampling.py`
(identical and duplicate samples, SVC without predict_proba). Learner cases are in test_learner.py.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
from sklearn.svm import SVC

import alflow
from alflow.errors import ModelError
from alflow.selection import diversity, measures
from alflow.selection.arrays import chunked
from alflow.selection.options import SelectionOptions
from alflow.selection.registry import NAMES, STRATEGIES
from alflow.selection.scorer import make_scorer

DIVERSITY = [s.name for s in STRATEGIES.values() if not s.needs_model]
READS_MODEL = [s.name for s in STRATEGIES.values() if s.needs_model]
MISSING = [n for n in NAMES if n not in ("egl",)]  # egl needs a log-loss linear model; the rest take any classifier


def _two_labeled(X):
    """An LR fit on the first two rows, labeled 0 and 1, and those labels (skactiveml's y = [0, 1, nan, ...])."""
    y = np.array([0, 1])
    return LogisticRegression().fit(X[:2], y), X[:2], y


# --- distinct indices, whatever the rows (scikit-activeml: test_core_set case 3, test_typi_clust case 5) ---


@pytest.mark.parametrize("strategy", NAMES)
def test_identical_samples_still_give_distinct_indices(strategy):
    X = np.ones((10, 2))  # test_core_set, case 3: every sample has the same features
    model, X_labeled, y_labeled = _two_labeled(X)
    picked = alflow.select_batch(
        model, X[2:], 5, strategy=strategy, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0
    )
    assert sorted(set(picked.tolist())) == sorted(picked.tolist()) and len(picked) == 5


@pytest.mark.parametrize("strategy", NAMES)
def test_duplicate_samples_fill_the_batch_from_the_rest_of_the_pool(strategy):
    X = np.random.RandomState(42).choice(5, size=(10, 2)).astype(float)
    X_dup = X[[1, 2, 0, 0, 0, 0, 0, 0, 0, 0]]  # test_typi_clust, case 5: one row seven times
    model, X_labeled, y_labeled = _two_labeled(X_dup)
    picked = alflow.select_batch(
        model, X_dup[2:], 5, strategy=strategy, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0
    )
    assert len(set(picked.tolist())) == 5


def test_k_center_on_identical_points_is_a_permutation():
    picked = diversity.k_center_greedy(np.zeros((5, 2)), 5, rng=np.random.default_rng(0))
    assert sorted(picked.tolist()) == [0, 1, 2, 3, 4]  # it used to give [0, 0, 0, 0, 0]


def test_k_center_on_rows_equal_to_labeled_ones_is_distinct():
    Z = np.array([[0.0], [0.0], [1.0], [1.0]])
    picked = diversity.k_center_greedy(Z, 4, Z_labeled=np.array([[0.0], [1.0]]), rng=np.random.default_rng(0))
    assert sorted(picked.tolist()) == [0, 1, 2, 3]


def test_a_streamed_round_batch_never_holds_an_id_twice():
    X = np.repeat(np.array([[0.0, 1.0], [2.0, 3.0]]), 30, axis=0)  # two distinct rows, 60 items
    ids = np.array([f"item-{i}" for i in range(len(X))])
    labeled = LogisticRegression().fit(X[[0, 30]], [0, 1])
    chunks = [(ids[i : i + 7], X[i : i + 7]) for i in range(0, len(X), 7)]
    batch = make_scorer(labeled, SelectionOptions("kcenter"), k=10, rng=np.random.default_rng(0)).rank(chunks, 10).batch
    assert batch["id"].is_unique and len(batch) == 10


# --- batch_size and random_state (scikit-activeml's template_query_strategy) ----------------------------


@pytest.fixture(scope="module")
def fitted():
    X, y = make_classification(n_samples=120, n_features=5, n_informative=3, random_state=0)
    return LogisticRegression().fit(X[:20], y[:20]), X[20:], X[:20], y[:20]


@pytest.mark.parametrize(
    ("batch_size", "error", "message"),
    [
        (0, ValueError, "batch_size=0 must be between 1 and the pool size 100"),
        (1.2, TypeError, r"batch_size=1.2 must be an integer \(got float\)"),
        (5.0, TypeError, r"batch_size=5.0 must be an integer"),
        ("5", TypeError, r"batch_size='5' must be an integer \(got str\)"),
        (True, TypeError, "batch_size=True must be an integer"),
    ],
    ids=["zero", "fraction", "whole-float", "string", "bool"],
)
def test_batch_size_errors_name_the_argument(fitted, batch_size, error, message):
    model, X_pool, *_ = fitted
    with pytest.raises(error, match=message):
        alflow.select_batch(model, X_pool, batch_size)


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("oversample", 0, ValueError, "oversample=0 must be at least 1"),
        ("oversample", 2.5, TypeError, r"oversample=2.5 must be an integer \(got float\)"),
        ("chunk_size", 0, ValueError, "chunk_size=0 must be at least 1"),
        ("committee_size", "5", TypeError, "committee_size='5' must be an integer"),
    ],
    ids=["oversample-zero", "oversample-float", "chunk-zero", "committee-string"],
)
def test_options_errors_name_the_option(fitted, option, value, error, message):
    model, X_pool, *_ = fitted
    with pytest.raises(error, match=message):
        alflow.select_batch(model, X_pool, 3, **{option: value})


def test_batch_size_takes_numpy_integers(fitted):
    model, X_pool, *_ = fitted
    assert len(alflow.select_batch(model, X_pool, np.int64(3))) == 3


@pytest.mark.parametrize("random_state", [np.nan, "state", 1.5], ids=["nan", "string", "float"])
def test_random_state_errors_name_the_argument(fitted, random_state):
    model, X_pool, *_ = fitted
    with pytest.raises(TypeError, match=r"random_state=.* must be None, an int, a sequence of ints"):
        alflow.select_batch(model, X_pool, 3, random_state=random_state)


@pytest.mark.parametrize("strategy", NAMES)
def test_a_random_state_object_gives_the_same_batch_from_the_same_state(fitted, strategy):
    model, X_pool, X_labeled, y_labeled = fitted
    kwargs = {"strategy": strategy, "X_labeled": X_labeled, "y_labeled": y_labeled}
    first = alflow.select_batch(model, X_pool, 4, random_state=np.random.RandomState(0), **kwargs)
    second = alflow.select_batch(model, X_pool, 4, random_state=np.random.RandomState(0), **kwargs)
    assert first.tolist() == second.tolist()


# --- sparse pools (modAL: test_sparse_matrices, with scipy's COO added) ----------------------------------


@pytest.mark.parametrize("fmt", ["lil", "csc", "csr", "coo", "dok"])
@pytest.mark.parametrize("strategy", ["least_confident", "entropy", "margin", "kcenter"])
def test_sparse_pools_of_every_format(fmt, strategy):
    rng = np.random.default_rng(0)
    X = sp.random(15, 4, density=0.5, format=fmt, random_state=0)
    y = rng.integers(0, 2, size=15)
    y[:2] = [0, 1]
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X.tocsr()[:5], y[:5])
    picked = alflow.select_batch(
        model, X, 3, strategy=strategy, X_labeled=X.tocsr()[:5], y_labeled=y[:5], random_state=0
    )
    assert len(set(picked.tolist())) == 3


def test_a_pool_that_is_not_rows_is_named():
    with pytest.raises(TypeError, match="X_pool='abc' must be rows of items"):
        alflow.select_batch(LogisticRegression(), "abc", 1)


# --- models: regressors, no predict_proba, unfitted (scikit-activeml: test_query_param_clf) -------------


@pytest.fixture(scope="module")
def regression():
    X = np.random.default_rng(0).normal(size=(60, 3))
    return X, X[:, 0] + 0.1 * X[:, 1]


@pytest.mark.parametrize("strategy", READS_MODEL)
def test_a_fitted_regressor_is_named_where_the_strategy_reads_the_model(regression, strategy):
    X, y = regression
    with pytest.raises(ModelError, match=f"strategy '{strategy}' needs a classifier; LinearRegression is a regressor"):
        alflow.select_batch(LinearRegression().fit(X, y), X, 5, strategy=strategy, X_labeled=X, y_labeled=y)


def test_auto_with_a_regressor_reads_only_the_features_and_says_so(regression):
    X, y = regression  # a regressor is a model of numbers: auto is the numbers' auto, GSx (features only)
    chosen = alflow.select(LinearRegression().fit(X, y), X, 5, X_labeled=X[:10], y_labeled=y[:10], random_state=0)
    assert chosen.strategy == "gsx" and "numbers, 10 labels" in chosen.reason and "in the inputs" in chosen.reason
    assert chosen.predicted.tolist() == [None] * 5  # no classifier: no predicted label


@pytest.mark.parametrize("strategy", READS_MODEL)
def test_a_classifier_without_predict_proba_is_named(fitted, strategy):
    _, X_pool, X_labeled, y_labeled = fitted
    svc = SVC().fit(X_labeled, y_labeled)
    with pytest.raises(ModelError, match=f"strategy '{strategy}' needs predict_proba, which SVC does not offer"):
        alflow.select_batch(svc, X_pool, 5, strategy=strategy, X_labeled=X_labeled, y_labeled=y_labeled)


@pytest.mark.parametrize("strategy", [*DIVERSITY, "auto"])
def test_strategies_that_read_only_features_never_call_predict_proba(fitted, strategy):
    _, X_pool, X_labeled, y_labeled = fitted
    svc = SVC().fit(X_labeled, y_labeled)  # SVC() has no predict_proba at all: any call would raise
    chosen = alflow.select(svc, X_pool, 5, strategy=strategy, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0)
    assert len(set(chosen.indices.tolist())) == 5
    assert set(chosen.predicted) <= set(svc.classes_)  # predict, not predict_proba, names the label


def test_svc_with_probability_serves_margin(fitted):
    _, X_pool, X_labeled, y_labeled = fitted
    svc = SVC(probability=True, random_state=0).fit(X_labeled, y_labeled)
    assert len(alflow.select_batch(svc, X_pool, 5, strategy="margin")) == 5


def test_an_unfitted_model_for_egl_becomes_typiclust_and_says_so(fitted):
    _, X_pool, *_ = fitted
    chosen = alflow.select(LogisticRegression(), X_pool, 5, strategy="egl", random_state=0)
    assert chosen.strategy == "typiclust"
    assert "egl needs a model, but LogisticRegression is not fitted" in chosen.reason


def test_an_unfitted_model_with_two_labeled_classes_is_a_mistake_named(fitted):
    _, X_pool, X_labeled, y_labeled = fitted
    with pytest.raises(ModelError, match=r"LogisticRegression\) is not fitted, but y_labeled holds 2 classes"):
        alflow.select_batch(
            LogisticRegression(), X_pool, 5, strategy="margin", X_labeled=X_labeled, y_labeled=y_labeled
        )


# --- NaN and the distance space (modAL: test_nan, TestDensity.test_information_density) -----------------


@pytest.mark.parametrize("strategy", NAMES)
def test_a_model_that_takes_nan_can_select_from_rows_with_nan(strategy):
    X, y = make_classification(n_samples=80, n_features=4, random_state=1)
    X[3, 1] = np.nan  # one NaN row, in the pool; and one in the labeled set
    X[60, 2] = np.nan
    model = HistGradientBoostingClassifier(max_iter=5).fit(X[40:], y[40:])
    if strategy == "egl":
        pytest.skip("egl needs a log-loss linear model, which takes no NaN")
    chosen = alflow.select(model, X[:40], 5, strategy=strategy, X_labeled=X[40:], y_labeled=y[40:], random_state=0)
    assert len(set(chosen.indices.tolist())) == 5 and np.isfinite(chosen.scores).all()


@pytest.mark.parametrize("n_samples", range(1, 10))
@pytest.mark.parametrize("n_dim", [1, 4, 9])
def test_density_scores_every_row_of_a_tiny_pool(n_samples, n_dim):
    X = np.random.default_rng(n_samples).random((n_samples, n_dim))
    picked = alflow.select_batch(_Uniform(), X, n_samples, strategy="density", random_state=0)
    assert sorted(picked.tolist()) == list(range(n_samples))


class _Uniform:
    """A hand-written fitted classifier whose every prediction is a coin flip: margin is 1 everywhere,
    so density's score is its similarity term alone."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        return np.full((X.shape[0], 2), 0.5)

    def predict(self, X):
        return np.zeros(X.shape[0], dtype=int)


def test_density_does_not_depend_on_a_features_unit():
    X = np.random.default_rng(0).normal(size=(300, 4)) * [1.0, 2.0, 0.5, 1.0] + [0.0, 1.0, 0.0, 3.0]
    in_km = X.copy()
    in_km[:, 0] *= 1000.0  # the same feature in metres instead of kilometres
    options = SelectionOptions("density")
    first = make_scorer(_Uniform(), options, k=300, rng=np.random.default_rng(0)).rank(chunked(X, 50), 300).batch
    second = make_scorer(_Uniform(), options, k=300, rng=np.random.default_rng(0)).rank(chunked(in_km, 50), 300)
    by_id = second.batch.set_index("id")["score"]
    assert np.allclose(first["score"].to_numpy(), by_id.loc[first["id"]].to_numpy())


def test_the_distance_space_standardises_every_feature():
    """Density and the batch picks measure distances in a Space: each feature standardised."""
    from alflow.selection.knowledge import fit_space

    X = np.random.default_rng(0).normal(size=(50, 3)) * [1.0, 100.0, 0.01]
    space = fit_space(_Uniform(), X, None, fitted=True)
    Z = space(X)
    assert np.allclose(Z.mean(axis=0), 0.0) and np.allclose(Z.std(axis=0), 1.0)


# --- expected gradient length, exact for one-vs-rest SGD --------------------------------------------------


def _gradient_norms_by_hand(model, X):
    """E_y~p ||d log-loss / dW|| computed from the definition, one class and one row at a time."""
    x = np.hstack([X, np.ones((len(X), 1))])
    proba = model.predict_proba(X)
    if isinstance(model, SGDClassifier):  # one binary log-loss per class, on its own sigmoid
        outputs = 1.0 / (1.0 + np.exp(-model.decision_function(X)))
    else:
        outputs = proba
    expected = np.zeros(len(X))
    for i in range(len(X)):
        for y in range(proba.shape[1]):
            gradient = np.outer(outputs[i] - np.eye(proba.shape[1])[y], x[i])
            expected[i] += proba[i, y] * np.linalg.norm(gradient)
    return expected


@pytest.mark.parametrize(
    "model",
    [LogisticRegression(max_iter=500), SGDClassifier(loss="log_loss", random_state=0)],
    ids=["multinomial-lr", "one-vs-rest-sgd"],
)
def test_expected_gradient_length_is_exact_for_multiclass_models(model):
    X, y = make_classification(n_samples=200, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=0)
    model.fit(X, y)
    egl = measures.expected_gradient_length(model, X[:20], model.predict_proba(X[:20]))
    assert np.allclose(egl, _gradient_norms_by_hand(model, X[:20]))
