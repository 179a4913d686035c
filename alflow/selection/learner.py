"""The notebook API with state: a learner that queries a pool and is taught the answers (modAL's loop).

    learner = alflow.ActiveLearner(LogisticRegression(), X_seed, y_seed)   # fit on the seed labels
    chosen = learner.query(X_pool, 10)     # Selection: indices, scores, strategy used and why
    learner.teach(X_pool[chosen.indices], answers)                         # add the labels, refit

`Committee` is the same loop over several estimators, queried by their disagreement;
`make_strategy(measure, selector)` makes a custom strategy from a per-row measure of
predict_proba and a selector, as modAL's `make_query_strategy` does. The estimator is refit in
place on every label so far; nothing here reads files or logs anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from alflow.selection import checks, measures
from alflow.selection.arrays import n_rows, stack, take
from alflow.selection.committee import bootstrap_rows, committee_proba
from alflow.selection.context import cold_reason
from alflow.selection.pool import Selection, select
from alflow.selection.scoring import select_top_k

Selector = Callable[..., np.ndarray]
"""(scores, k, *, rng) -> k distinct indices into scores, best first."""


class Strategy(Protocol):
    """A custom strategy: the batch of `k` items of `X_pool` to label next, as a Selection."""

    def __call__(
        self, model: Any, X_pool: Any, k: int, *, X_labeled: Any, y_labeled: Any, rng: np.random.Generator
    ) -> Selection: ...


def top_k(scores: np.ndarray, k: int, *, rng: np.random.Generator) -> np.ndarray:
    """The k highest scores, best first, ties broken at random (modAL's `multi_argmax`)."""
    return select_top_k(scores, k, rng=rng)


def weighted_random(scores: np.ndarray, k: int, *, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices drawn with probability proportional to the scores (modAL's `weighted_random`).

    Scores must be >= 0; all zero draws uniformly.
    """
    weights = np.clip(np.nan_to_num(np.asarray(scores, dtype=float)), 0.0, None)
    p = weights / weights.sum() if weights.sum() > 0 else None
    return rng.choice(len(weights), size=k, replace=False, p=p)


def make_strategy(measure: measures.Measure, selector: Selector = top_k, *, name: str | None = None) -> Strategy:
    """A strategy that scores each item by `measure(predict_proba)` (higher = label first) and picks by `selector`.

    `measure` takes the (n, n_classes) probability matrix, like alflow.selection.measures.margin,
    and returns n scores; combine measures in a plain function (`lambda p: margin(p) + entropy(p)`).
    At cold start (no fitted model) the batch is chosen by typicality, as for the built-in strategies.
    """
    label = str(name or getattr(measure, "__name__", "custom"))

    def strategy(
        model: Any, X_pool: Any, k: int, *, X_labeled: Any, y_labeled: Any, rng: np.random.Generator
    ) -> Selection:
        unusable = cold_reason(model, y_labeled)
        if unusable is not None:
            return _typical(model, X_pool, k, rng=rng, reason=f"{label} needs a model, but {unusable}")
        scores = np.asarray(measure(model.predict_proba(X_pool)), dtype=float)
        picked = np.asarray(selector(scores, k, rng=rng))
        reason = f"{label}: {getattr(selector, '__name__', 'selector')} of the measure"
        return Selection(picked, scores[picked], np.asarray(model.predict(take(X_pool, picked))), label, reason)

    strategy.__name__ = label
    return strategy


def _typical(model: Any, X_pool: Any, k: int, *, rng: np.random.Generator, reason: str) -> Selection:
    """A cold start's batch: typical items of uncovered clusters, saying why."""
    chosen = select(model, X_pool, k, strategy="typiclust", random_state=rng)
    return replace(chosen, reason=f"{reason}: typical items of uncovered clusters")


class _Labeled:
    """The labeled set a learner grows: rows of any kind selection takes, and their labels."""

    def __init__(self, X: Any, y: Any) -> None:
        if (X is None) != (y is None):
            raise ValueError("X_labeled and y_labeled go together: pass both or neither")
        self.X = None if X is None else checks.rows(X, "X_labeled")
        self.y = None if y is None else np.asarray(y)
        if self.X is not None and self.y is not None and n_rows(self.X) != len(self.y):
            raise ValueError(f"X_labeled has {n_rows(self.X)} rows but y_labeled {len(self.y)} labels")

    def add(self, X: Any, y: Any) -> None:
        X, y = checks.rows(X, "X"), np.atleast_1d(np.asarray(y))
        if n_rows(X) != len(y):
            raise ValueError(f"X has {n_rows(X)} rows but y {len(y)} labels: teach one label per row")
        self.X = X if self.X is None else stack([self.X, X])
        self.y = y if self.y is None else np.concatenate([self.y, y])

    @property
    def classes(self) -> int:
        return 0 if self.y is None else int(np.unique(self.y).size)


class ActiveLearner:
    """An estimator, the labels it has been taught, and the strategy that asks for the next ones.

    `strategy` is a name of alflow.selection.registry (default `auto`, decided from the data each
    query) or a callable from `make_strategy`. `random_state` seeds every query in turn: the same
    value gives the same sequence of batches. `options` go to `alflow.select` (oversample,
    class_balance, committee, committee_size). The estimator is fit in place when the labels hold
    two classes or more; before that, queries choose typical items (a cold start).
    """

    def __init__(
        self,
        estimator: Any,
        X_labeled: Any = None,
        y_labeled: Any = None,
        *,
        strategy: str | Strategy = "auto",
        random_state: checks.RandomState = None,
        **options: Any,
    ) -> None:
        self.estimator = estimator
        self.strategy = strategy
        self.options = options
        self.labeled = _Labeled(X_labeled, y_labeled)
        self.history: list[Selection] = []
        self._rng = checks.generator(random_state)
        self._refit()

    @property
    def X_labeled(self) -> Any:
        return self.labeled.X

    @property
    def y_labeled(self) -> np.ndarray | None:
        return self.labeled.y

    @property
    def fitted(self) -> bool:
        """Whether the estimator has been fit (the labels hold two classes or more)."""
        return self.labeled.classes >= 2

    def query(self, X_pool: Any, k: int = 1) -> Selection:
        """The `k` items of `X_pool` to label next (Selection: indices, scores, strategy used and why)."""
        X_pool = checks.rows(X_pool, "X_pool")
        k = checks.batch_size(k, n_rows(X_pool))
        rng = checks.spawn(self._rng, 1)[0]
        if callable(self.strategy):
            chosen = self.strategy(
                self.estimator, X_pool, k, X_labeled=self.X_labeled, y_labeled=self.y_labeled, rng=rng
            )
        else:
            chosen = select(
                self.estimator,
                X_pool,
                k,
                strategy=self.strategy,
                X_labeled=self.X_labeled,
                y_labeled=self.y_labeled,
                random_state=rng,
                **self.options,
            )
        self.history.append(chosen)
        return chosen

    def teach(self, X: Any, y: Any) -> ActiveLearner:
        """Add labeled rows (one label each) to what the learner knows and refit on all of it."""
        self.labeled.add(X, y)
        self._refit()
        return self

    def fit(self, X: Any, y: Any) -> ActiveLearner:
        """Forget every label so far and fit on `X`, `y` alone (modAL's `fit`)."""
        self.labeled = _Labeled(X, y)
        self._refit()
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator.predict_proba(X)

    def score(self, X: Any, y: Any) -> float:
        """Mean accuracy on `X`, `y` (the estimator's own `score`)."""
        return float(self.estimator.score(X, y))

    def _refit(self) -> None:
        if self.fitted:
            self.estimator.fit(self.labeled.X, self.labeled.y)
        elif hasattr(self.estimator, "classes_"):  # fewer than two classes now: forget the old fit
            from sklearn.base import clone

            self.estimator = clone(self.estimator)


class Committee:
    """Query by committee: several estimators taught the same labels, asked where they disagree most.

    `strategy` is "qbc_vote_entropy" (entropy of the members' votes), "qbc_kl" (mean KL divergence
    to their consensus) or a measure of the stacked member probabilities, shape (members, n,
    classes), returning n scores. `bootstrap=True` fits each member on its own bootstrap sample of
    the labels (bagging), so identical estimators still disagree. predict_proba is the members'
    mean; before two classes are labeled, queries choose typical items.
    """

    MEASURES: dict[str, Callable[[np.ndarray], np.ndarray]] = measures.COMMITTEE

    def __init__(
        self,
        estimators: Sequence[Any],
        X_labeled: Any = None,
        y_labeled: Any = None,
        *,
        strategy: str | Callable[[np.ndarray], np.ndarray] = "qbc_vote_entropy",
        bootstrap: bool = False,
        random_state: checks.RandomState = None,
    ) -> None:
        if len(estimators) < 2:
            raise ValueError(f"a committee needs at least 2 estimators; got {len(estimators)}")
        if isinstance(strategy, str) and strategy not in self.MEASURES:
            raise ValueError(f"strategy {strategy!r} is not a committee measure; use one of {', '.join(self.MEASURES)}")
        self.members = list(estimators)
        self.strategy = strategy
        self.bootstrap = bootstrap
        self.labeled = _Labeled(X_labeled, y_labeled)
        self.history: list[Selection] = []
        self._rng = checks.generator(random_state)
        self._refit()

    @property
    def fitted(self) -> bool:
        return self.labeled.classes >= 2

    @property
    def classes_(self) -> np.ndarray:
        return np.unique(np.concatenate([m.classes_ for m in self.members]))

    def query(self, X_pool: Any, k: int = 1) -> Selection:
        """The `k` items of `X_pool` the members disagree on most, best first."""
        X_pool = checks.rows(X_pool, "X_pool")
        k = checks.batch_size(k, n_rows(X_pool))
        rng = checks.spawn(self._rng, 1)[0]
        if not self.fitted:
            chosen = _typical(self.members[0], X_pool, k, rng=rng, reason="the committee is not fitted yet")
        else:
            measure = self.MEASURES[self.strategy] if isinstance(self.strategy, str) else self.strategy
            name = self.strategy if isinstance(self.strategy, str) else getattr(measure, "__name__", "committee")
            scores = np.asarray(measure(committee_proba(self.members, X_pool, self.classes_)), dtype=float)
            picked = select_top_k(scores, k, rng=rng)
            reason = f"{name}: disagreement of {len(self.members)} members"
            chosen = Selection(picked, scores[picked], self.predict(take(X_pool, picked)), str(name), reason)
        self.history.append(chosen)
        return chosen

    def teach(self, X: Any, y: Any) -> Committee:
        """Add labeled rows to what every member knows and refit them all."""
        self.labeled.add(X, y)
        self._refit()
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The members' mean probabilities, columns in `classes_` order."""
        return committee_proba(self.members, X, self.classes_).mean(axis=0)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X: Any, y: Any) -> float:
        return float((self.predict(X) == np.asarray(y)).mean())

    def _refit(self) -> None:
        if not self.fitted:
            return
        X, y = self.labeled.X, self.labeled.y
        assert y is not None
        for member in self.members:
            rows = bootstrap_rows(y, rng=self._rng) if self.bootstrap else np.arange(len(y))
            member.fit(take(X, rows), y[rows])
