"""Reviews of labels already taken as people see them: the status lines, the round's line, MLflow's counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from alflow.ledger.records import ReviewVerdict
from alflow.ledger.state import CampaignState
from alflow.values import counted

OUTCOMES = ("corrected", "confirmed", "dropped")


def review_counts(state: CampaignState, round_: int | None = None) -> dict[str, int]:
    """Labels confirmed, corrected and dropped by reviews (an item's first verdict), all of them or
    those taken in by round `round_`'s opening."""
    counts = Counter(
        outcome for outcome, _, verdict in state.review_outcomes.values() if round_ in (None, verdict.ingested_in)
    )
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}


def review_metrics(state: CampaignState, round_: int) -> dict[str, float]:
    """MLflow metrics of a round (none before the campaign's first review): review/asked (every label
    sent for review so far), review/awaiting, and review/confirmed, corrected, dropped in this round."""
    if not state.reviews:
        return {}
    awaiting = sum(len(state.review_missing(seq)) for seq in state.reviews)
    metrics = {"review/asked": float(state.reviews_asked), "review/awaiting": float(awaiting)}
    metrics.update({f"review/{k}": float(v) for k, v in review_counts(state, round_).items()})
    return metrics


def verdict_text(verdicts: Iterable[ReviewVerdict]) -> str | None:
    """'review: 3 labels corrected, 6 confirmed, 1 dropped' for the verdicts a run took in, or None."""
    counts = Counter({k: 0 for k in OUTCOMES})
    for verdict in verdicts:
        counts.update({"corrected": len(verdict.corrected), "confirmed": len(verdict.confirmed)})
        counts.update({"dropped": len(verdict.dropped)})
    if not sum(counts.values()):
        return None
    corrected = counted(counts["corrected"], "label")
    return f"review: {corrected} corrected, {counts['confirmed']} confirmed, {counts['dropped']} dropped"


def review_lines(state: CampaignState) -> list[str]:
    """`alflow status`: each review's request and what became of its labels (none without a review)."""
    lines = []
    for seq, review in sorted(state.reviews.items()):
        counts = Counter(outcome for outcome, s, _ in state.review_outcomes.values() if s == seq)
        waiting = len(state.review_missing(seq))
        sent = "exported" if seq in state.reviews_exported else "export unfinished: `alflow review` finishes it"
        why = f" ({review.reason})" if review.reason else ""
        lines.append(
            f"review {seq}: {counted(len(review.items), 'label')} sent before round {review.asked_before}{why}, "
            f"{sent}; {counts['corrected']} corrected, {counts['confirmed']} confirmed, {counts['dropped']} dropped, "
            f"{waiting} awaiting an answer"
        )
    return lines


def review_json(state: CampaignState) -> list[dict]:
    """`alflow status --json`: each review with its counts and the items still awaiting an answer."""
    out = []
    for seq, review in sorted(state.reviews.items()):
        counts = Counter(outcome for outcome, s, _ in state.review_outcomes.values() if s == seq)
        out.append(
            {
                "review": seq,
                "asked_before": review.asked_before,
                "labels": len(review.items),
                "reason": review.reason,
                "by": review.by,
                "at": review.at,
                "exported": seq in state.reviews_exported,
                **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
                "awaiting": state.review_missing(seq),
            }
        )
    return out
