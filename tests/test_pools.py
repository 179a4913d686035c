"""Pools at scale: the streamed id check, validation recorded per version, pools of many files,
and how often a round reads its pool."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alflow.data import ids, pools, validation
from alflow.data.validation import Rule
from alflow.errors import ConfigError, DataValidationError
from alflow.ledger.ledger import campaign_state
from alflow.round.context import RoundContext
from alflow.round.inputs import validate_inputs
from alflow.round.select import pool_batch
from alflow.round.train import train_model


def _chunks(values: list[str | None], size: int) -> ids.Chunks:
    def read():
        for start in range(0, len(values), size):
            yield start, pa.array(values[start : start + size], pa.string())

    return read


def _reference(values: list[str | None]) -> tuple[int, int | None]:
    """(rows whose id occurs more than once, first such row) as pandas counts them."""
    series = pd.Series(values, dtype=object).dropna()
    repeated = series[series.duplicated(keep=False)]
    return len(repeated), (int(repeated.index[0]) if len(repeated) else None)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([f"id-{i}" for i in range(40)] + ["x", "longer-id-0001"]), max_size=120),
    st.integers(1, 50),
)
def test_the_scan_finds_exactly_the_duplicates_pandas_finds(values, size):
    scan = ids.scan_ids(_chunks(values, size))
    assert (scan.duplicated, scan.first_duplicate) == _reference(values)
    assert scan.rows == len(values)
    if scan.duplicated:
        assert values[scan.first_duplicate] == scan.duplicate


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "c", "d"], (0, None)),  # increasing: proven unique without hashing
        (["a", "b", "b", "c"], (2, 1)),  # a repeat breaks the order: hashed
        (["d", "c", "b", "a"], (0, None)),
        (["b", "a", "c", "a"], (2, 1)),
        (["a", "b", "c", "a"], (2, 0)),  # the repeat is far from its first
    ],
    ids=["sorted", "sorted-with-a-repeat", "reversed", "shuffled-repeat", "late-repeat"],
)
def test_the_scan_reports_the_first_duplicate_row(values, expected):
    scan = ids.scan_ids(_chunks(values, 2))
    assert (scan.duplicated, scan.first_duplicate) == expected


def test_hashes_spill_to_disk_past_the_budget_and_still_find_a_duplicate(monkeypatch):
    monkeypatch.setattr(ids, "HASH_BUDGET", 8 * 1000)  # 1,000 hashes in memory
    values = [f"item-{i}" for i in np.random.default_rng(0).permutation(20_000)]
    values[17_000] = values[3]
    scan = ids.scan_ids(_chunks(values, 999))
    assert (scan.duplicated, scan.first_duplicate, scan.duplicate) == (2, 3, values[3])


def test_a_hash_collision_is_not_a_duplicate(monkeypatch):
    monkeypatch.setattr(ids, "hash_ids", lambda chunk: np.zeros(len(chunk), np.uint64))  # every id collides
    scan = ids.scan_ids(_chunks(["b", "a", "c"], 2))
    assert scan.duplicated == 0


def test_nulls_and_looked_for_ids():
    scan = ids.scan_ids(_chunks(["a", None, "c", None], 3), wanted=["c", "z"])
    assert (scan.nulls, scan.first_null, scan.found) == (2, 1, frozenset({"c"}))


def test_hashes_depend_on_every_byte_and_the_length():
    values = ["", "a", "b", "ab", "ba", "a" * 8, "a" * 9, "abcdefgh1", "abcdefgh2", "é"]
    hashes = ids.hash_ids(pa.array(values))
    assert len(set(hashes.tolist())) == len(values)
    sliced = pa.array(["zz", *values]).slice(1)  # an Arrow slice keeps its parent's buffers
    assert ids.hash_ids(sliced).tolist() == hashes.tolist()


@pytest.mark.parametrize(
    "values",
    [["a", "b", "a", "c"], ["a", None, "b"], ["x", "y", "z", "y", "y"]],
    ids=["duplicate", "empty", "three-times"],
)
def test_pool_messages_are_the_ones_great_expectations_gives(values):
    frame = pd.DataFrame({"id": pd.Series(values, dtype="str")})
    rules = [Rule("not_null", "id"), Rule("unique", "id")]
    with pytest.raises(DataValidationError) as by_gx:
        validation.check(frame, rules, source="pool.csv")
    with pytest.raises(DataValidationError) as streamed:
        validation.check_ids(frame["id"], header=["id"], id_column="id", features=[], source="pool.csv")
    gx, ours = str(by_gx.value), str(streamed.value)
    assert ours.split("; e.g.")[0] == gx.split("; e.g.")[0]  # rule, count, reason
    assert ours.split("; e.g. row ")[1][:2] == gx.split("; e.g. row ")[1][:2]  # the same example row
    assert streamed.value.reason == by_gx.value.reason == "rule_failed"


# --- pools of many files ---------------------------------------------------------------------------


def _as_dataset(campaign, folder, files: int) -> pd.DataFrame:
    """Write the campaign's pool as `files` Parquet files (and litter Spark leaves) under `folder`."""
    pool = pd.read_csv(campaign.pool.uri, dtype={"id": str})
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(pool)), files)):
        pool.iloc[part].to_parquet(folder / f"part-{i:05d}.parquet", row_group_size=200)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.parquet.crc").write_text("junk")
    return pool


