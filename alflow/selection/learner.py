"""The notebook API with state: a learner that queries a pool and is taught the answers (modAL's loop).

    learner = alflow.ActiveLearner(LogisticRegression(), X_seed, y_seed)   # fit on the seed labels
    chosen = learner.query(X_pool, 10)     # Selection: indices, scores, strategy used and why
    learner.teach(X_pool[chosen.indices], answers)                         # add the labels, refit

Query by committee is a strategy like the others (`strategy="qbc_vote_entropy"` or `"qbc_kl"`,
with `committee=[estimators]` or bootstrap refits). `make_strategy(measure, selector)` makes a
custom strategy from a per-row measure of predict_proba and a selector, as modAL's
`make_query_strategy` does: a registry spec that runs wherever a strategy's name does. The
estimator is refit in place on every label so far; nothing here reads files or logs anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alflow.selection import checks, measures, registry
from alflow.selection.arrays import n_rows, stack
from alflow.selection.notebook import Selection, select_with
from alflow.selection.options import SelectionOptions
from alflow.selection.registry import Selector, Strategy
from alflow.selection.scorer import select_top_k


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
    The result is a registry spec: pass it as `strategy=` to `select` or `ActiveLearner`, or name
    it by import path (`package.module:attribute`) in a campaign file or `alflow simulate
    --strategies`. With `top_k` it keeps a bounded candidate set as the built-in strategies do;
    another selector draws from the scores of the whole pool. At cold start (no fitted model) the
    batch is chosen by typicality, as for the built-in strategies.
    """
    label = str(name or getattr(measure, "__name__", "custom"))
    how = getattr(selector, "__name__", "selector")
    if selector is top_k:
        return Strategy(label, f"{label}: top_k of the measure", registry.measure_prefilter(measure))
    return Strategy(
        label,
        f"{label}: {how} of the measure",
        registry.measure_prefilter(measure),
        candidates=registry.every_row,
        selector=selector,
    )


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
    query), an import path or a spec from `make_strategy`. `random_state` seeds every query in
    turn: the same value gives the same sequence of batches. `options` are the rest of
    `SelectionOptions` (oversample, class_balance, committee, committee_size, chunk_size), checked
    here. The estimator is fit in place when the labels hold two classes or more; before that,
    queries choose typical items (a cold start).
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
        self.options = SelectionOptions(strategy, **options)
        self.labeled = _Labeled(X_labeled, y_labeled)
        self.history: list[Selection] = []
        self._rng = checks.generator(random_state)
        self._refit()

    @property
    def strategy(self) -> str | Strategy:
        return self.options.strategy

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
        chosen = select_with(
            self.estimator, X_pool, k, self.options, X_labeled=self.X_labeled, y_labeled=self.y_labeled, rng=rng
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
