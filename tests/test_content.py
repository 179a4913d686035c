"""Bad texts, vectors and references: one line naming the file, the column, the rule and an example
row, found before anything is trained or written; and what the model and the vendor read of each."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from alflow.config import PoolConfig, load_campaign
from alflow.data import content, frames
from alflow.errors import DataValidationError
from alflow.operations.demo import write_demo_data
from alflow.round.inputs import validate_inputs
from cli import app

from helpers import image_items, snapshot, write_image_campaign


@pytest.fixture
def images(tmp_path):
    items = image_items(tmp_path / "data", per_class=6)
    path = write_image_campaign(tmp_path, items, pool_uri="data/pool.parquet", bucket="bucket", fmt="csv", holdout=8)
    return path, pd.read_parquet(tmp_path / "data" / "pool.parquet")


def _rewrite_pool(path, pool):
    pool.to_parquet(path.parent / "data" / "pool.parquet", index=False)
    return load_campaign(path)


BAD_POOLS = [
    ("short vector", lambda p: p.assign(embedding=[v if i != 4 else v[:10] for i, v in enumerate(p["embedding"])]),
     r"column 'embedding' must hold vectors of one length, 64 like the pool's first row \(vector_length, 1 row\(s\) "
     r"in rows 1-\d+\); e.g. row 5: \{'id': 'scan-\d+', 'embedding': '\[0, 0, [\d.]+, ... 10 values\]', 'image'"),
    ("NaN in a vector", lambda p: p.assign(embedding=[v if i != 2 else [np.nan] * 64 for i, v in enumerate(p.embedding)]),  # noqa: E501
     r"column 'embedding' must hold a vector of finite numbers \(no NaN, no empty row\) \(vector_finite, .*row 3"),
    ("missing vector", lambda p: p.assign(embedding=[v if i != 0 else None for i, v in enumerate(p["embedding"])]),
     r"\(vector_finite, .*e.g. row 1:"),
    ("missing image", lambda p: p.assign(image=p["image"].where(p.index != 3, "images/nowhere.png")),
     r"column 'image' must name an item that exists .*\(reference_resolves, 1 row\(s\).*row 4: .*images/nowhere.png"),
    ("empty reference", lambda p: p.assign(image=p["image"].where(p.index != 1, " ")),
     r"column 'image' must hold where the item is .*\(reference_not_empty, .*row 2"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), [b[1:] for b in BAD_POOLS], ids=[b[0] for b in BAD_POOLS])
def test_a_bad_vector_or_reference_is_one_line_naming_column_rule_and_row(images, change, message):
    path, pool = images
    campaign = _rewrite_pool(path, change(pool.copy()))
    with pytest.raises(DataValidationError, match=message) as raised:
        validate_inputs(campaign)
    assert str(raised.value).startswith(campaign.pool.uri) and len(str(raised.value).splitlines()) == 1


def test_a_holdout_vector_of_another_length_is_refused(images):
    path, _ = images
    holdout = pd.read_parquet(path.parent / "data" / "holdout.parquet")
    holdout["embedding"] = [v[:32] for v in holdout["embedding"]]
    holdout.to_parquet(path.parent / "data" / "holdout.parquet", index=False)
    with pytest.raises(
        DataValidationError, match=r"holdout.parquet: column 'embedding' must hold vectors of one length, 64"
    ):
        validate_inputs(load_campaign(path))


@pytest.fixture
def tickets(tmp_path):
    return write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, dataset="text")


@pytest.mark.parametrize("blank", ["", "   ", None], ids=["empty", "blank", "missing"])
def test_an_empty_or_missing_text_is_refused_with_its_row(tickets, blank):
    pool_file = tickets.parent / "data" / "pool.csv"
    pool = pd.read_csv(pool_file, dtype=str)
    pool.loc[41, "text"] = blank
    pool.to_csv(pool_file, index=False)
    with pytest.raises(
        DataValidationError,
        match=r"column 'text' must hold a non-empty text \(text_not_empty, 1 row\(s\) in rows 1-\d+\); "
        r"e.g. row 42: \{'id': 'ticket-",
    ):
        validate_inputs(load_campaign(tickets))


@pytest.mark.usefixtures("prefect_server")
def test_the_cli_prints_one_line_and_writes_nothing_for_a_bad_text(tickets):
    from typer.testing import CliRunner

    pool_file = tickets.parent / "data" / "pool.csv"
    pool = pd.read_csv(pool_file, dtype=str)
    pool.loc[7, "text"] = ""
    pool.to_csv(pool_file, index=False)
    before = snapshot(tickets.parent)
    result = CliRunner().invoke(app, ["round", str(tickets)])
    assert result.exit_code == 1
    [line] = [x for x in result.output.splitlines() if x.startswith("error:")]  # Prefect's own log lines aside
    assert "column 'text' must hold a non-empty text" in line and "row 8" in line
    assert snapshot(tickets.parent) == before and not (tickets.parent / "bucket").exists()


def test_vectors_read_parquet_lists_arrays_and_json_text_alike():
    cells = [[1.0, 2.0], np.array([3.0, 4.0]), "[5, 6]"]
    assert content.vectors(cells).tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def test_the_vendor_sees_text_and_reference_never_the_vector():
    pool = PoolConfig(uri="p.parquet", vector_column="emb", reference_column="img", text_column="caption")
    features = frames.feature_columns(pool, ["id", "emb", "img", "caption"])
    assert features == ["emb"] and pool.reads == "vector"
    assert frames.shown_columns(pool, features) == ["caption", "img"]
    table = PoolConfig(uri="p.csv")
    assert frames.shown_columns(table, ["a", "b"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("reference", "base", "expected"),
    [
        ("s3://b/k.png", "/data", "s3://b/k.png"),
        ("img/a.png", "/data", "/data/img/a.png"),
        ("/abs/a.png", "/data", "/abs/a.png"),
        ("img/a.png", "s3://b/pools", "s3://b/pools/img/a.png"),
        ("https://cdn/x.jpg", "/data", "https://cdn/x.jpg"),
    ],
)
def test_references_resolve_against_the_pool_folder(reference, base, expected):
    assert content.resolve(reference, base) == expected


CONFIGS = [
    ({"pool": {"vector_column": "e", "feature_columns": ["a"]}}, "set feature_columns or vector_column, not both"),
    ({"pool": {"embedder": "all-MiniLM-L6-v2"}}, "pool.embedder embeds a text column: set pool.text_column"),
    ({"pool": {"embedder": "word2vec", "text_column": "t"}}, "unknown embedder 'word2vec'; use one of all-MiniLM"),
    ({"pool": {"text_column": "t", "vector_column": "e"}, "model": {"preset": "tfidf_logistic_regression"}},
     "tfidf_logistic_regression reads text: set pool.text_column and no vector_column or embedder"),
    ({"pool": {"vector_column": "e"}, "strategy": {"synthetic": 2}}, "strategy.synthetic needs numeric features"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), CONFIGS, ids=[m.split(":")[0][:30] for _, m in CONFIGS])
def test_campaign_file_rules_for_texts_vectors_and_embedders(tmp_path, change, message):
    raw = yaml.safe_load(write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10).read_text())
    for section, values in change.items():
        raw[section].update(values)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(Exception, match=message):
        load_campaign(path)


def test_an_embedder_campaign_with_a_text_column_is_valid(tmp_path):
    raw = yaml.safe_load(
        write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, dataset="text").read_text()
    )
    raw["pool"]["embedder"] = "all-MiniLM-L6-v2"
    raw["model"] = {"preset": "logistic_regression"}
    path = tmp_path / "embedded.yaml"
    path.write_text(json.dumps(raw))
    campaign = load_campaign(path)
    assert campaign.pool.reads == "vector" and frames.feature_columns(campaign.pool, ["id", "text"]) == ["text"]


def test_a_vector_pool_of_many_files_picks_one_files_batch_and_exports_its_references(images, tmp_path):
    """A folder of Parquet files with vectors and references is one pool: the same batch as one file,
    its vector length recorded with the check, and each item's reference resolved against the folder."""
    import shutil

    from alflow.data import pools
    from alflow.ledger.ledger import campaign_state
    from alflow.ledger.records import Tracking
    from alflow.round.autolabel import AutoLabels
    from alflow.round.commit import commit_round
    from alflow.round.context import RoundContext
    from alflow.round.decide import decide
    from alflow.round.export import batch_items
    from alflow.round.select import select_batch
    from alflow.round.train import train_model

    path, pool = images
    folder = tmp_path / "data" / "parts"
    shutil.copytree(tmp_path / "data" / "images", folder / "images")  # references are relative to the pool
    for i, part in enumerate(np.array_split(np.arange(len(pool)), 3)):
        pool.iloc[part].to_parquet(folder / f"part-{i:05d}.parquet", index=False)
    single = load_campaign(path)
    parts = single.pool.model_copy(update={"uri": str(folder)})
    many = single.model_copy(update={"campaign": "scans-in-parts", "pool": parts})

    def first_batch(config):
        ctx = RoundContext(config, validate_inputs(config), campaign_state(config))
        trained = train_model(ctx)
        decision = select_batch(ctx, trained, decide(ctx, trained, AutoLabels()))
        return ctx, decision, commit_round(ctx, decision, Tracking())

    _, one, _ = first_batch(single)
    ctx, decision, record = first_batch(many)
    assert len(ctx.pool.files) == 3 and ctx.inputs.dimensions == 64
    assert decision.batch.items["id"].tolist() == one.batch.items["id"].tolist()
    assert validate_inputs(many).dimensions == 64  # the reused check keeps the vector length
    items = batch_items(ctx, record, known=decision.batch.rows)
    assert "embedding" not in items.columns and len(items) == len(record.batch.ids)
    expected = [str((folder / "images" / f"{i}.png").resolve()) for i in items["id"]]
    assert items["source-ref"].tolist() == expected and pools.reference_base(str(folder)) == str(folder)
