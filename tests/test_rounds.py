"""Round stages as plain functions: stopping rules, budget, crash recovery. No Prefect here."""

import math

import numpy as np
import pandas as pd
import pytest

from alflow.errors import DataValidationError, RoundConflictError
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.intake.ingest import ingest_campaign
from alflow.ledger.ledger import campaign_state
from alflow.ledger.records import (
    BATCH_SCHEMA_VERSION,
    ROUND_SCHEMA_VERSION,
    BatchMetadata,
    BatchRecord,
    RoundRecord,
    StreamRecord,
    Tracking,
)
from alflow.ledger.state import CampaignState
from alflow.round.autolabel import AutoLabels
from alflow.round.commit import commit_round, strategy_used
from alflow.round.context import Inputs, RoundContext
from alflow.round.decide import Batch, decide, stop_reason
from alflow.round.export import export_batch, finish_exports
from alflow.round.inputs import validate_inputs
from alflow.round.select import pool_batch, select_batch
from alflow.round.train import Evaluation, Trained, train_model

from helpers import deliver, snapshot


def _state(metrics, batch_sizes=None):
    records = {}
    for i, m in enumerate(metrics, start=1):
        ids = [f"r{i}-{j}" for j in range((batch_sizes or {}).get(i, 0))]
        batch = BatchRecord(ids=ids, scores=[1.0] * len(ids), predicted=["1"] * len(ids)) if ids else None
        records[i] = RoundRecord(
            round=i, labels_used=0, metrics={"accuracy": m}, metric_source="holdout", strategy="margin",
            model="LogisticRegression", stop_reason=None, batch=batch,
        )  # fmt: skip
    return CampaignState("c", rounds=records)


STOPS = [
    # earlier accuracies, this round's, budget left, unlabeled left, settings, expected reason
    ([], 0.5, 0, 100, {}, "budget_spent"),
    ([], 0.95, 10, 100, {"target": 0.9}, "target_reached"),
    ([], 0.95, 0, 100, {"target": 0.9}, "budget_spent"),  # the budget rule comes first
    ([0.8, 0.85, 0.84], 0.85, 10, 100, {"patience": 2}, "no_improvement"),
    ([0.8, 0.84], 0.86, 10, 100, {"patience": 2}, None),
    ([0.8, 0.85], 0.855, 10, 100, {"patience": 1, "min_delta": 0.01}, "no_improvement"),
    ([math.nan, 0.9], 0.85, 10, 100, {"patience": 1}, "no_improvement"),  # NaN estimates are skipped
    ([], 0.5, 10, 0, {}, "pool_exhausted"),
    ([], 0.5, 10, 100, {}, None),
]


@pytest.mark.parametrize(
    ("earlier", "current", "budget", "unlabeled", "settings", "expected"),
    STOPS,
    ids=["budget", "target", "budget-first", "patience", "improving", "min-delta", "nan", "exhausted", "go-on"],
)
def test_stop_rules(campaign, earlier, current, budget, unlabeled, settings, expected):
    config = campaign.model_copy(update={"stopping": campaign.stopping.model_copy(update=settings)})
    reason = stop_reason(config, _state(earlier), {"accuracy": current}, budget=budget, unlabeled=unlabeled)
    assert reason == expected


def _context(campaign, state):
    inputs = Inputs([], [], pool_size=1000, seed_labels={f"s{i}": "1" for i in range(20)})
    return RoundContext(campaign, inputs, state)


def test_budget_counts_seed_labels_and_every_label_asked(campaign):
    assert _context(campaign, _state([0.5, 0.6], {1: 10, 2: 10})).budget.left == 60 - 20 - 20
    assert _context(campaign, _state([0.5] * 5, dict.fromkeys(range(1, 6), 10))).budget.left == 0


