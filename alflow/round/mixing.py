"""Gold items mixed into a round's batch (the campaign's `gold` section), so that the vendor cannot tell them.

Each pool batch gets `gold.rate` of its items from the gold file (the least used first), at random
positions, under opaque ids shaped like the batch's own (a pool id's digits redrawn, and its letters
when it has few digits), never an id of the pool, of the seed labels or of anything asked before.
Each is shown with a score between its neighbours' and the model's prediction, as a pool item is;
the export writes the same columns for it. The mix is a value of the round record (`GoldMix`),
committed once, so an export finished after a crash writes the same gold again, and no second set.
Stream rounds mix no gold.
"""

from __future__ import annotations

import string
from dataclasses import replace

import numpy as np
import pandas as pd

from alflow.errors import DataValidationError
from alflow.intake.gold import gold_count, read_gold
from alflow.ledger.records import GoldMix
from alflow.round.context import RoundContext
from alflow.round.decide import Batch, Decision
from alflow.round.pool import pool_members
from alflow.round.train import Trained

DRAWS = 7_919  # the gold draws' own stream beside the selection's ([seed, round])
MAX_DRAWS = 20  # rounds of drawing ids before giving up (each drawn id is new with near certainty)


def mix_gold(ctx: RoundContext, trained: Trained, decision: Decision) -> Decision:
    """The decision with its gold items (`decision.gold`), for a pool batch of a campaign with gold."""
    batch, gold = decision.batch, ctx.config.gold
    if gold is None or batch is None or not batch.size or batch.stream is not None:
        return decision
    frame = read_gold(ctx.config, ctx.inputs.features).set_index(ctx.config.pool.id_column, drop=False)
    rng = np.random.default_rng([ctx.config.seed, ctx.round, DRAWS])
    n = min(gold_count(batch.size, gold.rate), len(frame))
    items = least_used(ctx, list(frame.index), n, rng)
    positions = sorted(int(p) for p in rng.choice(batch.size + n, size=n, replace=False))
    ids = opaque_ids(ctx, batch, items, rng)
    scores = [neighbour_score(batch, p - j) for j, p in enumerate(positions)]
    predicted = _predicted(ctx, trained, batch, frame.loc[items].reset_index(drop=True), positions)
    return replace(
        decision, gold=GoldMix(ids=ids, items=items, positions=positions, scores=scores, predicted=predicted)
    )


def least_used(ctx: RoundContext, items: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """`n` gold items, those sent fewest times before first (ties at random): a vendor meets the same
    gold item again only once every one has been sent."""
    uses = {i: 0 for i in items}
    for record in ctx.state.rounds.values():
        for item in record.gold.items if record.gold else ():
            if item in uses:
                uses[item] += 1
    draw = rng.random(len(items))
    order = sorted(range(len(items)), key=lambda k: (uses[items[k]], draw[k]))
    return [items[k] for k in order[:n]]


def neighbour_score(batch: Batch, before: int) -> float:
    """The score shown with a gold item that has `before` pool items ahead of it: its neighbours' mean."""
    scores = [float(s) for s in batch.items["score"]]
    near = scores[max(before - 1, 0) : before + 1]
    return float(np.mean(near))


def _predicted(
    ctx: RoundContext, trained: Trained, batch: Batch, rows: pd.DataFrame, positions: list[int]
) -> list[str | None]:
    """The model's prediction of each gold item, as a pool item's; before a model, a neighbour's (blank)."""
    if trained.fitted:
        proba = trained.model.predict_proba(ctx.model_input(rows))
        return [str(p) for p in trained.predicted(proba)]
    shown = batch.items["predicted"].tolist()
    return [shown[min(max(p - j - 1, 0), len(shown) - 1)] for j, p in enumerate(positions)]


def like(template: str, rng: np.random.Generator) -> str:
    """An id shaped like `template`: its digits redrawn, and its letters too (case kept) when it has
    fewer than four digits; other characters kept."""
    letters = sum(c.isdigit() for c in template) < 4
    out = []
    for c in template:
        if c in string.digits:
            out.append(string.digits[rng.integers(10)])
        elif letters and c in string.ascii_lowercase:
            out.append(string.ascii_lowercase[rng.integers(26)])
        elif letters and c in string.ascii_uppercase:
            out.append(string.ascii_uppercase[rng.integers(26)])
        else:
            out.append(c)
    return "".join(out)


def opaque_ids(ctx: RoundContext, batch: Batch, items: list[str], rng: np.random.Generator) -> list[str]:
    """Ids for the gold `items`, shaped like the batch's pool ids and none an id of the pool, the seed
    labels, the gold file or anything asked before (checked in one pass over the pool's ids per draw).
    Raises DataValidationError when a gold item's own id is a pool id (`alflow check` says so first)."""
    ids = [str(i) for i in batch.items["id"]]
    origins = batch.items["origin"].tolist() if "origin" in batch.items else ["pool"] * len(ids)
    templates = [i for i, o in zip(ids, origins, strict=True) if o == "pool"] or ids
    avoid = ctx.taken | set(ids) | set(items)
    chosen: list[str] = []
    for attempt in range(MAX_DRAWS):
        wanted = len(items) - len(chosen)
        drawn = [like(templates[int(rng.integers(len(templates)))], rng) for _ in range(wanted)]
        if attempt >= 3:  # a small id space: lengthen the ids rather than draw forever
            drawn = [d + "".join(string.digits[rng.integers(10)] for _ in range(attempt - 2)) for d in drawn]
        fresh = [d for d in dict.fromkeys(drawn) if d not in avoid and d not in chosen]
        hits = pool_members(ctx, set(fresh) | (set(items) if attempt == 0 else set()))
        if clash := sorted(set(items) & hits):
            raise DataValidationError(
                f"gold file {ctx.config.gold.uri if ctx.config.gold else ''}: id {clash[0]!r} is also a pool id; "
                "gold items must have ids of their own",
                reason="gold_id_collision",
            )
        chosen += [d for d in fresh if d not in hits][:wanted]
        if len(chosen) == len(items):
            return chosen
    raise DataValidationError(f"could not draw {len(items)} ids for gold items unlike the pool's", reason="gold_ids")
