"""Stabilising predictions in words: the agreement of successive models on the stop set, what the
rule makes of it, and the bound it implies (the round's line, `alflow status`, MLflow).

The bound is Bloodgood and Grothendieck's (2013): two models whose Cohen's kappa on a set is at
least K have F-measures on that set within 4(1 - K)/K of each other, proven for two classes. It
says how much the model still moves, not how far it is from the best it could be: that stopping at
a mean kappa of 0.99 loses little is an empirical finding (Bloodgood and Vijay-Shanker 2009), not a
guarantee.
"""

from __future__ import annotations

from alflow.config import CampaignConfig
from alflow.ledger.records import RoundRecord, Stability
from alflow.ledger.stopset import f1_bound


def agreement_text(stability: Stability | None, config: CampaignConfig) -> str | None:
    """'agreement with round 4's model: kappa 0.987 (3/500 predictions changed); mean 0.991 over
    3 (stops at >= 0.99); F1 moves <= 0.053 (bound for two classes)'; None without the rule."""
    rule = config.stopping.stable_predictions
    if rule is None or stability is None:
        return None
    if stability.kappa is None:
        return f"agreement: nothing to compare yet on the {stability.items}-item stop set"
    text = (
        f"agreement with round {stability.previous}'s model: kappa {stability.kappa:.3f} "
        f"({stability.changed}/{stability.items} predictions changed)"
    )
    if stability.mean is None:
        text += f"; the rule needs {rule.rounds} comparisons (stops at a mean >= {rule.kappa:g})"
    else:
        text += f"; mean {stability.mean:.3f} over {stability.window} (stops at >= {rule.kappa:g})"
    bound = f1_bound(stability.kappa)
    if bound is not None and bound < 1:
        text += (
            f"; F1 moves <= {bound:.3f} ({'bound for two classes' if len(config.classes) == 2 else 'two-class bound'})"
        )
    return text


def agreement_figures(stability: Stability | None) -> dict[str, float]:
    """The round's agreement as figures for MLflow (alflow names; alflow.reporting.dashboard groups them)."""
    if stability is None or stability.kappa is None:
        return {}
    figures = {"stop_set_kappa": stability.kappa, "stop_set_changed": float(stability.changed)}
    if stability.mean is not None:
        figures["stop_set_kappa_mean"] = stability.mean
    if (bound := f1_bound(stability.kappa)) is not None:
        figures["stop_set_f1_bound"] = bound
    return figures


def last_stability(rounds: list[RoundRecord]) -> Stability | None:
    """The agreement the last round that measured one recorded."""
    measured = [r.stability for r in rounds if r.stability is not None]
    return measured[-1] if measured else None