def _with_pool(config, uri, **pool):
    return config.model_copy(update={"pool": config.pool.model_copy(update={"uri": uri, **pool})})


def _first_batch(config, strategy="auto"):
    config = config.model_copy(update={"strategy": config.strategy.model_copy(update={"name": strategy})})
    ctx = RoundContext(config, validate_inputs(config), campaign_state(config))
    return ctx, pool_batch(ctx, train_model(ctx), k=10)["id"].tolist()


@pytest.mark.parametrize("strategy", ["auto", "margin", "random", "combined"])
def test_a_folder_of_parquet_files_is_one_pool(campaign, tmp_path, strategy):
    pool = _as_dataset(campaign, tmp_path / "pool", files=4)
    single = tmp_path / "pool.parquet"
    pool.to_parquet(single, row_group_size=200)
    ctx, from_folder = _first_batch(_with_pool(campaign, str(tmp_path / "pool")), strategy)
    assert len(ctx.pool.files) == 4 and ctx.inputs.pool_size == len(pool)
    _, from_file = _first_batch(_with_pool(campaign, str(single)), strategy)
    assert from_folder == from_file


def test_a_pool_version_is_the_set_of_its_files_versions(campaign, tmp_path):
    folder = tmp_path / "pool"
    _as_dataset(campaign, folder, files=3)
    before = pools.open_pool(str(folder)).version
    assert pools.open_pool(str(folder)).version == before
    (folder / "part-00003.parquet").write_bytes((folder / "part-00002.parquet").read_bytes())
    assert pools.open_pool(str(folder)).version != before  # a file added (and its ids twice: see below)
    with pytest.raises(DataValidationError, match=r"column 'id' must be unique \(expect_column_values_to_be_unique"):
        validate_inputs(_with_pool(campaign, str(folder)))


