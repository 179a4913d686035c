"""From scores to a batch: top-k, on a whole array or streamed over pool chunks."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from alflow.strategies import UNCERTAINTY


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


def score_chunks(
    model,
    chunks: Iterable[tuple[np.ndarray, object]],
    *,
    strategy: str,
    k: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The `k` best items of a pool streamed as `(ids, X)` chunks, best first.

    Returns columns id, score, predicted. Memory holds one chunk plus k candidates.
    Same chunks in the same order and the same `rng` state give the same batch, whatever the
    chunk size.
    """
    score_rng, tie_rng = rng.spawn(2)
    best = pd.DataFrame({"id": [], "score": [], "tiebreak": [], "predicted": []})
    for ids, X in chunks:
        n = len(ids)
        if n == 0:
            continue
        proba = model.predict_proba(X)
        predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
        scores = score_rng.random(n) if strategy == "random" else UNCERTAINTY[strategy](proba)
        chunk = pd.DataFrame({"id": ids, "score": scores, "tiebreak": tie_rng.random(n), "predicted": predicted})
        merged = pd.concat([best, chunk], ignore_index=True) if len(best) else chunk
        keep = _top_k(merged["score"].to_numpy(), merged["tiebreak"].to_numpy(), min(k, len(merged)))
        best = merged.iloc[keep].reset_index(drop=True)
    return best.drop(columns="tiebreak")
