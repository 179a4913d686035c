"""The cost of each label from the tools' own time fields (issue 22): read per vote from each tool's
export as its documentation shows it, summed per item on intake, shown by round and class in
`alflow status`, MLflow and the data set; a file without them records nothing and refuses nothing.

The golden files are exports as the docs show them: Label Studio's `lead_time` per annotation
(labelstud.io/guide/task_format), Ground Truth's `timeSpentInSeconds` of a worker response
(docs.aws.amazon.com/sagemaker/latest/dg/sms-data-output.html) where the output manifest's
metadata carries it, Labelbox's `performance_details.seconds_to_create` (export v2 with
performance details, docs.labelbox.com/reference/export-glossary; `seconds_to_label` as older
exports name it).
"""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from test_hostile import CLASSES, with_format
from test_vendors import GOLDEN
from typer.testing import CliRunner

from alflow.config import load_campaign
from alflow.exchange import formats, layout
from alflow.exchange.formats.base import ReadOptions
from alflow.intake.ingest import ingest_campaign
from alflow.intake.votes import judge
from alflow.ledger.ledger import Ledger, campaign_state
from alflow.ledger.records import IngestRecord
from alflow.ledger.state import CampaignState
from alflow.ledger.timing import class_seconds
from alflow.operations.dataset import labeled_dataset
from alflow.operations.plain import plain_round
from alflow.reporting.label_cost import label_times, time_json, time_line, time_metrics
from alflow.round.select import selection_options
from alflow.selection.notebook import select_with
from alflow.selection.options import SelectionOptions
from cli import app

from helpers import ask
from helpers import deliver_files as deliver


def _votes(fmt: str, data: bytes) -> pd.DataFrame:
    options = ReadOptions(CLASSES)
    return pd.concat(list(formats.get(fmt).read_delivery(io.BytesIO(data), source="golden", options=options)))


@pytest.mark.parametrize(
    ("fmt", "name", "seconds"),
    [
        ("label_studio", "ls-timed-export.json", {("t-1", 4.288), ("t-1", 6.5), ("t-2", 21.75), ("t-3", None)}),
        ("ground_truth", "gt-timed-output.manifest", {("t-1", 12.4), ("t-2", 8.5), ("t-3", None)}),
        ("labelbox", "labelbox-timed-export.ndjson", {("t-1", 3.0), ("t-2", 7.25), ("t-3", None)}),
    ],
    ids=["label_studio-lead_time", "ground_truth-timeSpentInSeconds", "labelbox-seconds_to_create"],
)
def test_each_tool_s_time_field_is_read_per_vote(fmt, name, seconds):
    votes = _votes(fmt, (GOLDEN / name).read_bytes())
    assert votes["problem"].isna().all()
    # a cancelled Label Studio annotation is no vote, and its time is not counted
    assert {(i, None if pd.isna(s) else s) for i, s in zip(votes["id"], votes["seconds"], strict=True)} == seconds


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("label_studio", "ls-export.json"),
        ("ground_truth", "gt-output.manifest"),
        ("labelbox", "labelbox-export.ndjson"),
    ],
)
def test_an_export_without_time_records_none(fmt, name):
    votes = _votes(fmt, (GOLDEN / name).read_bytes())
    assert len(votes) and votes["seconds"].isna().all()


@pytest.mark.parametrize("fmt", ["label_studio", "ground_truth", "labelbox", "jsonl", "csv"])
def test_a_vote_s_seconds_go_out_and_back_in_every_timed_format(fmt):
    votes = pd.DataFrame({"id": ["t-1", "t-2"], "label": ["cat", "dog"], "seconds": [2.5, None]})
    if fmt in ("jsonl", "csv"):  # alflow's own formats: a `seconds` column the vendor writes
        data = (
            votes.to_csv(index=False).encode()
            if fmt == "csv"
            else "".join(
                json.dumps({k: v for k, v in r.items() if v == v}) + "\n" for r in votes.to_dict("records")
            ).encode()
        )
    else:
        _, data = formats.get(fmt).write_delivery(votes, classes=CLASSES, job_name="j", created_at="2026-12-01")
    read = _votes(fmt, data)
    assert dict(zip(read["id"], read["seconds"], strict=True)) == {"t-1": 2.5, "t-2": None}


@pytest.mark.parametrize("value", ["abc", -3, True, "inf", None, [4]])
def test_a_time_that_is_not_seconds_is_not_recorded_and_refuses_nothing(value):
    votes = pd.DataFrame({"id": ["t-1"], "label": ["cat"], "annotator": ["a"], "seconds": [value]})
    verdict = judge(votes, classes=CLASSES, batch={"t-1"}, accepted={})
    assert verdict.labels == {"t-1": "cat"} and verdict.refused_rows == 0 and verdict.seconds == {}


