"""What a vendor played by hand in each format found in campaigns of tags and numbers (issue 21), each
kept by a cheap test: a rare tag no labeled item has yet (the log stage saved a one-vs-rest model holding
scikit-learn's constant predictor, which skops refused), batch.json's instructions per kind, Labelbox
options whose value is not their name, a tag typed in decomposed Unicode, the hints beside a tag spelled
otherwise and a decimal comma, `alflow simulate`'s default strategies per kind, and `select`'s `auto` and
refusals for plain scikit-learn models of tags and numbers."""

from __future__ import annotations

import io
import json
import unicodedata

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_friedman1, make_multilabel_classification
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier

import alflow
from alflow.config import CampaignConfig, PoolConfig
from alflow.errors import ModelError
from alflow.exchange import formats
from alflow.exchange.formats.base import ReadOptions
from alflow.intake.votes import judge
from alflow.kinds import CLASS_INSTRUCTIONS, LabelKind, index_hint
from alflow.model import estimators
from alflow.operations.simulate import DEFAULT_STRATEGIES
from alflow.selection import registry

TAGS = ("data privacy", "Zürich office", "légal risk", "billing")
KIND = LabelKind("multi", TAGS, allow_empty=True)
NUMBER = LabelKind("number", minimum=-100, maximum=400)


@pytest.mark.filterwarnings("ignore:Label not 3 is present")
def test_a_tag_no_labeled_item_has_yet_still_saves_the_model():
    import skops.io

    X, Y = make_multilabel_classification(n_samples=60, n_features=5, n_classes=4, random_state=0)
    Y[:, 3] = 0  # a rare tag, absent from the labels so far: fitted as scikit-learn's constant predictor
    model = OneVsRestClassifier(LogisticRegression()).fit(X, Y)
    logged = estimators.servable(model, X[:2], PoolConfig(uri="pool.csv"))
    assert logged.trusted_types == ("sklearn.multiclass._ConstantPredictor",)
    back = skops.io.loads(skops.io.dumps(logged.model), trusted=list(logged.trusted_types))
    assert back.predict(X[:3]).shape == (3, 4) and not back.predict(X).any(axis=0)[3]
    fitted_all = OneVsRestClassifier(LogisticRegression()).fit(X, np.eye(4, dtype=int)[np.arange(60) % 4])
    assert estimators.servable(fitted_all, X[:2], PoolConfig(uri="pool.csv")).trusted_types == ()


def _campaign(labels: dict, **vendor: object) -> CampaignConfig:
    return CampaignConfig.model_validate(
        {
            "campaign": "c",
            "pool": {"uri": "pool.csv"},
            "seed_labels": {"uri": "seed.csv"},
            "classes": list(TAGS) if labels.get("kind") == "multi" else ([] if labels else ["a", "b"]),
            "labels": labels,
            "budget": {"max_labels": 10},
            "vendor": {"bucket": "b", **vendor},
            "tracking": {"uri": "sqlite:///m.db"},
        }
    )


def test_the_vendor_is_told_what_to_give_for_each_kind_unless_the_campaign_says():
    tags = _campaign({"kind": "multi", "allow_empty": True}).vendor.instructions
    assert "every class from the class set that applies" in tags and "[]" in tags
    assert "at least one" in _campaign({"kind": "multi"}).vendor.instructions
    number = _campaign({"kind": "number", "min": 0, "max": 5, "unit": "stars"}).vendor.instructions
    assert "one number from 0 to 5 (stars)" in number and "3.5, not 3,5" in number
    assert _campaign({}).vendor.instructions == CLASS_INSTRUCTIONS
    assert _campaign({"kind": "number"}, instructions="Score it.").vendor.instructions == "Score it."


def _labelbox(answer: dict) -> bytes:
    label = {"label_details": {"created_by": "a@v.example"}, "annotations": {"classifications": [answer]}}
    return (json.dumps({"data_row": {"global_key": "t-1"}, "projects": {"p": {"labels": [label]}}}) + "\n").encode()


def _read(fmt: str, data: bytes, kind: LabelKind) -> pd.DataFrame:
    options = ReadOptions(kind.classes, None, kind.kind)
    return pd.concat(list(formats.get(fmt).read_delivery(io.BytesIO(data), source="x", options=options)))


