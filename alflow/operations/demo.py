"""`alflow demo`: a whole campaign on scikit-learn's digits or on generated support tickets (text),
with a simulated vendor.

The vendor knows the answers and delivers each exported batch into the bucket the way a real
one would (label file first, completion marker last). Everything lives under one work folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from alflow.config import CampaignConfig, load_campaign
from alflow.data import frames
from alflow.errors import AlflowError
from alflow.exchange import formats, layout
from alflow.exchange.formats.base import ID, LABEL
from alflow.exchange.store import Store
from alflow.kinds import LabelKind
from alflow.ledger import ledger
from alflow.model import targets
from alflow.operations.corpus import CLASSES, support_tickets
from alflow.operations.kind_data import KIND_DATASETS, write_kind_data
from alflow.reporting import dashboard
from alflow.reporting.reports import RoundReport

SEED_LABELS = 20
DATASETS = ("digits", "text")
"""What `alflow demo --data` runs on: scikit-learn's digits (pixels), or generated support tickets (text)."""


@dataclass(frozen=True)
class _Dataset:
    campaign: str
    items: pd.DataFrame  # id, then the features (or the text)
    labels: np.ndarray
    classes: list[str]
    pool: dict  # the campaign file's pool section (its uri is added)
    model: dict
    target: float


def _dataset(name: str, seed: int) -> _Dataset:
    if name not in DATASETS:
        raise AlflowError(f"--data {name!r}: use one of {', '.join(DATASETS + KIND_DATASETS)}")
    if name == "text":
        tickets = support_tickets(2600, seed=seed)
        pool = {"id_column": "id", "text_column": "text"}
        model = {"preset": "tfidf_logistic_regression"}
        items, labels = tickets[["id", "text"]], tickets["label"].to_numpy()
        return _Dataset("tickets-demo", items, labels, list(CLASSES), pool, model, 0.95)
    digits = load_digits()
    X = pd.DataFrame(digits.data, columns=[f"px{i}" for i in range(digits.data.shape[1])])
    X.insert(0, "id", [f"digit-{i:04d}" for i in range(len(X))])
    model = {"preset": "logistic_regression"}
    classes = [str(c) for c in range(10)]
    return _Dataset("digits-demo", X, digits.target.astype(str), classes, {"id_column": "id"}, model, 0.99)


CAMPAIGN = "digits-demo"


def campaign_name(dataset: str) -> str:
    """The demo campaign's name for `dataset`."""
    if dataset in KIND_DATASETS:
        return f"{dataset}-demo"
    return "tickets-demo" if dataset == "text" else CAMPAIGN


def write_demo_data(
    workdir: Path,
    *,
    bucket: str | None,
    max_labels: int,
    batch_size: int,
    seed: int = 0,
    dataset: str = "digits",
    fmt: str = "csv",
) -> Path:
    """Pool, seed labels, holdout, answer key and campaign file under `workdir`; returns the file.

    `dataset` is digits (scikit-learn's, pixels as features) or text (generated support tickets,
    alflow.operations.corpus, with the TF-IDF preset), or one of tags or numbers (KIND_DATASETS,
    alflow.operations.kind_data); `fmt` the vendor's exchange format.
    """
    if dataset in KIND_DATASETS:
        return write_kind_data(
            workdir, dataset, bucket=bucket, max_labels=max_labels, batch_size=batch_size, seed=seed, fmt=fmt
        )
    spec = _dataset(dataset, seed)
    X, y = spec.items, spec.labels
    pool, holdout, y_pool, y_holdout = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    seed_rows = rng.choice(len(pool), SEED_LABELS, replace=False)

    folder = workdir / "data"
    folder.mkdir(parents=True)
    pool.to_csv(folder / "pool.csv", index=False)
    pd.DataFrame({"id": pool["id"].to_numpy()[seed_rows], "label": y_pool[seed_rows]}).to_csv(
        folder / "seed.csv", index=False
    )
    holdout.drop(columns="id").assign(label=y_holdout).to_csv(folder / "holdout.csv", index=False)
    pd.DataFrame({"id": pool["id"], "label": y_pool}).to_csv(folder / "answers.csv", index=False)

    campaign = {
        "campaign": spec.campaign,
        "pool": {"uri": "data/pool.csv", **spec.pool},
        "seed_labels": {"uri": "data/seed.csv", "label_column": "label"},
        "holdout": {"uri": "data/holdout.csv", "label_column": "label"},
        "classes": spec.classes,
        "model": spec.model,
        "strategy": {"name": "auto", "batch_size": batch_size},  # the default, as a new campaign gets
        "budget": {"max_labels": max_labels, "cost_per_label": 0.08, "currency": "USD"},
        "stopping": {"metric": "accuracy", "target": spec.target, "patience": 4},
        "vendor": {"bucket": bucket or "bucket", "format": fmt},
        "tracking": {"uri": "sqlite:///mlflow.db"},
        "seed": seed,
    }
    path = workdir / "campaign.yaml"
    path.write_text("# Written by `alflow demo`.\n" + yaml.safe_dump(campaign, sort_keys=False))
    return path


@dataclass(frozen=True)
class SimulatedVendor:
    """Labels exported batches from an answer key and delivers them into the bucket."""

    store: Store
    campaign: str
    answers: dict[str, str]
    kind: LabelKind | None = None  # the campaign's kind of label: tags and numbers written as the tool writes them

    def deliver(self, round_: int, *, fmt: str = "csv") -> int:
        """Deliver the labels of round `round_`'s batch in format `fmt`; returns how many."""
        spec = formats.get(fmt)
        ids = spec.batch_ids(self.store.read(layout.batch_prefix(self.campaign, round_) + spec.batch_file))
        votes = pd.DataFrame({ID: ids, LABEL: [self.answers[i] for i in ids]})
        classes = self.kind.classes if self.kind is not None else ()
        name, payload = spec.write_delivery(
            votes, classes=classes, job_name=f"{self.campaign}-round-{round_}", created_at="", kind=self.kind
        )
        target = layout.delivery_prefix(self.campaign, round_)
        self.store.write_once(target + name, payload)
        self.store.write_once(target + layout.DONE, b"")
        return len(votes)


