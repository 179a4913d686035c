"""Kinds of label (alflow.kinds): the campaign file's `labels` section, the one spelling of tags and
numbers, and their validation in seed labels, holdouts and deliveries (csv and jsonl, through a store)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alflow.config import example_campaign, load_campaign
from alflow.errors import ConfigError, DataValidationError
from alflow.exchange import formats
from alflow.exchange.formats.base import ReadOptions
from alflow.intake.ingest import ingest_campaign
from alflow.intake.votes import judge
from alflow.kinds import LabelKind, indicator, numbers, tags
from alflow.ledger.ledger import bucket, campaign_state
from alflow.operations.kind_data import write_kind_data
from alflow.operations.preflight import check_inputs
from alflow.round.inputs import validate_inputs

from helpers import ask, deliver_files

TAGS = LabelKind("multi", ("cat", "dog", "eel"))
SCORE = LabelKind("number", minimum=0, maximum=10, unit="points")


# --- the one spelling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        (TAGS, "dog;cat", ("cat;dog", None)),  # the class set's order, whatever the vendor's
        (TAGS, " eel ; cat;cat", ("cat;eel", None)),  # spaces and repeats: one spelling
        (TAGS, ["eel", "dog"], ("dog;eel", None)),  # a JSON list
        (TAGS, "cat;cow", (None, "tag_not_in_class_set")),
        (TAGS, "[]", (None, "empty_tags_not_allowed")),
        (LabelKind("multi", ("cat", "dog"), allow_empty=True), "[]", ("[]", None)),
        (LabelKind("multi", ("cat", "dog"), allow_empty=True), [], ("[]", None)),
        (TAGS, "", (None, None)),  # empty: a missing label, not a label
        (SCORE, "3.50", ("3.5", None)),
        (SCORE, " 7 ", ("7", None)),
        (SCORE, 2.25, ("2.25", None)),
        (SCORE, "1e1", ("10", None)),
        (SCORE, "seven", (None, "not_a_number")),
        (SCORE, "nan", (None, "not_a_number")),
        (SCORE, "inf", (None, "not_a_number")),
        (SCORE, "10.5", (None, "out_of_range")),
        (SCORE, "-0.1", (None, "out_of_range")),
        (LabelKind("class", ("cat", "dog")), "cow", (None, "label_not_in_class_set")),
    ],
)
def test_a_label_has_one_spelling_or_a_reason(kind, given, expected):
    assert kind.parse(given) == expected


def test_canonical_text_reads_back_for_training():
    assert tags("cat;eel") == ("cat", "eel") and tags("[]") == ()
    assert indicator(["cat;eel", "[]", "dog"], TAGS.classes).tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    assert numbers(["3.5", "-2", "1e3"]).tolist() == [3.5, -2.0, 1000.0]


# --- the campaign file --------------------------------------------------------------------------------


def _load(tmp_path: Path, change) -> object:
    raw = yaml.safe_load(example_campaign("kinds"))
    change(raw)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_campaign(path)


def test_without_a_labels_section_a_campaign_is_single_class(tmp_path):
    config = _load(tmp_path, lambda r: None)
    assert config.labels.kind == "class" and config.label_kind == LabelKind("class", ("negative", "positive"))


def test_the_example_names_every_setting_of_the_labels_section(tmp_path):
    text = example_campaign("kinds")
    for setting in ("# labels:", "kind: class", "allow_empty:", "min:", "max:", "unit:"):
        assert setting in text
    raw = yaml.safe_load(text.replace("# labels:", "labels:").replace("#   kind: class ", "  kind: multi "))
    raw["labels"]["allow_empty"] = True
    config = _load(tmp_path, lambda r: r.update(labels=raw["labels"]))
    assert config.label_kind.kind == "multi" and config.label_kind.allow_empty


def test_a_numeric_campaign_has_bounds_and_a_unit_and_no_classes(tmp_path):
    labels = {"kind": "number", "min": 0, "max": 5, "unit": "stars"}
    config = _load(tmp_path, lambda r: (r.pop("classes"), r.update(labels=labels, model={"preset": "ridge"})))
    assert config.label_kind == LabelKind("number", (), False, 0.0, 5.0, "stars")
    assert config.label_kind.describe() == "a number in [0, 5] stars"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(labels={"kind": "number"}), "labels.kind is number: remove classes"),
        (lambda r: r.update(labels={"kind": "tags"}), "labels.kind: Input should be 'class', 'multi' or 'number'"),
        (lambda r: r.update(labels={"kind": "multi", "min": 1}), "labels.min, max and unit are for kind: number"),
        (lambda r: r.update(labels={"allow_empty": True}), "labels.allow_empty is for kind: multi, not class"),
        (
            lambda r: (r.pop("classes"), r.update(labels={"kind": "number", "min": 3, "max": 1})),
            "labels.min (3) is above labels.max (1)",
        ),
        (lambda r: r.update(labels={"kind": "multi"}, classes=["a;b", "c"]), "cannot contain ';' or be '[]'"),
        (lambda r: r.pop("classes"), "classes must list at least 2 classes, got []"),
        (
            lambda r: (r.update(labels={"kind": "multi"}), r["vendor"].update(max_spread=2)),
            "vendor.max_spread is for labels.kind number, not multi",
        ),
        (
            lambda r: (r.update(labels={"kind": "multi"}), r["vendor"].update(aggregation="dawid_skene")),
            "vendor.aggregation dawid_skene aggregates classes: use majority with labels.kind multi",
        ),
    ],
)
def test_a_bad_labels_section_is_one_line(tmp_path, change, message):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, change)
    assert message in str(caught.value) and "\n" not in str(caught.value).strip()


# --- deliveries: the verdict, and reading csv and jsonl ----------------------------------------------------


def test_the_judge_refuses_each_bad_tag_or_number_with_its_reason():
    rows = pd.DataFrame(
        {"id": ["a", "b", "c", "d", "e"], "label": ["dog;cat", "cat;cow", "[]", None, "eel"]},
    )
    verdict = judge(rows, classes=TAGS.classes, batch={"a", "b", "c", "d", "e"}, accepted={}, kind=TAGS)
    assert verdict.labels == {"a": "cat;dog", "e": "eel"}
    assert [(r.id, r.reason) for r in verdict.rejected] == [
        ("b", "tag_not_in_class_set"),
        ("c", "empty_tags_not_allowed"),
        ("d", "missing_label"),
    ]
    rows = pd.DataFrame({"id": ["a", "b", "c", "z"], "label": ["4.0", "x", "11", "3"]})
    verdict = judge(rows, classes=(), batch={"a", "b", "c"}, accepted={}, kind=SCORE)
    assert verdict.labels == {"a": "4"}
    assert [(r.id, r.reason) for r in verdict.rejected] == [
        ("b", "not_a_number"),
        ("c", "out_of_range"),
        ("z", "id_not_in_batch"),
    ]


def test_a_relabel_in_another_spelling_is_a_duplicate_not_a_conflict():
    rows = pd.DataFrame({"id": ["a"], "label": ["dog ; cat"]})
    verdict = judge(rows, classes=TAGS.classes, batch={"a"}, accepted={"a": "cat;dog"}, kind=TAGS)
    assert verdict.labels == {} and verdict.duplicates == ["a"] and verdict.refused_rows == 0


def _read(fmt: str, data: bytes, kind: str) -> pd.DataFrame:
    chunks = formats.get(fmt).read_delivery(io.BytesIO(data), source="x", options=ReadOptions(TAGS.classes, None, kind))
    return pd.concat(list(chunks))


def test_jsonl_reads_a_list_of_tags_in_a_multi_label_campaign_only():
    data = b'{"id": "a", "label": ["dog", "cat"]}\n{"id": "b", "label": []}\n{"id": "c", "label": [1]}\n'
    multi = _read("jsonl", data, "multi")
    assert multi["label"].tolist()[:2] == ["dog;cat", "[]"]
    assert multi["problem"].tolist() == [None, None, "bad_value"]
    single = _read("jsonl", data, "class")  # unchanged for a single-class campaign: a list is a bad value
    assert single["problem"].tolist() == ["bad_value"] * 3


# --- a campaign's files: seed labels, holdout, a delivery through the store ---------------------------------


@pytest.fixture(params=["multilabel", "friedman"])
def kind_campaign(request, tmp_path):
    return write_kind_data(tmp_path, request.param, max_labels=80, batch_size=10)


def _rewrite(path: Path, row: int, value: str) -> None:
    frame = pd.read_csv(path, dtype=str)
    frame.loc[row, "label"] = value
    frame.to_csv(path, index=False)


def test_seed_labels_and_holdout_are_checked_and_kept_in_their_one_spelling(kind_campaign):
    config = load_campaign(kind_campaign)
    inputs = validate_inputs(config, record=False)
    assert len(inputs.seed_labels) == 20
    for label in [*inputs.seed_labels.values(), *inputs.holdout["label"]]:
        assert config.label_kind.parse(label) == (label, None)
    assert check_inputs(config).startswith(f"labels: {config.label_kind.describe()}; pool ")


@pytest.mark.parametrize("where", ["seed", "holdout"])
def test_a_bad_seed_or_holdout_label_stops_with_one_line_naming_its_reason(kind_campaign, where):
    config = load_campaign(kind_campaign)
    bad, reason = ("cat", "tag_not_in_class_set") if config.labels.kind == "multi" else ("lots", "not_a_number")
    _rewrite(kind_campaign.parent / "data" / f"{where}.csv", 3, bad)
    with pytest.raises(DataValidationError) as caught:
        validate_inputs(config, record=False)
    message = str(caught.value)
    assert caught.value.reason == reason and f"({reason}, 1 row(s)); e.g. row 4:" in message
    assert message.startswith(str(kind_campaign.parent / "data" / f"{where}.csv")) and "\n" not in message


def test_a_number_out_of_the_campaign_bounds_in_the_seed_labels_is_refused(tmp_path):
    path = write_kind_data(tmp_path, "friedman")
    _rewrite(tmp_path / "data" / "seed.csv", 0, "1000")
    with pytest.raises(DataValidationError) as caught:
        validate_inputs(load_campaign(path), record=False)
    assert caught.value.reason == "out_of_range" and "a number outside the campaign's bounds" in str(caught.value)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_delivery_keeps_its_good_rows_and_quarantines_each_bad_one(tmp_path, fmt):
    config = load_campaign(write_kind_data(tmp_path, "multilabel", fmt=fmt))
    ask(config, ["a", "b", "c", "d"])
    if fmt == "csv":
        data = 'id,label\na,outage;billing\nb,outage;weather\nc,[]\nd,"praise; praise"\n'
    else:
        rows = [("a", ["outage", "billing"]), ("b", ["weather"]), ("c", []), ("d", "praise")]
        data = "".join(json.dumps({"id": i, "label": label}) + "\n" for i, label in rows)
    deliver_files(config, {f"labels.{fmt}": data})
    state = ingest_campaign(config)
    assert state.ingested == {1: {"a": "billing;outage", "c": "[]", "d": "praise"}}
    [record] = campaign_state(config).ingests[1]
    assert [(r.id, r.reason) for r in record.rejected] == [("b", "tag_not_in_class_set")]
    quarantined = bucket(config).read(record.quarantine).decode()
    assert '"reason":"tag_not_in_class_set"' in quarantined and state.missing(1) == ["b"]


def test_a_numeric_delivery_refuses_words_and_numbers_out_of_bounds(tmp_path):
    config = load_campaign(write_kind_data(tmp_path, "diabetes", fmt="jsonl"))
    ask(config, ["a", "b", "c", "d"])
    data = '{"id":"a","label":151}\n{"id":"b","label":"high"}\n{"id":"c","label":-40}\n{"id":"d","label":"75.50"}\n'
    deliver_files(config, {"labels.jsonl": data})
    state = ingest_campaign(config)
    assert state.ingested == {1: {"a": "151", "d": "75.5"}}
    [record] = campaign_state(config).ingests[1]
    assert [(r.id, r.reason) for r in record.rejected] == [("b", "not_a_number"), ("c", "out_of_range")]


# --- several annotators per item ---------------------------------------------------------------------------


def _votes(rows):
    return pd.DataFrame(rows, columns=["id", "label", "annotator"])


def test_tags_are_voted_tag_by_tag_and_a_tied_tag_follows_the_tie_rule():
    rows = [
        ("a", "cat;dog", "ann"),
        ("a", "cat", "bo"),
        ("a", "cat;eel", "cy"),  # cat 3/3, dog 1/3, eel 1/3
        ("b", "dog", "ann"),
        ("b", "dog;eel", "bo"),
        ("b", "eel", "cy"),  # dog 2/3, eel 2/3
        ("c", "cat", "ann"),
        ("c", "dog", "bo"),  # two votes: cat and dog each 1/2, a tie
    ]
    verdict = judge(_votes(rows), classes=TAGS.classes, batch={"a", "b", "c"}, accepted={}, annotators=2, kind=TAGS)
    assert verdict.labels == {"a": "cat", "b": "dog;eel"}
    assert {(r.id, r.reason) for r in verdict.rejected} == {("c", "tie")}
    # agreement: tag by tag, the share of votes agreeing with the result (a: 1, 2/3, 2/3; b: 1, 2/3, 2/3)
    assert verdict.agreement == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    rows += [("d", "cat;eel", "ann"), ("d", "dog;eel", "bo")]  # eel 2/2; cat and dog tied
    batch = {"c", "d"}
    leave_off = judge(
        _votes(rows), classes=TAGS.classes, batch=batch, accepted={}, annotators=2, kind=TAGS, tie_rule="class_order"
    )
    assert leave_off.labels == {"d": "eel"}  # a tied tag is left off
    # c: both tags tied and left off, no tag at all, which this campaign does not allow: back to the vendor
    refused = {(r.id, r.reason) for r in leave_off.rejected if r.reason != "id_not_in_batch"}
    assert refused == {("c", "empty_tags_not_allowed")}


def test_numbers_take_the_median_record_the_spread_and_send_a_disagreement_back():
    rows = [
        ("a", "4", "ann"),
        ("a", "5", "bo"),
        ("a", "9.5", "cy"),  # median 5, spread 5.5
        ("b", "2", "ann"),
        ("b", "2.5", "bo"),
        ("b", "3", "cy"),  # median 2.5, spread 1
    ]
    batch = {"a", "b"}
    verdict = judge(_votes(rows), classes=(), batch=batch, accepted={}, annotators=3, kind=SCORE)
    assert verdict.labels == {"a": "5", "b": "2.5"}
    assert verdict.metadata["a"]["spread"] == 5.5 and verdict.metadata["b"] == {"spread": 1.0, "votes": 3.0}
    strict = judge(_votes(rows), classes=(), batch=batch, accepted={}, annotators=3, kind=SCORE, max_spread=2)
    assert strict.labels == {"b": "2.5"}
    assert {(r.id, r.reason) for r in strict.rejected} == {("a", "disagreement")}
    assert strict.refused_rows == 3  # each of the item's votes, quarantined with the reason: nothing lost


def test_several_annotators_of_numbers_through_a_delivery_file(tmp_path):
    config = load_campaign(write_kind_data(tmp_path, "diabetes"))
    raw = yaml.safe_load((tmp_path / "campaign.yaml").read_text())
    raw["vendor"].update(annotators=2, max_spread=10)
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(raw))
    config = load_campaign(tmp_path / "campaign.yaml")
    ask(config, ["a", "b", "c"])
    data = "id,label,annotator\na,100,ann\na,104,bo\nb,50,ann\nb,90,bo\nc,70,ann\n"
    deliver_files(config, {"labels.csv": data})
    state = ingest_campaign(config)
    assert state.ingested == {1: {"a": "102"}}
    [record] = campaign_state(config).ingests[1]
    assert record.label_metadata["a"] == {"spread": 4.0, "votes": 2.0}
    assert sorted({(r.id, r.reason) for r in record.rejected}) == [("b", "disagreement"), ("c", "too_few_votes")]
    assert state.missing(1) == ["b", "c"]
