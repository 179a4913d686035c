"""What a round starts from: the campaign, its validated inputs, the ledger's state, its source of items.

Every stage of the round (alflow.round.*) takes the `RoundContext` and what earlier stages made.
The context never changes during a round; its derived views are computed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from alflow.config import CampaignConfig
from alflow.exchange.store import Store
from alflow.learning import data
from alflow.ledger.budget import Budget
from alflow.ledger.campaign import bucket
from alflow.ledger.state import CampaignState


@dataclass(frozen=True)
class Inputs:
    """The validated pool and labels a round works from."""

    header: list[str]
    features: list[str]
    pool_size: int
    seed_labels: dict[str, str]
    holdout: pd.DataFrame | None = field(default=None, repr=False)
    dimensions: int | None = None  # the length of the pool's vectors (None without a vector column)


@dataclass(frozen=True)
class Arrivals:
    """A stream round's source: the files under `uri` that no round has screened yet, in order."""

    uri: str
    names: tuple[str, ...]
    target_rate: float


@dataclass(frozen=True)
class RoundContext:
    """One round's starting point. `arrivals` is None for a pool round; `resumed` lists the batches
    whose interrupted export was finished when the round opened."""

    config: CampaignConfig
    inputs: Inputs
    state: CampaignState
    arrivals: Arrivals | None = None
    resumed: tuple[str, ...] = ()

    @property
    def round(self) -> int:
        """The number this round will have."""
        return self.state.next_round

    @property
    def has_work(self) -> bool:
        """False when the campaign has stopped, waits for the vendor, or a stream round has no new file."""
        waiting = self.state.stop_reason or self.state.outstanding
        return not waiting and (self.arrivals is None or bool(self.arrivals.names))

    @cached_property
    def store(self) -> Store:
        return bucket(self.config)

    @cached_property
    def labeled(self) -> dict[str, str]:
        """Seed labels plus every ingested vendor label (a vendor label wins on the same id), and the
        vendor tool's own auto-labels when the campaign trains on them (`vendor.machine_labels`)."""
        machine = self.state.vendor_machine_labels() if self.config.vendor.machine_labels == "train" else {}
        return {**self.inputs.seed_labels, **machine, **self.state.human_labels()}

    @cached_property
    def taken(self) -> set[str]:
        """Items no strategy may pick: labeled, already asked, or already labeled by the model."""
        return set(self.labeled) | set(self.state.asked_ids) | set(self.state.auto_labeled())

    @cached_property
    def budget(self) -> Budget:
        """The label budget before this round asks for anything."""
        asked = self.state.human_labels_asked  # the vendor's machine labels are not charged as human labels
        return Budget.of(self.config.budget, seed_labels=len(self.inputs.seed_labels), asked=asked)

    def class_counts(self, labels: dict[str, str]) -> dict[str, int]:
        """Labels per class of the class set (zero for a class not labeled yet)."""
        values = list(labels.values())
        return {c: values.count(c) for c in self.config.classes}

    def model_input(self, frame: pd.DataFrame) -> Any:
        """What the model reads of `frame`: its text column, or its feature columns."""
        return data.model_input(frame, self.config.pool, self.inputs.features)

    @cached_property
    def holdout(self) -> tuple[Any, np.ndarray] | None:
        """(model input, true labels as text) of the holdout, or None without one."""
        if self.inputs.holdout is None or self.config.holdout is None:
            return None
        truth = self.inputs.holdout[self.config.holdout.label_column].astype(str).to_numpy()
        return self.model_input(self.inputs.holdout), truth