def test_a_pool_folder_must_hold_one_kind_of_data_file(campaign, tmp_path):
    folder = tmp_path / "pool"
    _as_dataset(campaign, folder, files=2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no Parquet or CSV files"):
        pools.open_pool(str(tmp_path / "empty"))
    (folder / "extra.csv").write_text("id,px0\nz,1\n")
    with pytest.raises(ConfigError, match="both CSV and Parquet"):
        pools.open_pool(str(folder))


def test_every_file_of_a_pool_needs_the_columns(campaign, tmp_path):
    folder = tmp_path / "pool"
    _as_dataset(campaign, folder, files=2)
    table = pq.read_table(folder / "part-00001.parquet").drop_columns(["px5"])
    pq.write_table(table, folder / "part-00001.parquet")
    with pytest.raises(DataValidationError, match=r"part-00001.parquet: required column 'px5' is missing") as caught:
        validate_inputs(_with_pool(campaign, str(folder)))
    assert caught.value.reason == "missing_column"


# --- validation recorded per version -------------------------------------------------------------


def test_validation_is_recorded_and_reused_until_an_input_changes(campaign, monkeypatch):
    first = validate_inputs(campaign)
    scans = []
    real_scan = ids.scan_ids
    monkeypatch.setattr(ids, "scan_ids", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    again = validate_inputs(campaign)
    assert scans == [] and again.pool_size == first.pool_size and again.seed_labels == first.seed_labels
    checks = list(_bucket(campaign).glob("*/checks/inputs-*.json"))
    assert len(checks) == 1

    seed = pd.read_csv(campaign.seed_labels.uri, dtype=str)
    seed.iloc[:-1].to_csv(campaign.seed_labels.uri, index=False)  # a new version of the seed labels
    validate_inputs(campaign)
    assert scans == [1]


def _bucket(campaign) -> Path:
    return Path(campaign.vendor.bucket)


def test_a_pool_that_fails_is_not_recorded(campaign):
    pool = pd.read_csv(campaign.pool.uri, dtype={"id": str})
    pool.loc[7, "id"] = pool.loc[3, "id"]
    pool.to_csv(campaign.pool.uri, index=False)
    with pytest.raises(DataValidationError, match=r"e\.g\. row 4: \{'id': '"):
        validate_inputs(campaign)
    assert not list(_bucket(campaign).glob("*/checks/*"))


# --- how a round reads its pool ------------------------------------------------------------------


def test_a_warm_round_reads_the_pool_twice_and_the_export_not_at_all(campaign, monkeypatch):
    from alflow.ledger.records import Tracking
    from alflow.round.autolabel import AutoLabels
    from alflow.round.commit import commit_round
    from alflow.round.decide import decide
    from alflow.round.export import export_batch
    from alflow.round.select import select_batch

    validate_inputs(campaign)  # the first round's validation: recorded from here on
    reads: list[str] = []
    real_read = pools.read_part

    def counted(part, **kwargs):
        reads.append(kwargs["columns"][0] if len(kwargs["columns"]) == 1 else "rows")
        yield from real_read(part, **kwargs)

    monkeypatch.setattr(pools, "read_part", counted)
    ctx = RoundContext(campaign, validate_inputs(campaign), campaign_state(campaign))
    assert reads == []  # validation reused
    trained = train_model(ctx)
    decision = select_batch(ctx, trained, decide(ctx, trained, AutoLabels()))
    passes = len(reads)
    record = commit_round(ctx, decision, Tracking())
    export_batch(ctx, record, decision.batch)
    assert passes == 2 and len(reads) == 2  # one file, one part: training and scoring, nothing for export


def test_an_s3_prefix_of_parquet_files_is_one_pool_downloaded_once_per_file_version(
    campaign, tmp_path, s3_endpoint, monkeypatch
):
    import boto3

    from alflow.exchange.s3 import S3Store

    monkeypatch.setenv("ALFLOW_CACHE_DIR", str(tmp_path / "cache"))
    downloads: list[str] = []
    real_download = S3Store.download
    monkeypatch.setattr(
        S3Store,
        "download",
        lambda self, key, target, **kw: downloads.append(key) or real_download(self, key, target, **kw),
    )
    _as_dataset(campaign, tmp_path / "pool", files=3)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="pools")
    for path in sorted((tmp_path / "pool").iterdir()):
        s3.upload_file(str(path), "pools", f"digits/pool/{path.name}")

    ctx, on_s3 = _first_batch(_with_pool(campaign, "s3://pools/digits/pool/"))
    assert [f.uri for f in ctx.pool.files] == [f"s3://pools/digits/pool/part-0000{i}.parquet" for i in range(3)]
    assert on_s3 == _first_batch(_with_pool(campaign, str(tmp_path / "pool")))[1]
    assert sorted(downloads) == [f"digits/pool/part-0000{i}.parquet" for i in range(3)]  # validation, training, scoring

    s3.upload_file(str(tmp_path / "pool" / "part-00000.parquet"), "pools", "digits/pool/part-00003.parquet")
    with pytest.raises(DataValidationError, match=r"s3://pools/digits/pool/: column 'id' must be unique"):
        validate_inputs(_with_pool(campaign, "s3://pools/digits/pool/"))  # a new file is a new version


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "0042", ""])), max_size=12),
    st.sampled_from(["not_null", "unique", "in_set", "column_exists"]),
)
def test_pandas_says_a_rule_holds_exactly_when_great_expectations_does(values, kind):
    frame = pd.DataFrame({"v": pd.Series(values, dtype="str")})
    rule = Rule(kind, "v", {"value_set": ["a", "b", "0042"]} if kind == "in_set" else None)
    gx, batch_definition = validation._context()
    suite = gx.ExpectationSuite(name="contract")
    suite.add_expectation(validation._expectation(gx, rule, 0))
    outcome = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    assert validation._holds(frame, rule) == outcome.success


