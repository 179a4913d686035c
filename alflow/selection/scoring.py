"""From a model and a streamed pool to a batch: score per row while streaming, then pick from a bounded set.

Every strategy is two stages (alflow.selection.registry). A per-row *prefilter* score is computed
chunk by chunk and only the best `m` rows are kept (memory O(chunk + m), whatever the pool size).
A batch-level *pick* then chooses `k` of those `m` candidates: plain top-k for per-row strategies
(m = k), or diversity/typicality for batch strategies. `score_chunks` runs both over a pool
streamed as chunks; `alflow.selection.pool.select_batch` is the same over an in-memory pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alflow.selection import measures, registry
from alflow.selection.arrays import stack, take
from alflow.selection.committee import fit_committee
from alflow.selection.context import Chunk, Context, is_cold, pick_space
from alflow.selection.registry import Strategy

REFERENCE_SAMPLE = 1000
"""Information density compares each item to a random sample of the pool of this size."""


def select_top_k(scores: np.ndarray, k: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of the `k` highest scores, best first.

    Ties are broken at random by `rng`, or by position when it is None.
    Raises ValueError when k is not in 1..len(scores).
    """
    scores = np.asarray(scores, dtype=float)
    if not 0 < k <= scores.shape[0]:
        raise ValueError(f"k={k} must be between 1 and the number of scored items {scores.shape[0]}")
    n = scores.shape[0]
    tiebreak = np.asarray(rng.random(n)) if rng is not None else -np.arange(n, dtype=float)
    return _top_k(scores, tiebreak, k)


def _top_k(scores: np.ndarray, tiebreak: np.ndarray, k: int) -> np.ndarray:
    if k < scores.shape[0]:
        # argpartition keeps the cost O(n); only the k survivors (plus ties at the cut) are sorted.
        cut = np.partition(scores, -k)[-k]
        keep = np.flatnonzero(scores >= cut)
    else:
        keep = np.arange(scores.shape[0])
    order = np.lexsort((-tiebreak[keep], -scores[keep]))
    return keep[order[:k]]


def make_context(
    model: Any,
    strategy: Strategy,
    *,
    X_labeled: Any = None,
    y_labeled: Any = None,
    class_balance: bool = False,
    committee: list[Any] | None = None,
    committee_size: int = 5,
    rng: np.random.Generator,
) -> Context:
    """Everything the strategy needs before the pool is read: raises ModelError/ValueError early."""
    fitted = not is_cold(model, y_labeled)
    y = None if y_labeled is None else np.asarray(y_labeled)
    classes = np.asarray(model.classes_) if fitted else None
    weights = None
    if class_balance and classes is not None and y is not None:
        counts = dict(zip(*np.unique(y, return_counts=True), strict=True))
        weights = measures.class_balance_weights(list(classes), counts)
    members = None
    if strategy.committee:
        if X_labeled is None or y is None:
            raise ValueError(
                f"strategy {strategy.name!r} needs X_labeled and y_labeled to fit its committee; pass them"
            )
        members = fit_committee(model, X_labeled, y, members=committee, size=committee_size, rng=rng)
    if strategy.check_model is not None:
        strategy.check_model(model)
    return Context(model, fitted, classes, X_labeled, y, weights, members)


