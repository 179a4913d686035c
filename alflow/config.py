"""The campaign file: a YAML document validated by frozen pydantic models.

`load_campaign(path)` is the one way in. Relative paths in the file are resolved against the
file's own folder, so a campaign folder can be moved or checked in as a whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alflow.errors import ConfigError

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PoolConfig(_Model):
    uri: str = Field(description="CSV or Parquet file of unlabeled items: a local path or s3://")
    id_column: str = "id"
    feature_columns: tuple[str, ...] | None = Field(
        default=None, description="numeric feature columns; omit to use every column but the id"
    )
    text_column: str | None = Field(default=None, description="a text column, for text models")
    chunk_size: Annotated[int, Field(gt=0)] = 50_000

    @model_validator(mode="after")
    def _features_or_text(self) -> PoolConfig:
        if self.feature_columns is not None and self.text_column is not None:
            raise ValueError("set feature_columns or text_column, not both")
        return self


class LabelsConfig(_Model):
    uri: str = Field(description="CSV or Parquet file with the id column and a label column")
    label_column: str = "label"


class ModelConfig(_Model):
    preset: Literal["logistic_regression", "random_forest", "tfidf_logistic_regression"] | None = "logistic_regression"
    estimator: str | None = Field(
        default=None, description="import path of a scikit-learn classifier, e.g. sklearn.svm.SVC"
    )
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _estimator_replaces_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("estimator") and "preset" not in data:
            data = {**data, "preset": None}
        return data

    @model_validator(mode="after")
    def _one_of(self) -> ModelConfig:
        if (self.preset is None) == (self.estimator is None):
            raise ValueError("set exactly one of preset or estimator")
        return self


StrategyName = Literal[
    "auto",
    "margin",
    "least_confident",
    "entropy",
    "random",
    "qbc_vote_entropy",
    "qbc_kl",
    "egl",
    "density",
    "combined",
    "kcenter",
    "kmeans",
    "typiclust",
]

STRATEGIES = get_args(StrategyName)


class StrategyConfig(_Model):
    name: StrategyName = "auto"
    batch_size: Annotated[int, Field(gt=0)] = 20
    oversample: Annotated[int, Field(gt=0)] = Field(
        default=10, description="candidate factor m: combined keeps the top batch_size * m by margin"
    )
    class_balance: bool = Field(default=False, description="favour items predicted for under-represented classes")
    committee: tuple[str, ...] | None = Field(
        default=None, description="qbc_*: import paths of committee estimators; omit for bootstrap refits"
    )
    committee_size: Annotated[int, Field(ge=2)] = 5
    synthetic: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="of each batch, this many items are synthesized on the decision boundary (numeric features only)",
    )

    @model_validator(mode="after")
    def _synthetic_fits_the_batch(self) -> StrategyConfig:
        if self.synthetic > self.batch_size:
            raise ValueError(f"synthetic ({self.synthetic}) must be at most batch_size ({self.batch_size})")
        return self


class BudgetConfig(_Model):
    max_labels: Annotated[int, Field(gt=0)]
    cost_per_label: Annotated[float, Field(ge=0)] | None = None
    currency: str = "USD"


class StoppingConfig(_Model):
    metric: Literal["accuracy", "f1_macro"] = "accuracy"
    target: Annotated[float, Field(gt=0, le=1)] | None = None
    patience: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="stop after this many rounds without improvement"
    )
    min_delta: Annotated[float, Field(ge=0)] = 0.0


class VendorConfig(_Model):
    """The vendor exchange (docs/VENDORS.md). Never credentials: those come from the AWS chain."""

    bucket: str = Field(description="where batches go and labels come back: a folder or s3://")
    format: Literal["csv", "jsonl", "ground_truth", "label_studio"] = "csv"
    instructions: str = "Label each item with exactly one class from the class set."
    sse: Literal["none", "AES256", "aws:kms"] = Field(
        default="none", description="server-side encryption of what alflow writes to S3"
    )
    kms_key_id: str | None = Field(default=None, description="KMS key id or ARN, with sse: aws:kms")
    annotators: Annotated[int, Field(ge=1)] = Field(
        default=1, description="votes an item needs in one delivery file before its label is accepted"
    )
    aggregation: Literal["majority", "dawid_skene"] = "majority"
    tie_rule: Literal["outstanding", "class_order"] = Field(
        default="outstanding",
        description="a tied vote leaves the item outstanding, or takes the tied class listed first in classes",
    )

    @model_validator(mode="after")
    def _kms_needs_sse(self) -> VendorConfig:
        if self.kms_key_id and self.sse != "aws:kms":
            raise ValueError(f"kms_key_id is set but sse is {self.sse!r}: set sse: aws:kms")
        return self


class AutoLabelConfig(_Model):
    """The model labels the unlabeled items it is sure of. Off unless this section is present."""

    target_accuracy: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.98,
        description="held-out accuracy the auto-labels must reach (below 1: it is a lower bound from finite data)",
    )
    min_calibration_items: Annotated[int, Field(ge=1)] = Field(
        default=30, description="held-out items above the threshold needed before anything is auto-labeled"
    )
    max_per_round: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="at most this many items per round, the most confident first"
    )


class TrackingConfig(_Model):
    uri: str = Field(description="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://host:5000")
    experiment: str | None = Field(default=None, description="defaults to the campaign name")
    reference_curve: str | None = Field(
        default=None,
        description="a simulation's learning curves (JSON); its random-sampling curve is drawn beside the campaign's",
    )


class CampaignConfig(_Model):
    campaign: Annotated[str, Field(pattern=NAME_PATTERN)]
    pool: PoolConfig
    seed_labels: LabelsConfig
    holdout: LabelsConfig | None = None
    classes: Annotated[tuple[str, ...], Field(min_length=2)]
    model: ModelConfig = ModelConfig()
    strategy: StrategyConfig = StrategyConfig()
    budget: BudgetConfig
    stopping: StoppingConfig = StoppingConfig()
    auto_label: AutoLabelConfig | None = None
    vendor: VendorConfig
    tracking: TrackingConfig
    seed: int = 0

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: Any) -> Any:
        # Labels travel through CSV files, so the class set is compared as text everywhere.
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        return value

    @field_validator("classes")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"classes must be distinct, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _model_fits_the_pool(self) -> CampaignConfig:
        text_model = self.model.preset == "tfidf_logistic_regression"
        if text_model and not self.pool.text_column:
            raise ValueError("model.preset tfidf_logistic_regression reads text: set pool.text_column")
        if self.strategy.synthetic and self.pool.text_column:
            raise ValueError("strategy.synthetic needs numeric features, but pool.text_column is set: use 0")
        if self.model.preset and not text_model and self.pool.text_column:
            raise ValueError(
                f"model.preset {self.model.preset} reads numeric features, but pool.text_column is set: "
                "use tfidf_logistic_regression or a text pipeline as model.estimator"
            )
        return self

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.campaign


def _resolve(uri: str, base: Path) -> str:
    if "://" in uri or uri.startswith("sqlite:"):
        return uri
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _resolve_tracking(uri: str, base: Path) -> str:
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((base / uri[len(prefix) :]).resolve())
    return uri


def _with_resolved_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    raw = dict(raw)
    for key in ("pool", "seed_labels", "holdout"):
        if isinstance(raw.get(key), dict) and isinstance(raw[key].get("uri"), str):
            raw[key] = {**raw[key], "uri": _resolve(raw[key]["uri"], base)}
    if isinstance(raw.get("vendor"), dict) and isinstance(raw["vendor"].get("bucket"), str):
        raw["vendor"] = {**raw["vendor"], "bucket": _resolve(raw["vendor"]["bucket"], base)}
    if isinstance(raw.get("tracking"), dict) and isinstance(raw["tracking"].get("uri"), str):
        raw["tracking"] = {**raw["tracking"], "uri": _resolve_tracking(raw["tracking"]["uri"], base)}
    if isinstance(raw.get("tracking"), dict) and isinstance(raw["tracking"].get("reference_curve"), str):
        raw["tracking"] = {**raw["tracking"], "reference_curve": _resolve(raw["tracking"]["reference_curve"], base)}
    return raw


def describe_errors(error: ValidationError, source: str) -> str:
    """One line per bad field: `source: field.path: message (got value)`."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        got = item.get("input")
        shown = "" if isinstance(got, dict) or item["type"] == "missing" else f" (got {got!r})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {message}{shown}")
    return "\n".join(lines)