# --- scoring by pool position: any split, any order, the same batch --------------------------------


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=40, unique=True), st.integers(0, 2**32))
def test_draws_at_positions_are_the_draws_of_one_pass(positions, seed):
    from alflow.selection.knowledge import draws_at

    positions = np.sort(np.array(positions))
    whole = np.random.default_rng(seed).random(10_001)
    assert draws_at(np.random.default_rng(seed), positions).tolist() == whole[positions].tolist()


@pytest.mark.parametrize("strategy", ["margin", "random", "combined", "typiclust", "density", "qbc_vote_entropy"])
def test_parts_scored_in_any_order_merge_into_the_batch_of_one_pass(strategy):
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from alflow.selection.options import SelectionOptions
    from alflow.selection.scorer import make_scorer, merge_all

    X, y = make_classification(1500, n_features=6, n_informative=4, n_classes=3, random_state=1)
    model = LogisticRegression(max_iter=500).fit(X[:60], y[:60])
    options = SelectionOptions(strategy)
    labeled = {"k": 8, "X_labeled": X[:60], "y_labeled": y[:60]}
    chunks = [(np.arange(s, min(s + 100, 1500)), X[s : s + 100]) for s in range(0, 1500, 100)]
    expected = make_scorer(model, options, rng=np.random.default_rng(5), **labeled).rank(chunks, 8).batch

    scorer = make_scorer(model, options, rng=np.random.default_rng(5), **labeled)
    scorer.sample_reference(X[:100])  # the first chunk, as one pass takes it
    bounds = [0, 130, 131, 700, 1222, 1500]  # parts unlike the chunks above
    parts = [scorer.candidates(np.arange(a, b), X[a:b], np.arange(a, b)) for a, b in itertools.pairwise(bounds)]
    best = merge_all(reversed(parts), scorer.m)
    assert scorer.pick(best, 8, seen=1500).batch["id"].tolist() == expected["id"].tolist()


def test_a_pool_of_many_files_reads_whole_for_simulation(campaign, tmp_path):
    from alflow.data.frames import read_table

    pool = _as_dataset(campaign, tmp_path / "pool", files=3)
    whole = read_table(str(tmp_path / "pool"), text_columns=["id"])
    pd.testing.assert_frame_equal(whole, pool.reset_index(drop=True), check_dtype=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(max_size=4), max_size=60, unique=True),
    st.lists(st.text(max_size=4), max_size=10),
    st.booleans(),
    st.integers(1, 20),
)
def test_looked_for_ids_are_found_in_order_or_not(values, wanted, in_order, size):
    values = sorted(values) if in_order else values
    scan = ids.scan_ids(_chunks(values, size), wanted=wanted + values[:2])
    assert scan.found == frozenset(set(wanted + values[:2]) & set(values))


def test_an_unreadable_file_in_a_pool_is_one_line(campaign, tmp_path):
    folder = tmp_path / "pool"
    _as_dataset(campaign, folder, files=2)
    (folder / "part-00001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataValidationError, match=r"part-00001.parquet: not a readable Parquet file") as caught:
        validate_inputs(_with_pool(campaign, str(folder)))
    assert caught.value.reason == "unreadable" and "\n" not in str(caught.value)
