"""Small helpers shared by tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import yaml

from alflow.config import CampaignConfig
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.operations.demo import SimulatedVendor

T = TypeVar("T")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: to assert that nothing changed."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def vendor_for(campaign: CampaignConfig, answers_csv: Path) -> SimulatedVendor:
    answers = pd.read_csv(answers_csv, dtype=str)
    labels = dict(zip(answers["id"], answers["label"], strict=True))
    kind = None if campaign.label_kind.is_class else campaign.label_kind
    return SimulatedVendor(open_store(campaign.vendor.bucket), campaign.campaign, labels, kind)


def deliver(campaign: CampaignConfig, round_: int, text: str, *, name: str = "labels.csv") -> None:
    """Deliver a hand-written label file for a round, as a vendor would (marker last)."""
    store = open_store(campaign.vendor.bucket)
    prefix = layout.delivery_prefix(campaign.campaign, round_)
    store.write_once(prefix + name, text.encode())
    store.write_once(prefix + layout.DONE, b"")


def ask(campaign: CampaignConfig, ids: list[str], round_: int = 1) -> None:
    """Commit a round whose batch asks for `ids` (what a real round writes before its export)."""
    from alflow.ledger.ledger import Ledger
    from alflow.ledger.records import BatchRecord, RoundRecord

    record = RoundRecord(
        round=round_,
        labels_used=20,
        metrics={},
        metric_source="holdout",
        strategy="margin",
        model="LogisticRegression",
        stop_reason=None,
        batch=BatchRecord(ids=ids, scores=[1.0] * len(ids), predicted=["0"] * len(ids)),
    )
    Ledger.of(campaign).record_round(record)


def deliver_files(
    campaign: CampaignConfig, files: dict[str, bytes | str], round_: int = 1, *, done: bool = True
) -> None:
    """Deliver `files` (name -> content) for a round, then its `_DONE` marker unless `done` is False."""
    from alflow.ledger.ledger import bucket

    store = bucket(campaign)
    prefix = layout.delivery_prefix(campaign.campaign, round_)
    for name, data in files.items():
        store.write_once(prefix + name, data.encode() if isinstance(data, str) else data)
    if done and not store.exists(prefix + layout.DONE):
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


# --- an image campaign: scikit-learn's digits as PNG files, their pixels standing in for the
# embeddings a team's own foundation model would make (a Parquet list<float> column) -------------

IMAGE_CLASSES = ("0", "1", "2", "3")


def image_items(folder: Path, *, per_class: int = 60) -> pd.DataFrame:
    """Writes images/<id>.png under `folder`; returns id, image (path relative to `folder`),
    embedding (64 floats) and label."""
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.concatenate([np.flatnonzero(digits.target == int(c))[:per_class] for c in IMAGE_CLASSES])
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in keep:
        item = f"scan-{i:04d}"
        plt.imsave(folder / "images" / f"{item}.png", digits.images[i], cmap="gray")
        rows.append({"id": item, "image": f"images/{item}.png", "embedding": (digits.data[i] / 16).tolist()})
    frame = pd.DataFrame(rows)
    frame["label"] = digits.target[keep].astype(str)
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def write_image_campaign(
    folder: Path, items: pd.DataFrame, *, pool_uri: str, bucket: str, fmt: str, holdout: int = 60
) -> Path:
    """pool.parquet (id, image, embedding), seed labels (two per class), a holdout (embeddings and
    labels) and answers under `folder`; the campaign file reads the pool from `pool_uri`."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    test, pool = items.iloc[:holdout], items.iloc[holdout:]
    pool[["id", "image", "embedding"]].to_parquet(data / "pool.parquet", index=False)
    test[["embedding", "label"]].to_parquet(data / "holdout.parquet", index=False)
    pool.groupby("label").head(2)[["id", "label"]].to_csv(data / "seed.csv", index=False)
    pool[["id", "label"]].to_csv(data / "answers.csv", index=False)
    campaign = {
        "campaign": "scans",
        "pool": {"uri": pool_uri, "id_column": "id", "vector_column": "embedding", "reference_column": "image"},
        "seed_labels": {"uri": "data/seed.csv"},
        "holdout": {"uri": "data/holdout.parquet"},
        "classes": list(IMAGE_CLASSES),
        "strategy": {"batch_size": 10},
        "budget": {"max_labels": 60},
        "vendor": {"bucket": bucket, "format": fmt},
        "tracking": {"uri": "sqlite:///mlflow.db"},
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path


def wait_until(
    condition: Callable[[], T],
    *,
    what: str,
    seconds: float = 300,
    every: float = 0.5,
    process: subprocess.Popen | None = None,
    detail: Callable[[], object] | None = None,
) -> T:
    """Poll `condition` until it returns something truthy, and return that. The deadline is a generous
    bound on a hang, never a speed check: when it passes, or when `process` (what should bring the
    condition about) exits first, the test fails with one message saying what did not happen, then
    `detail()` (the last state seen) or the process's output."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if process is not None and process.poll() is not None:
            output = "".join(str(s) for s in process.communicate() if s)  # it has exited: its pipes read to the end
            raise AssertionError(
                f"{what} did not happen: its process exited with {process.returncode}\n{output[-3000:]}"
            )
        if time.monotonic() > deadline:
            more = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s{more}")
        time.sleep(every)
    return found