def test_labelbox_options_are_read_by_name_when_only_the_name_is_a_label():
    # export v2 writes an option's name (what the labeler saw) and its value, which need not be the name
    question = {"name": "label", "value": "label"}
    checklist = {**question, "checklist_answers": [{"name": "légal risk", "value": "legal_risk"},
                                                   {"name": "Zürich office", "value": "zurich_office"}]}  # fmt: skip
    assert _read("labelbox", _labelbox(checklist), KIND)["label"].tolist() == ["légal risk;Zürich office"]
    radio = {**question, "radio_answer": {"name": "3.5", "value": "3_5"}}
    assert _read("labelbox", _labelbox(radio), NUMBER)["label"].tolist() == ["3.5"]
    both = {**question, "radio_answer": {"name": "Four", "value": "4"}}  # the value wins when it is a label
    assert _read("labelbox", _labelbox(both), NUMBER)["label"].tolist() == ["4"]
    neither = {**question, "checklist_answers": [{"name": "Other", "value": "other"}]}
    verdict = judge(_read("labelbox", _labelbox(neither), KIND), classes=TAGS, batch={"t-1"}, accepted={}, kind=KIND)
    assert verdict.reasons == {"tag_not_in_class_set": 1}


def test_a_number_with_an_underscore_is_not_a_number():
    assert NUMBER.parse("3_5") == (None, "not_a_number") and NUMBER.parse("1_000") == (None, "not_a_number")


def test_a_tag_typed_in_decomposed_unicode_is_the_class_sets_tag():
    decomposed = unicodedata.normalize("NFD", "Zürich office")
    assert decomposed != "Zürich office" and KIND.parse(f"{decomposed};billing") == ("Zürich office;billing", None)


def test_a_tag_spelled_otherwise_and_a_decimal_comma_are_refused_with_a_hint():
    votes = pd.DataFrame({"id": ["t-1", "t-2", "t-3"], "label": ["zürich office;billing", "nonsense", "billing"]})
    verdict = judge(votes, classes=TAGS, batch={"t-1", "t-2", "t-3"}, accepted={}, kind=KIND)
    assert verdict.labels == {"t-3": "billing"}
    details = {r.id: (r.reason, r.detail) for r in verdict.rejected}
    assert details["t-1"] == ("tag_not_in_class_set", "'zürich office': did you mean 'Zürich office'?")
    assert details["t-2"] == ("tag_not_in_class_set", None)
    numbers = pd.DataFrame({"id": ["n-1", "n-2", "n-3", "n-4"], "label": ["3,5", "3.5, 4", "about three", "-2"]})
    verdict = judge(numbers, classes=(), batch={"n-1", "n-2", "n-3", "n-4"}, accepted={}, kind=NUMBER)
    assert verdict.labels == {"n-4": "-2"}
    details = {r.id: (r.reason, r.detail) for r in verdict.rejected}
    assert details["n-1"][0] == "not_a_number" and details["n-1"][1].startswith("a comma in a number")
    assert details["n-2"] == ("not_a_number", None) and details["n-3"] == ("not_a_number", None)


def test_classes_given_by_position_are_refused_with_what_the_positions_name():
    votes = pd.DataFrame({"id": ["t-1", "t-2", "t-3"], "label": ["2;0", "7", "billing"]})
    verdict = judge(votes, classes=TAGS, batch={"t-1", "t-2", "t-3"}, accepted={}, kind=KIND)
    assert verdict.labels == {"t-3": "billing"}
    details = {r.id: (r.reason, r.detail) for r in verdict.rejected}
    assert details["t-1"] == (
        "tag_not_in_class_set",
        f"classes are written by name, not by position (from 0, 0 = {TAGS[0]!r}, 2 = {TAGS[2]!r}): write the names",
    )
    assert details["t-2"] == ("tag_not_in_class_set", None)  # no seventh class: no position named
    assert index_hint(["3"], ("1 star", "2 stars", "3 stars", "4 stars")) is None  # a name slipped, maybe
    assert index_hint(["²"], TAGS) is None and index_hint(["10", "2"], tuple("abcdefghijk")).endswith(
        "(from 0, 2 = 'c', 10 = 'k'): write the names"
    )
    single = judge(pd.DataFrame({"id": ["c-1"], "label": ["1"]}), classes=("spam", "ham"), batch={"c-1"}, accepted={})
    assert [(r.reason, r.detail) for r in single.rejected] == [
        ("label_not_in_class_set", "classes are written by name, not by position (from 0, 1 = 'ham'): write the names")
    ]


def test_simulate_replays_the_strategies_of_the_campaigns_kind_by_default():
    for kind, names in DEFAULT_STRATEGIES.items():
        assert set(names) <= set(registry.KIND_NAMES[kind]), kind


