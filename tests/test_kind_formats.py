"""Tags and numbers in every labeling tool's format, both ways (issue 21): what alflow writes for
each kind (Label Studio's labeling config and predictions), each tool's export of tags and numbers
read as its documentation shows it, bad values refused one row each with their reason, and a
batch of each kind out and back in each format with every label once and correct.

Regenerate the golden batch files after an intended change with
`ALFLOW_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_kind_formats.py`, then review the diff.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile import FILE_REASONS, ROW_REASONS, json_values
from test_vendors import GOLDEN, golden

from alflow.config import CampaignConfig, load_campaign
from alflow.errors import ConfigError
from alflow.exchange import formats, layout
from alflow.exchange.formats import label_studio
from alflow.exchange.formats.base import ReadOptions
from alflow.intake import ingest
from alflow.intake.ingest import ingest_campaign
from alflow.intake.provenance import item_votes
from alflow.intake.votes import Verdict, judge
from alflow.kinds import REASONS, LabelKind, tags
from alflow.ledger.ledger import bucket, campaign_state
from alflow.operations.demo import SimulatedVendor
from alflow.operations.kind_data import write_kind_data

from helpers import ask

CLASSES = ("cat", "dog", "eel")
TAGS = LabelKind("multi", CLASSES, allow_empty=True)
SCORE = LabelKind("number", minimum=0, maximum=10)
STARS = LabelKind("number", minimum=1, maximum=5, rating=True)
BATCH = {"t-1", "t-2", "t-3", "t-4"}


def _votes(fmt: str, data: bytes, kind: LabelKind, source: str = "x") -> pd.DataFrame:
    options = ReadOptions(kind.classes, None, kind.kind)
    return pd.concat(list(formats.get(fmt).read_delivery(io.BytesIO(data), source=source, options=options)))


# --- out: Label Studio's labeling config and predictions of each kind -------------------------------------


def _items(predicted: list[str]) -> pd.DataFrame:
    texts = ["the cat sat on the dog", "nothing in here", "an eel"]
    return pd.DataFrame({"id": ["t-1", "t-2", "t-3"], "score": [0.9, 0.5, 0.1], "predicted": predicted, "text": texts})


@pytest.mark.parametrize(
    ("name", "kind", "predicted", "control", "values"),
    [
        ("multi", TAGS, ["dog;cat", "[]", "eel"], {"tag": "Choices", "choice": "multiple"},
         [{"choices": ["dog", "cat"]}, None, {"choices": ["eel"]}]),
        ("number", SCORE, ["7.5", "3", "0.25"], {"tag": "Number", "min": "0", "max": "10"},
         [{"number": 7.5}, {"number": 3}, {"number": 0.25}]),
        ("rating", STARS, ["4.4", "0.2", "9"], {"tag": "Rating", "maxRating": "5"},
         [{"rating": 4}, {"rating": 1}, {"rating": 5}]),
    ],
)  # fmt: skip
def test_label_studio_writes_the_control_and_the_predictions_of_each_kind(name, kind, predicted, control, values):
    # Label Studio's docs: labelstud.io/tags/choices.html (choice="multiple"), /tags/number.html (min,
    # max, step), /tags/rating.html (maxRating); a prediction's or annotation's result is
    # {"from_name", "to_name", "type": "choices" | "number" | "rating", "value": {<type>: ...}}
    # (labelstud.io/guide/task_format.html, /guide/predictions.html)
    config = label_studio.label_config(kind.classes, text_column="text", kind=kind)["label_config.xml"]
    assert config == golden(f"batch-label_studio-label_config-{name}.xml", config)
    element = ET.fromstring(config).find(f"./{control['tag']}")
    assert element is not None and element.get("name") == "label" and element.get("toName") == "item"
    assert {k: element.get(k) for k in control if k != "tag"} == {k: v for k, v in control.items() if k != "tag"}
    tasks = label_studio.write_batch(_items(predicted), model_version="m/2", text_column="text", kind=kind)
    assert tasks == golden(f"batch-label_studio-tasks-{name}.json", tasks)
    results = [task["predictions"][0]["result"] for task in json.loads(tasks)]
    assert [r[0]["value"] if r else None for r in results] == values
    assert all(r[0]["from_name"] == "label" and r[0]["to_name"] == "item" for r in results if r)
    # a prediction accepted as it is comes back as the model's label (a rating as its stars)
    export = [
        {"data": t["data"], "annotations": [{"result": t["predictions"][0]["result"]}]} for t in json.loads(tasks)
    ]
    back = judge(_votes("label_studio", json.dumps(export).encode(), kind), classes=kind.classes,
                 batch={"t-1", "t-2", "t-3"}, accepted={}, kind=kind)  # fmt: skip
    guessed = [kind.parse(next(iter(v.values())) if v else [])[0] for v in values] if name == "multi" else None
    expected = guessed or [kind.parse(next(iter(v.values())))[0] for v in values]
    assert back.labels == dict(zip(["t-1", "t-2", "t-3"], expected, strict=True))


def test_a_tagging_config_requires_a_tag_unless_the_empty_set_is_allowed():
    strict = LabelKind("multi", CLASSES)
    for kind, required in ((TAGS, None), (strict, "true")):
        xml = label_studio.label_config(CLASSES, text_column=None, kind=kind)["label_config.xml"]
        assert ET.fromstring(xml).find("./Choices").get("required") == required  # type: ignore[union-attr]


# --- in: each tool's export of tags and numbers, as its documentation shows it ----------------------------
# Ground Truth: docs.aws.amazon.com/sagemaker/latest/dg/sms-data-output.html (multi-label classification
#   output: the label attribute a list of class indices, `class-map` and `confidence-map` in its metadata,
#   type groundtruth/{image,text}-classification-multilabel).
# Label Studio: labelstud.io/guide/task_format.html (an annotation's `result`), /tags/number.html, /tags/rating.html.
# doccano: doccano/doccano backend/data_export/pipeline/examples/text_classification/example.jsonl and
#   sequence_to_sequence/example.jsonl ({"text", "label": [...]}: categories, or typed answers).
# Labelbox: export v2 (labelbox-python's export_v2 test fixtures): classifications[] with
#   `checklist_answers` [{name, value}], `radio_answer` {name, value}, `text_answer` {content}.

GOLDEN_DELIVERIES = [
    ("ground_truth", "gt-multilabel-output.manifest", TAGS,
     {"t-1": "cat;dog", "t-2": "eel"}, [("t-3", "tag_not_in_class_set")]),
    ("label_studio", "ls-tags-export.json", TAGS,
     {"t-1": "cat;dog", "t-2": "[]"}, [("t-3", "tag_not_in_class_set")]),
    ("label_studio", "ls-tags-export.json", LabelKind("multi", CLASSES),
     {"t-1": "cat;dog"}, [("t-2", "empty_tags_not_allowed"), ("t-3", "tag_not_in_class_set")]),
    ("label_studio", "ls-number-export.json", SCORE, {"t-1": "7.5", "t-2": "4"}, [("t-3", "out_of_range")]),
    ("doccano", "doccano-tags-export.jsonl", TAGS, {"t-1": "cat;dog"}, [("t-3", "tag_not_in_class_set")]),
    ("doccano", "doccano-seq2seq-export.jsonl", SCORE,
     {"t-1": "7.5"}, [("t-3", "not_a_number"), ("t-4", "multiple_labels")]),
    ("labelbox", "labelbox-checklist-export.ndjson", TAGS,
     {"t-1": "cat;dog", "t-2": "[]"}, [("t-3", "tag_not_in_class_set")]),
    ("labelbox", "labelbox-number-export.ndjson", SCORE, {"t-1": "7.5", "t-2": "4"}, [("t-3", "not_a_number")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "name", "kind", "labels", "refused"),
    GOLDEN_DELIVERIES,
    ids=[f"{f}-{n.split('-')[1]}-{k.kind}{'' if k.kind != 'multi' or k.allow_empty else '-strict'}"
         for f, n, k, *_ in GOLDEN_DELIVERIES],
)  # fmt: skip
def test_each_tools_export_of_tags_and_numbers_reads_to_its_labels_and_refuses_each_bad_one(
    fmt, name, kind, labels, refused
):
    votes = _votes(fmt, (GOLDEN / name).read_bytes(), kind, source=f"deliveries/round-0001/{name}")
    verdict = judge(votes, classes=kind.classes, batch=BATCH, accepted={}, kind=kind)
    assert verdict.labels == labels
    assert [(r.id, r.reason) for r in verdict.rejected] == refused
    assert len(verdict.labels) + len(verdict.machine_labels) + verdict.refused_rows == len(votes)


def test_ground_truth_keeps_the_lowest_confidence_of_a_tag_set_and_its_auto_labels_apart():
    votes = _votes("ground_truth", (GOLDEN / "gt-multilabel-output.manifest").read_bytes(), TAGS)
    assert votes.set_index("id")["confidence"].to_dict() == {"t-1": 0.77, "t-2": 0.81, "t-3": 0.66, "t-4": 0.99}
    verdict = judge(votes, classes=CLASSES, batch=BATCH, accepted={}, kind=TAGS)
    assert verdict.machine_labels == {"t-4": "dog"}  # human-annotated "no": the service's own label


def test_a_numeric_campaign_cannot_use_ground_truth_and_says_so_in_one_line(tmp_path):
    path = write_kind_data(tmp_path, "friedman", fmt="ground_truth")
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    message = str(caught.value)
    assert "ground_truth has no built-in task type for numbers" in message and "\n" not in message.strip()


@pytest.mark.parametrize("labels", [{"kind": "number", "input": "rating"}, {"kind": "multi", "input": "rating"}])
def test_a_rating_needs_a_whole_number_of_stars(tmp_path, labels):
    path = write_kind_data(tmp_path, "friedman" if labels["kind"] == "number" else "multilabel")
    raw = yaml.safe_load(path.read_text())
    raw["labels"] = labels
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"labels\.input rating is for kind: number with max, a whole number"):
        load_campaign(path)


# --- readers stay total for tags and numbers --------------------------------------------------------------

_label_studio_result = st.fixed_dictionaries(
    {"from_name": st.just("label") | json_values, "to_name": st.just("item") | json_values,
     "type": st.sampled_from(["choices", "number", "rating"]) | json_values,
     "value": st.fixed_dictionaries({"choices": st.lists(json_values, max_size=3), "number": json_values,
                                     "rating": json_values}) | json_values}
)  # fmt: skip
_shaped = {
    "label_studio": st.lists(
        st.fixed_dictionaries({"data": st.fixed_dictionaries({"id": st.just("t-1") | json_values}),
                               "annotations": st.lists(st.fixed_dictionaries(
                                   {"result": st.lists(_label_studio_result, max_size=3) | json_values}), max_size=2)})
        | json_values, max_size=3).map(lambda x: json.dumps(x).encode()),
    "ground_truth": st.lists(
        st.fixed_dictionaries({"id": st.just("t-1"), "a": st.lists(json_values, max_size=3) | json_values,
                               "a-metadata": st.fixed_dictionaries({"class-map": json_values,
                                                                    "confidence-map": json_values})}),
        max_size=3).map(lambda ls: "\n".join(json.dumps(x) for x in ls).encode()),
    "doccano": st.lists(st.fixed_dictionaries({"alflow_id": st.just("t-1"), "label": json_values}), max_size=3)
    .map(lambda ls: "\n".join(json.dumps(x) for x in ls).encode()),
    "labelbox": st.lists(
        st.fixed_dictionaries({"data_row": st.fixed_dictionaries({"global_key": st.just("t-1")}),
                               "projects": st.fixed_dictionaries({"p": st.fixed_dictionaries({"labels": st.lists(
                                   st.fixed_dictionaries({"annotations": st.fixed_dictionaries({"classifications":
                                       st.lists(st.fixed_dictionaries({"name": st.just("label"),
                                           "checklist_answers": json_values, "text_answer": json_values}),
                                           max_size=2)})}), max_size=2)})})}),
        max_size=3).map(lambda ls: "\n".join(json.dumps(x) for x in ls).encode()),
}  # fmt: skip


def _config(fmt: str, kind: LabelKind) -> CampaignConfig:
    section = {"kind": kind.kind, "allow_empty": True} if kind.kind == "multi" else {"kind": "number", "max": 10}
    return CampaignConfig.model_validate(
        {"campaign": "hostile", "pool": {"uri": "pool.csv"}, "seed_labels": {"uri": "seed.csv"},
         "classes": list(kind.classes), "labels": section, "budget": {"max_labels": 100},
         "vendor": {"bucket": "b", "format": fmt}, "tracking": {"uri": "sqlite:///x.db"}}
    )  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(_shaped))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_shaped_like_a_tools_tags_or_numbers_gives_labels_or_a_reason(fmt, data):
    config = _config(fmt, data.draw(st.sampled_from([TAGS] if fmt == "ground_truth" else [TAGS, SCORE])))
    result = ingest._verdict(config, {"t-1"}, io.BytesIO(data.draw(_shaped[fmt])), "src", {}, io.BytesIO())
    if isinstance(result, Verdict):
        assert set(result.reasons) <= ROW_REASONS | set(REASONS), result.reasons
        assert all(config.label_kind.parse(label)[0] == label for label in result.labels.values())
    else:
        assert result[0] in FILE_REASONS, result  # never reader_failed: the readers are total


# --- a batch of each kind out and back in each format: every label once, each bad one refused ---------------

ROUND_TRIPS = [
    (fmt, dataset)
    for fmt in ("label_studio", "ground_truth", "doccano", "labelbox", "jsonl")
    for dataset in ("multilabel", "friedman")
    if (fmt, dataset) != ("ground_truth", "friedman")
]
BAD = {"multi": ("billing;weather", "tag_not_in_class_set"), "number": ("n/a", "not_a_number")}


@pytest.mark.parametrize(("fmt", "dataset"), ROUND_TRIPS)
def test_a_batch_of_each_kind_goes_out_and_comes_back_with_every_label_once(tmp_path, fmt, dataset):
    config = load_campaign(write_kind_data(tmp_path, dataset, fmt=fmt))
    kind, spec = config.label_kind, formats.get(fmt)
    answers = dict(pd.read_csv(tmp_path / "data" / "answers.csv", dtype=str).itertuples(index=False))
    seed = set(pd.read_csv(config.seed_labels.uri, dtype=str)["id"])
    pool = pd.read_csv(config.pool.uri, dtype={"id": str})
    pool = pool[~pool["id"].isin(seed)].head(12).reset_index(drop=True)
    ids = pool["id"].tolist()
    ask(config, ids)
    guesses = [answers[i] for i in ids[1:] + ids[:1]]  # the model's guess: another item's label
    items = pd.concat(
        [pool[["id"]], pd.DataFrame({"score": 1.0, "predicted": guesses}), pool.drop(columns="id")], axis=1
    )
    store = bucket(config)
    batch = spec.write_batch(items, model_version="m/1", text_column=None, kind=kind)
    store.write_once(layout.batch_prefix(config.campaign, 1) + spec.batch_file, batch)

    bad, reason = BAD[kind.kind]
    if (fmt, kind.kind) == ("label_studio", "number"):
        bad, reason = "1e9", "out_of_range"  # Label Studio's Number field takes only numbers
    given = {**answers, ids[0]: bad}
    SimulatedVendor(store, config.campaign, given, kind).deliver(1, fmt=fmt)
    state = ingest_campaign(config)

    expected = {i: kind.parse(answers[i])[0] for i in ids[1:]}
    unread = {i for i, label in expected.items() if fmt == "doccano" and label == "[]"}  # no empty set in doccano
    assert state.ingested[1] == {i: label for i, label in expected.items() if i not in unread}
    [record] = campaign_state(config).ingests[1]
    assert [(r.id, r.reason) for r in record.rejected] == [(ids[0], reason)]
    assert record.count == len(ids) - 1 - len(unread) and not record.duplicates
    assert sorted(state.missing(1)) == sorted([ids[0], *unread])
    # each accepted label's vote, read again from the delivery file (the labeled data set's provenance)
    votes = item_votes(store, record, classes=kind.classes, kind=kind)
    assert votes is not None and {i: v.labels for i, v in votes.items()} == {i: (x,) for i, x in record.labels.items()}
    if kind.kind == "multi" and fmt == "label_studio":
        predicted = [[c for r in task["predictions"][0]["result"] for c in r["value"]["choices"]]
                     for task in json.loads(batch)]  # fmt: skip
        assert predicted == [list(tags(g)) for g in guesses]


def test_the_demo_help_names_every_data_set_it_runs():
    from typer.testing import CliRunner

    from alflow.operations.kind_data import KIND_DATASETS
    from cli import app

    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    for name in ("digits", "text", *KIND_DATASETS):
        assert f"{name}: " in result.output
