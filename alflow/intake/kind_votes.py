"""Several annotators' votes on one item, for tags and numbers (alflow.kinds): pure functions over
a frame of valid votes (columns id, label, annotator), labels already in their one spelling.

- tags: a vote per tag. A tag is on when more than half of the item's votes hold it, off when
  fewer than half do; a tag exactly half of them hold is a tie: the item stays outstanding
  (`tie_rule: outstanding`) or the tag is left off (`class_order`). Agreement is the mean share
  of votes that agree with the result, tag by tag;
- numbers: the median of the votes (robust to one annotator's slip), with the spread (largest
  minus smallest vote) kept in the item's metadata. An item whose spread is above
  `vendor.max_spread` is not averaged: it goes back, outstanding, with the reason `disagreement`.

Both return (labels, item -> reason not labeled, agreement, item -> metadata), as
alflow.intake.aggregation's `majority` does for classes (plus the metadata).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alflow.exchange.formats.base import ID, LABEL
from alflow.kinds import indicator, numbers, spell_number, spell_tags

Result = tuple[dict[str, str], dict[str, str], float | None, dict[str, dict[str, float]]]


def tag_votes(
    votes: pd.DataFrame, *, classes: tuple[str, ...], annotators: int, tie_rule: str, allow_empty: bool = True
) -> Result:
    """Per-tag majority over each item's votes (see the module); a result of no tag where the campaign
    does not allow one leaves the item outstanding (empty_tags_not_allowed)."""
    labels: dict[str, str] = {}
    refused: dict[str, str] = {}
    shares: list[float] = []
    for key, group in votes.groupby(ID, sort=False):
        id_ = str(key)
        if len(group) < annotators:
            refused[id_] = "too_few_votes"
            continue
        held = indicator(group[LABEL], classes).mean(axis=0)
        if tie_rule == "outstanding" and bool((held == 0.5).any()):
            refused[id_] = "tie"
            continue
        on = held > 0.5
        if not on.any() and not allow_empty:
            refused[id_] = "empty_tags_not_allowed"
            continue
        labels[id_] = spell_tags(c for c, yes in zip(classes, on, strict=True) if yes)
        if len(group) > 1:
            shares.append(float(np.where(on, held, 1 - held).mean()))
    return labels, refused, (float(np.mean(shares)) if shares else None), {}


def number_votes(votes: pd.DataFrame, *, annotators: int, max_spread: float | None) -> Result:
    """The median of each item's votes, its spread recorded; too wide a spread sends the item back."""
    labels: dict[str, str] = {}
    refused: dict[str, str] = {}
    metadata: dict[str, dict[str, float]] = {}
    spreads: list[float] = []
    for key, group in votes.groupby(ID, sort=False):
        id_ = str(key)
        if len(group) < annotators:
            refused[id_] = "too_few_votes"
            continue
        values = numbers(group[LABEL])
        spread = float(values.max() - values.min())
        if max_spread is not None and spread > max_spread:
            refused[id_] = "disagreement"
            metadata[id_] = {"spread": spread, "votes": float(len(values))}  # why, for the refused rows
            continue
        labels[id_] = spell_number(float(np.median(values)))
        if len(values) > 1:
            metadata[id_] = {"spread": spread, "votes": float(len(values))}
            spreads.append(spread)
    agreement = None  # for numbers the spread says it: metadata per item
    return labels, refused, agreement, metadata
