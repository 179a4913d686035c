"""Aggregating several annotators' votes on one item into one label: majority with a stated tie
rule, or Dawid-Skene. Pure functions over a frame of valid votes (columns id, label, annotator)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL


def majority(
    votes: pd.DataFrame, *, classes: tuple[str, ...], annotators: int, tie_rule: str
) -> tuple[dict[str, str], dict[str, str], float | None]:
    """Majority vote per item: (labels, item -> reason not labeled, agreement).

    Agreement is the mean share of an item's votes that agree with its label, over items with two
    votes or more (None when no item has two). A tie leaves the item outstanding (`tie_rule=
    "outstanding"`) or takes the tied class listed first in `classes` ("class_order").
    """
    labels: dict[str, str] = {}
    refused: dict[str, str] = {}
    shares = []
    for key, group in votes.groupby(ID, sort=False):
        id_ = str(key)
        counts = Counter(group[LABEL])
        if len(group) < annotators:
            refused[id_] = "too_few_votes"
            continue
        top = max(counts.values())
        # Labels of another kind (tags, numbers: alflow.kinds) are not in `classes`: first seen first.
        tied = [c for c in classes if counts.get(c) == top] or [c for c, n in counts.items() if n == top]
        if len(tied) > 1 and tie_rule == "outstanding":
            refused[id_] = "tie"
            continue
        labels[id_] = tied[0]
        if len(group) > 1:
            shares.append(top / len(group))
    return labels, refused, (float(np.mean(shares)) if shares else None)


def dawid_skene(
    votes: pd.DataFrame, *, classes: tuple[str, ...], annotators: int, iterations: int = 20
) -> tuple[dict[str, str], dict[str, str], float | None]:
    """Dawid-Skene EM over one file's votes: each annotator's confusion matrix weighs their votes.

    Starts from the majority vote; items with fewer than `annotators` votes are refused. Exact
    ties of the posterior go to the class listed first. Agreement is as in `majority`.
    """
    counts = votes.groupby(ID, sort=False).size()
    refused = {str(i): "too_few_votes" for i, n in counts.items() if n < annotators}
    votes = votes[~votes[ID].isin(refused)]
    if votes.empty:
        return {}, refused, None
    items = [str(i) for i in dict.fromkeys(votes[ID])]
    workers = list(dict.fromkeys(votes[ANNOTATOR].fillna("(anonymous)")))
    k = len(classes)
    item_of = {i: n for n, i in enumerate(items)}
    worker_of = {w: n for n, w in enumerate(workers)}
    rows = [
        (item_of[i], worker_of[w], classes.index(lab))
        for i, w, lab in zip(votes[ID], votes[ANNOTATOR].fillna("(anonymous)"), votes[LABEL], strict=True)
    ]
    T = np.full((len(items), k), 1e-9)
    for i, _, c in rows:
        T[i, c] += 1
    T /= T.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        prior = T.mean(axis=0) + 1e-9
        confusion = np.full((len(workers), k, k), 1e-2)
        for i, w, c in rows:
            confusion[w, :, c] += T[i]
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_t = np.tile(np.log(prior), (len(items), 1))
        for i, w, c in rows:
            log_t[i] += np.log(confusion[w, :, c])
        T = np.exp(log_t - log_t.max(axis=1, keepdims=True))
        T /= T.sum(axis=1, keepdims=True)
    labels = {item: classes[int(np.argmax(T[n]))] for n, item in enumerate(items)}
    shares = [
        float((group[LABEL] == labels[str(id_)]).mean())
        for id_, group in votes.groupby(ID, sort=False)
        if len(group) > 1
    ]
    return labels, refused, (float(np.mean(shares)) if shares else None)
