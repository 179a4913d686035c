from pathlib import Path

import pytest
import yaml

from alflow.config import example_campaign, load_campaign
from alflow.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    return path


def test_example_file_is_valid_and_paths_resolve_against_its_folder(tmp_path):
    config = load_campaign(write(tmp_path, example_campaign("churn")))
    assert config.campaign == "churn"
    assert config.pool.uri == str(tmp_path / "data" / "pool.csv")
    assert config.vendor.bucket == str(tmp_path / "bucket")
    assert config.tracking.uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert config.experiment == "churn"
    assert config.strategy.name == "auto"


def test_classes_are_compared_as_text(tmp_path):
    raw = yaml.safe_load(example_campaign("digits"))
    raw["classes"] = [0, 1, 2]
    assert load_campaign(write(tmp_path, yaml.safe_dump(raw))).classes == ("0", "1", "2")


def _error(tmp_path, change) -> str:
    raw = yaml.safe_load(example_campaign("churn"))
    change(raw)
    with pytest.raises(ConfigError) as caught:
        load_campaign(write(tmp_path, yaml.safe_dump(raw)))
    return str(caught.value)


BAD = [
    (lambda r: r["budget"].update(max_labels=-5), "budget.max_labels: Input should be greater than 0 (got -5)"),
    (
        lambda r: r["strategy"].update(name="magic"),
        "strategy.name: unknown strategy 'magic'; use one of auto, margin, least_confident",
    ),
    (lambda r: r.pop("pool"), "pool: Field required"),
    (lambda r: r.update(campaign="Has Spaces"), "campaign: String should match pattern"),
    (lambda r: r.update(classes=["a", "a"]), "classes: classes must be distinct"),
    (lambda r: r.update(colour="blue"), "colour: unknown key 'colour'; the keys here are campaign, pool,"),
    (
        lambda r: r["strategy"].update(batchsize=5),
        "strategy.batchsize: unknown key 'batchsize'; did you mean 'batch_size'?",
    ),
    (lambda r: r.update(stoping={}), "stoping: unknown key 'stoping'; did you mean 'stopping'?"),
    (
        lambda r: r["budget"].update({"cost-per-label": 1}),
        "budget.cost-per-label: unknown key 'cost-per-label'; did you mean 'cost_per_label'?",
    ),
    (lambda r: r["tracking"].update(URI="x"), "tracking.URI: unknown key 'URI'; did you mean 'uri'?"),
    (
        lambda r: r["model"].update(preset="logistic_regression", estimator="sklearn.svm.SVC"),
        "model: set exactly one of preset or estimator",
    ),
    (lambda r: r["pool"].update(text_column="t", feature_columns=["a"]), "set feature_columns or text_column"),
    (lambda r: r["model"].update(preset="tfidf_logistic_regression"), "reads text: set pool.text_column"),
    (lambda r: r["pool"].update(text_column="review"), "reads numeric features, but pool.text_column is set"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_field_gets_one_line_naming_it(tmp_path, change, message):
    text = _error(tmp_path, change)
    assert message in text
    assert text.startswith(str(tmp_path / "campaign.yaml"))
    assert len(text.splitlines()) == 1


def test_every_bad_field_is_reported(tmp_path):
    def two_errors(raw):
        raw["budget"]["max_labels"] = 0
        raw["strategy"]["batch_size"] = "ten"

    lines = _error(tmp_path, two_errors).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["strategy.batch_size", "budget.max_labels"]


def test_malformed_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2: found character '\\t'"):
        load_campaign(write(tmp_path, "campaign: x\n\tpool: 1\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the campaign file"):
        load_campaign(tmp_path / "nope.yaml")
