"""Batch-level selection over a bounded candidate set: diversity, typicality, density.

Every function takes an embedding `Z` of shape (n, d) (the candidates, already bounded by the
caller to a few thousand rows) and returns `k` distinct row indices into it, best first.
Input validation is assumed done by `alflow.selection.scorer`. scikit-learn is imported inside
the functions that use it: it costs a second, and the strategy registry (which a campaign file's
validation reads) must stay light.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


def k_center_greedy(
    Z: np.ndarray, k: int, *, Z_labeled: np.ndarray | None = None, rng: np.random.Generator
) -> np.ndarray:
    """Core-set: repeatedly take the candidate farthest from everything chosen or labeled.

    O(k * n * d) time, O(n) memory beyond Z. Without labeled items the first pick is random. Once
    every candidate left is at distance zero (duplicate rows, or rows equal to labeled ones), the
    rest of the batch is drawn at random among them: k distinct indices always.
    """
    from sklearn.metrics import pairwise_distances

    n = Z.shape[0]
    nearest = np.full(n, np.inf)
    if Z_labeled is not None and len(Z_labeled):
        for start in range(0, len(Z_labeled), 2048):  # bounded memory for a large labeled set
            block = pairwise_distances(Z, Z_labeled[start : start + 2048])
            nearest = np.minimum(nearest, block.min(axis=1))
    tiebreak = np.asarray(rng.random(n))  # among equally far candidates (all zero, say), a random one
    chosen: list[int] = []
    while len(chosen) < k:
        pick = int(np.lexsort((-tiebreak, -nearest))[0])
        chosen.append(pick)
        nearest = np.minimum(nearest, pairwise_distances(Z, Z[pick : pick + 1]).ravel())
        nearest[chosen] = -np.inf  # never chosen twice
    return np.array(chosen)


def kmeans_representatives(
    Z: np.ndarray, k: int, *, weights: np.ndarray | None = None, rng: np.random.Generator
) -> np.ndarray:
    """k-means into k clusters; from each, the item with the highest weight (or the one nearest the centre).

    Best first = largest cluster first. With `weights` (e.g. uncertainty scores) this is
    weighted k-means over the candidates, as in diverse mini-batch active learning
    (Zhdanov 2019). O(n * k * d * iterations).
    """
    from sklearn.cluster import KMeans

    seed = int(rng.integers(2**31 - 1))
    km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=seed)
    with _duplicates_expected():
        labels = km.fit_predict(Z, sample_weight=weights)
    distance = np.linalg.norm(Z - km.cluster_centers_[labels], axis=1)
    key = weights if weights is not None else -distance
    sizes = np.bincount(labels, minlength=k)
    chosen = []
    for cluster in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(labels == cluster)
        if members.size:
            chosen.append(members[np.argmax(key[members])])
    return _fill(np.array(chosen, dtype=int), k, key)


def typical_representatives(
    Z: np.ndarray,
    k: int,
    *,
    Z_labeled: np.ndarray | None = None,
    rng: np.random.Generator,
    neighbours: int = 20,
    max_clusters: int = 500,
) -> np.ndarray:
    """TypiClust (Hacohen et al. 2022): the most typical item of the largest clusters no label covers yet.

    Clusters = min(labeled + k, max_clusters, n); typicality = 1 / mean distance to the item's
    nearest neighbours in its cluster. Suited to cold start and small budgets, where coverage of
    the data matters more than the model's uncertainty. O(n * clusters * d) for k-means.
    """
    from sklearn.cluster import KMeans

    n = Z.shape[0]
    n_labeled = 0 if Z_labeled is None else len(Z_labeled)
    # Labeled and unlabeled items are clustered together, as in the paper: a cluster holding
    # labels is covered.
    Z_all = Z if not n_labeled else np.concatenate([Z, Z_labeled])
    n_clusters = int(min(n_labeled + k, max_clusters, n))
    seed = int(rng.integers(2**31 - 1))
    with _duplicates_expected():
        labels = KMeans(n_clusters=n_clusters, n_init=1, max_iter=100, random_state=seed).fit_predict(Z_all)
    covered = np.bincount(labels[n:], minlength=n_clusters).astype(float)
    sizes = np.bincount(labels, minlength=n_clusters).astype(float)
    typicality = _typicality(Z_all, labels, n_clusters, neighbours)
    labels, typicality = labels[:n], typicality[:n]
    open_ = np.bincount(labels, minlength=n_clusters) > 0  # clusters with an unlabeled item left
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    while len(chosen) < k and open_.any():
        order = np.lexsort((-sizes, covered))  # fewest labels first, then the largest cluster
        cluster = next(c for c in order if open_[c])
        members = np.flatnonzero((labels == cluster) & ~taken)
        pick = members[np.argmax(typicality[members])]
        chosen.append(int(pick))
        taken[pick] = True
        covered[cluster] += 1
        open_[cluster] = members.size > 1
    return _fill(np.array(chosen, dtype=int), k, typicality)


def _typicality(Z: np.ndarray, labels: np.ndarray, n_clusters: int, neighbours: int) -> np.ndarray:
    """1 / mean distance to the item's nearest neighbours in its cluster (1 for a cluster of one)."""
    from sklearn.metrics import pairwise_distances

    typicality = np.zeros(Z.shape[0])
    for cluster in range(n_clusters):
        members = np.flatnonzero(labels == cluster)
        if members.size <= 1:
            typicality[members] = 1.0
            continue
        m = min(neighbours, members.size - 1)
        distances = pairwise_distances(Z[members])  # clusters are small: a few hundred items at most
        nearest = np.partition(distances, m, axis=1)[:, 1 : m + 1]  # column 0 is the item itself
        typicality[members] = 1.0 / (nearest.mean(axis=1) + 1e-12)
    return typicality


def density(Z: Any, Z_reference: Any) -> np.ndarray:
    """Mean cosine similarity of each row of Z to a reference sample, mapped to [0, 1].

    Z and the reference must be in the same space (`alflow.selection.knowledge.Space`: standardised,
    missing values at the mean), so a feature's unit does not decide who is typical. Both may be
    sparse (TF-IDF): the similarity is one product with the mean of the reference's unit rows, so
    nothing is densified but that mean (one row).
    """
    from sklearn.preprocessing import normalize

    centre = np.asarray(normalize(Z_reference).mean(axis=0)).ravel()
    return (1.0 + np.asarray(normalize(Z) @ centre).ravel()) / 2.0


@contextmanager
def _duplicates_expected() -> Iterator[None]:
    """Fewer distinct points than clusters (duplicate rows) is handled by `_fill`: no warning for it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Number of distinct clusters")
        yield


def _fill(chosen: np.ndarray, k: int, key: np.ndarray) -> np.ndarray:
    """Top up a short pick (empty clusters) with the best remaining items by `key`."""
    if chosen.size >= k:
        return chosen[:k]
    left = np.ones(key.shape[0], dtype=bool)
    left[chosen] = False
    rest = np.argsort(-key, kind="stable")
    return np.concatenate([chosen, rest[left[rest]][: k - chosen.size]])