def parse_campaign(raw: Any, *, base: Path, source: str = "campaign") -> CampaignConfig:
    """Validate an already-parsed document; relative paths are resolved against `base`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return CampaignConfig.model_validate(_with_resolved_paths(raw, base))
    except ValidationError as error:
        raise ConfigError(describe_errors(error, source)) from None


def load_campaign(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign file. Raises ConfigError with one line per bad field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the campaign file ({error.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    return parse_campaign(raw, base=path.resolve().parent, source=str(path))


EXAMPLE = """\
# alflow campaign file. Relative paths are resolved against this file's folder.
campaign: {name}                 # lowercase letters, digits and dashes

pool:                            # the unlabeled items (CSV or Parquet; a path or s3://bucket/key)
  uri: data/pool.csv
  id_column: id
  # feature_columns: [f0, f1]    # numeric features; omit to use every column but the id
  # text_column: text            # or one text column, with the tfidf_logistic_regression preset
  chunk_size: 50000              # rows scored at a time: memory does not grow with the pool

seed_labels:                     # labels you already have: the id column and a label column
  uri: data/seed.csv
  label_column: label

# holdout:                       # optional labeled items kept out of the pool, with features;
#   uri: data/holdout.csv        # without it the metric is a cross-validated estimate
#   label_column: label

