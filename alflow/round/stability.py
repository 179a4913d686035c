"""Stabilising predictions: the round's model compared with the previous round's on the stop set.

With `stopping.stable_predictions`, the round that opens without a stop set draws one from the
pool's free items (seeded, `StopSet`, written once: alflow.ledger.stopset), and every round with
a fitted model predicts its items and measures Cohen's kappa against the previous round's
predictions (for tags: over every item-tag decision). A round that trained on no new label compares
nothing (its model is the previous one refitted). The stop set costs one pass over the pool per
round (the rows of its items).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from alflow.kinds import tags
from alflow.ledger.records import RoundRecord, Stability, StopSet, StopSetPredictions, now
from alflow.ledger.stopset import agreements, record_stop_set, window_mean
from alflow.round.context import RoundContext
from alflow.round.pool import pool_batches, pool_rows
from alflow.round.train import Trained

STOP_SET_STREAM = 0x5707  # the stop set's own random stream beside the campaign's seed
MISSING = "\x00"  # a stop-set item the pool no longer holds: predicted by no model


def cohen_kappa(first: Sequence[str] | np.ndarray, second: Sequence[str] | np.ndarray) -> float:
    """Cohen's kappa of two labelings of the same items: 1 when they agree on every item (also when
    both give every item one label, where the chance term leaves kappa undefined)."""
    a, b = np.asarray(first, dtype=str), np.asarray(second, dtype=str)
    observed = float(np.mean(a == b)) if a.size else 1.0
    labels = np.union1d(a, b)
    expected = float((a[:, None] == labels).mean(axis=0) @ (b[:, None] == labels).mean(axis=0)) if a.size else 1.0
    if observed == 1.0 or expected >= 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


def decisions(predicted: Sequence[str], classes: Sequence[str], *, multi: bool) -> list[str]:
    """What kappa compares: the class of each item, or for tags each item's yes or no per tag."""
    if not multi:
        return list(predicted)
    return ["1" if c in set(tags(text)) else "0" for text in predicted for c in classes]


def draw_stop_set(ctx: RoundContext) -> StopSet:
    """`stable_predictions.stop_set` free pool items (not labeled or asked), drawn with the campaign's
    seed in one pass over the pool's ids, in the order drawn."""
    rule = ctx.config.stopping.stable_predictions
    assert rule is not None  # the caller checked
    taken, size = ctx.taken, ctx.inputs.pool_size
    rng = np.random.default_rng([ctx.config.seed, STOP_SET_STREAM])
    order = rng.choice(size, size=min(size, rule.stop_set + len(taken)), replace=False)
    wanted, found = np.sort(order), dict[int, str]()
    for offset, batch in pool_batches(ctx, [ctx.config.pool.id_column]):
        here = wanted[(wanted >= offset) & (wanted < offset + batch.num_rows)]
        found.update(zip(here.tolist(), batch.column(0).take(pa.array(here - offset)).to_pylist(), strict=True))
    drawn = [str(found[p]) for p in order.tolist() if str(found[p]) not in taken][: rule.stop_set]
    return StopSet(ids=drawn, size=rule.stop_set, seed=ctx.config.seed, drawn_round=ctx.round, drawn_at=now())


def with_stop_set(ctx: RoundContext) -> RoundContext:
    """The context with the campaign's stop set: drawn and recorded now when the campaign stops on
    stable predictions, has none yet and has work; the context unchanged otherwise."""
    if ctx.config.stopping.stable_predictions is None or ctx.state.stop_set is not None or not ctx.has_work:
        return ctx
    stop_set = record_stop_set(ctx.ledger, draw_stop_set(ctx))
    return replace(ctx, state=replace(ctx.state, stop_set=stop_set))


@dataclass(frozen=True)
class Measured:
    """The round's agreement (`stability`, its file key not yet set) and its model's predictions."""

    stability: Stability
    predicted: list[str] = field(repr=False)


def _predicted(ctx: RoundContext, trained: Trained, ids: list[str]) -> list[str]:
    """The model's label for each stop-set item, in the stop set's order; MISSING for an item the
    pool no longer holds (a new version of its files), which no comparison counts."""
    rows = pool_rows(ctx, ids)
    labels = dict(zip(rows[ctx.config.pool.id_column], trained.model.predict(ctx.model_input(rows)), strict=True))
    return [str(labels[i]) if i in labels else MISSING for i in ids]


def _previous(ctx: RoundContext) -> tuple[RoundRecord, str] | None:
    """The last round that predicted on the stop set, and the key of its predictions."""
    measured = [(r, r.stability.key) for _, r in sorted(ctx.state.rounds.items()) if r.stability and r.stability.key]
    return measured[-1] if measured else None


def measure(ctx: RoundContext, trained: Trained) -> Measured | None:
    """The round's model on the stop set against the previous round's; None without the rule, a stop
    set or a fitted model."""
    rule, stop_set = ctx.config.stopping.stable_predictions, ctx.state.stop_set
    if rule is None or stop_set is None or not stop_set.ids or not trained.fitted:
        return None
    predicted = _predicted(ctx, trained, stop_set.ids)
    found = _previous(ctx)
    previous, kappa, changed = found[0] if found else None, None, 0
    if found is not None and found[0].labels_used < len(ctx.labeled):  # no new label: nothing to compare
        before = StopSetPredictions.from_json(ctx.ledger.store.read(found[1])).predicted
        both = [(a, b) for a, b in zip(before, predicted, strict=True) if a != MISSING and b != MISSING]
        changed = sum(a != b for a, b in both)
        multi, classes = ctx.config.labels.kind == "multi", ctx.config.classes
        first, second = [a for a, _ in both], [b for _, b in both]
        kappa = cohen_kappa(decisions(first, classes, multi=multi), decisions(second, classes, multi=multi))
    kappas = agreements([r for _, r in sorted(ctx.state.rounds.items())]) + ([kappa] if kappa is not None else [])
    stability = Stability(
        kappa=kappa,
        previous=previous.round if kappa is not None and previous else None,
        changed=changed,
        items=sum(p != MISSING for p in predicted),
        mean=window_mean(kappas, rule.rounds),
        window=rule.rounds,
    )
    return Measured(stability, predicted)
