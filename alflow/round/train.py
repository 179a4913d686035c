"""Training the round's model on every label so far, and measuring it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alflow.data import frames
from alflow.model import estimators, targets
from alflow.round.context import RoundContext
from alflow.round.pool import item_rows


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    source: str  # "holdout", "cross_validation", or "cold_start" (nothing fitted, metrics NaN)


COLD = Evaluation({"accuracy": math.nan, "f1_macro": math.nan}, "cold_start")


@dataclass(frozen=True)
class Trained:
    """The round's model, what it was fit on, and how good it is.

    At cold start (fewer than two classes labeled) `fitted` is False: `model` is the unfitted
    estimator, nothing is evaluated or registered, and selection picks by diversity.
    """

    model: Any = field(repr=False)
    X: Any = field(repr=False)
    y: np.ndarray = field(repr=False)
    class_counts: dict[str, int] = field(default_factory=dict)
    evaluation: Evaluation = COLD
    fitted: bool = True
    example: Any = field(default=None, repr=False)  # a few labeled items as the logged model reads them

    @property
    def name(self) -> str:
        model = self.model.estimator if isinstance(self.model, targets.LabelModel) else self.model
        return estimators.model_name(model)

    def predicted(self, proba: np.ndarray) -> np.ndarray:
        """The predicted class of each row of `proba`, as text ("" at cold start)."""
        if not self.fitted:
            return np.full(len(proba), "", dtype=object)
        return np.asarray(self.model.classes_)[proba.argmax(axis=1)].astype(str)


def train_model(ctx: RoundContext) -> Trained:
    """Fit the campaign's model on the labeled items and evaluate it; at cold start return it unfitted."""
    labels = ctx.labeled
    ids = sorted(labels)
    rows = item_rows(ctx, ids, list(ctx.state.rounds.values()))
    X, example = ctx.model_input(rows), frames.model_example(rows, ctx.config.pool, ctx.inputs.features)
    y = np.array([labels[i] for i in ids])
    if not ctx.config.label_kind.is_class:
        return _train_kind(ctx, X, y, example)
    estimator = estimators.build_model(ctx.config.model, seed=ctx.config.seed)
    counts = ctx.class_counts(labels)
    if np.unique(y).size < 2:
        return Trained(estimator, X, y, counts, COLD, fitted=False, example=example)
    model = estimators.train(estimator, X, y)
    return Trained(model, X, y, counts, evaluate(ctx, model, X, y), example=example)


def evaluate(ctx: RoundContext, model: Any, X: Any, y: np.ndarray) -> Evaluation:
    """Holdout accuracy and macro-F1, or a cross-validated estimate on (X, y) without a holdout."""
    if ctx.holdout is not None:
        X_holdout, truth = ctx.holdout
        return Evaluation(estimators.holdout_metrics(model, X_holdout, truth), "holdout")
    untrained = estimators.build_model(ctx.config.model, seed=ctx.config.seed)
    return Evaluation(estimators.cross_validated_metrics(untrained, X, y, seed=ctx.config.seed), "cross_validation")


def _train_kind(ctx: RoundContext, X: Any, y: np.ndarray, example: Any) -> Trained:
    """`train_model` for tags or numbers (alflow.model.targets): cold until the labels can train a model."""
    config, kind = ctx.config, ctx.config.label_kind
    estimator = targets.build_model(config.model, kind, seed=config.seed)
    counts = ctx.class_counts(ctx.labeled)
    if not targets.trainable(kind, y):
        return Trained(
            estimator, X, y, counts, Evaluation(targets.cold(kind), "cold_start"), fitted=False, example=example
        )
    model = targets.train(estimator, X, y)
    if ctx.holdout is not None:
        X_holdout, truth = ctx.holdout
        evaluation = Evaluation(targets.scores(kind, truth, model.predict(X_holdout)), "holdout")
    else:
        metrics = targets.cross_validated(estimator, X, y, kind, seed=config.seed)
        evaluation = Evaluation(metrics, "cross_validation")
    return Trained(model, X, y, counts, evaluation, example=example)
