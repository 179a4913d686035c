"""Stream-based rounds: screening files that arrive in a folder or s3:// prefix, item by item.

Each file is screened once, with alflow.selection.stream's adaptive threshold on the model's
uncertainty (alflow.round.stream_scores: for one class, its margin; tags and numbers too), within
the budget left; the round record keeps the stream's state, and the next stream round resumes
from it. Files are checked before the round is claimed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alflow.data import content, frames, validation
from alflow.errors import ConfigError, DataValidationError
from alflow.exchange.bucket import open_store
from alflow.ledger.records import StreamRecord
from alflow.round.context import RoundContext
from alflow.round.decide import Batch, Decision
from alflow.round.pool import pool_members
from alflow.round.stream_scores import stream_scores
from alflow.round.train import Trained
from alflow.selection import stream


def check_target_rate(target_rate: float) -> float:
    """`target_rate` if it is a share of items (above 0, at most 1), else ConfigError."""
    if not 0 < target_rate <= 1:
        raise ConfigError(f"--target-rate {target_rate} must be above 0 and at most 1")
    return target_rate


def _check_arrival(ctx: RoundContext, frame: pd.DataFrame, source: str) -> None:
    pool, id_column = ctx.config.pool, ctx.config.pool.id_column
    ids = frame[id_column] if id_column in frame else pd.Series(dtype=str)
    required = list(dict.fromkeys([*ctx.inputs.features, *content.content_columns(pool)]))
    validation.check_ids(ids, header=list(frame.columns), id_column=id_column, features=required, source=source)
    if content.content_columns(pool):  # texts, vectors (of the pool's length) and references, as in the pool
        dimensions, base = ctx.inputs.dimensions, content.base_of(source)
        content.check_chunk(frame, pool, dimensions=dimensions, base=base, source=source)
    if pool.reads == "table":
        values = frame[[c for c in ctx.inputs.features if c != id_column]].apply(pd.to_numeric, errors="coerce")
        bad = values.columns[values.isna().any()].tolist()
        if bad:
            raise DataValidationError(
                f"{source}: feature column(s) {', '.join(map(repr, bad[:5]))} have empty or non-numeric "
                "values; fix or remove the file (it has not been screened)"
            )


def pending_arrivals(ctx: RoundContext, uri: str) -> list[str]:
    """CSV files under `uri` (a folder or s3:// prefix) that no round has screened yet, by name.

    Raises DataValidationError, before the round is claimed, for a file without the pool's id and
    feature columns, with duplicate ids or non-numeric features; ConfigError for a missing folder.
    """
    if not uri.startswith("s3://") and not Path(uri).is_dir():
        raise ConfigError(f"--arrivals {uri} is not a folder: give the folder (or s3:// prefix) new files land in")
    store = open_store(uri)
    names = sorted(k for k in store.list("") if k.endswith(".csv") and k not in ctx.state.screened)
    for name in names:
        source = f"{uri.rstrip('/')}/{name}"
        try:
            frame = frames.read_items(ctx.config.pool, store.read(name))
        except (ValueError, UnicodeDecodeError) as error:  # pandas' EmptyDataError and ParserError included
            raise DataValidationError(
                f"{source} is not a readable CSV file ({error}); fix or remove it", reason="unreadable"
            ) from None
        _check_arrival(ctx, frame, source)
    return names


def _resumed(ctx: RoundContext, budget: int) -> stream.StreamState:
    """The stream's state where the last stream round left it, with `budget` more labels to ask."""
    last = next((r.stream for _, r in sorted(ctx.state.rounds.items(), reverse=True) if r.stream), None)
    if last is None:
        return stream.StreamState(threshold=0.5, budget=budget)
    return stream.StreamState(threshold=last.threshold, budget=last.asked + budget, seen=last.seen, asked=last.asked)


def screen_arrivals(ctx: RoundContext, trained: Trained, decision: Decision) -> Batch:
    """Screen the arrived files in order, item by item, asking for the items whose margin is above
    a threshold that adapts to the target rate (alflow.selection.stream), within the budget left."""
    assert ctx.arrivals is not None
    arrivals, id_column = ctx.arrivals, ctx.config.pool.id_column
    current = _resumed(ctx, 0 if decision.stop_reason else decision.budget.left)
    skip = ctx.taken | set(decision.auto_labels.labels)
    store, parts = open_store(arrivals.uri), []
    for name in arrivals.names:
        frame = frames.read_items(ctx.config.pool, store.read(name))
        frame = frame[~frame[id_column].isin(skip)]
        if frame.empty:  # every item of the file is labeled or asked already
            continue
        scores, guesses = stream_scores(ctx, trained, ctx.model_input(frame))
        ask, current = stream.decide(scores, current, target_rate=arrivals.target_rate)
        rows = frame[ask].rename(columns={id_column: "id"})
        head = pd.DataFrame(
            {"score": scores[ask], "predicted": guesses(ask), "origin": f"stream:{name}"},
            index=rows.index,
        )
        parts.append(pd.concat([rows[["id"]], head, rows.drop(columns="id")], axis=1))
        skip |= set(frame[id_column])
    items = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "score", "predicted"])
    # best first, as every batch (docs/VENDORS.md); arrival order among equal scores
    items = items.sort_values("score", ascending=False, kind="stable", ignore_index=True)
    # an arrival that is also a pool item stays a pool item: its features are the pool's
    if len(items):
        items.loc[items["id"].isin(pool_members(ctx, set(items["id"]))), "origin"] = "pool"
    state = StreamRecord(
        files=list(arrivals.names),
        threshold=current.threshold,
        seen=current.seen,
        asked=current.asked,
        rate=current.rate,
        target_rate=arrivals.target_rate,
    )
    return Batch(items, state)
