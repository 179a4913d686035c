"""From a fitted model and a pool to a batch: score per row while streaming, then pick from a bounded set.

Every named strategy is two stages. A per-row *prefilter* score is computed chunk by chunk and
only the best `m` rows are kept (memory O(chunk + m), whatever the pool size). A batch-level
*pick* then chooses `k` of those `m` candidates: plain top-k for per-row strategies (m = k), or
diversity/typicality for batch strategies. `select_batch` is the public API over an in-memory
pool; `score_chunks` is the same machinery over a pool streamed from disk (the round flow).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from alflow import diversity, strategies
from alflow.committee import committee_proba, fit_committee

PER_ROW = ("margin", "least_confident", "entropy", "random", "qbc_vote_entropy", "qbc_kl", "egl", "density")
BATCH = ("combined", "kcenter", "kmeans", "typiclust")
STRATEGY_NAMES = ("auto", *PER_ROW, *BATCH)
LABELS_PER_CLASS_FOR_UNCERTAINTY = 3
"""`auto` uses typicality until the labeled set holds this many items per class, then margin + diversity."""
DIVERSITY_SAMPLE = 2000
"""Diversity-only strategies pick from a uniform random sample of the pool of at least this size."""
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
    tiebreak = rng.random(scores.shape[0]) if rng is not None else -np.arange(scores.shape[0])
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


# --- context: what a strategy may know besides the pool ----------------------------------------------


@dataclass(frozen=True)
class Context:
    """The fitted model and the labeled set, resolved once per selection."""

    model: object
    fitted: bool
    classes: np.ndarray | None
    X_labeled: object | None
    y_labeled: np.ndarray | None
    class_weights: np.ndarray | None
    committee: list | None


def _is_fitted(model) -> bool:
    classes = getattr(model, "classes_", None)
    return classes is not None and len(classes) >= 2


def is_cold(model, y_labeled) -> bool:
    """No usable model or fewer than two labeled classes: only diversity can choose."""
    if y_labeled is not None and np.unique(np.asarray(y_labeled)).size < 2:
        return True
    try:
        return not _is_fitted(model)
    except NotFittedError:
        return True


def resolve_strategy(name: str, *, cold: bool, n_labeled: int | None, n_classes: int | None) -> str:
    """The concrete strategy a name stands for: cold start and `auto` are decided here."""
    if cold and name not in ("random", "kcenter", "kmeans", "typiclust"):
        return "typiclust"
    if name != "auto":
        return name
    if n_labeled is not None and n_classes and n_labeled < LABELS_PER_CLASS_FOR_UNCERTAINTY * n_classes:
        return "typiclust"
    return "combined"


def make_context(
    model,
    *,
    strategy: str,
    X_labeled=None,
    y_labeled=None,
    class_balance: bool = False,
    committee=None,
    committee_size: int = 5,
    rng: np.random.Generator,
) -> Context:
    """Everything the strategy needs before the pool is read: raises ModelError/ValueError early."""
    fitted = not is_cold(model, y_labeled)
    y = None if y_labeled is None else np.asarray(y_labeled)
    classes = np.asarray(model.classes_) if fitted else None
    weights = None
    if class_balance and fitted and y is not None:
        counts = dict(zip(*np.unique(y, return_counts=True), strict=True))
        weights = strategies.class_balance_weights(list(classes), counts)
    members = None
    if strategy in strategies.COMMITTEE:
        if X_labeled is None or y is None:
            raise ValueError(f"strategy {strategy!r} needs X_labeled and y_labeled to fit its committee; pass them")
        members = fit_committee(model, X_labeled, y, members=committee, size=committee_size, rng=rng)
    if strategy == "egl":
        strategies.check_gradient_model(model)
    return Context(model, fitted, classes, X_labeled, y, weights, members)


# --- stage 1: per-row prefilter scores ---------------------------------------------------------------


def _prefilter(name: str, ctx: Context, X, proba, reference, rand: np.ndarray) -> np.ndarray:
    if name in ("random", "kcenter", "kmeans", "typiclust"):
        return rand  # diversity picks from a uniform sample of the pool
    if name in strategies.UNCERTAINTY:
        return strategies.UNCERTAINTY[name](proba)
    if name in ("combined", "density"):
        scores = strategies.margin(proba)
        if name == "density":
            scores = scores * diversity.density(embed(ctx, X), reference)
        return scores
    if name in strategies.COMMITTEE:
        return strategies.COMMITTEE[name](committee_proba(ctx.committee, X, ctx.classes))
    if name == "egl":
        return strategies.expected_gradient_length(ctx.model, X, proba)
    raise ValueError(f"strategy {name!r} is unknown; use one of {', '.join(STRATEGY_NAMES)}")


def candidate_count(name: str, k: int, *, oversample: int) -> int:
    """How many rows the prefilter keeps for the pick stage (k for per-row strategies)."""
    if name == "combined":
        return k * oversample
    if name in BATCH:
        return max(k * oversample, DIVERSITY_SAMPLE)
    return k


# --- stage 2: batch-level pick over the candidates ---------------------------------------------------


def embed(ctx: Context, X) -> np.ndarray:
    """The space distances are measured in: the fitted pipeline's transformed features, else X as floats."""
    steps = getattr(ctx.model, "steps", None)
    Z = ctx.model[:-1].transform(X) if steps and ctx.fitted else X
    Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z, dtype=float)
    return Z


