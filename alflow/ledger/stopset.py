"""The stop set of a campaign that stops on stabilising predictions, and the rule over its agreements.

The stop set (`ledger/stopset.json`, a `StopSet`) is drawn once per campaign from the pool and
written once; every later round reads it from the state and no strategy may pick its items. Each
round records in its `Stability` the agreement (Cohen's kappa) of its model with the previous
round's on that set; the rule is the mean of the last `rounds` agreements against `kappa`
(small-text's KappaAverage, Bloodgood and Vijay-Shanker 2009).
"""

from __future__ import annotations

from alflow.config import CampaignConfig
from alflow.errors import AlreadyExistsError
from alflow.exchange import layout
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import RoundRecord, StopSet
from alflow.ledger.state import CampaignState

STOP_REASON = "predictions_stable"


def record_stop_set(ledger: Ledger, stop_set: StopSet) -> StopSet:
    """Write the campaign's stop set once; returns the one in force (another run's, drawn from the
    same pool with the same seed, when it wrote first)."""
    key = layout.stop_set_key(ledger.campaign)
    try:
        ledger.store.write_once(key, stop_set.to_json())
    except AlreadyExistsError:
        return StopSet.from_json(ledger.store.read(key))
    return stop_set


def agreements(rounds: list[RoundRecord]) -> list[float]:
    """The kappas the rounds measured, in round order (rounds with nothing to compare have none)."""
    return [r.stability.kappa for r in rounds if r.stability is not None and r.stability.kappa is not None]


def window_mean(kappas: list[float], window: int) -> float | None:
    """The mean of the last `window` kappas, or None while there are fewer."""
    if len(kappas) < window:
        return None
    recent = kappas[-window:]
    return sum(recent) / window


def still_stable(config: CampaignConfig, state: CampaignState) -> bool:
    """Whether the rounds' agreements still meet `config`'s rule (a changed rule may lift the stop)."""
    rule = config.stopping.stable_predictions
    if rule is None:
        return False
    mean = window_mean(agreements([r for _, r in sorted(state.rounds.items())]), rule.rounds)
    return mean is not None and mean >= rule.kappa


def f1_bound(kappa: float) -> float | None:
    """Bloodgood and Grothendieck's bound on the change of F-measure between two models whose
    kappa is at least `kappa` (> 0), proven for two classes: 4(1 - kappa) / kappa."""
    return 4 * (1 - kappa) / kappa if kappa > 0 else None
