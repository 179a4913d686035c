"""The campaign's product: the labeled data set (alflow.operations.dataset, `alflow dataset`).

One campaign of three real rounds (plain library calls) is run once for the module: round 1's
delivery has two or three annotators per item (one of them disagreeing on one item, one voting
twice on another), round 2's is partial and anonymous, its two missing items are written off. The data set is
checked against the ledger label for label, round by round against what each round's model
trained on, and read back by pandas, pyarrow and DuckDB (Polars and Hugging Face `datasets` when
installed). Several rounds run, so the module is marked slow.
"""

from __future__ import annotations

import io
import json
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from alflow.config import load_campaign
from alflow.exchange import layout
from alflow.ledger.ledger import Ledger
from alflow.operations.dataset import export_dataset, labeled_dataset
from alflow.operations.demo import write_demo_data
from alflow.operations.plain import plain_round
from cli import app

from helpers import deliver_files

pytestmark = pytest.mark.slow
runner = CliRunner()


def _votes_round_1(batch: list[str], answers: dict[str, str]) -> str:
    lines = ["id,label,annotator"]
    for n, id_ in enumerate(batch):
        lines += [f"{id_},{answers[id_]},ann-a", f"{id_},{answers[id_]},ann-b"]
        wrong = "0" if answers[id_] != "0" else "1"
        if n == 0:
            lines.append(f"{id_},{wrong},ann-c")  # outvoted: 2 of 3 for the label
        if n == 1:
            lines.append(f"{id_},{wrong},ann-a")  # a second vote of ann-a: refused, the first counts
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory, mlflow_template):
    """(campaign file, answers, batches, the round-2 data set's bytes taken right after round 2)."""
    folder = tmp_path_factory.mktemp("dataset-campaign")
    shutil.copy(mlflow_template, folder / "mlflow.db")
    path = write_demo_data(folder, bucket=None, max_labels=60, batch_size=10)
    raw = yaml.safe_load(path.read_text())
    raw["budget"]["cost_per_label"] = 0.1  # 0.1 * 3 is 0.30000000000000004 in floats
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    campaign = load_campaign(path)
    answer_key = pd.read_csv(folder / "data" / "answers.csv", dtype=str)
    answers = dict(zip(answer_key["id"], answer_key["label"], strict=True))
    plain_round(path)
    batch1 = Ledger.of(campaign).state().batch_ids(1)
    deliver_files(campaign, {"votes.csv": _votes_round_1(batch1, answers)}, 1)
    plain_round(path)
    at_round_2 = labeled_dataset(path, round_=2).data
    batch2 = Ledger.of(campaign).state().batch_ids(2)
    rows = "".join(f"{i},{answers[i]}\n" for i in batch2[:-2])
    deliver_files(campaign, {"labels.csv": "id,label\n" + rows}, 2)
    Ledger.of(campaign).write_off(2, batch2[-2:], reason="unreadable scans")
    plain_round(path)
    return path, answers, {1: batch1, 2: batch2}, at_round_2


