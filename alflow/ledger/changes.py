"""A campaign's settings over time: its budget, strategy, batch size and stopping rules, recorded
in its ledger whenever they change between rounds, and the stop a change lifts.

`alflow change` records the campaign file's settings with a reason; a round that opens on settings
no record holds records them itself (no reason then), so no change goes unrecorded. The first
record only notes the settings. A campaign stopped by a rule that the settings recorded since its
last round no longer meet (a raised budget, a higher target, more patience) goes on (`lifted`).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from alflow.config import CampaignConfig
from alflow.errors import AlreadyExistsError, RoundConflictError
from alflow.exchange import layout
from alflow.ledger import stopset
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import SettingsChange, now, who
from alflow.ledger.state import CampaignState

# Shown as people write them, in this order.
NAMES = {
    "max_labels": "budget.max_labels",
    "cost_per_label": "budget.cost_per_label",
    "currency": "budget.currency",
    "strategy": "strategy.name",
    "batch_size": "strategy.batch_size",
    "stop_metric": "stopping.metric",
    "stop_target": "stopping.target",
    "stop_patience": "stopping.patience",
    "stop_min_delta": "stopping.min_delta",
    "stop_kappa": "stopping.stable_predictions.kappa",
    "stop_kappa_rounds": "stopping.stable_predictions.rounds",
    "gold_pause_below": "gold.pause_below",
}


def settings(config: CampaignConfig) -> dict[str, Any]:
    """The settings a campaign may change between rounds, as plain JSON values (money as exact text)."""
    budget, rules = config.budget, config.stopping
    cost = None if budget.cost_per_label is None else str(Decimal(repr(float(budget.cost_per_label))))
    gold = {} if config.gold is None else {"gold_pause_below": config.gold.pause_below}  # with gold items only
    return {
        "max_labels": budget.max_labels,
        "cost_per_label": cost,
        "currency": budget.currency,
        "strategy": config.strategy.name,
        "batch_size": config.strategy.batch_size,
        "stop_metric": rules.metric,
        "stop_target": rules.target,
        "stop_patience": rules.patience,
        "stop_min_delta": rules.min_delta,
        # only when set: a ledger that recorded settings before the rule existed sees no change
        **(
            {"stop_kappa": stable.kappa, "stop_kappa_rounds": stable.rounds}
            if (stable := rules.stable_predictions)
            else {}
        ),
    } | gold


def differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """name -> [before, after] for each setting that differs."""
    names = dict.fromkeys([*after, *before])  # a setting dropped (a rule removed) is a change too
    return {k: [before.get(k), after.get(k)] for k in names if before.get(k) != after.get(k)}


def change_text(changed: dict[str, list[Any]]) -> str:
    """'max_labels 200 -> 300, strategy margin -> entropy'."""
    return ", ".join(f"{name} {_shown(old)} -> {_shown(new)}" for name, (old, new) in changed.items())


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)


def record_change(
    ledger: Ledger, config: CampaignConfig, *, reason: str | None = None, state: CampaignState | None = None
) -> SettingsChange | None:
    """Record the campaign file's settings if the ledger's last record does not hold them; returns
    the record written, or None when nothing changed. Raises RoundConflictError when another
    process recorded other settings at the same moment."""
    state = state if state is not None else ledger.state()
    current = settings(config)
    last = state.changes[-1] if state.changes else None
    if last is not None and last.settings == current:
        return None
    record = SettingsChange(
        seq=len(state.changes) + 1,
        round=state.next_round,
        at=now(),
        by=who(),
        settings=current,
        changed=differences(last.settings, current) if last else {},
        reason=reason,
    )
    key = layout.change_key(ledger.campaign, record.seq)
    try:
        ledger.store.write_once(key, record.to_json())
    except AlreadyExistsError:
        if SettingsChange.from_json(ledger.store.read(key)).settings == current:
            return None  # another round or command recorded these same settings first
        raise RoundConflictError(
            f"other settings of campaign {ledger.campaign!r} were recorded meanwhile ({key}); "
            "run `alflow status` to see them, then try again"
        ) from None
    return record


def _still_stopped(reason: str, config: CampaignConfig, state: CampaignState, *, budget_left: int) -> bool:
    """Whether the rule that stopped the campaign still holds under `config`'s settings."""
    rules = config.stopping
    history = [r.metrics.get(rules.metric, math.nan) for _, r in sorted(state.rounds.items())]
    history = [m for m in history if not math.isnan(m)]
    if reason == "budget_spent":
        return budget_left == 0
    if reason == "target_reached":
        return rules.target is not None and bool(history) and history[-1] >= rules.target
    if reason == "no_improvement":
        if rules.patience is None or len(history) <= rules.patience:
            return False
        before, recent = history[: -rules.patience], history[-rules.patience :]
        return max(recent) <= max(before) + rules.min_delta
    if reason == stopset.STOP_REASON:
        return stopset.still_stable(config, state)
    return True  # pool_exhausted, and rules this module does not know: a change does not lift them


def lifted(config: CampaignConfig, state: CampaignState, *, budget_left: int) -> str | None:
    """Why a stopped campaign goes on (a sentence), or None: it did not stop, no settings were
    recorded since its last round, or its stopping rule still holds under them."""
    last = state.last
    if last is None or not last.stop_reason:
        return None
    since = [c for c in state.changes if c.round > last.round and c.changed]
    if not since or _still_stopped(last.stop_reason, config, state, budget_left=budget_left):
        return None
    latest, before = since[-1], [c for c in state.changes if c.round <= last.round]
    changed = differences(before[-1].settings, latest.settings) if before else latest.changed
    why = f" ({latest.reason})" if latest.reason else ""
    return (
        f"the stop of round {last.round} ({last.stop_reason}) is lifted by the change of round {latest.round}: "
        f"{change_text(changed)}{why}"
    )


def in_force(state: CampaignState, round_: int) -> dict[str, Any] | None:
    """The settings recorded for round `round_` (the last record from that round or before; for a
    round before the first record, that record's settings as they were before it); None when the
    ledger records none."""
    if not state.changes:
        return None
    recorded = [c for c in state.changes if c.round <= round_]
    if recorded:
        return recorded[-1].settings
    first = state.changes[0]
    return {**first.settings, **{name: old for name, (old, _) in first.changed.items()}}


def changed_rounds(state: CampaignState) -> dict[int, str]:
    """Round -> the changes of settings that took effect at it, in words (the first record, which
    only notes the settings, is not a change)."""
    rounds: dict[int, list[str]] = {}
    for change in state.changes:
        if change.changed:
            rounds.setdefault(change.round, []).append(change_text(change.changed))
    return {r: "; ".join(texts) for r, texts in rounds.items()}