def test_decide_never_asks_beyond_the_budget(campaign):
    state = _state([0.5, 0.6, 0.7, 0.75], {1: 10, 2: 10, 3: 10, 4: 5})  # 20 seed + 35 asked of 60
    trained = Trained(None, None, np.array([]), evaluation=Evaluation({"accuracy": 0.8}, "holdout"))
    decision = decide(_context(campaign, state), trained, AutoLabels())
    assert decision.batch_size == 5  # the budget, not the batch size of 10
    assert decision.budget.ask(decision.batch_size).left == 0
    assert decision.promote is True


def _first_round(campaign):
    ctx = RoundContext(campaign, validate_inputs(campaign), ingest_campaign(campaign))
    trained = train_model(ctx)
    return ctx, select_batch(ctx, trained, decide(ctx, trained, AutoLabels()))


def test_a_crash_between_commit_and_export_is_finished_by_the_next_round(campaign):
    ctx, decision = _first_round(campaign)
    record = commit_round(ctx, decision, Tracking())
    # ...the process dies here: the decision is committed, the vendor has nothing yet.
    state = campaign_state(campaign)
    assert state.unexported == [1]

    finish_exports(RoundContext(campaign, ctx.inputs, state))
    finish_exports(RoundContext(campaign, ctx.inputs, campaign_state(campaign)))  # a retry changes nothing

    state = campaign_state(campaign)
    assert state.unexported == [] and state.outstanding == [1]
    store = open_store(campaign.vendor.bucket)
    items = store.read(layout.batch_prefix(campaign.campaign, 1) + "items.csv").decode().splitlines()
    assert [line.split(",")[0] for line in items[1:]] == record.batch_ids


def test_the_round_record_and_batch_json_carry_the_strategy_that_ran_and_why(campaign):
    ctx, decision = _first_round(campaign)
    assert campaign.strategy.name == "auto" and decision.batch is not None
    record = commit_round(ctx, decision, Tracking())
    assert record.schema_version == ROUND_SCHEMA_VERSION and record.strategy == "auto"
    assert (record.strategy_used, record.strategy_reason) == (decision.batch.strategy, decision.batch.reason)
    assert record.strategy_used != "auto" and record.strategy_reason.startswith("auto: ")
    export_batch(ctx, record, decision.batch)
    raw = open_store(campaign.vendor.bucket).read(layout.batch_prefix(campaign.campaign, 1) + layout.BATCH_METADATA)
    metadata = BatchMetadata.from_json(raw)
    assert metadata.schema_version == BATCH_SCHEMA_VERSION and metadata.strategy == "auto"
    assert (metadata.strategy_used, metadata.strategy_reason) == (record.strategy_used, record.strategy_reason)


def test_a_round_that_selected_nothing_records_no_strategy_used_and_a_stream_round_says_stream():
    stream = StreamRecord(files=["f.csv"], threshold=0.4, seen=10, asked=0, rate=0.0, target_rate=0.1)
    assert strategy_used(None) == (None, None)
    used, reason = strategy_used(Batch(pd.DataFrame(columns=["id", "score", "predicted"]), stream))
    assert used == "stream" and reason is not None and "stream" in reason


def test_a_second_commit_of_the_same_round_is_refused(campaign):
    ctx, decision = _first_round(campaign)
    commit_round(ctx, decision, Tracking())
    with pytest.raises(RoundConflictError, match="round 1 of campaign 'digits-demo' was recorded by another run"):
        commit_round(ctx, decision, Tracking())


def test_ingest_is_idempotent(campaign, campaign_file):
    ctx, decision = _first_round(campaign)
    record = commit_round(ctx, decision, Tracking())
    export_batch(ctx, record)
    deliver(campaign, 1, "id,label\n" + "".join(f"{i},7\n" for i in record.batch_ids))

    first = ingest_campaign(campaign)
    bucket = campaign_file.parent / "bucket"
    before = snapshot(bucket)
    second = ingest_campaign(campaign)

    assert first.ingested == second.ingested and len(first.human_labels()) == 10
    assert snapshot(bucket) == before