def test_select_runs_the_kinds_auto_for_plain_models_of_tags_and_numbers_and_refuses_class_strategies():
    X, Y = make_multilabel_classification(n_samples=200, n_features=6, n_classes=4, random_state=1)
    tags = OneVsRestClassifier(LogisticRegression()).fit(X[:60], Y[:60])
    for labeled in ({"X_labeled": X[:60], "y_labeled": Y[:60]}, {}):
        chosen = alflow.select(tags, X[60:], 8, random_state=0, **labeled)
        assert chosen.strategy == "typiclust" and chosen.reason.startswith("auto: tags")
        with pytest.raises(ModelError, match=r"'margin' reads the probabilities of one class.*predicts tags"):
            alflow.select(tags, X[60:], 8, strategy="margin", **labeled)
    X, t = make_friedman1(n_samples=120, random_state=1)
    learner = alflow.ActiveLearner(Ridge(), X[:20], t[:20], random_state=0)
    asked = learner.query(X[20:], 6)
    assert asked.strategy == "gsx" and asked.reason.startswith("auto: numbers, 20 labels")
    classes = LogisticRegression().fit(X[:60], (t[:60] > t.mean()).astype(int))  # one class: as before
    assert alflow.select(classes, X[60:], 5, strategy="margin").strategy == "margin"


def test_a_text_campaign_of_numbers_gets_a_text_regressor_and_its_batch_the_models_numbers():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from alflow.config import ModelConfig
    from alflow.model import targets

    text = _campaign({"kind": "number"}).model_copy(update={"pool": PoolConfig(uri="p.csv", text_column="text")})
    config = CampaignConfig.model_validate({**text.model_dump(), "model": {}})
    assert config.model.preset == "tfidf_ridge"
    with pytest.raises(ValueError, match="tfidf_ridge predicts numbers"):
        CampaignConfig.model_validate({**config.model_dump(), "labels": {"kind": "multi"}, "classes": list(TAGS)})
    texts = np.array([f"{w} {w} item" for w in ("good", "bad", "fine", "awful") * 10], dtype=object)
    values = [{"good": "4.5", "bad": "1", "fine": "3", "awful": "0.5"}[t.split()[0]] for t in texts]
    model = targets.build_model(ModelConfig(preset="tfidf_ridge"), LabelKind("number"), seed=0).fit(texts, values)
    assert isinstance(model.fitted_.steps[0][1], TfidfVectorizer)
    chosen = alflow.select(model, texts, 4, X_labeled=texts[:8], y_labeled=values[:8], random_state=0)
    assert chosen.strategy == "gsx" and all(float(p) == float(p) for p in chosen.predicted)  # numbers, not None
    assert all(len(p.replace(".", "").lstrip("-0")) <= 6 for p in chosen.predicted)  # a guess a person reads


def test_a_ground_truth_index_its_class_map_does_not_name_is_refused_not_guessed():
    meta = {"class-map": {"0": "billing", "2": "outage"}, "type": "groundtruth/text-classification-multilabel"}
    lines = [{"id": "t-1", "tags": [0, 2], "tags-metadata": meta}, {"id": "t-2", "tags": [0, 1], "tags-metadata": meta},
             {"id": "t-3", "tags": [1], "tags-metadata": {"type": meta["type"]}}]  # fmt: skip
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    kind = LabelKind("multi", ("billing", "security", "outage"))
    votes = _read("ground_truth", data, kind)
    verdict = judge(votes, classes=kind.classes, batch={"t-1", "t-2", "t-3"}, accepted={}, kind=kind)
    assert verdict.labels == {"t-1": "billing;outage", "t-3": "security"}  # no class map: the campaign's order
    (refused,) = verdict.rejected
    assert (refused.id, refused.reason) == ("t-2", "bad_value") and "not in the line's class-map" in refused.detail


def test_numbers_sent_back_for_disagreement_say_how_far_apart_the_votes_were():
    votes = pd.DataFrame({"id": ["n-1"] * 3 + ["n-2"] * 3, "label": ["10", "60", "12", "5", "6", "7"],
                          "annotator": ["a", "b", "c"] * 2})  # fmt: skip
    verdict = judge(votes, classes=(), batch={"n-1", "n-2"}, accepted={}, kind=NUMBER, annotators=3, max_spread=20)
    assert verdict.labels == {"n-2": "6"} and verdict.metadata["n-2"] == {"spread": 2.0, "votes": 3.0}
    assert {(r.id, r.reason, r.detail) for r in verdict.rejected} == {
        ("n-1", "disagreement", "votes spread 50, over vendor.max_spread 20")
    }