def _frame(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()


def test_the_data_set_matches_the_ledger_label_for_label(campaign_run):
    path, _, batches, _ = campaign_run
    campaign = load_campaign(path)
    state = Ledger.of(campaign).state()
    seed = pd.read_csv(path.parent / "data" / "seed.csv", dtype=str)
    expected = {**dict(zip(seed["id"], seed["label"], strict=True)), **state.human_labels()}

    frame = _frame(labeled_dataset(path).data)

    assert frame["id"].is_unique
    assert dict(zip(frame["id"], frame["label"], strict=True)) == expected
    assert frame["origin"].value_counts().to_dict() == {"seed": 20, "vendor": 18}  # 10 + 8 delivered
    assert set(frame.loc[frame["round"] == 2, "id"]) == set(batches[2][:-2])
    pool = pd.read_csv(path.parent / "data" / "pool.csv").set_index("id")
    pixels = list(pool.columns)
    assert list(frame.columns[1 : 1 + len(pixels)]) == pixels
    assert (frame.set_index("id")[pixels].to_numpy() == pool.loc[frame["id"], pixels].to_numpy()).all()


def test_each_round_s_data_set_is_what_its_model_trained_on_and_stays_the_same(campaign_run):
    path, _, _, at_round_2 = campaign_run
    state = Ledger.of(load_campaign(path)).state()
    for round_ in (1, 2, 3):
        dataset = labeled_dataset(path, round_=round_)
        frame = _frame(dataset.data)
        assert int(frame["trained_on"].sum()) == dataset.card["trained_on"] == state.rounds[round_].labels_used
        assert frame["ingested_in"].dropna().max() <= round_ if round_ > 1 else frame["ingested_in"].isna().all()
    assert labeled_dataset(path, round_=2).data == at_round_2  # a round later, more labels in: the same bytes


def test_each_label_carries_its_votes_annotators_and_agreement(campaign_run):
    path, answers, batches, _ = campaign_run
    frame = _frame(labeled_dataset(path).data).set_index("id")
    outvoted, twice = frame.loc[batches[1][0]], frame.loc[batches[1][1]]
    assert list(outvoted["annotators"]) == ["ann-a", "ann-b", "ann-c"]
    assert (outvoted["votes"], outvoted["votes_for_label"]) == (3, 2)
    assert outvoted["agreement"] == pytest.approx(2 / 3)
    assert outvoted["label"] == answers[batches[1][0]]
    assert list(twice["annotators"]) == ["ann-a", "ann-b"] and twice["votes"] == 2 and twice["agreement"] == 1
    first = frame.loc[batches[1]]
    assert (first["round"] == 1).all() and (first["ingested_in"] == 2).all()
    assert first["delivery_file"].str.endswith("round-0001/votes.csv").all()
    anonymous = frame.loc[batches[2][:-2]]
    assert anonymous["annotators"].map(len).eq(0).all() and (anonymous["votes"] == 1).all()
    seed = frame[frame["origin"] == "seed"]
    assert (seed["round"] == 0).all() and seed["votes"].isna().all() and seed["annotators"].isna().all()


def test_money_is_exact_decimals_in_the_file_and_the_card(campaign_run):
    path, *_ = campaign_run
    dataset = labeled_dataset(path)
    assert dataset.table.schema.field("cost").type == pa.decimal128(18, 2)
    frame = _frame(dataset.data)
    assert set(frame.loc[frame["origin"] == "vendor", "cost"]) == {Decimal("0.1")}
    assert set(frame.loc[frame["origin"] == "seed", "cost"]) == {Decimal(0)}
    assert sum(frame["cost"]) == Decimal("1.8")
    spend = dataset.card["spend"]
    assert spend == {
        "currency": "USD",
        "cost_per_label": "0.1",
        "labels_in_set": "1.8",
        "charged": "3.0",  # 30 asked over three rounds, delivered or not
        "charged_without_label": "1.2",
    }
    assert "0000000" not in dataset.markdown() + json.dumps(dataset.card)


def test_a_rewritten_delivery_file_gives_no_votes_never_other_ones(campaign_run, tmp_path):
    path, _, batches, _ = campaign_run
    copy = tmp_path / "copy"
    shutil.copytree(path.parent, copy)
    campaign = load_campaign(copy / path.name)
    delivered = copy / "bucket" / layout.delivery_prefix(campaign.campaign, 1) / "votes.csv"
    delivered.write_text(delivered.read_text().replace("ann-b", "ann-x"))

    dataset = labeled_dataset(campaign)

    frame = _frame(dataset.data).set_index("id")
    assert frame.loc[batches[1], "votes"].isna().all() and frame.loc[batches[1], "annotators"].isna().all()
    assert dataset.card["votes_unavailable"] == 10
    assert "votes unknown for 10" in dataset.markdown()


def test_the_command_writes_once_and_says_what_is_wrong_in_one_line(campaign_run, tmp_path):
    path, *_ = campaign_run
    out = tmp_path / "export"
    for _ in range(2):  # the same export again changes nothing
        result = runner.invoke(app, ["dataset", str(path), "--out", str(out), "--no-track"])
        assert result.exit_code == 0, result.output
    assert "38 labeled items as of round 3" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.json", "data.parquet"]
    other = runner.invoke(app, ["dataset", str(path), "--out", str(out), "--round", "1", "--no-track"])
    assert other.exit_code == 1 and "already holds another export" in other.output
    assert len(other.output.strip().splitlines()) == 1
    missing = runner.invoke(app, ["dataset", str(path), "--out", str(tmp_path / "x"), "--round", "9", "--no-track"])
    assert missing.exit_code == 1 and "has rounds 1 to 3" in missing.output
    assert "Traceback" not in missing.output


def test_a_parquet_file_name_gets_its_card_beside_it(campaign_run, tmp_path):
    path, *_ = campaign_run
    result = runner.invoke(
        app, ["dataset", str(path), "--out", str(tmp_path / "labels.parquet"), "--no-track", "--json"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert card["items"] == 38 and card["files"][0].endswith("/labels.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.README.md", "labels.card.json", "labels.parquet"]
    assert "data_files: labels.parquet" in (tmp_path / "labels.README.md").read_text()


def test_export_logs_the_data_set_on_the_campaign_run(campaign_run, tmp_path):
    from mlflow import MlflowClient

    path, *_ = campaign_run
    campaign = load_campaign(path)
    exported = export_dataset(path, str(tmp_path / "export"))
    client = MlflowClient(tracking_uri=campaign.tracking.uri)
    run = client.get_run(exported.run_id)
    assert run.data.tags["alflow.kind"] == "campaign"
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    logged = inputs[f"{campaign.campaign}-labeled-round-3"]
    assert logged.dataset.digest == exported.dataset.card["data_sha256"][:16]
    assert {t.key: t.value for t in logged.tags}["mlflow.data.context"] == "labeled"
    names = {a.path for a in client.list_artifacts(exported.run_id, "datasets/round-0003")}
    assert names == {"datasets/round-0003/README.md", "datasets/round-0003/card.json"}


def _written(campaign_run, tmp_path) -> Path:
    path, *_ = campaign_run
    out = tmp_path / "export"
    export_dataset(path, str(out), track=False)
    return out


def test_pandas_and_pyarrow_read_it_without_alflow(campaign_run, tmp_path):
    out = _written(campaign_run, tmp_path)
    frame = pd.read_parquet(out / "data.parquet")
    table = pq.read_table(out / "data.parquet")
    assert len(frame) == table.num_rows == 38
    assert table.schema.field("annotators").type == pa.list_(pa.string())


def test_duckdb_reads_it(campaign_run, tmp_path):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install -e '.[dev]')")
    out = _written(campaign_run, tmp_path)
    frame = pd.read_parquet(out / "data.parquet")
    rows = duckdb.sql(f"select origin, count(*), sum(cost) from '{out / 'data.parquet'}' group by origin").fetchall()
    assert {r[0]: (r[1], r[2]) for r in rows} == {"seed": (20, Decimal("0.00")), "vendor": (18, Decimal("1.80"))}
    assert len(frame) == 38


@pytest.mark.parametrize("library", ["polars", "datasets"])
def test_polars_and_hugging_face_read_it_when_installed(campaign_run, tmp_path, library):
    module = pytest.importorskip(library, reason=f"{library} is not installed: this reader is not checked here")
    out = _written(campaign_run, tmp_path)
    if library == "polars":
        assert module.read_parquet(out / "data.parquet").height == 38
    else:  # the folder, as a Hugging Face data set: README.md's front matter names the data file
        assert module.load_dataset(str(out), split="train").num_rows == 38


def test_an_s3_prefix_holds_the_same_bytes(campaign_run, s3_endpoint, tmp_path):
    import boto3

    path, *_ = campaign_run
    bucket = f"export-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    exported = export_dataset(path, f"s3://{bucket}/handover/round-3", track=False)
    assert exported.files[0] == f"s3://{bucket}/handover/round-3/data.parquet"
    data = s3.get_object(Bucket=bucket, Key="handover/round-3/data.parquet")["Body"].read()
    assert data == exported.dataset.data and pq.read_table(io.BytesIO(data)).num_rows == 38
    card = s3.get_object(Bucket=bucket, Key="handover/round-3/README.md")["Body"].read().decode()
    assert "# digits-demo: labeled data set as of round 3" in card
