"""Repeat labels (`vendor.repeats`) as people see them: the status line, the round's line, the
Prefect summary's line (beside gold's), MLflow's counts."""

from __future__ import annotations

from alflow.ledger.state import CampaignState
from alflow.values import counted


def repeat_counts(state: CampaignState, asking: int = 0) -> dict[str, int]:
    """Repeats asked (each a label of the budget), answered (a further vote taken in), awaiting an
    answer, and labels the votes changed (an item's label now other than its first); `asking`: the
    repeats of a round being committed, which `state` (as the round opened) does not hold yet."""
    asked = answered = 0
    awaiting = asking
    for round_, record in state.rounds.items():
        if record.repeats is None:
            continue
        taken, missing = state.ingested.get(round_, {}), set(state.missing(round_))
        asked += len(record.repeats.ids)
        answered += sum(i in taken for i in record.repeats.ids)
        awaiting += sum(i in missing for i in record.repeats.ids)
    changed = sum(outcome.changed for outcome in state.repeats.values())
    return {"asked": asked + asking, "answered": answered, "awaiting": awaiting, "changed": changed}


def repeat_metrics(state: CampaignState, asking: int = 0) -> dict[str, float]:
    """MLflow metrics of a round (none before the campaign's first repeat): repeats/asked,
    repeats/answered, repeats/awaiting and repeats/labels_changed, over the campaign so far
    (`asking`: the round's own repeats)."""
    if not state.repeats_asked + asking:
        return {}
    counts = repeat_counts(state, asking)
    return {
        "repeats/asked": float(counts["asked"]),
        "repeats/answered": float(counts["answered"]),
        "repeats/awaiting": float(counts["awaiting"]),
        "repeats/labels_changed": float(counts["changed"]),
    }


def repeat_text(state: CampaignState, asking: int = 0) -> str | None:
    """'repeats: 4 asked (2 in this batch), 1 answered, 1 label changed by their votes' (the round's
    line, `asking` its own repeats; `alflow status`), or None before the campaign's first repeat."""
    if not state.repeats_asked + asking:
        return None
    counts = repeat_counts(state, asking)
    now = f" ({asking} in this batch)" if asking else ""
    return (
        f"repeats: {counts['asked']} asked{now}, {counts['answered']} answered, "
        f"{counted(counts['changed'], 'label')} changed by their votes"
    )


def repeat_markdown(state: CampaignState, asking: int = 0) -> str:
    """The Prefect summary's line on repeats, as the round's line says it ('' before the campaign's
    first repeat; `asking`: the round's own repeats)."""
    text = repeat_text(state, asking)
    return f"- {text}\n" if text else ""


def repeat_json(state: CampaignState) -> dict | None:
    """`alflow status --json`: the counts, and each item asked again with its votes and label (None
    before the campaign's first repeat)."""
    if not state.repeats_asked:
        return None
    return {
        **repeat_counts(state),
        "items": {
            id_: {
                "votes": [{"round": v.round, "label": v.label, "annotator": v.annotator} for v in outcome.votes],
                "first": outcome.first,
                "label": outcome.label,
                "method": outcome.method,
            }
            for id_, outcome in sorted(state.repeats.items())
        },
    }
