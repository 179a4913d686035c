"""Pool-based selection over an in-memory pool: `alflow.select_batch`, the notebook API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alflow.selection import registry
from alflow.selection.arrays import as_rows, chunked, n_rows, take
from alflow.selection.context import embed, is_fitted
from alflow.selection.scoring import REFERENCE_SAMPLE, score_chunks


def select_batch(
    model: Any,
    X_pool: Any,
    batch_size: int,
    *,
    strategy: str = "auto",
    X_labeled: Any = None,
    y_labeled: Any = None,
    random_state: int | Sequence[int] | np.random.Generator | None = None,
    oversample: int = 10,
    class_balance: bool = False,
    committee: list[Any] | None = None,
    committee_size: int = 5,
    chunk_size: int = 50_000,
) -> np.ndarray:
    """Row indices into `X_pool` of the `batch_size` items to label next, best first.

    `X_pool` is whatever the model reads: a feature array or frame, a sparse matrix, embedding
    vectors, or texts (a series, list or array of strings, for a text pipeline). `model` is a
    fitted scikit-learn classifier with `predict_proba` (or an unfitted one at cold start, when
    `y_labeled` holds fewer than two classes: then the batch is chosen by typicality).
    `X_labeled`/`y_labeled` are what the model was fit on: committee strategies refit on them,
    diversity avoids them, `auto` and `class_balance` count them. `oversample` is the candidate
    factor m of `combined` (top k*m by margin, then k diverse). Same `random_state`, same batch.
    Raises ValueError when batch_size is not in 1..len(X_pool) or the strategy is unknown;
    ModelError when the strategy cannot work with the model (egl without a log-loss linear model).
    """
    X_pool, X_labeled = as_rows(X_pool), as_rows(X_labeled)
    n = n_rows(X_pool)
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size={batch_size} must be between 1 and the pool size {n}; lower it")
    registry.check_name(strategy)
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    reference = None
    spec = registry.STRATEGIES.get(strategy)
    if spec is not None and spec.reference and is_fitted(model):
        # the whole pool is at hand: sample the reference from all of it, not from the first chunk
        ref_rng = np.random.default_rng(rng.integers(2**63 - 1))
        rows = np.sort(ref_rng.permutation(n)[:REFERENCE_SAMPLE])
        reference = embed(model, take(X_pool, rows), fitted=True)
    batch = score_chunks(
        model,
        chunked(X_pool, chunk_size),
        strategy=strategy,
        k=batch_size,
        rng=rng,
        X_labeled=X_labeled,
        y_labeled=y_labeled,
        oversample=oversample,
        class_balance=class_balance,
        committee=committee,
        committee_size=committee_size,
        reference=reference,
    )
    return batch["id"].to_numpy(dtype=int)