def test_seconds_are_summed_over_an_item_s_valid_votes_outvoted_or_not():
    votes = pd.DataFrame(
        {
            "id": ["t-1", "t-1", "t-1", "t-2", "t-2", "t-3"],
            "label": ["cat", "cat", "dog", "dog", "emu", "eel"],  # emu: refused, its time not counted
            "annotator": ["a", "b", "c", "a", "b", "a"],
            "seconds": ["4", 6, 10.5, 3, 99, None],  # a CSV's text too
        }
    )
    verdict = judge(votes, classes=CLASSES, batch={"t-1", "t-2", "t-3"}, accepted={"t-3": "eel"}, annotators=1)
    assert verdict.labels == {"t-1": "cat", "t-2": "dog"}
    assert verdict.seconds == {"t-1": 20.5, "t-2": 3.0}  # t-3: a late duplicate, no new label, no time
    assert all("seconds" not in meta for meta in verdict.metadata.values())


def _record(at: str, round_: int, labels: dict[str, str], seconds: dict[str, float], **more) -> IngestRecord:
    base = {"round": round_, "ingested_in": round_ + 1, "file": f"f{at}", "format": "label_studio"}
    base |= {"aggregation": "majority", "tie_rule": "outstanding", "annotators_required": 1, "sha256": at}
    return IngestRecord(
        **base, delivered_at=at, ingested_at=at, status="accepted", labels=labels, seconds=seconds, **more
    )


def test_status_mlflow_and_json_show_the_median_by_round_and_by_class_where_they_differ():
    records = {
        1: [
            _record("1", 1, {"a": "cat", "b": "dog", "c": "cat"}, {"a": 4.0, "b": 20.0, "c": 6.0}),
            _record("3", 1, {}, {"a": 8.0}, revised={"a": "dog"}),  # a revised: its new time and class
        ],
        2: [_record("2", 2, {"d": "dog", "e": "cat"}, {"d": 30.0})],  # e: no time recorded
    }
    state = CampaignState(campaign="c", ingests=records)
    times = label_times(state)
    assert [(t.item, t.label, t.seconds) for t in times] == [
        ("a", "dog", 8.0), ("b", "dog", 20.0), ("c", "cat", 6.0), ("d", "dog", 30.0)
    ]  # fmt: skip
    line = time_line(state)
    assert line == (
        "time per label: median 14.0 s over 4 labels, 1.1 min in all (by round: 1: 8.0, 2: 30.0 s); "
        "by class: dog 20.0 s, cat 6.0 s"
    )
    assert "by class" not in (time_line(state, per_class=False) or "")
    metrics = time_metrics(state)
    assert metrics["vendor/seconds_per_label"] == 14.0 and metrics["vendor/labels_timed"] == 4
    assert metrics["vendor/seconds_per_label/dog"] == 20.0 and metrics["vendor/seconds_total"] == 64.0
    assert time_json(state)["by_round"] == {"1": 8.0, "2": 30.0}
    same = CampaignState(campaign="c", ingests={1: [_record("1", 1, {"a": "cat", "b": "dog"}, {"a": 4, "b": 4.4})]})
    assert "by class" not in (time_line(same) or "")  # within 20 %: not worth a word
    assert time_line(CampaignState(campaign="c")) is None and time_metrics(CampaignState(campaign="c")) == {}


def test_a_label_studio_storage_rewrite_replaces_the_time_of_the_annotation(campaign):
    campaign = with_format(campaign, "label_studio")
    ask(campaign, ["t-1"])
    annotation = {"id": 5, "completed_by": 7, "lead_time": 3.0, "task": {"id": 1, "data": {"id": "t-1"}}}
    annotation["result"] = [{"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": ["cat"]}}]
    store = Ledger.of(campaign).store
    key = layout.delivery_prefix(campaign.campaign, 1) + "5"
    deliver(campaign, {"5": json.dumps(annotation)})
    assert label_times(ingest_campaign(campaign))[0].seconds == 3.0
    annotation["lead_time"] = 9.5  # the annotator changed it: Label Studio rewrites the object
    annotation["result"][0]["value"]["choices"] = ["dog"]
    (store.root / key).write_bytes(json.dumps(annotation).encode())  # type: ignore[attr-defined]
    [timed] = label_times(ingest_campaign(campaign))
    assert (timed.label, timed.seconds) == ("dog", 9.5)


