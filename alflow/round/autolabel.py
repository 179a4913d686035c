"""Auto-labeling in a round: the unlabeled items the model is sure of, kept apart from human labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.compute as pc

from alflow.data import pools
from alflow.model import estimators
from alflow.round.context import RoundContext
from alflow.round.pool import arrow_ids, as_frame, pool_batches
from alflow.round.train import Trained
from alflow.selection.confidence import auto_labels, confidence_threshold


@dataclass(frozen=True)
class AutoLabels:
    """The items the model labels itself this round (alflow.selection.confidence).

    `calibration` says where the threshold was measured (holdout or cross_validation) on how many
    items; `threshold` is None when no confidence met the target there, and then nothing is labeled.
    """

    labels: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict, repr=False)
    threshold: float | None = None
    calibration: str | None = None
    calibration_items: int = 0


def _held_out_proba(ctx: RoundContext, trained: Trained) -> tuple[np.ndarray, np.ndarray, Any, str] | None:
    """(probabilities, true labels, probability columns' classes, source) on items the model did not fit."""
    if ctx.holdout is not None:
        X, truth = ctx.holdout
        return trained.model.predict_proba(X), truth, trained.model.classes_, "holdout"
    untrained = estimators.build_model(ctx.config.model, seed=ctx.config.seed)
    result = estimators.cross_validated_proba(untrained, trained.X, trained.y, seed=ctx.config.seed)
    return None if result is None else (*result, "cross_validation")


Found = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(ids, labels, confidences) of auto-labeled items, in pool order."""


def most_confident(found: list[Found], limit: int | None) -> Found:
    """The items of `found` (parts in pool order) joined, only the `limit` most confident kept (all
    when None), still in pool order: keeping them part by part keeps what one sort of all would."""
    ids, labels, confidence = (np.concatenate(parts) for parts in zip(*found, strict=True))
    if limit is not None and len(confidence) > limit:
        keep = np.sort(np.argsort(-np.asarray(confidence, dtype=float), kind="stable")[:limit])
        ids, labels, confidence = ids[keep], labels[keep], confidence[keep]
    return ids, labels, confidence


def _confident(ctx: RoundContext, trained: Trained, threshold: float, limit: int | None) -> Found:
    """(ids, labels, confidences) of the pool items not taken whose confidence is >= threshold, at
    most `limit` of them (the most confident), in pool order. With a limit, memory holds that many
    items and one chunk's, whatever the pool's size."""
    taken, found = arrow_ids(ctx.taken), []
    for offset, batch in pool_batches(ctx):
        keep = pc.invert(pools.ids_mask(batch.column(0), taken))
        kept = batch.filter(keep)
        if kept.num_rows:
            chunk = as_frame(ctx, kept, offset + np.flatnonzero(keep.to_numpy(zero_copy_only=False)))
            ids = chunk[ctx.config.pool.id_column].to_numpy()
            found.append(auto_labels(trained.model, ctx.model_input(chunk), ids, threshold=threshold))
            if limit is not None:
                found = [most_confident(found, limit)]
    if not found:
        return np.array([]), np.array([]), np.array([])
    return most_confident(found, limit)


def auto_label(ctx: RoundContext, trained: Trained) -> AutoLabels:
    """Label the unlabeled items the model is sure of, when `auto_label` is configured.

    The threshold is the lowest confidence at which held-out predictions (the holdout, or
    cross-validation without one) reach `target_accuracy` over at least `min_calibration_items`.
    """
    options = ctx.config.auto_label
    held_out = _held_out_proba(ctx, trained) if options is not None and trained.fitted else None
    if options is None or held_out is None:
        return AutoLabels()
    proba, truth, classes, source = held_out
    threshold = confidence_threshold(
        proba, truth, classes, target_accuracy=options.target_accuracy, min_items=options.min_calibration_items
    )
    if threshold is None:
        return AutoLabels(calibration=source, calibration_items=len(truth))
    ids, labels, confidence = _confident(ctx, trained, threshold, options.max_per_round)
    keep = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")[: options.max_per_round]
    return AutoLabels(
        {str(ids[i]): str(labels[i]) for i in keep},
        {str(ids[i]): float(confidence[i]) for i in keep},
        threshold,
        source,
        len(truth),
    )