def fresh_s3_prefix(uri: str, campaign: str = "digits-demo") -> str:
    """An S3 bucket URI whose demo campaign is empty: `uri` itself, else a new `run-<time>` under it.

    Nothing is ever deleted from a campaign bucket, so a second demo cannot wipe the first one.
    """
    from alflow.exchange.bucket import open_store
    from alflow.exchange.s3 import ensure_bucket

    ensure_bucket(uri)
    if not open_store(uri).list(f"{campaign}/"):
        return uri
    return f"{uri.rstrip('/')}/run-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"


@dataclass(frozen=True)
class DemoSummary:
    rounds: int
    labels_used: int
    accuracy: float
    random_accuracy: float
    stop_reason: str | None
    tracking_uri: str
    bucket: str
    dashboard_url: str | None = None  # the campaign's runs table in the MLflow UI
    spend_text: str | None = None
    metric: str = "accuracy"  # what `accuracy` and `random_accuracy` measure: the stopping metric for tags and numbers


def random_sampling_accuracy(
    config: CampaignConfig, answers: pd.DataFrame, labels_used: int, *, seeds: int = 5
) -> float:
    """Holdout accuracy (the stopping metric, for tags and numbers) of the same model trained on the seed
    labels plus random picks, same total."""
    if config.holdout is None:
        raise AlflowError("the random-sampling baseline is measured on the holdout: the campaign has none")
    label, pool_cfg = config.holdout.label_column, config.pool
    pool = frames.read_table(pool_cfg.uri, text_columns=frames.text_columns(pool_cfg)).set_index(pool_cfg.id_column)
    features = frames.feature_columns(pool_cfg, [pool_cfg.id_column, *pool.columns])
    seed = pd.read_csv(config.seed_labels.uri, dtype=str)
    holdout = frames.read_table(config.holdout.uri, text_columns=[label, *frames.text_columns(pool_cfg)[1:]])
    X_holdout = frames.model_input(holdout, pool_cfg, features)
    truth = answers.set_index("id")["label"]
    others = truth.index.difference(pd.Index(seed["id"]))
    scores = []
    for s in range(seeds):
        rng = np.random.default_rng(1000 + s)
        picked = rng.choice(others, labels_used - len(seed), replace=False)
        ids = list(seed["id"]) + list(picked)
        X = frames.model_input(pool.loc[ids], pool_cfg, features)
        kind, metric = config.label_kind, config.stopping.metric  # accuracy for a single-class campaign
        model = targets.fit_any(config.model, kind, X, truth.loc[ids].to_numpy(), seed=config.seed)
        truth_holdout = kind.parse_column(holdout[label])[0] if not kind.is_class else holdout[label]
        scores.append(targets.score_any(kind, model, X_holdout, truth_holdout.to_numpy())[metric])
    return float(np.mean(scores))


def run_demo(
    workdir: Path,
    *,
    run_round: Callable[[str], RoundReport],
    bucket: str | None = None,
    max_labels: int = 200,
    batch_size: int = 20,
    dataset: str = "digits",
    fmt: str = "csv",
    on_round: Callable[[RoundReport], None] = lambda report: None,
) -> DemoSummary:
    """Run rounds until a stopping rule fires; the vendor delivers after every export, in `fmt`.

    `dataset` is digits or text (see `write_demo_data`)."""
    if workdir.exists():
        shutil.rmtree(workdir)  # the demo starts clean every time
    workdir.mkdir(parents=True)
    if bucket and bucket.startswith("s3://"):
        bucket = fresh_s3_prefix(bucket, campaign_name(dataset))
    config_path = write_demo_data(
        workdir, bucket=bucket, max_labels=max_labels, batch_size=batch_size, dataset=dataset, fmt=fmt
    )
    config = load_campaign(config_path)
    store = ledger.bucket(config)
    if store.list(f"{config.campaign}/"):
        raise AlflowError(
            f"{store.uri}/{config.campaign}/ holds an earlier demo campaign; the demo starts clean: "
            "give --bucket an empty bucket or prefix"
        )
    answers = pd.read_csv(workdir / "data" / "answers.csv", dtype=str)
    labels = dict(zip(answers["id"], answers["label"], strict=True))
    vendor = SimulatedVendor(store, config.campaign, labels, None if config.label_kind.is_class else config.label_kind)

    last = None
    while True:
        report = run_round(str(config_path))
        on_round(report)
        if report.status != "exported" or report.round is None:
            break
        last = report
        vendor.deliver(report.round, fmt=config.vendor.format)
    final = report if report.status == "stopped" else last
    if final is None or final.labels_used is None:
        raise AlflowError(f"the demo campaign ran no round: {report.message()}")
    state = ledger.campaign_state(config)
    experiment_id = state.rounds[max(state.rounds)].tracking.experiment_id
    return DemoSummary(
        rounds=len(state.rounds),
        labels_used=final.labels_used,
        accuracy=final.metrics[config.stopping.metric],
        random_accuracy=random_sampling_accuracy(config, answers, final.labels_used),
        stop_reason=state.stop_reason,
        tracking_uri=config.tracking.uri,
        bucket=config.vendor.bucket,
        dashboard_url=dashboard.experiment_url(config.tracking.uri, experiment_id) if experiment_id else None,
        spend_text=final.spend_text,
        metric=config.stopping.metric,
    )
