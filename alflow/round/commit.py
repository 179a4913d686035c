"""Committing a round: its record, written once, with the files it names written just before it."""

from __future__ import annotations

from alflow.exchange.formats.base import ID
from alflow.ledger.crash import crash_point
from alflow.ledger.records import (
    AutoLabelFile,
    AutoLabelSummary,
    BatchRecord,
    Outside,
    RoundRecord,
    Stability,
    StopSetPredictions,
    Tracking,
)
from alflow.round.context import RoundContext
from alflow.round.decide import Batch, Decision

STREAM_REASON = "a stream round: each arriving item screened against the stream's adaptive threshold (see `stream`)"


def _batch_record(ctx: RoundContext, batch: Batch) -> BatchRecord:
    """The batch as the record keeps it; the features of items outside the pool go to an item file."""
    items = batch.items
    outside = items[items["origin"] != "pool"] if "origin" in items else items.iloc[:0]
    kept = None
    if len(outside):
        rows = outside.drop(columns=["score", "predicted", "origin"]).dropna(axis=1, how="all")
        payload = rows.rename(columns={ID: ctx.config.pool.id_column}).to_csv(index=False).encode()
        key = ctx.ledger.write_attachment(ctx.round, "items", ".csv", payload)
        kept = Outside(key=key, ids=outside["id"].tolist())
    return BatchRecord(
        ids=items["id"].tolist(),
        scores=[float(s) for s in items["score"]],
        predicted=items["predicted"].tolist(),
        outside=kept,
    )


def _auto_label_summary(ctx: RoundContext, decision: Decision) -> AutoLabelSummary | None:
    """What auto-labeling did, with its labels written to their own file (none when nothing was labeled)."""
    options, auto = ctx.config.auto_label, decision.auto_labels
    if options is None:
        return None
    key = None
    if auto.labels:
        payload = AutoLabelFile(labels=auto.labels, confidence=auto.confidence).to_json()
        key = ctx.ledger.write_attachment(ctx.round, "autolabels", ".json", payload)
    return AutoLabelSummary(
        count=len(auto.labels),
        threshold=auto.threshold,
        calibration=auto.calibration,
        calibration_items=auto.calibration_items,
        target_accuracy=options.target_accuracy,
        key=key,
    )


def _stability(ctx: RoundContext, decision: Decision) -> Stability | None:
    """The round's agreement on the stop set, with its model's predictions written to their own file."""
    measured = decision.measured
    if measured is None:
        return None
    payload = StopSetPredictions(predicted=measured.predicted).to_json()
    key = ctx.ledger.write_attachment(ctx.round, "stopset", ".json", payload)
    return measured.stability.model_copy(update={"key": key})


def strategy_used(batch: Batch | None) -> tuple[str | None, str | None]:
    """(the strategy that chose the batch, why): the selection's own words for a pool batch (`auto`
    names the strategy it picked); `stream` for a stream round; (None, None) when nothing was selected."""
    if batch is None:
        return None, None
    if batch.stream is not None:
        return batch.strategy or "stream", batch.reason or STREAM_REASON
    return batch.strategy, batch.reason


def commit_round(ctx: RoundContext, decision: Decision, tracking: Tracking) -> RoundRecord:
    """Commit the round's decision to the ledger, once; returns the record.

    Files the record names (auto-labels, items not in the pool) are written just before it.
    Raises RoundConflictError if another run committed this round first.
    """
    crash_point("commit:before")
    batch = decision.batch
    stream = batch.stream if batch else None
    used, reason = strategy_used(batch)
    record = RoundRecord(
        round=decision.round,
        labels_used=decision.labels_used,
        class_counts=decision.class_counts,
        metrics=decision.evaluation.metrics,
        metric_source=decision.evaluation.source,
        strategy="stream" if stream else ctx.config.strategy.name,
        strategy_used=used,
        strategy_reason=reason,
        model=decision.model,
        stop_reason=decision.stop_reason,
        batch=_batch_record(ctx, batch) if batch and batch.size else None,
        tracking=tracking,
        stream=stream,
        auto_labels=_auto_label_summary(ctx, decision),
        stability=_stability(ctx, decision),
        gold=decision.gold if batch and batch.size else None,
        repeats=decision.repeats if batch and batch.size else None,
    )
    return ctx.ledger.record_round(record)
