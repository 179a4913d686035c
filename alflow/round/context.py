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
from alflow.data import frames
from alflow.data.pools import PoolSource, open_pool
from alflow.kinds import tags
from alflow.ledger import changes
from alflow.ledger.budget import Budget
from alflow.ledger.ledger import Ledger
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
    source: PoolSource | None = None  # the pool's files at the versions validated (None: list them when read)


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
    def waits(self) -> str | None:
        """Why the round has nothing to do, or None when it has work.

        `paused`: someone paused the campaign (`alflow pause`). `stopped`: a stopping rule fired
        (and no change of the settings since lifted it: `lifted`).
        `in_flight`: the vendor holds as many batches as `vendor.batches_in_flight` allows.
        `last_batches`: batches are open and nothing is left to ask (budget or pool), so the last
        round waits to train on their labels. `no_arrivals`: a stream round with no new file.
        """
        state, open_batches = self.state, len(self.state.outstanding)
        if state.paused:
            return "paused"
        if state.stop_reason and not self.lifted:
            return "stopped"
        if open_batches >= self.config.vendor.batches_in_flight:
            return "in_flight"
        if open_batches and (self.budget.left == 0 or (self.arrivals is None and self.pool_left == 0)):
            return "last_batches"
        if self.arrivals is not None and not self.arrivals.names:
            return "no_arrivals"
        return None

    @cached_property
    def lifted(self) -> str | None:
        """Why a stopped campaign goes on: a change of its settings recorded since its last round
        that its stopping rule no longer meets (alflow.ledger.changes); None otherwise."""
        return changes.lifted(self.config, self.state, budget_left=self.budget.left)

    @property
    def has_work(self) -> bool:
        return self.waits is None

    def room_after(self, asked: int) -> bool:
        """Whether the vendor could take another batch once this round has asked for `asked` labels:
        fewer batches than the limit would be open, and budget is left."""
        open_after = len(self.state.outstanding) + (1 if asked else 0)
        return bool(asked) and open_after < self.config.vendor.batches_in_flight and self.budget.ask(asked).left > 0

    @cached_property
    def ledger(self) -> Ledger:
        """The campaign's ledger, where the round's records and batch are written."""
        return Ledger.of(self.config)

    @cached_property
    def pool(self) -> PoolSource:
        """The pool's files, at the versions validation saw."""
        return self.inputs.source or open_pool(self.config.pool.uri)

    @cached_property
    def labeled(self) -> dict[str, str]:
        """Seed labels plus every ingested vendor label (a vendor label wins on the same id), and the
        vendor tool's own auto-labels when the campaign trains on them (`vendor.machine_labels`), with
        the verdicts of reviews applied (a label corrected or dropped: alflow.operations.review)."""
        machine = self.state.vendor_machine_labels() if self.config.vendor.machine_labels == "train" else {}
        return self.state.reviewed({**self.inputs.seed_labels, **machine, **self.state.human_labels()})

    @cached_property
    def taken(self) -> set[str]:
        """Items no strategy may pick: labeled, already asked, already labeled by the model, in
        the stop set (stopping.stable_predictions), or sent for review (a dropped label stays dropped)."""
        stop_set = set(self.state.stop_set.ids) if self.state.stop_set else set()
        taken = set(self.labeled) | set(self.state.asked_ids) | set(self.state.auto_labeled()) | stop_set
        return taken | self.state.reviewed_ids

    @property
    def pool_left(self) -> int:
        """Pool items not labeled, asked or auto-labeled yet (items outside the pool do not count)."""
        return self.inputs.pool_size - len(self.taken - self.state.outside_ids)

    @cached_property
    def budget(self) -> Budget:
        """The label budget before this round asks for anything."""
        asked = self.state.human_labels_asked  # the vendor's machine labels are not charged as human labels
        return Budget.of(self.config.budget, seed_labels=len(self.inputs.seed_labels), asked=asked)

    def class_counts(self, labels: dict[str, str]) -> dict[str, int]:
        """Labels per class of the class set (zero for a class not labeled yet); per tag for tags, none for numbers."""
        kind = self.config.label_kind
        if kind.kind == "number":
            return {}
        if kind.kind == "multi":
            tagged = [t for text in labels.values() for t in tags(text)]
            return {c: tagged.count(c) for c in self.config.classes}
        values = list(labels.values())
        return {c: values.count(c) for c in self.config.classes}

    def model_input(self, frame: pd.DataFrame) -> Any:
        """What the model reads of `frame`: its text column, or its feature columns."""
        return frames.model_input(frame, self.config.pool, self.inputs.features)

    @cached_property
    def holdout(self) -> tuple[Any, np.ndarray] | None:
        """(model input, true labels as text) of the holdout, or None without one."""
        if self.inputs.holdout is None or self.config.holdout is None:
            return None
        truth = self.inputs.holdout[self.config.holdout.label_column].astype(str).to_numpy()
        return self.model_input(self.inputs.holdout), truth
