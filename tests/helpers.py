"""Small helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alflow.config import CampaignConfig
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.tools.demo import SimulatedVendor


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: to assert that nothing changed."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def vendor_for(campaign: CampaignConfig, answers_csv: Path) -> SimulatedVendor:
    answers = pd.read_csv(answers_csv, dtype=str)
    labels = dict(zip(answers["id"], answers["label"], strict=True))
    return SimulatedVendor(open_store(campaign.vendor.bucket), campaign.campaign, labels)


def deliver(campaign: CampaignConfig, round_: int, text: str, *, name: str = "labels.csv") -> None:
    """Deliver a hand-written label file for a round, as a vendor would (marker last)."""
    store = open_store(campaign.vendor.bucket)
    prefix = layout.delivery_prefix(campaign.campaign, round_)
    store.write_once(prefix + name, text.encode())
    store.write_once(prefix + layout.DONE, b"")


class SlowModel:
    """A fitted classifier whose predict_proba takes `delay` seconds longer: to catch scoring mid-way."""

    def __init__(self, model, delay: float) -> None:
        self.model, self.delay = model, delay

    def predict_proba(self, X):
        import time

        time.sleep(self.delay)
        return self.model.predict_proba(X)

    def __getattr__(self, name):
        if name in ("model", "delay"):
            raise AttributeError(name)
        return getattr(self.model, name)