classes: [negative, positive]

model:
  preset: logistic_regression    # logistic_regression | random_forest | tfidf_logistic_regression
  # estimator: sklearn.svm.SVC   # or any classifier by import path (instead of preset)
  params: {{}}                    # keyword arguments for the preset's classifier or the estimator

strategy:
  name: auto                     # auto | margin | least_confident | entropy | random | combined | typiclust
                                 # | kcenter | kmeans | density | egl | qbc_vote_entropy | qbc_kl
  batch_size: 20                 # items sent to the vendor per round
  # oversample: 10               # combined: top batch_size * 10 by margin, then batch_size diverse ones
  # class_balance: false         # favour items predicted for under-represented classes
  # synthetic: 0                 # of each batch, items synthesized on the decision boundary (numeric features)

budget:
  max_labels: 500                # seed labels included
  # cost_per_label: 0.08
  # currency: USD

stopping:                        # the budget always stops the campaign; these may stop it sooner
  metric: accuracy               # accuracy | f1_macro
  # target: 0.95                 # stop when the metric reaches this
  # patience: 3                  # stop after this many rounds without improvement
  min_delta: 0.0

# auto_label:                    # the model labels the items it is sure of; off without this section
#   target_accuracy: 0.98        # held-out accuracy the auto-labels must reach (sets the threshold)
#   min_calibration_items: 30
#   max_per_round: 1000

vendor:
  bucket: bucket                 # a folder, or s3://bucket/prefix (credentials: the AWS chain, never here)
  format: csv                    # csv | jsonl | ground_truth | label_studio (docs/VENDORS.md)
  # sse: AES256                  # none | AES256 | aws:kms (with kms_key_id)
  # annotators: 1                # votes per item in a delivery file; majority vote
  # tie_rule: outstanding        # outstanding | class_order

tracking:
  uri: sqlite:///mlflow.db       # or http://mlflow-server:5000
  # experiment: {name}
  # reference_curve: simulation/curves.json   # draw random sampling's curve beside the campaign's

seed: 0
"""


def example_campaign(name: str) -> str:
    """The commented campaign file `alflow init NAME` writes."""
    return EXAMPLE.format(name=name)
