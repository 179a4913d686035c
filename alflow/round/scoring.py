"""Scoring the pool's rows for a round's batch: the same job in this process or on a cluster's workers.

A `ScoringJob` is everything scoring needs besides the rows, in plain values (it is sent to Dask
workers as it is): the pool's settings, the model's columns, the ids no strategy may pick, and the
resolved selection (alflow.selection.scorer.Scorer). `score_batches` keeps the best candidates of
the rows it is given; candidates of several parts merge into what one pass would keep, because the
scorer's draws are keyed by pool position and its merge is order-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alflow.config import PoolConfig
from alflow.data import frames, pools
from alflow.selection.scorer import Candidates, Scorer


@dataclass(frozen=True)
class ScoringJob:
    pool: PoolConfig
    features: list[str]
    excluded: pa.Array  # ids no strategy may pick (labeled, asked, auto-labeled), as Arrow strings
    scorer: Scorer

    @property
    def columns(self) -> list[str]:
        return [self.pool.id_column, *(c for c in self.features if c != self.pool.id_column)]


@dataclass(frozen=True)
class Scored:
    """A part's (or the whole pool's) candidates, and how many pickable rows it held."""

    candidates: Candidates | None
    rows: int


def _pickable(job: ScoringJob, offset: int, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray]:
    """The rows no strategy has to skip, and their pool positions."""
    keep = pc.invert(pools.ids_mask(batch.column(0), job.excluded))
    positions = offset + np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    return batch.filter(keep), positions


def model_input(job: ScoringJob, batch: pa.RecordBatch, positions: np.ndarray) -> Any:
    """What the model reads of `batch`, whose rows are at `positions` in the pool: its feature, text
    or vector columns, or an embedder's cached vectors (the ids stay Arrow)."""
    names = [c for c in job.columns if c != job.pool.id_column]
    frame = frames.as_frame(batch.select(names), job.pool, positions)
    return frames.model_input(frame, job.pool, job.features)


def pickable_inputs(job: ScoringJob, batches: Iterable[tuple[int, pa.RecordBatch]]) -> Iterator[Any]:
    """The model inputs of the pickable rows, chunk by chunk (for the reference sample of density)."""
    for offset, batch in batches:
        kept, positions = _pickable(job, offset, batch)
        if kept.num_rows:
            yield model_input(job, kept, positions)


def score_batches(job: ScoringJob, batches: Iterable[tuple[int, pa.RecordBatch]]) -> Scored:
    """The best candidates among the pickable rows of `batches` (`(pool position, batch)` pairs)."""
    best: Candidates | None = None
    rows = 0
    for offset, batch in batches:
        kept, positions = _pickable(job, offset, batch)
        if not kept.num_rows:
            continue
        found = job.scorer.candidates(np.arange(kept.num_rows), model_input(job, kept, positions), positions)
        ids = np.asarray(kept.column(0).take(pa.array(found.ids)).to_pylist(), dtype=object)
        found = replace(found, ids=ids)
        best = found if best is None else best.merge(found, job.scorer.m)
        rows += kept.num_rows
    return Scored(best, rows)


def part_batches(job: ScoringJob, part: pools.Part) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The rows of one part with their pool positions (a Parquet part knows its offset)."""
    offset = part.offset or 0
    pool = job.pool
    text = frames.text_columns(pool)
    for batch in pools.read_part(
        part, columns=job.columns, id_column=pool.id_column, chunk_size=pool.chunk_size, text=text
    ):
        yield offset, batch
        offset += batch.num_rows


def score_part(part: pools.Part, job: ScoringJob) -> Scored:
    """`score_batches` over one part: what a cluster's worker runs."""
    return score_batches(job, part_batches(job, part))


def merge_scored(parts: Iterable[Scored], m: int) -> Scored:
    best: Candidates | None = None
    rows = 0
    for part in parts:
        rows += part.rows
        if part.candidates is not None:
            best = part.candidates if best is None else best.merge(part.candidates, m)
    return Scored(best, rows)
