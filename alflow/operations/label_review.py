"""Review of labels already taken (`alflow review`): likely errors found, sent to the vendor again.

The seed labels and the labels delivered so far (with earlier reviews' verdicts applied, items
reviewed before left out) are scored by confident learning on out-of-fold predicted probabilities:
the campaign's own model, cross-validated on the labeled set (stratified, k <= 5, classes with
fewer than two labels left out), gives each item the probability of every class without having
seen it; cleanlab (the `review` extra) scores each label's quality (`get_label_quality_scores`,
self-confidence: the probability of the given label) and flags likely errors (`find_label_issues`,
pruned by the estimated noise rate). The lowest-quality labels, flagged first, `count` of them (by
default the flagged ones), within the budget left (a review costs a label), are recorded once
(`ReviewRecord`) and exported to `batches/review-NNNN/` in the campaign's format, each item with its
current label as the prediction the vendor's tool shows (for Ground Truth, a label verification
job's input: the label under the label attribute with its metadata). The vendor answers into
`deliveries/review-NNNN/` (`_DONE` last) and alflow.intake.review_verdicts applies the verdicts.

A re-run after a kill between the record and the export finishes that export (the same items) and
asks for nothing new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alflow.config import CampaignConfig, load_campaign
from alflow.data import content, embeddings, frames, pools
from alflow.errors import ConfigError
from alflow.exchange import formats, layout
from alflow.exchange.formats.base import ID, LABEL_ATTRIBUTE, SOURCE_REF, jsonl_bytes
from alflow.intake.ingest import ingest_campaign
from alflow.ledger.crash import crash_point
from alflow.ledger.ledger import BatchFiles
from alflow.ledger.records import BatchMetadata, ReviewRecord, now, who
from alflow.model import estimators
from alflow.round.context import RoundContext
from alflow.round.inputs import validate_inputs
from alflow.round.pool import item_rows

METHOD = "confident learning (cleanlab): self-confidence on out-of-fold probabilities, pruned by noise rate"


@dataclass(frozen=True)
class LabelScores:
    """Labels scored for likely errors: `quality` 0-1 (low: likely wrong), `flagged` by confident
    learning; `origins` seed | vendor | vendor_machine. Ordered likeliest error first."""

    ids: list[str]
    labels: list[str]
    origins: list[str]
    quality: list[float]
    flagged: list[bool]


@dataclass(frozen=True)
class ReviewResult:
    """What `alflow review` did: the review recorded (None: nothing to review), where its batch went,
    whether it finished an interrupted one, and how many labels were scored."""

    review: ReviewRecord | None
    where: str | None
    resumed: bool
    scored: int
    flagged: int


def _cleanlab():
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        raise ConfigError(
            "alflow review scores labels with cleanlab, which is not installed: pip install 'alflow[review]'"
        ) from None
    return find_label_issues, get_label_quality_scores


def _origins(ctx: RoundContext, ids: list[str]) -> list[str]:
    human = ctx.state.human_labels()
    return ["vendor" if i in human else "seed" if i in ctx.inputs.seed_labels else "vendor_machine" for i in ids]


def label_issues(given: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(quality, flagged) of labels `given` as class indices into the columns of out-of-fold
    probabilities `proba` (n, k): each label's self-confidence (0-1, low: likely wrong) and whether
    confident learning flags it as an error (pruned by the estimated noise rate)."""
    find_label_issues, get_label_quality_scores = _cleanlab()
    quality = get_label_quality_scores(given, proba)
    flagged = find_label_issues(given, proba, filter_by="prune_by_noise_rate")
    return np.asarray(quality, dtype=float), np.asarray(flagged, dtype=bool)


def score_labels(ctx: RoundContext) -> LabelScores:
    """The campaign's labels not reviewed yet, scored for likely errors (see the module). Raises
    ConfigError for tags or numbers, or fewer than two classes with two labels each."""
    if not ctx.config.label_kind.is_class:
        raise ConfigError(f"alflow review reviews one class per item; labels.kind is {ctx.config.labels.kind}")
    _cleanlab()  # before any work: without the extra, say so in one line
    labels = {i: lab for i, lab in ctx.labeled.items() if i not in ctx.state.reviewed_ids}
    classes, counts = np.unique(list(labels.values()), return_counts=True)
    common = set(classes[counts >= 2])
    ids = sorted(i for i, lab in labels.items() if lab in common)
    if len(common) < 2:
        raise ConfigError("alflow review needs two classes with at least two labels each not reviewed yet")
    rows = item_rows(ctx, ids, list(ctx.state.rounds.values()))
    y = np.array([labels[i] for i in ids])
    model = estimators.build_model(ctx.config.model, seed=ctx.config.seed)
    found = estimators.cross_validated_proba(model, ctx.model_input(rows), y, seed=ctx.config.seed)
    if found is None:
        raise ConfigError("alflow review: too few labels per class to cross-validate the model")
    proba, truth, columns = found
    quality, flagged = label_issues(np.searchsorted(columns, truth), proba)
    order = sorted(range(len(ids)), key=lambda k: (not flagged[k], float(quality[k]), ids[k]))
    chosen = [ids[k] for k in order]
    return LabelScores(
        ids=chosen,
        labels=[labels[i] for i in chosen],
        origins=_origins(ctx, chosen),
        quality=[round(float(quality[k]), 6) for k in order],
        flagged=[bool(flagged[k]) for k in order],
    )


