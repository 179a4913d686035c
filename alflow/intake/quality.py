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
import pandas as pd

from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL
from alflow.intake.aggregation import majority

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
    pseudo-count confusion added to every annotator's (default `prior_confusion`), or one per
    annotator (annotators, classes, classes). `item_prior`
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
    confusion = np.broadcast_to(pseudo / pseudo.sum(axis=-1, keepdims=True), (n_annotators, k, k))
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


def vote_posterior(
    items: np.ndarray, annotators: np.ndarray, labels: np.ndarray, confusion: np.ndarray, n_items: int
) -> np.ndarray:
    """Posterior (items, classes) from the votes alone, each weighed by its annotator's `confusion`
    (annotators, true, said), under an even class prior: what the votes say, whatever the prior
    that estimated the confusions said of each item."""
    log_post = np.zeros((n_items, confusion.shape[1]))
    np.add.at(log_post, items, np.log(confusion[annotators, :, labels]))
    posterior = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    return posterior / posterior.sum(axis=1, keepdims=True)


def _confusions(
    posterior: np.ndarray,
    items: np.ndarray,
    annotators: np.ndarray,
    labels: np.ndarray,
    pseudo: np.ndarray,
    n_annotators: int,
) -> np.ndarray:
    counts = np.tile(pseudo, (n_annotators, 1, 1)) if pseudo.ndim == 2 else pseudo.copy()  # one prior, or one each
    for c in range(pseudo.shape[-1]):
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


MIN_OVERLAP = 10
"""Items with votes of two annotators or more a file needs before its annotators' quality is
estimated from it (`aggregate_with_quality`); with fewer, a plain majority."""

ANONYMOUS = "(anonymous)"


@dataclass(frozen=True)
class Weighed:
    """One file's votes aggregated with annotator quality: labels, items refused and why, the
    agreement (as `aggregation.majority`), each annotator's estimated accuracy (empty without
    evidence) and the method that decided ("dawid_skene" or "majority")."""

    labels: dict[str, str]
    refused: dict[str, str]
    agreement: float | None
    accuracy: dict[str, float]
    method: str


def seeded_prior(classes: int, right: int, answered: int) -> np.ndarray:
    """An annotator's prior from their gold answers (`right` of `answered`): the default prior's
    PRIOR_WEIGHT votes per class plus the gold answers, spread evenly over the classes; its accuracy
    the share right once the default prior's pseudo-votes are counted in."""
    accuracy = (right + PRIOR_ACCURACY * PRIOR_WEIGHT) / (answered + PRIOR_WEIGHT)
    return prior_confusion(classes, accuracy=accuracy, weight=PRIOR_WEIGHT + answered / classes)


def aggregate_with_quality(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    annotators: int,
    tie_rule: str,
    gold: dict[str, tuple[int, int]] | None = None,
) -> Weighed:
    """Dawid-Skene with the prior over a file's valid votes (columns id, label, annotator) once
    MIN_OVERLAP items have two votes or more, else the majority; items with fewer than
    `annotators` votes are refused (too_few_votes), a tied posterior follows `tie_rule` as a tied
    majority does. `gold` (annotator -> (right, answered) on gold items) seeds each annotator's
    prior with that evidence (`seeded_prior`)."""
    counts = votes.groupby(ID, sort=False).size()
    overlap = int((counts >= 2).sum())
    if overlap < MIN_OVERLAP:
        return Weighed(*majority(votes, classes=classes, annotators=annotators, tie_rule=tie_rule), {}, "majority")
    refused = {str(i): "too_few_votes" for i, n in counts.items() if n < annotators}
    votes = votes[~votes[ID].isin(refused)]
    items = list(dict.fromkeys(str(i) for i in votes[ID]))
    names = votes[ANNOTATOR].fillna(ANONYMOUS).astype(str)
    workers = sorted(set(names))
    item_of, worker_of = {i: n for n, i in enumerate(items)}, {w: n for n, w in enumerate(workers)}
    known, k = gold or {}, len(classes)
    prior = np.stack([seeded_prior(k, *known[w]) if w in known else prior_confusion(k) for w in workers])
    quality = dawid_skene_em(
        np.array([item_of[str(i)] for i in votes[ID]], dtype=int),
        np.array([worker_of[w] for w in names], dtype=int),
        np.array([classes.index(c) for c in votes[LABEL]], dtype=int),
        shape=(len(items), len(workers), len(classes)),
        prior=prior,
    )
    labels: dict[str, str] = {}
    for n, item in enumerate(items):
        row = quality.posterior[n]
        tied = np.flatnonzero(row >= row.max() - 1e-9)
        if tied.size > 1 and tie_rule == "outstanding":
            refused[item] = "tie"
        else:
            labels[item] = classes[int(tied[0])]
    shares = [
        float((group[LABEL] == labels[str(i)]).mean())
        for i, group in votes.groupby(ID, sort=False)
        if len(group) > 1 and str(i) in labels
    ]
    accuracy = {w: round(float(quality.accuracy[n]), 4) for n, w in enumerate(workers)}
    return Weighed(labels, refused, float(np.mean(shares)) if shares else None, accuracy, "dawid_skene")


REPEAT_WHEN = 0.3
"""Another annotation is asked of an item whose label is wrong with at least this probability, with
ten classes (`repeat_when` scales it to the class count: the simulation's `adaptive` plan, and
`vendor.repeats.when` by default)."""


def repeat_when(classes: int) -> float:
    """The default repeat threshold for `classes` classes: a third of the chance a blind guess is
    wrong, (k - 1) / 3k (0.3 for ten classes, 0.25 for four, 1/6 for two). A fixed probability means
    less the fewer the classes: a single vote from a typical annotator (80 % right) is wrong with
    0.2 in any class count, under 0.3 but well over a binary guess's third."""
    return (classes - 1) / (3 * classes) if classes > 1 else REPEAT_WHEN


MODEL_WEIGHT = 0.9
"""How far a model's out-of-fold probabilities are trusted as an item's prior when deciding repeats
(the rest is spread evenly): evidence beside the votes, not truth."""


def tempered(proba: np.ndarray, *, weight: float = MODEL_WEIGHT) -> np.ndarray:
    """A model's probabilities (items, classes) as items' priors: `weight` of them, the rest even."""
    return weight * proba + (1 - weight) / proba.shape[1]


def ask_again(wrong: np.ndarray, most: int, *, when: float = REPEAT_WHEN) -> list[int]:
    """Positions in `wrong` (each label's probability of being wrong) worth another annotation: those
    at least `when`, likeliest wrong first, at most `most`."""
    if most <= 0 or wrong.size == 0:
        return []
    order = np.argsort(-wrong, kind="stable")
    return [int(i) for i in order[:most] if wrong[i] >= when]
