"""Annotator quality from their votes: Dawid-Skene over every vote of a campaign, with a prior.

Pure functions over integer arrays (item, annotator and class indices), so they serve any number of
deliveries at once. The prior (each annotator right `prior_accuracy` of the time, errors spread
evenly, worth `prior_weight` votes per class) keeps the estimate sane while there is little
overlap: with no item voted twice, the posterior is the single vote weighed by that accuracy; as
overlap grows the annotators' own confusions take over. `wilson` is the interval every accuracy on
gold or overlap is reported with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PRIOR_ACCURACY = 0.8
"""What an annotator is assumed to get right before their votes say otherwise."""

PRIOR_WEIGHT = 4.0
"""How many votes per class that assumption is worth."""


@dataclass(frozen=True)
class Quality:
    """Posterior class probabilities per item and each annotator's estimated confusion and accuracy."""

    posterior: np.ndarray = field(repr=False)  # (items, classes), rows sum to 1
    confusion: np.ndarray = field(repr=False)  # (annotators, true class, said class), rows sum to 1
    accuracy: np.ndarray  # (annotators,): the share of their votes estimated right


def prior_confusion(classes: int, *, accuracy: float = PRIOR_ACCURACY, weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """Pseudo-counts (classes, classes): `accuracy` of `weight` on the diagonal, the rest spread evenly."""
    off = (1 - accuracy) / max(classes - 1, 1)
    counts = np.full((classes, classes), off)
    np.fill_diagonal(counts, accuracy)
    return counts * weight


def dawid_skene_em(
    items: np.ndarray,
    annotators: np.ndarray,
    labels: np.ndarray,
    *,
    shape: tuple[int, int, int],
    prior: np.ndarray | None = None,
    item_prior: np.ndarray | None = None,
    iterations: int = 30,
) -> Quality:
    """EM over votes (`items[v]` voted `labels[v]` by `annotators[v]`); shape = (items, annotators, classes).

    Starts from the vote shares; items without a vote get the class prior. `prior` is the
    pseudo-count confusion added to every annotator's (default `prior_confusion`). `item_prior`
    (items, classes), when given, replaces the class prior item by item: a model's out-of-fold
    probabilities, say, which lets single-vote items tell a careless annotator from a careful one
    (as CROWDLAB does). Assumes the indices are in range (callers build them).
    """
    n_items, n_annotators, k = shape
    pseudo = prior_confusion(k) if prior is None else prior
    votes = np.zeros((n_items, k))
    np.add.at(votes, (items, labels), 1.0)
    voted = votes.sum(axis=1) > 0
    posterior = np.where(voted[:, None], votes + 1e-9, 1.0) * (1.0 if item_prior is None else item_prior)
    posterior /= posterior.sum(axis=1, keepdims=True)
    confusion = np.broadcast_to(pseudo / pseudo.sum(axis=1, keepdims=True), (n_annotators, k, k))
    for _ in range(iterations):
        confusion = _confusions(posterior, items, annotators, labels, pseudo, n_annotators)
        if item_prior is None:
            class_prior = (posterior[voted].sum(axis=0) + 1.0) / (voted.sum() + k)
            log_post = np.tile(np.log(class_prior), (n_items, 1))
        else:
            log_post = np.log(item_prior + 1e-12)
        np.add.at(log_post, items, np.log(confusion[annotators, :, labels]))
        posterior = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        posterior /= posterior.sum(axis=1, keepdims=True)
    return Quality(posterior, confusion, _accuracy(posterior, items, annotators, labels, n_annotators))


def _confusions(
    posterior: np.ndarray,
    items: np.ndarray,
    annotators: np.ndarray,
    labels: np.ndarray,
    pseudo: np.ndarray,
    n_annotators: int,
) -> np.ndarray:
    counts = np.tile(pseudo, (n_annotators, 1, 1))
    for c in range(pseudo.shape[0]):
        np.add.at(counts[:, :, c], annotators[labels == c], posterior[items[labels == c]])
    return counts / counts.sum(axis=2, keepdims=True)


def _accuracy(
    posterior: np.ndarray, items: np.ndarray, annotators: np.ndarray, labels: np.ndarray, n_annotators: int
) -> np.ndarray:
    """Each annotator's expected share of right votes under the posterior (NaN without a vote)."""
    right = np.zeros(n_annotators)
    cast = np.zeros(n_annotators)
    np.add.at(right, annotators, posterior[items, labels])
    np.add.at(cast, annotators, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cast > 0, right / np.maximum(cast, 1), np.nan)


def wilson(successes: int, trials: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default); (0, 1) for no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
