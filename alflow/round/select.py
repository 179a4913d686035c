"""Choosing the round's batch: from the pool by the campaign's strategy, or from arriving files.

The pool is streamed part by part (in this process, or on the campaign's Dask cluster); only the
strategy's bounded candidate set is kept in memory, with the candidates' rows, so the export needs
no further read of the pool.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from alflow import progress
from alflow.config import ModelConfig
from alflow.data import embeddings
from alflow.ledger.timing import class_seconds
from alflow.model import estimators
from alflow.round.arrivals import screen_arrivals
from alflow.round.context import RoundContext
from alflow.round.decide import Batch, Decision
from alflow.round.mixing import mix_gold
from alflow.round.pool import arrow_ids, pool_batches
from alflow.round.repeats import mix_repeats
from alflow.round.scoring import Scored, ScoringJob, pickable_inputs, score_batches
from alflow.round.train import Trained
from alflow.selection import synthesis
from alflow.selection.measures import margin
from alflow.selection.options import SelectionOptions
from alflow.selection.scorer import make_scorer


def select_batch(ctx: RoundContext, trained: Trained, decision: Decision) -> Decision:
    """The decision with its batch: a stream round screens its arrivals (even when stopping, so
    their files count as screened); a pool round asks the pool for `decision.batch_size` items."""
    if ctx.arrivals is not None:
        return replace(decision, batch=screen_arrivals(ctx, trained, decision))
    if not decision.batch_size:
        return decision
    batch = pool_selection(ctx, trained, k=decision.batch_size, skip=decision.auto_labels.labels)
    return mix_gold(ctx, trained, mix_repeats(ctx, replace(decision, batch=batch)))


def selection_options(ctx: RoundContext) -> SelectionOptions:
    """The campaign's `strategy` section as the selection's options, with its committee built."""
    section = ctx.config.strategy
    committee = None
    if section.committee:
        committee = [
            estimators.build_model(ModelConfig(estimator=path), seed=ctx.config.seed) for path in section.committee
        ]
    return SelectionOptions(
        section.name,
        section.oversample,
        section.class_balance,
        committee,
        section.committee_size,
        ctx.config.pool.chunk_size,
        (class_seconds(ctx.state) or None) if section.cost_aware else None,
    )


def scoring_job(ctx: RoundContext, trained: Trained, *, k: int, skip: Collection[str], rng) -> ScoringJob:
    """The round's selection resolved (strategy, committee, reference sample) before the pool is scored."""
    scorer = make_scorer(trained.model, selection_options(ctx), k=k, rng=rng, X_labeled=trained.X, y_labeled=trained.y)
    job = ScoringJob(ctx.config.pool, list(ctx.inputs.features), arrow_ids(ctx.taken | set(skip)), scorer)
    first = next(pickable_inputs(job, pool_batches(ctx)), None) if scorer.spec.reference else None
    if first is not None:  # density compares with a sample of the first pickable rows
        scorer.sample_reference(first)
    return job


def score_pool(ctx: RoundContext, job: ScoringJob) -> Scored:
    """The candidates of the whole pool: on the campaign's cluster, or here in one pass."""
    if ctx.config.cluster is not None:
        from alflow.data.pools import parts
        from alflow.round.cluster import score_on_cluster

        return score_on_cluster(ctx.config.cluster, job, parts(ctx.pool))
    batches = progress.rows(
        pool_batches(ctx), total=ctx.inputs.pool_size, description="scoring the pool", size=lambda b: b[1].num_rows
    )
    return score_batches(job, batches)


def pool_batch(ctx: RoundContext, trained: Trained, *, k: int, skip: Collection[str] = ()) -> pd.DataFrame:
    """k items, best first: id, score, predicted, origin, and the features of items not in the pool."""
    return pool_selection(ctx, trained, k=k, skip=skip).items


def pool_selection(ctx: RoundContext, trained: Trained, *, k: int, skip: Collection[str] = ()) -> Batch:
    """The batch of k items, best first, with the pool rows of its pool items (as scoring read them)
    and the strategy that chose them and why.

    `strategy.synthetic` of them are synthesized on the decision boundary (once the model is
    fitted); the rest are the pool items the strategy ranks highest among those not labeled, asked
    or auto-labeled (by the ledger, or by this round: `skip`).
    """
    id_column = ctx.config.pool.id_column
    rng = np.random.default_rng([ctx.config.seed, ctx.round])
    synthetic = _synthesize(ctx, trained, min(ctx.config.strategy.synthetic, k), rng)
    job = scoring_job(ctx, trained, k=k - len(synthetic), skip=skip, rng=rng)
    scored = score_pool(ctx, job)
    chosen = job.scorer.pick(scored.candidates, k - len(synthetic), seen=scored.rows)
    items = chosen.batch.assign(origin="pool")
    rows = _read_rows(chosen.X, chosen.batch["id"].to_numpy(), id_column)
    items = pd.concat([synthetic, items], ignore_index=True) if len(synthetic) else items
    return Batch(items, rows=rows, strategy=chosen.strategy, reason=chosen.reason)


def _read_rows(X: Any, ids: np.ndarray, id_column: str) -> pd.DataFrame | None:
    """The chosen pool rows as scoring read them (a feature frame or a text series), keyed by id;
    None when the model read vectors (the export then reads the columns it shows)."""
    if not isinstance(X, pd.DataFrame | pd.Series):
        return None
    rows = X.to_frame() if isinstance(X, pd.Series) else X.reset_index(drop=True)
    rows = rows.reset_index(drop=True).drop(columns=embeddings.ROW, errors="ignore")
    rows.insert(0, id_column, ids)
    return rows


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
