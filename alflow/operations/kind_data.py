"""Campaigns of the other kinds of label (alflow.kinds) on data scikit-learn makes or ships.

`write_kind_data` writes what `write_demo_data` writes for the digits (pool, seed labels, holdout,
answer key, campaign file) for a multi-label campaign (scikit-learn's make_multilabel_classification:
documents with several topics each) or a numeric one (make_friedman1, or the diabetes set
scikit-learn ships: a disease-progression score). The labels are written in their one spelling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import load_diabetes, make_friedman1, make_multilabel_classification
from sklearn.model_selection import train_test_split

from alflow.kinds import spell_number, spell_tags

TOPICS = ("billing", "outage", "security", "feature", "praise")
KIND_DATASETS = ("multilabel", "friedman", "diabetes")
SEED_LABELS = 20


def _multilabel(seed: int) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    X, Y = make_multilabel_classification(
        n_samples=900, n_features=12, n_classes=len(TOPICS), n_labels=2, allow_unlabeled=True, random_state=seed
    )
    labels = [spell_tags(t for t, on in zip(TOPICS, row, strict=True) if on) for row in Y]
    section = {"classes": list(TOPICS), "labels": {"kind": "multi", "allow_empty": True}}
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]), labels, section


def _numeric(name: str, seed: int) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    if name == "diabetes":
        data = load_diabetes()
        X, y, unit = data.data, data.target, "progression"
    else:
        X, y = make_friedman1(n_samples=900, n_features=10, noise=1.0, random_state=seed)
        unit = "score"
    low, high = float(np.floor(y.min())) - 1, float(np.ceil(y.max())) + 1
    section = {"labels": {"kind": "number", "min": low, "max": high, "unit": unit}}
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]), [spell_number(float(v)) for v in y], section


def write_kind_data(
    workdir: Path,
    dataset: str,
    *,
    bucket: str | None = None,
    max_labels: int = 120,
    batch_size: int = 20,
    seed: int = 0,
    fmt: str = "csv",
) -> Path:
    """Pool, seed labels, holdout, answer key and campaign file of `dataset` (KIND_DATASETS) under `workdir`."""
    items, labels, section = _multilabel(seed) if dataset == "multilabel" else _numeric(dataset, seed)
    items.insert(0, "id", [f"{dataset}-{i:04d}" for i in range(len(items))])
    y = np.asarray(labels, dtype=object)
    pool, holdout, y_pool, y_holdout = train_test_split(items, y, test_size=0.3, random_state=seed)
    seed_rows = np.random.default_rng(seed).choice(len(pool), SEED_LABELS, replace=False)
    folder = workdir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    pool.to_csv(folder / "pool.csv", index=False)
    seed_ids = pool["id"].to_numpy()[seed_rows]
    pd.DataFrame({"id": seed_ids, "label": y_pool[seed_rows]}).to_csv(folder / "seed.csv", index=False)
    holdout.drop(columns="id").assign(label=y_holdout).to_csv(folder / "holdout.csv", index=False)
    pd.DataFrame({"id": pool["id"], "label": y_pool}).to_csv(folder / "answers.csv", index=False)
    campaign = {
        "campaign": f"{dataset}-demo",
        "pool": {"uri": "data/pool.csv"},
        "seed_labels": {"uri": "data/seed.csv"},
        "holdout": {"uri": "data/holdout.csv"},
        **section,
        "strategy": {"name": "auto", "batch_size": batch_size},
        "budget": {"max_labels": max_labels},
        "vendor": {"bucket": bucket or "bucket", "format": fmt},
        "tracking": {"uri": "sqlite:///mlflow.db"},
        "seed": seed,
    }
    path = workdir / "campaign.yaml"
    path.write_text(f"# A {dataset} campaign written by alflow.\n" + yaml.safe_dump(campaign, sort_keys=False))
    return path