def review_items(ctx: RoundContext, record: ReviewRecord) -> pd.DataFrame:
    """The review batch as the vendor sees it: id, score (1 - quality: review first), predicted (the
    item's current label), then what the annotator needs of it, as a round's batch shows it."""
    pool = ctx.config.pool
    shown = frames.shown_columns(pool, ctx.inputs.features)
    rows = item_rows(ctx, record.items, list(ctx.state.rounds.values()), shown).rename(columns={pool.id_column: ID})
    rows = rows.drop(columns=embeddings.ROW, errors="ignore")
    if pool.reference_column:
        base = pools.reference_base(pool.uri)
        rows[SOURCE_REF] = [content.resolve(str(r), base) for r in rows.pop(pool.reference_column)]
    head = pd.DataFrame({"score": [round(1 - q, 6) for q in record.quality], "predicted": record.labels})
    items = pd.concat([head, rows], axis=1)
    return items[[ID, "score", "predicted", *[c for c in rows.columns if c != ID]]]


def verification_manifest(payload: bytes, record: ReviewRecord, config: CampaignConfig) -> bytes:
    """A Ground Truth input manifest made a label verification job's input: each line carries the
    label under review under the label attribute (its class index) with the labeling metadata."""
    attribute = config.vendor.label_attribute or LABEL_ATTRIBUTE
    labels = dict(zip(record.items, record.labels, strict=True))
    lines = []
    for line in (json.loads(text) for text in payload.decode().splitlines() if text.strip()):
        label = labels[str(line[ID])]
        line[attribute] = config.classes.index(label)
        line[f"{attribute}-metadata"] = {
            "class-name": label,
            "confidence": 1.0,
            "type": "groundtruth/text-classification",
            "job-name": f"labeling-job/{config.campaign}-review-{record.seq}",
            "human-annotated": "yes",
            "creation-date": record.at,
        }
        lines.append(line)
    return jsonl_bytes(lines)


def export_review(ctx: RoundContext, record: ReviewRecord) -> str:
    """Write a recorded review's batch (items, extras, batch.json, `_READY` last); safe to re-run."""
    config, fmt = ctx.config, formats.get(ctx.config.vendor.format)
    text_column, kind = config.pool.text_column, config.label_kind
    version = f"{config.campaign}/review-{record.seq}"
    payload = fmt.write_batch(review_items(ctx, record), model_version=version, text_column=text_column, kind=kind)
    if fmt.name == "ground_truth":
        payload = verification_manifest(payload, record, config)
    metadata = BatchMetadata(
        campaign=config.campaign,
        round=record.asked_before - 1,
        review=record.seq,
        count=len(record.items),
        classes=list(config.classes),
        instructions=(
            "Review: each item shows the label it was given (predicted). Answer the item's right label; "
            f"a verification job may reject it instead. {config.vendor.instructions}"
        ),
        format=fmt.name,
        deliver_to=layout.review_delivery_prefix(config.campaign, record.seq),
        delivery_files=f"*{fmt.delivery_suffix}, then an empty {layout.DONE} marker last",
        strategy="review",
        created_at=now(),
    )
    reference = bool(config.pool.reference_column)
    extras = fmt.batch_extras(config.classes, text_column=text_column, reference=reference, kind=kind)
    if fmt.batch_copy:  # Label Studio's tasks again, alone, for a source storage with its default settings
        extras = {**extras, fmt.batch_copy: payload}
    prefix = layout.review_batch_prefix(config.campaign, record.seq)
    files = BatchFiles(fmt.batch_file, payload, metadata, extras)
    return ctx.ledger.write_batch(record.asked_before, files, prefix=prefix)


def _count(scores: LabelScores, count: int | None, left: int) -> int:
    if count is not None and count < 1:
        raise ConfigError(f"--count {count}: review at least one label")
    wanted = sum(scores.flagged) if count is None else count
    return min(wanted, len(scores.ids), left)


def request_review(
    campaign: str | Path | CampaignConfig, *, count: int | None = None, reason: str | None = None
) -> ReviewResult:
    """Score the campaign's labels and send the likeliest errors for review (see the module); first
    takes in what the vendor delivered, and finishes a review whose export a crash interrupted."""
    config = campaign if isinstance(campaign, CampaignConfig) else load_campaign(campaign)
    state = ingest_campaign(config)
    ctx = RoundContext(config, validate_inputs(config, record=False), state)
    for seq in sorted(set(state.reviews) - state.reviews_exported):
        record = state.reviews[seq]
        return ReviewResult(record, export_review(ctx, record), resumed=True, scored=0, flagged=0)
    if ctx.budget.left == 0:
        raise ConfigError(
            f"the label budget is spent ({config.budget.max_labels} labels); a review costs a label: "
            "raise budget.max_labels with `alflow change` first"
        )
    scores = score_labels(ctx)
    n = _count(scores, count, ctx.budget.left)
    if n == 0:
        return ReviewResult(None, None, resumed=False, scored=len(scores.ids), flagged=0)
    record = ReviewRecord(
        seq=max(state.reviews, default=0) + 1,
        asked_before=state.next_round,
        items=scores.ids[:n],
        labels=scores.labels[:n],
        origins=scores.origins[:n],
        quality=scores.quality[:n],
        flagged=scores.flagged[:n],
        method=METHOD,
        at=now(),
        by=who(),
        reason=reason,
    )
    ctx.ledger.record_review(record)
    crash_point("review:before_export")
    return ReviewResult(
        record, export_review(ctx, record), resumed=False, scored=len(scores.ids), flagged=sum(scores.flagged)
    )
