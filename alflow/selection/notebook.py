"""Pool-based selection over an in-memory pool: `alflow.select` and `alflow.select_batch`, the notebook API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alflow.selection import checks, registry
from alflow.selection.arrays import chunked, n_rows, take
from alflow.selection.checks import RandomState
from alflow.selection.options import SelectionOptions
from alflow.selection.registry import Strategy
from alflow.selection.scorer import REFERENCE_SAMPLE, make_scorer


@dataclass(frozen=True)
class Selection:
    """A batch chosen from a pool: what to label, how it scored, and which strategy chose it and why.

    `indices` are distinct row positions into the pool, best first; `scores` one per index,
    higher = label first (per-row strategies give the measure itself, batch strategies a rank
    score falling from 1 by 1/k); `predicted` the model's label for each item (None at cold start);
    `strategy` what ran (for `auto`, or at cold start, not the name that was asked for) and
    `reason` why, in a sentence.
    """

    indices: np.ndarray
    scores: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    strategy: str
    reason: str

    def __len__(self) -> int:
        return len(self.indices)


def select(
    model: Any,
    X_pool: Any,
    batch_size: int,
    *,
    strategy: str | Strategy = "auto",
    X_labeled: Any = None,
    y_labeled: Any = None,
    random_state: RandomState = None,
    oversample: int = 10,
    class_balance: bool = False,
    committee: list[Any] | None = None,
    committee_size: int = 5,
    chunk_size: int = 50_000,
) -> Selection:
    """The `batch_size` items of `X_pool` to label next, with their scores and the strategy that chose them.

    `X_pool` is whatever the model reads: a feature array or frame, a sparse matrix, embedding
    vectors, or texts (a series, list or array of strings, for a text pipeline). `model` is a
    fitted scikit-learn classifier (or an unfitted one at cold start, when `y_labeled` holds fewer
    than two classes: then the batch is chosen by typicality; texts then go through TF-IDF). Strategies that score
    probabilities need `predict_proba`; kcenter, kmeans, typiclust and random read only the
    features and never call it. `X_labeled`/`y_labeled` are what the model was fit on: `auto`
    decides from them, committee strategies refit on them, diversity avoids them, `class_balance`
    counts them. `strategy` and the options after `random_state` are `SelectionOptions`'.
    `random_state`: None, an int, a sequence of ints, a numpy Generator or RandomState;
    the same value gives the same batch. Sparse matrices of any format are taken (as CSR).

    Raises TypeError for a batch_size (oversample, chunk_size, committee_size) that is not an
    integer or a random_state numpy cannot seed from, ValueError for a batch_size outside
    1..len(X_pool), an option below 1 or an unknown strategy, ModelError
    when the strategy cannot work with the model (a regressor, no predict_proba, egl without a
    log-loss linear model, an unfitted model with two or more labeled classes).
    """
    options = SelectionOptions(strategy, oversample, class_balance, committee, committee_size, chunk_size)
    return select_with(model, X_pool, batch_size, options, X_labeled=X_labeled, y_labeled=y_labeled, rng=random_state)


def select_with(
    model: Any,
    X_pool: Any,
    batch_size: int,
    options: SelectionOptions,
    *,
    X_labeled: Any = None,
    y_labeled: Any = None,
    rng: RandomState = None,
) -> Selection:
    """`select` with its options as one value (what `ActiveLearner` and `alflow simulate` pass)."""
    X_pool = checks.rows(X_pool, "X_pool")
    X_labeled = None if X_labeled is None else checks.rows(X_labeled, "X_labeled")
    k = checks.batch_size(batch_size, n_rows(X_pool))
    generator = checks.generator(rng)
    spec, reference = registry.lookup(options.strategy), None
    if spec is not None and spec.reference:
        # the whole pool is at hand: sample density's reference from all of it, not from the first chunk
        ref_rng = np.random.default_rng(generator.integers(2**63 - 1))
        reference = take(X_pool, np.sort(ref_rng.permutation(n_rows(X_pool))[:REFERENCE_SAMPLE]))
    scorer = make_scorer(
        model, options, k=k, rng=generator, X_labeled=X_labeled, y_labeled=y_labeled, reference=reference
    )
    ranked = scorer.rank(chunked(X_pool, options.chunk_size), k)
    batch = ranked.batch
    return Selection(
        batch["id"].to_numpy(dtype=int),
        batch["score"].to_numpy(dtype=float),
        batch["predicted"].to_numpy(),
        ranked.strategy,
        ranked.reason,
    )


def select_batch(model: Any, X_pool: Any, batch_size: int, **options: Any) -> np.ndarray:
    """Row indices into `X_pool` of the `batch_size` items to label next, best first.

    `select(...).indices`, for loops that need only the indices; the keyword arguments, and what
    is raised, are `select`'s. `select` also returns the scores and which strategy ran and why.
    """
    return select(model, X_pool, batch_size, **options).indices