def test_a_label_studio_campaign_s_time_in_status_mlflow_the_data_set_and_selection(campaign_file):
    raw = yaml.safe_load(campaign_file.read_text())
    raw["vendor"]["format"] = "label_studio"
    campaign_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_campaign(campaign_file)
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str).set_index("id")["label"]
    assert plain_round(campaign_file).status == "exported"
    batch = campaign_state(config).batch_ids(1)
    votes = pd.DataFrame({"id": batch, "label": [answers[i] for i in batch], "annotator": "ann-a"})
    votes["seconds"] = [2.0 if label == "0" else 12.0 for label in votes["label"]]  # class 0 is quick
    fmt = formats.get("label_studio")
    _, data = fmt.write_delivery(votes, classes=config.classes, job_name="r1", created_at="2026-12-01T00:00:00Z")
    deliver(config, {"export.json": data})

    second = plain_round(campaign_file)

    assert second.status == "exported" and second.labels_ingested == len(batch)
    state = campaign_state(config)
    [record] = state.ingests[1]
    assert record.seconds == dict(zip(batch, votes["seconds"], strict=True))
    result = CliRunner().invoke(app, ["status", str(campaign_file)])
    assert result.exit_code == 0, result.output
    assert f"time per label: median 12.0 s over {len(batch)} labels" in result.output
    as_json = CliRunner().invoke(app, ["status", str(campaign_file), "--json"])
    assert json.loads(as_json.output)["label_time"]["labels_timed"] == len(batch)
    run = MlflowClient(config.tracking.uri).get_run(second.mlflow_run_id)
    assert run.data.metrics["vendor/seconds_per_label"] == 12.0 and run.data.metrics["vendor/labels_timed"] == 10
    dataset = labeled_dataset(campaign_file)
    table = dataset.table.to_pandas().set_index(config.pool.id_column)
    assert table.loc[batch, "seconds"].tolist() == votes["seconds"].tolist()
    assert table.loc[table["origin"] == "seed", "seconds"].isna().all()  # seed labels: no time known
    assert dataset.card["time"] == {"labels_timed": 10, "seconds_total": votes["seconds"].sum(), "median_seconds": 12.0}
    assert "column `seconds`" in dataset.markdown() and "seconds" in dataset.card["columns"]
    # cost-aware selection reads the class medians so far into the round's selection options
    assert selection_options(SimpleNamespace(config=config, state=state)).class_seconds is None  # off by default
    raw["strategy"]["cost_aware"] = True
    campaign_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    costly = load_campaign(campaign_file)
    seconds = selection_options(SimpleNamespace(config=costly, state=state)).class_seconds
    assert seconds == {label: (2.0 if label == "0" else 12.0) for label in set(votes["label"])}
    deliver(config, {"export.json": fmt.write_delivery(votes.assign(id=campaign_state(config).batch_ids(2)),
                                                       classes=config.classes, job_name="r2", created_at="x")[1]},
            2)  # fmt: skip
    assert plain_round(campaign_file).status == "exported"  # a round chooses its batch cost-aware


def test_cost_aware_selection_puts_cheap_informative_items_first():
    X = np.array([[-2.0], [-1.5], [1.5], [2.0]])
    model = LogisticRegression().fit(X, ["a", "a", "b", "b"])
    pool = np.linspace(-0.5, 0.5, 20).reshape(-1, 1)  # near the boundary: half predicted a, half b
    plain = select_with(model, pool, 6, SelectionOptions("margin"), rng=0)
    costly = select_with(model, pool, 6, SelectionOptions("margin", class_seconds={"a": 2.0, "b": 40.0}), rng=0)
    assert set(plain.predicted) == {"a", "b"}  # the most uncertain, of both classes
    assert set(costly.predicted) == {"a"}  # b takes 20 times longer: a's uncertain items first
    assert costly.scores[0] > 0 and list(costly.scores) == sorted(costly.scores, reverse=True)
    with pytest.raises(ValueError, match=r"class_seconds\['b'\]=0"):
        SelectionOptions("margin", class_seconds={"a": 2.0, "b": 0})


def test_class_seconds_wait_for_enough_timed_labels():
    few = CampaignState(campaign="c", ingests={1: [_record("1", 1, {"a": "cat"}, {"a": 4.0})]})
    assert class_seconds(few) == {}
    labels = {f"i{n}": ("cat" if n % 2 else "dog") for n in range(12)}
    times = {i: (3.0 if label == "cat" else 30.0) for i, label in labels.items()}
    enough = CampaignState(campaign="c", ingests={1: [_record("1", 1, labels, times)]})
    assert class_seconds(enough) == {"dog": 30.0, "cat": 3.0}