def _standardise(Z: np.ndarray, Z_labeled: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    # Scale by candidates and labels together: either alone is a small or biased sample.
    basis = Z if Z_labeled is None else np.concatenate([Z, Z_labeled])
    mean, std = basis.mean(axis=0), basis.std(axis=0)
    std[std == 0] = 1.0
    return (Z - mean) / std, None if Z_labeled is None else (Z_labeled - mean) / std


def _pick(name: str, ctx: Context, X_candidates, scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    Z = embed(ctx, X_candidates)
    has_labels = ctx.X_labeled is not None and ctx.y_labeled is not None and len(ctx.y_labeled) > 0
    Z_labeled = embed(ctx, ctx.X_labeled) if has_labels else None
    if not (getattr(ctx.model, "steps", None) and ctx.fitted):
        Z, Z_labeled = _standardise(Z, Z_labeled)
    if name == "combined":
        return diversity.kmeans_representatives(Z, k, weights=scores + 1e-9, rng=rng)
    if name == "kcenter":
        return diversity.k_center_greedy(Z, k, Z_labeled=Z_labeled, rng=rng)
    if name == "kmeans":
        return diversity.kmeans_representatives(Z, k, rng=rng)
    return diversity.typical_representatives(Z, k, Z_labeled=Z_labeled, rng=rng)


# --- streaming -----------------------------------------------------------------------------------------


def _take(X, rows: np.ndarray):
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _stack(parts: list):
    if hasattr(parts[0], "iloc"):
        return pd.concat(parts, ignore_index=True)
    if hasattr(parts[0], "tocsr"):
        import scipy.sparse as sp

        return sp.vstack(parts).tocsr()
    return np.concatenate(parts)


@dataclass
class _Candidates:
    ids: np.ndarray
    X: object
    scores: np.ndarray
    tiebreak: np.ndarray
    predicted: np.ndarray

    def merge(self, other: _Candidates, m: int) -> _Candidates:
        ids = np.concatenate([self.ids, other.ids])
        scores = np.concatenate([self.scores, other.scores])
        tiebreak = np.concatenate([self.tiebreak, other.tiebreak])
        keep = _top_k(scores, tiebreak, min(m, scores.shape[0]))
        X = _take(_stack([self.X, other.X]), keep)
        predicted = np.concatenate([self.predicted, other.predicted])[keep]
        return _Candidates(ids[keep], X, scores[keep], tiebreak[keep], predicted)


def score_chunks(
    model,
    chunks: Iterable[tuple[np.ndarray, object]],
    *,
    strategy: str,
    k: int,
    rng: np.random.Generator,
    X_labeled=None,
    y_labeled=None,
    oversample: int = 10,
    class_balance: bool = False,
    committee=None,
    committee_size: int = 5,
    reference=None,
) -> pd.DataFrame:
    """The `k` best items of a pool streamed as `(ids, X)` chunks, best first.

    Returns columns id, score, predicted (None at cold start). Memory holds one chunk plus the
    bounded candidate set. Same chunks in the same order and the same `rng` state give the same
    batch; for per-row strategies, whatever the chunk size. Batch-level strategies report a rank
    score (1 for the first pick, falling by 1/k). Raises ValueError if fewer than k items arrive.
    """
    score_rng, tie_rng, pick_rng = rng.spawn(3)
    cold = is_cold(model, y_labeled)
    n_classes = None if cold else len(model.classes_)
    n_labeled = None if y_labeled is None else len(y_labeled)
    name = resolve_strategy(strategy, cold=cold, n_labeled=n_labeled, n_classes=n_classes)
    if name not in STRATEGY_NAMES:
        raise ValueError(f"strategy {strategy!r} is unknown; use one of {', '.join(STRATEGY_NAMES)}")
    ctx = make_context(
        model,
        strategy=name,
        X_labeled=X_labeled,
        y_labeled=y_labeled,
        class_balance=class_balance,
        committee=committee,
        committee_size=committee_size,
        rng=pick_rng,
    )
    m = candidate_count(name, k, oversample=oversample)
    best: _Candidates | None = None
    seen = 0
    for ids, X in chunks:
        n = len(ids)
        if n == 0:
            continue
        seen += n
        rand = score_rng.random(n) if name in ("random", "kcenter", "kmeans", "typiclust") else None
        proba = model.predict_proba(X) if ctx.fitted else None
        if name == "density" and reference is None:
            reference = embed(ctx, _take(X, np.sort(pick_rng.permutation(n)[:REFERENCE_SAMPLE])))
        scores = _prefilter(name, ctx, X, proba, reference, rand)
        if ctx.class_weights is not None:
            scores = scores * ctx.class_weights[proba.argmax(axis=1)]
        tiebreak = tie_rng.random(n)
        top = _top_k(scores, tiebreak, min(m, n))
        predicted = ctx.classes[proba[top].argmax(axis=1)] if ctx.fitted else np.full(top.size, None, dtype=object)
        chunk = _Candidates(np.asarray(ids)[top], _take(X, top), scores[top], tiebreak[top], predicted)
        best = chunk if best is None else best.merge(chunk, m)
    if best is None or seen < k:
        raise ValueError(f"batch_size={k} must be <= the number of unlabeled pool items {seen}")
    if name in BATCH:
        picked = _pick(name, ctx, best.X, best.scores, k, pick_rng)
        scores = 1.0 - np.arange(k) / k
    else:
        picked, scores = np.arange(k), best.scores[:k]
    return pd.DataFrame({"id": best.ids[picked], "score": scores, "predicted": best.predicted[picked]})


def chunked(X, size: int) -> Iterator[tuple[np.ndarray, object]]:
    """`(row indices, rows)` pairs over an in-memory pool."""
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    for start in range(0, n, size):
        rows = np.arange(start, min(start + size, n))
        yield rows, (X.iloc[start : start + size] if hasattr(X, "iloc") else X[start : start + size])


def select_batch(
    model,
    X_pool,
    batch_size: int,
    *,
    strategy: str = "auto",
    X_labeled=None,
    y_labeled=None,
    random_state: int | np.random.Generator | None = None,
    oversample: int = 10,
    class_balance: bool = False,
    committee=None,
    committee_size: int = 5,
    chunk_size: int = 50_000,
) -> np.ndarray:
    """Row indices into `X_pool` of the `batch_size` items to label next, best first.

    `model` is a fitted scikit-learn classifier with `predict_proba` (or an unfitted one at cold
    start, when `y_labeled` holds fewer than two classes: then the batch is chosen by typicality).
    `X_labeled`/`y_labeled` are what the model was fit on: committee strategies refit on them,
    diversity avoids them, `auto` and `class_balance` count them. `oversample` is the candidate
    factor m of `combined` (top k*m by margin, then k diverse). Same `random_state`, same batch.
    Raises ValueError when batch_size is not in 1..len(X_pool) or the strategy is unknown;
    ModelError when the strategy cannot work with the model (egl without a log-loss linear model).
    """
    n = X_pool.shape[0] if hasattr(X_pool, "shape") else len(X_pool)
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size={batch_size} must be between 1 and the pool size {n}; lower it")
    if strategy not in STRATEGY_NAMES:
        raise ValueError(f"strategy {strategy!r} is unknown; use one of {', '.join(STRATEGY_NAMES)}")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    reference = None
    if strategy == "density":
        ref_rng = np.random.default_rng(rng.integers(2**63 - 1))
        rows = np.sort(ref_rng.permutation(n)[:REFERENCE_SAMPLE])
        reference = _reference(model, X_pool, rows)
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


def _reference(model, X_pool, rows: np.ndarray) -> np.ndarray:
    ctx = Context(model, _is_fitted(model), None, None, None, None, None)
    return embed(ctx, _take(X_pool, rows))
