"""Stream-based selective sampling, query synthesis and the auto-labeling threshold."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

from alflow.selection.confidence import auto_labels, confidence_threshold
from alflow.selection.measures import margin
from alflow.selection.stream import decide, select_stream, start_stream
from alflow.selection.synthesis import synthesize, synthetic_batch


@pytest.mark.parametrize("target", [0.05, 0.2, 0.5])
def test_stream_labeling_rate_tracks_the_target(target):
    scores = np.random.default_rng(0).beta(2, 5, size=20_000)
    ask, state = decide(scores, start_stream(budget=10**6), target_rate=target)
    assert state.seen == 20_000 and state.asked == ask.sum()
    assert state.rate == pytest.approx(target, abs=0.01)
    # asked items are the uncertain ones: their mean score is above the stream's
    assert scores[ask].mean() > scores.mean()


def test_stream_in_micro_batches_equals_one_pass():
    scores = np.random.default_rng(1).random(3000)
    whole, _ = decide(scores, start_stream(budget=500), target_rate=0.1)
    state, parts = start_stream(budget=500), []
    for start in range(0, 3000, 128):
        ask, state = decide(scores[start : start + 128], state, target_rate=0.1)
        parts.append(ask)
    assert np.array_equal(np.concatenate(parts), whole)


def test_stream_never_exceeds_the_budget():
    ask, state = decide(np.ones(1000), start_stream(budget=7), target_rate=0.5)
    assert ask.sum() == 7 == state.asked
    assert ask[:7].all() and not ask[7:].any()


@pytest.mark.parametrize("rate", [0.0, 1.5])
def test_stream_rejects_a_bad_rate(rate):
    with pytest.raises(ValueError, match=f"target_rate={rate} must be in"):
        decide(np.ones(3), start_stream(budget=1), target_rate=rate)


def test_select_stream_scores_with_the_model():
    X, y = make_blobs(n_samples=2000, centers=2, cluster_std=2.5, random_state=0)
    model = LogisticRegression().fit(X[:200], y[:200])
    ask, state = select_stream(model, X[200:], start_stream(budget=1000), target_rate=0.1)
    assert state.rate == pytest.approx(0.1, abs=0.02)
    assert margin(model.predict_proba(X[200:][ask])).mean() > margin(model.predict_proba(X[200:])).mean()


@pytest.fixture(scope="module")
def two_classes():
    X, y = make_blobs(n_samples=200, centers=[[-3, 0], [3, 0]], cluster_std=1.0, random_state=0)
    return LogisticRegression().fit(X, y), X, y


def test_synthesized_points_lie_between_their_source_classes(two_classes):
    model, X, y = two_classes
    points, sources = synthesize(model, X, y, 25, rng=np.random.default_rng(0))
    assert points.shape == (25, 2)
    for point, (a, b) in zip(points, sources, strict=True):
        assert y[a] != y[b]
        direction = X[b] - X[a]
        t = np.dot(point - X[a], direction) / np.dot(direction, direction)
        assert -1e-9 <= t <= 1 + 1e-9
        assert np.allclose(point, X[a] + t * direction)
        # the point is at least as uncertain as both items it came from
        scores = margin(model.predict_proba(np.stack([point, X[a], X[b]])))
        assert scores[0] >= scores[1:].max() - 1e-9


def test_synthesized_points_are_exported_marked_synthetic(two_classes):
    model, X, y = two_classes
    points, _ = synthesize(model, X, y, 3, rng=np.random.default_rng(1))
    batch = synthetic_batch(points, ["x0", "x1"], round_=2)
    assert batch["id"].tolist() == ["synthetic-r0002-0000", "synthetic-r0002-0001", "synthetic-r0002-0002"]
    assert batch["synthetic"].all()
    assert np.allclose(batch[["x0", "x1"]].to_numpy(), points)


def test_synthesized_points_are_distinct_even_for_mutual_nearest_pairs():
    # two items of each class, each the other's nearest of the other class: two segments, not four
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 10.0], [1.0, 10.0]])
    y = np.array([0, 1, 0, 1])
    model = LogisticRegression().fit(X, y)
    points, pairs = synthesize(model, X, y, 4, rng=np.random.default_rng(0))
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (2, 3)]
    assert len({tuple(p) for p in points.round(9).tolist()}) == 2


def test_a_threshold_never_cuts_a_run_of_equal_confidences():
    # 100 held-out items all at confidence 0.9, the first 60 correct: no prefix may be taken alone
    proba = np.tile([[0.9, 0.1]], (100, 1))
    y = np.array([0] * 60 + [1] * 40)
    assert confidence_threshold(proba, y, np.array([0, 1]), target_accuracy=0.9, min_items=1) is None


def test_synthesis_needs_two_classes(two_classes):
    model, X, _ = two_classes
    with pytest.raises(ValueError, match="at least two classes"):
        synthesize(model, X, np.zeros(len(X)), 3, rng=np.random.default_rng(0))


def test_confidence_threshold_by_hand():
    # confidences 0.95, 0.9, 0.8, 0.7, 0.6; correct, correct, correct, wrong, correct
    proba = np.array([[0.95, 0.05], [0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    y = np.array([0, 0, 1, 1, 1])
    # prefixes: 1/1, 2/2, 3/3, 3/4, 4/5 -> the widest prefix at >= 0.8 accuracy is all five
    by_share = {"min_items": 1, "z": 0.0}
    assert confidence_threshold(proba, y, np.array([0, 1]), target_accuracy=0.8, **by_share) == pytest.approx(0.6)
    assert confidence_threshold(proba, y, np.array([0, 1]), target_accuracy=0.9, **by_share) == pytest.approx(0.8)
    assert confidence_threshold(proba, y, np.array([0, 1]), target_accuracy=0.9, min_items=4, z=0.0) is None


def test_confidence_threshold_wants_evidence_for_the_target():
    # 3 of 3 correct is 100 %, but its Wilson lower bound at z = 1.645 is 3 / (3 + 1.645**2) = 0.526
    proba = np.array([[0.95, 0.05], [0.9, 0.1], [0.2, 0.8]])
    y = np.array([0, 0, 1])
    assert confidence_threshold(proba, y, np.array([0, 1]), target_accuracy=0.52, min_items=1) == pytest.approx(0.8)
    assert confidence_threshold(proba, y, np.array([0, 1]), target_accuracy=0.53, min_items=1) is None
    # 200 of 200 correct: lower bound 200 / (200 + 1.645**2) = 0.9867
    many = np.tile([[0.99, 0.01]], (200, 1))
    assert confidence_threshold(many, np.zeros(200), np.array([0, 1]), target_accuracy=0.98) == pytest.approx(0.99)
    assert confidence_threshold(many, np.zeros(200), np.array([0, 1]), target_accuracy=0.99) is None


def test_auto_labels_only_above_the_threshold(two_classes):
    model, X, _ = two_classes
    ids = np.array([f"item-{i}" for i in range(len(X))])
    chosen, labels, confidence = auto_labels(model, X, ids, threshold=0.99)
    proba = model.predict_proba(X)
    confident = proba.max(axis=1) >= 0.99
    assert 0 < confident.sum() < len(X)
    assert chosen.tolist() == ids[confident].tolist()
    assert labels.tolist() == model.predict(X)[confident].tolist()
    assert (confidence >= 0.99).all()
