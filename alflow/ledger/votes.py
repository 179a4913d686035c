"""The verdict on one readable delivery file: which votes become labels, and why each other row is refused.

Pure functions over a frame of votes (alflow.exchange.formats reads them): validation of each
row by Great Expectations, one vote per annotator and item, aggregation of several annotators'
votes (majority with a stated tie rule, or Dawid-Skene), then the rules against labels already
accepted: the same label again is a late duplicate, a different one a conflicting relabel.

Row reasons (machine-readable, in the ingest record and the quarantine's `.reason.json`):
missing_id, missing_label, label_not_in_class_set, id_not_in_batch, duplicate_vote, tie,
too_few_votes, conflicting_relabel.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL, META_COLUMNS
from alflow.learning import validation
from alflow.ledger.records import RejectedRow
from alflow.values import plain, text

ROW_RULES = ("missing_id", "missing_label", "label_not_in_class_set", "id_not_in_batch")


@dataclass(frozen=True)
class Verdict:
    """What one delivery file yields: labels to accept, rows rejected, and how the votes agreed."""

    labels: dict[str, str]
    rejected: list[RejectedRow]
    duplicates: list[str]
    agreement: float | None
    annotators: list[str]
    votes: int
    metadata: dict[str, dict]


# --- pure steps -------------------------------------------------------------------------------


def normalise(votes: pd.DataFrame) -> pd.DataFrame:
    """Votes with text columns id, label, annotator (added empty when absent), positions reset."""
    votes = votes.reset_index(drop=True).copy()
    if ANNOTATOR not in votes.columns:
        votes[ANNOTATOR] = pd.Series([None] * len(votes), index=votes.index, dtype=object)
    for column in (ID, LABEL, ANNOTATOR):
        if column in votes.columns:
            votes[column] = pd.Series([text(v) for v in votes[column]], index=votes.index, dtype=object)
    return votes


def row_problems(votes: pd.DataFrame, *, classes: tuple[str, ...], batch: set[str], source: str) -> dict[int, str]:
    """Row position -> first reason it is rejected, checked by Great Expectations.

    Raises DataValidationError when a required column is missing (the whole file is rejected).
    """
    validation.check(votes.head(0), [validation.Rule("column_exists", c) for c in (ID, LABEL)], source=source)
    frame = votes.assign(_in_batch=votes[ID].isin(batch) | votes[ID].isna())
    rules = [
        validation.Rule("not_null", ID),
        validation.Rule("not_null", LABEL),
        validation.Rule("in_set", LABEL, {"value_set": sorted(classes)}),
        validation.Rule("in_set", "_in_batch", {"value_set": [True]}),
    ]
    problems: dict[int, str] = {}
    for index, rows in validation.failing_rows(frame[[ID, LABEL, "_in_batch"]], rules, source=source).items():
        for row in rows:
            problems.setdefault(row, ROW_RULES[index])
    return problems


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
        tied = [c for c in classes if counts.get(c) == top]
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


def _duplicate_votes(votes: pd.DataFrame, problems: dict[int, str]) -> dict[int, str]:
    """Rows that repeat an annotator's vote for an item: one annotator, one vote per item, the first counts."""
    seen: set[tuple[str, str]] = set()
    duplicates = {}
    for row, (id_, who) in enumerate(zip(votes[ID], votes[ANNOTATOR], strict=True)):
        if row not in problems and who is not None:
            if (id_, who) in seen:
                duplicates[row] = "duplicate_vote"
            seen.add((id_, who))
    return duplicates


def _rejected(votes: pd.DataFrame, problems: dict[int, str], accepted: dict[str, str]) -> list[RejectedRow]:
    def cell(row: int, column: str) -> str | None:
        return text(votes.at[row, column])

    return [
        RejectedRow(
            row=int(row) + 1,
            id=cell(row, ID),
            label=cell(row, LABEL),
            annotator=cell(row, ANNOTATOR),
            reason=reason,
            accepted_label=accepted[str(cell(row, ID))] if reason == "conflicting_relabel" else None,
        )
        for row, reason in sorted(problems.items())
    ]


def judge(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    batch: set[str],
    accepted: dict[str, str],
    annotators: int = 1,
    aggregation: str = "majority",
    tie_rule: str = "outstanding",
    source: str,
) -> Verdict:
    """Decide a readable delivery file: which labels to accept and why each other row is refused.

    `accepted` holds the labels already accepted for the round: the same label again is a late
    duplicate (skipped, not counted), a different one a conflicting relabel (refused; the first
    label stands). Raises DataValidationError when the file as a whole is unusable.
    """
    votes = normalise(votes)
    problems = row_problems(votes, classes=classes, batch=batch, source=source)
    problems.update(_duplicate_votes(votes, problems))
    valid = votes.drop(index=list(problems))
    if aggregation == "dawid_skene":
        labels, refused, agreement = dawid_skene(valid, classes=classes, annotators=annotators)
    else:
        labels, refused, agreement = majority(valid, classes=classes, annotators=annotators, tie_rule=tie_rule)
    conflicts = {i for i, label in labels.items() if i in accepted and accepted[i] != label}
    for row, id_ in zip(valid.index, valid[ID], strict=True):
        if id_ in refused:
            problems[row] = refused[id_]
        elif id_ in conflicts:
            problems[row] = "conflicting_relabel"
    fresh = {i: label for i, label in labels.items() if i not in accepted}
    duplicates = sorted(i for i, label in labels.items() if accepted.get(i) == label)
    who = sorted({w for w in valid[ANNOTATOR] if w is not None})
    rejected = _rejected(votes, problems, accepted)
    return Verdict(fresh, rejected, duplicates, agreement, who, len(votes), _metadata(votes, valid.index, fresh))


def _metadata(votes: pd.DataFrame, rows: pd.Index, fresh: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per accepted item, the label metadata its format carries (confidence, job, dates), non-empty only."""
    columns = [c for c in META_COLUMNS if c in votes.columns]
    metadata: dict[str, dict[str, Any]] = {}
    for row in rows if columns else []:
        id_ = str(votes.at[row, ID])
        if id_ in fresh:
            values = {c: _json_value(votes.at[row, c]) for c in columns}
            metadata[id_] = {c: v for c, v in values.items() if v is not None}
    return {k: v for k, v in metadata.items() if v}


def _json_value(value: Any) -> Any:
    value = plain(value)
    return None if value is None or str(value).strip() == "" else value
