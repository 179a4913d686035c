"""Stream-based selective sampling: decide item by item whether to ask for a label.

The threshold adapts so that the share of items asked tracks a target labeling rate (a
Robbins-Monro quantile tracker: after each item, threshold += step * (asked - target_rate)), and
no item is asked once the budget is spent. The state is a small frozen value, so a stream can be
processed one micro-batch (or one arriving file) at a time and resumed anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from alflow.strategies import UNCERTAINTY


@dataclass(frozen=True)
class StreamState:
    """Where a stream stands: the current threshold, items seen, labels asked, and the budget."""

    threshold: float
    budget: int
    seen: int = 0
    asked: int = 0

    @property
    def rate(self) -> float:
        return self.asked / self.seen if self.seen else 0.0


def start_stream(*, budget: int, threshold: float = 0.5) -> StreamState:
    """A fresh stream. Raises ValueError for a negative budget."""
    if budget < 0:
        raise ValueError(f"budget={budget} must be >= 0")
    return StreamState(threshold=threshold, budget=budget)


def decide(
    scores: np.ndarray, state: StreamState, *, target_rate: float, step: float = 0.02
) -> tuple[np.ndarray, StreamState]:
    """Which items of a micro-batch to ask for (a boolean mask), and the state after them.

    `scores` are uncertainty scores (higher = more worth a label), in arrival order.
    Raises ValueError unless 0 < target_rate <= 1.
    """
    if not 0 < target_rate <= 1:
        raise ValueError(f"target_rate={target_rate} must be in (0, 1]")
    ask = np.zeros(len(scores), dtype=bool)
    threshold, asked = state.threshold, state.asked
    for i, score in enumerate(np.asarray(scores, dtype=float)):
        ask[i] = score >= threshold and asked < state.budget
        asked += int(ask[i])
        threshold += step * (float(ask[i]) - target_rate)
    return ask, replace(state, threshold=threshold, seen=state.seen + len(ask), asked=asked)


def select_stream(
    model, X, state: StreamState, *, target_rate: float, strategy: str = "margin", step: float = 0.02
) -> tuple[np.ndarray, StreamState]:
    """`decide` on the uncertainty of `model` for the items of X, in order."""
    return decide(UNCERTAINTY[strategy](model.predict_proba(X)), state, target_rate=target_rate, step=step)


# --- screening arriving files for a campaign (the stream flow) ----------------------------------------


def stream_prefix(campaign: str) -> str:
    return f"{campaign}/stream/"


def record_key(campaign: str, name: str) -> str:
    return f"{stream_prefix(campaign)}{name.removesuffix('.csv').replace('/', '__')}.json"


def pending_arrivals(arrivals, campaign_store, campaign: str) -> list[str]:
    """CSV files in the `arrivals` store with no screening record in the campaign bucket yet, by name."""
    names = sorted(k for k in arrivals.list("") if k.endswith(".csv"))
    return [n for n in names if not campaign_store.exists(record_key(campaign, n))]


def last_state(campaign_store, campaign: str, *, budget: int, threshold: float = 0.5) -> StreamState:
    """The stream state after the latest screened file (records carry a sequence number)."""
    import json

    keys = [k for k in campaign_store.list(stream_prefix(campaign)) if k.endswith(".json")]
    records = [json.loads(campaign_store.read(k)) for k in keys]
    records = [r for r in records if isinstance(r, dict) and "seq" in r]
    if not records:
        return start_stream(budget=budget, threshold=threshold)
    latest = max(records, key=lambda r: r["seq"])
    return StreamState(threshold=latest["threshold"], budget=budget, seen=latest["seen"], asked=latest["asked"])


def screen_record(name: str, ids: list[str], ask: np.ndarray, state: StreamState, *, seq: int) -> dict:
    """What screening one arriving file decided, as written once to the bucket."""
    return {
        "seq": seq,
        "file": name,
        "items": len(ids),
        "asked_ids": [i for i, a in zip(ids, ask, strict=True) if a],
        "threshold": state.threshold,
        "seen": state.seen,
        "asked": state.asked,
        "rate": state.rate,
    }


# --- a campaign's stream: screening arriving files ---------------------------------------------------


def campaign_arrivals(config, arrivals: str) -> list[str]:
    """Files in the `arrivals` folder (or s3:// prefix) not screened yet, oldest name first."""
    from alflow.rounds import bucket
    from alflow.store import open_store

    return pending_arrivals(open_store(arrivals), bucket(config), config.campaign)


def screen_arrival(config, inputs, trained, arrivals: str, name: str, *, target_rate: float) -> dict:
    """Ask for labels on the uncertain items of one arriving CSV file, within the campaign's budget.

    The asked items go to `<campaign>/stream/<file>.csv` for the vendor and the decision to a
    write-once record beside it; a file already screened raises AlreadyExistsError and changes nothing.
    """
    import io
    import json

    import pandas as pd

    from alflow import data, ledger, vendors
    from alflow.rounds import bucket, budget_left
    from alflow.store import open_store

    store = bucket(config)
    budget = budget_left(config, inputs, ledger.load_state(store, config.campaign))
    state = last_state(store, config.campaign, budget=budget)
    frame = pd.read_csv(io.BytesIO(open_store(arrivals).read(name)), dtype={config.pool.id_column: str})
    X = data.model_input(frame, config.pool, inputs.features)
    ask, after = select_stream(trained.model, X, state, target_rate=target_rate)
    ids = frame[config.pool.id_column].tolist()
    record = screen_record(name, ids, ask, after, seq=state.seen)
    key = record_key(config.campaign, name)
    items = frame[ask].rename(columns={config.pool.id_column: vendors.ID})
    store.write_once(key.removesuffix(".json") + ".csv", items.to_csv(index=False).encode())
    store.write_once(key, json.dumps(record, indent=2).encode())
    return record
