"""Choosing the round's batch: from the pool by the campaign's strategy, or from arriving files.

The pool is streamed in chunks; only the strategy's bounded candidate set is kept in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from alflow import progress
from alflow.config import ModelConfig
from alflow.learning import data, models
from alflow.round.arrivals import screen_arrivals
from alflow.round.context import RoundContext
from alflow.round.decide import Batch, Decision
from alflow.round.train import Trained
from alflow.selection import synthesis
from alflow.selection.measures import margin
from alflow.selection.scoring import score_chunks


def select_batch(ctx: RoundContext, trained: Trained, decision: Decision) -> Decision:
    """The decision with its batch: a stream round screens its arrivals (even when stopping, so
    their files count as screened); a pool round asks the pool for `decision.batch_size` items."""
    if ctx.arrivals is not None:
        return replace(decision, batch=screen_arrivals(ctx, trained, decision))
    if not decision.batch_size:
        return decision
    items = pool_batch(ctx, trained, k=decision.batch_size, skip=decision.auto_labels.labels)
    return replace(decision, batch=Batch(items))


def _committee(ctx: RoundContext) -> list[Any] | None:
    paths = ctx.config.strategy.committee
    if not paths:
        return None
    return [models.build_model(ModelConfig(estimator=path), seed=ctx.config.seed) for path in paths]


def pool_batch(ctx: RoundContext, trained: Trained, *, k: int, skip: Collection[str] = ()) -> pd.DataFrame:
    """k items, best first: id, score, predicted, origin, and the features of items not in the pool.

    `strategy.synthetic` of them are synthesized on the decision boundary (once the model is
    fitted); the rest are the pool items the strategy ranks highest among those not labeled, asked
    or auto-labeled (by the ledger, or by this round: `skip`).
    """
    options, id_column = ctx.config.strategy, ctx.config.pool.id_column
    rng = np.random.default_rng([ctx.config.seed, ctx.round])
    synthetic = _synthesize(ctx, trained, min(options.synthetic, k), rng)
    excluded = ctx.taken | set(skip)

    def candidates() -> Iterator[tuple[np.ndarray, Any]]:
        chunks = data.pool_chunks(ctx.config.pool, ctx.inputs.features)
        for chunk in progress.rows(chunks, total=ctx.inputs.pool_size, description="scoring the pool"):
            chunk = chunk[~chunk[id_column].isin(excluded)]
            yield chunk[id_column].to_numpy(), ctx.model_input(chunk)

    chosen = score_chunks(
        trained.model,
        candidates(),
        strategy=options.name,
        k=k - len(synthetic),
        rng=rng,
        X_labeled=trained.X,
        y_labeled=trained.y,
        oversample=options.oversample,
        class_balance=options.class_balance,
        committee=_committee(ctx),
        committee_size=options.committee_size,
    ).assign(origin="pool")
    return pd.concat([synthetic, chosen], ignore_index=True) if len(synthetic) else chosen


def _synthesize(ctx: RoundContext, trained: Trained, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` synthetic items (alflow.selection.synthesis) as batch rows with their features; none at cold start."""
    if n == 0 or not trained.fitted:
        return pd.DataFrame()
    points, _ = synthesis.synthesize(trained.model, trained.X, trained.y, n, rng=rng)
    rows = synthesis.synthetic_batch(points, list(trained.X.columns), round_=ctx.round).drop(columns="synthetic")
    proba = trained.model.predict_proba(rows[trained.X.columns])
    scores = margin(proba)
    order = np.argsort(-scores, kind="stable")
    head = pd.DataFrame(
        {"id": rows["id"], "score": scores, "predicted": trained.predicted(proba), "origin": "synthetic"}
    )
    return pd.concat([head, rows.drop(columns="id")], axis=1).iloc[order].reset_index(drop=True)