def _standardise(Z: np.ndarray, Z_labeled: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    # Scale by candidates and labels together: either alone is a small or biased sample.
    basis = Z if Z_labeled is None else np.concatenate([Z, Z_labeled])
    mean, std = basis.mean(axis=0), basis.std(axis=0)
    std[std == 0] = 1.0
    return (Z - mean) / std, None if Z_labeled is None else (Z_labeled - mean) / std


def _pick(strategy: Strategy, ctx: Context, X_candidates: Any, scores: np.ndarray, k: int, rng) -> np.ndarray:
    """The batch-level pick, in the space distances are measured in (`context.pick_space`:
    standardised raw features unless the model's own steps already scale them)."""
    assert strategy.pick is not None
    has_labels = ctx.X_labeled is not None and ctx.y_labeled is not None and len(ctx.y_labeled) > 0
    Z, Z_labeled, scaled = pick_space(ctx.model, X_candidates, ctx.X_labeled if has_labels else None, fitted=ctx.fitted)
    if not scaled:
        Z, Z_labeled = _standardise(Z, Z_labeled)
    return strategy.pick(Z, Z_labeled, scores, k, rng)


@dataclass
class _Candidates:
    ids: np.ndarray
    X: Any
    scores: np.ndarray
    tiebreak: np.ndarray
    predicted: np.ndarray

    def merge(self, other: _Candidates, m: int) -> _Candidates:
        ids = np.concatenate([self.ids, other.ids])
        scores = np.concatenate([self.scores, other.scores])
        tiebreak = np.concatenate([self.tiebreak, other.tiebreak])
        keep = _top_k(scores, tiebreak, min(m, scores.shape[0]))
        X = take(stack([self.X, other.X]), keep)
        predicted = np.concatenate([self.predicted, other.predicted])[keep]
        return _Candidates(ids[keep], X, scores[keep], tiebreak[keep], predicted)


def score_chunks(
    model: Any,
    chunks: Iterable[tuple[np.ndarray, Any]],
    *,
    strategy: str,
    k: int,
    rng: np.random.Generator,
    X_labeled: Any = None,
    y_labeled: Any = None,
    oversample: int = 10,
    class_balance: bool = False,
    committee: list[Any] | None = None,
    committee_size: int = 5,
    reference: np.ndarray | None = None,
) -> pd.DataFrame:
    """The `k` best items of a pool streamed as `(ids, X)` chunks, best first.

    Returns columns id, score, predicted (None at cold start). Memory holds one chunk plus the
    bounded candidate set. Same chunks in the same order and the same `rng` state give the same
    batch; for per-row strategies, whatever the chunk size. Batch-level strategies report a rank
    score (1 for the first pick, falling by 1/k). Raises ValueError if fewer than k items arrive
    or the strategy is unknown.
    """
    score_rng, tie_rng, pick_rng = rng.spawn(3)
    cold = is_cold(model, y_labeled)
    spec = registry.resolve(
        strategy,
        cold=cold,
        n_labeled=None if y_labeled is None else len(y_labeled),
        n_classes=None if cold else len(model.classes_),
    )
    ctx = make_context(
        model,
        spec,
        X_labeled=X_labeled,
        y_labeled=y_labeled,
        class_balance=class_balance,
        committee=committee,
        committee_size=committee_size,
        rng=pick_rng,
    )
    m = spec.candidates(k, oversample)
    best: _Candidates | None = None
    seen = 0
    for ids, X in chunks:
        if len(ids) == 0:
            continue
        seen += len(ids)
        if spec.reference and reference is None and ctx.fitted:
            reference = ctx.embed(take(X, np.sort(pick_rng.permutation(len(ids))[:REFERENCE_SAMPLE])))
        chunk = _chunk_candidates(spec, ctx, np.asarray(ids), X, m=m, reference=reference, rngs=(score_rng, tie_rng))
        best = chunk if best is None else best.merge(chunk, m)
    if best is None or seen < k:
        raise ValueError(f"batch_size={k} must be <= the number of unlabeled pool items {seen}")
    if spec.pick is not None:
        picked = _pick(spec, ctx, best.X, best.scores, k, pick_rng)
        scores = 1.0 - np.arange(k) / k
    else:
        picked, scores = np.arange(k), best.scores[:k]
    return pd.DataFrame({"id": best.ids[picked], "score": scores, "predicted": best.predicted[picked]})


def _chunk_candidates(
    spec: Strategy,
    ctx: Context,
    ids: np.ndarray,
    X: Any,
    *,
    m: int,
    reference: np.ndarray | None,
    rngs: tuple[np.random.Generator, np.random.Generator],
) -> _Candidates:
    """The best `m` rows of one chunk by the prefilter (weighted by class balance), with their predictions."""
    score_rng, tie_rng = rngs
    proba = ctx.model.predict_proba(X) if ctx.fitted else None
    scores = spec.prefilter(Chunk(X, proba, ctx, reference, score_rng))
    if ctx.class_weights is not None and proba is not None:
        scores = scores * ctx.class_weights[proba.argmax(axis=1)]
    tiebreak = tie_rng.random(len(ids))
    top = _top_k(scores, tiebreak, min(m, len(ids)))
    if ctx.classes is not None and proba is not None:
        predicted = ctx.classes[proba[top].argmax(axis=1)]
    else:
        predicted = np.full(top.size, None, dtype=object)
    return _Candidates(ids[top], take(X, top), scores[top], tiebreak[top], predicted)