def _select_first_batch(config):
    ctx = RoundContext(config, validate_inputs(config), campaign_state(config))
    return pool_batch(ctx, train_model(ctx), k=10)


def _with_pool(config, uri, **pool):
    return config.model_copy(update={"pool": config.pool.model_copy(update={"uri": uri, **pool})})


def test_parquet_pool_and_small_chunks_give_the_same_batch_as_csv(campaign, tmp_path):
    import pandas as pd

    parquet = tmp_path / "pool.parquet"
    pd.read_csv(campaign.pool.uri, dtype={"id": str}).to_parquet(parquet)
    from_csv = _select_first_batch(campaign)
    from_parquet = _select_first_batch(_with_pool(campaign, str(parquet), chunk_size=97))
    assert from_csv["id"].tolist() == from_parquet["id"].tolist()


def test_pool_read_from_s3_is_downloaded_once_per_version(campaign, s3_endpoint, tmp_path, monkeypatch):
    import boto3

    from alflow.exchange.s3 import S3Store

    monkeypatch.setenv("ALFLOW_CACHE_DIR", str(tmp_path / "cache"))
    downloads = []
    real_download = S3Store.download

    def counted(self, key, target, **kwargs):
        downloads.append(key)
        return real_download(self, key, target, **kwargs)

    monkeypatch.setattr(S3Store, "download", counted)
    boto3.client("s3").create_bucket(Bucket="pools")
    boto3.client("s3").upload_file(campaign.pool.uri, "pools", "digits/pool.csv")
    on_s3 = _with_pool(campaign, "s3://pools/digits/pool.csv")

    from_s3 = _select_first_batch(on_s3)  # validation, training and selection each read the pool

    assert from_s3["id"].tolist() == _select_first_batch(campaign)["id"].tolist()
    assert downloads == ["digits/pool.csv"]
    boto3.client("s3").put_object(Bucket="pools", Key="digits/pool.csv", Body=b"id,px0\nnew,1\n")
    with pytest.raises(DataValidationError, match=r"ids not in the pool s3://pools/digits/pool\.csv"):
        validate_inputs(on_s3)  # a rewritten pool is fetched again, not served stale
    assert len(downloads) == 2
    assert len(list((tmp_path / "cache").rglob("*.csv"))) == 1  # the older copy is gone


def test_text_pool_with_the_tfidf_preset(tmp_path):
    import numpy as np
    import pandas as pd
    import yaml

    from alflow.config import load_campaign

    rng = np.random.default_rng(0)
    words = {"pos": ["great", "lovely", "excellent", "fine"], "neg": ["awful", "broken", "poor", "late"]}
    labels = rng.choice(["pos", "neg"], 200)
    texts = [" ".join(rng.choice(words[lab], 3)) + " delivery" for lab in labels]
    ids = [f"t{i}" for i in range(200)]
    (tmp_path / "data").mkdir()
    pd.DataFrame({"id": ids, "text": texts}).to_csv(tmp_path / "data/pool.csv", index=False)
    seed = [next(i for i, lab in zip(ids, labels, strict=True) if lab == c) for c in ("pos", "neg")]
    pd.DataFrame({"id": seed, "label": ["pos", "neg"]}).to_csv(tmp_path / "data/seed.csv", index=False)
    raw = {
        "campaign": "reviews",
        "pool": {"uri": "data/pool.csv", "text_column": "text"},
        "seed_labels": {"uri": "data/seed.csv"},
        "classes": ["pos", "neg"],
        "model": {"preset": "tfidf_logistic_regression"},
        "budget": {"max_labels": 50},
        "vendor": {"bucket": "bucket"},
        "tracking": {"uri": "sqlite:///mlflow.db"},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    config = load_campaign(tmp_path / "c.yaml")

    batch = _select_first_batch(config)

    assert len(batch) == 10 and not set(batch["id"]) & set(seed)
    assert set(batch["predicted"]) <= {"pos", "neg"}
