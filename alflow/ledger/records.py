"""The ledger's records: one typed schema each, one way to JSON and back.

Every record is written once and read by `alflow.ledger.state.load_state`. Each carries
`schema_version`; records written before it existed (alflow 0.1.0) have the same shape and read
as version 1. Unknown fields are ignored on reading, so a ledger written by a newer release
still loads. `to_json` keeps NaN metrics (a cold start's) as JSON's `NaN`, which json reads back.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
INGEST_SCHEMA_VERSION = 2  # 2: counts of refused rows and reasons, a sample of rows, machine labels
ROUND_SCHEMA_VERSION = 2  # 2: the strategy that chose the batch and why (strategy_used, strategy_reason)
BATCH_SCHEMA_VERSION = 2  # 2: the same in batch.json
FIELD_CAP = 256  # characters of a vendor's value (an id, label, annotator, date) a record keeps


def capped(value: Any) -> Any:
    """A vendor's text as a record keeps it: valid Unicode, at most FIELD_CAP characters and a note of
    how many more there were. Anything but text is returned as it is."""
    if not isinstance(value, str):
        return value
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(value) <= FIELD_CAP:
        return value
    return f"{value[:FIELD_CAP]}... (+{len(value) - FIELD_CAP} characters)"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def who() -> str:
    """`user@host` of this process, for the records people make (a pause, a change of settings)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in this container
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


class Record(BaseModel):
    """A frozen record with one JSON form."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_json(self) -> bytes:
        return json_bytes(self.model_dump(mode="python"))

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        value = json.loads(data)
        if isinstance(value, dict) and "schema_version" in cls.model_fields:
            value.setdefault("schema_version", 1)  # written before the field existed (alflow 0.1.0)
        return cls.model_validate(value)


class Versioned(Record):
    schema_version: int = SCHEMA_VERSION


# --- the round record and its parts ----------------------------------------------------------------


class Outside(Record):
    """Batch items that are not pool rows (synthetic items, stream arrivals): their features' file."""

    key: str
    ids: list[str]


class BatchRecord(Record):
    """The items a round asked for, best first, with their scores and the model's predictions."""

    ids: list[str]
    scores: list[float]
    predicted: list[str | None]  # None at cold start: nothing was fitted to predict
    outside: Outside | None = None


class StreamRecord(Record):
    """Where a stream-based round left the stream: files screened, threshold, items seen and asked."""

    files: list[str]
    threshold: float
    seen: int
    asked: int
    rate: float
    target_rate: float


class AutoLabelSummary(Record):
    """What auto-labeling did in a round; `key` names the file of labels (absent when none)."""

    count: int
    threshold: float | None
    calibration: str | None
    calibration_items: int
    target_accuracy: float
    key: str | None = None


class Stability(Record):
    """How much the round's model agrees with the previous round's on the campaign's stop set
    (`stopping.stable_predictions`). `kappa` is Cohen's kappa against round `previous` (None when
    there was nothing to compare: the first model, or no new label since); `changed` of `items`
    predictions differ; `mean` is the mean of the last `window` kappas once there are that many;
    `key` names the file of this model's predictions on the stop set (`StopSetPredictions`)."""

    kappa: float | None
    previous: int | None
    changed: int
    items: int
    mean: float | None = None
    window: int = 1
    key: str | None = None


class Tracking(Record):
    """Where a round was logged in MLflow (empty for a round logged nowhere)."""

    run_id: str | None = None
    parent_run_id: str | None = None
    experiment_id: str | None = None
    model_version: str | None = None
    run_url: str | None = None


class GoldMix(Record):
    """Gold items mixed into a round's batch (alflow.round.mixing): the opaque `ids` the vendor sees,
    the gold file's `items` they stand for, their `positions` in the exported batch (ascending), and
    the `scores` and `predicted` shown with them (like a pool item's). The answers stay in the team's
    gold file: nothing here says what they are."""

    ids: list[str]
    items: list[str]
    positions: list[int]
    scores: list[float]
    predicted: list[str | None]


class RepeatMix(Record):
    """Items the vendor labeled before, asked again in a round's batch (`vendor.repeats`,
    alflow.round.repeats): their `ids` (in the batch under their own ids), the `labels` they had when
    asked, the probability each is wrong (`wrong`, the adaptive rule's) and why in words (`reasons`)."""

    ids: list[str]
    labels: list[str]
    wrong: list[float]
    reasons: list[str]


class RoundRecord(Versioned):
    """`ledger/round-NNNN/round.json`: a round's decision, committed once.

    `strategy` is the campaign's configured name (`auto`, `margin`, ...; `stream` for a stream
    round); `strategy_used` the strategy that chose the batch and `strategy_reason` why (`auto`
    picks one each round). A stream round records `stream` and its screening; a round that
    selected nothing (it stopped, or had no room) records None for both, as do version 1 records.
    """

    schema_version: int = ROUND_SCHEMA_VERSION
    round: int
    labels_used: int
    class_counts: dict[str, int] = Field(default_factory=dict)
    metrics: dict[str, float]
    metric_source: str
    strategy: str
    model: str
    stop_reason: str | None
    batch: BatchRecord | None
    strategy_used: str | None = None
    strategy_reason: str | None = None
    tracking: Tracking = Field(default_factory=Tracking)
    stream: StreamRecord | None = None
    auto_labels: AutoLabelSummary | None = None
    recorded_at: str | None = None
    stability: Stability | None = None  # stopping.stable_predictions: agreement with the previous model
    gold: GoldMix | None = None  # gold items mixed into the batch (campaign section `gold`)
    repeats: RepeatMix | None = None  # items labeled before asked again (vendor.repeats); in batch.ids

    @property
    def batch_ids(self) -> list[str]:
        """Every item sent to the vendor, in the exported order: the batch with its gold items mixed in."""
        ids = list(self.batch.ids) if self.batch else []
        for position, id_ in zip(self.gold.positions, self.gold.ids, strict=True) if self.gold else ():
            ids.insert(position, id_)
        return ids

    @property
    def gold_ids(self) -> list[str]:
        return list(self.gold.ids) if self.gold else []

    @property
    def outside_ids(self) -> list[str]:
        """Asked items that are not pool items: synthetic or stream items, and gold items."""
        return [*(self.batch.outside.ids if self.batch and self.batch.outside else []), *self.gold_ids]


# --- records beside it -----------------------------------------------------------------------------


class RejectedRow(Record):
    """A delivery row that was refused, with its machine-readable reason (values capped: `capped`)."""

    row: int
    id: str | None
    label: str | None
    annotator: str | None
    reason: str
    accepted_label: str | None = None  # for conflicting_relabel: the label that stands
    detail: str | None = None  # what the reader found, for rows it could not read


class IngestRecord(Versioned):
    """`ledger/round-NNNN/ingest-<sha>.json`: what one delivery file's bytes yielded, once.

    `rejected` holds the first rows refused (all of them in the quarantine), `refused_rows` how
    many, `reasons` how many per reason; `version` is the store's version tag of the file read, so
    a later round knows the file without reading it again. `machine_labels` are the vendor's own
    auto-labels (Ground Truth's `human-annotated: "no"`), never part of `labels`. `items` are the
    batch items the file had a valid vote for. Version 1 records (alflow 0.1.0) read with these
    derived from what they hold.
    """

    schema_version: int = INGEST_SCHEMA_VERSION
    round: int
    ingested_in: int
    file: str
    format: str
    aggregation: str
    tie_rule: str
    annotators_required: int
    sha256: str
    delivered_at: str
    status: str  # accepted | partial | rejected
    reason: str | None = None  # why the whole file was refused
    message: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    count: int = 0
    rejected: list[RejectedRow] = Field(default_factory=list)
    duplicates: list[str] = Field(default_factory=list)
    agreement: float | None = None
    annotators: list[str] = Field(default_factory=list)
    votes: int = 0
    label_metadata: dict[str, dict[str, Any]] = Field(default_factory=dict)
    quarantine: str | None = None
    ingested_at: str = ""
    version: str | None = None
    refused_rows: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)
    machine_labels: dict[str, str] = Field(default_factory=dict)
    items: list[str] = Field(default_factory=list)
    annotator_accuracy: dict[str, float] = Field(default_factory=dict)  # aggregation "quality": estimated per annotator
    revised: dict[str, str] = Field(default_factory=dict)  # item -> label replacing the one accepted before
    # Gold items answered in this file (never in `labels`): opaque id -> the label delivered, how many of
    # them were right of how many scored, and each annotator's [right, answered] over their votes on them.
    gold_labels: dict[str, str] = Field(default_factory=dict)
    gold_right: int = 0
    gold_scored: int = 0
    gold_annotators: dict[str, list[int]] = Field(default_factory=dict)
    # item -> seconds its votes in this file took, as the tool recorded them (items labeled or revised here;
    # none when the format carries no time): alflow.reporting.label_cost
    seconds: dict[str, float] = Field(default_factory=dict)
    # item -> the one annotator whose votes gave its label here, for a file of several annotators
    # (items asked again, vendor.repeats, weigh each round's vote by it: alflow.ledger.repeat_votes)
    voters: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        """A version 1 record kept every refused row and no counts: derive the counts from them."""
        if isinstance(data, dict) and data.get("schema_version", INGEST_SCHEMA_VERSION) < 2:
            rows = [r if isinstance(r, dict) else r.model_dump() for r in data.get("rejected", [])]
            data = {
                **data,
                "refused_rows": len(rows),
                "reasons": dict(Counter(r.get("reason") for r in rows)),
                "items": sorted({*data.get("labels", {}), *data.get("duplicates", [])}),
            }
        return data

    @property
    def refused(self) -> int:
        """Rows refused, or 1 for a file refused whole."""
        return self.refused_rows + (1 if self.status == "rejected" and not self.refused_rows else 0)


class StrayRecord(Versioned):
    """`ledger/strays/stray-<sha>.json`: a file the vendor left where alflow does not read it (a
    delivery to a round that does not exist or asked for nothing, a folder of another name),
    reported once (keyed by the file's key)."""

    file: str
    reason: str  # unknown_round | round_without_batch | unexpected_prefix
    message: str
    seen_in: int
    seen_at: str


class Claim(Versioned):
    """`ledger/round-NNNN/claim-NNNN.json`: which run holds the round, until when, and how often it
    renews the claim (`heartbeat_s`; None for claims of alflow 0.1.0, which had no heartbeat)."""

    host: str
    pid: int
    run: str
    round: int
    claimed_at: str
    expires_at: str
    heartbeat_s: float | None = None


class WriteOff(Versioned):
    """`ledger/round-NNNN/writeoff-<sha>.json`: batch items no longer waited for."""

    round: int
    ids: list[str]
    reason: str
    written_at: str


class AutoLabelFile(Versioned):
    """`ledger/round-NNNN/autolabels-<sha>.json`: the labels the model gave itself, and how sure it was."""

    labels: dict[str, str]
    confidence: dict[str, float] = Field(default_factory=dict)


class ControlRecord(Versioned):
    """`ledger/control/NNNN-<action>.json`: the campaign paused or resumed (`alflow pause`,
    `alflow resume`), when, by whom and why; `round` is the number the next round would have.
    The `seq`-th such record, written once: the last one says whether the campaign is paused."""

    seq: int
    action: str  # pause | resume
    round: int
    at: str
    by: str
    reason: str | None = None


class SettingsChange(Versioned):
    """`ledger/changes/NNNN.json`: the campaign's budget, strategy, batch size or stopping rules as
    they are from round `round` on (`settings`), what changed since the previous record (`changed`:
    name -> [before, after]; empty in the first record, which only notes them), when, by whom
    (`alflow change`, or the round that found the campaign file changed) and why. Written once."""

    seq: int
    round: int
    at: str
    by: str
    settings: dict[str, Any]
    changed: dict[str, list[Any]] = Field(default_factory=dict)
    reason: str | None = None


class StopSet(Versioned):
    """`ledger/stopset.json`: the items successive models are compared on (`stopping.stable_predictions`),
    drawn once per campaign from the pool with the campaign's seed, never asked. Written once."""

    ids: list[str]
    size: int  # the size configured; `ids` may hold fewer when the pool had fewer free items
    seed: int
    drawn_round: int
    drawn_at: str


class StopSetPredictions(Record):
    """`ledger/round-NNNN/stopset-<sha>.json`: a round's model's predicted labels on the stop set, in its order."""

    predicted: list[str]


class DeliveryNotice(Versioned):
    """`ledger/round-NNNN/notice.json`: the delivery's completion was announced (an event sent), once;
    a review's answers: `ledger/reviews/review-NNNN/notice.json`, `review` its number and `round` 0."""

    round: int
    marker: str  # the _DONE marker's URI
    event: str
    event_id: str
    announced_at: str
    review: int | None = None


class BatchMetadata(Versioned):
    """`batches/round-NNNN/batch.json`: what the vendor needs to know about the batch beside it.

    `strategy` is the configured name, `strategy_used` and `strategy_reason` as in the round record
    (None in version 1 files)."""

    schema_version: int = BATCH_SCHEMA_VERSION
    campaign: str
    round: int
    count: int
    synthetic: int = 0
    classes: list[str]
    instructions: str
    format: str
    deliver_to: str
    delivery_files: str
    strategy: str
    created_at: str
    sha256: str | None = None
    items: str | None = None
    strategy_used: str | None = None
    strategy_reason: str | None = None
    repeats: dict[str, str] = Field(default_factory=dict)  # item -> why it is asked again (vendor.repeats)
    review: int | None = None  # a review batch's number (labels already taken sent again); None for a round's


class InputsCheck(Versioned):
    """Inputs that passed validation: the pool (its files' versions), the seed labels and the holdout.

    Named by a digest of those versions and of the settings they were checked against, so a round
    whose inputs have not changed reuses it instead of validating again.
    """

    digest: str
    pool: str
    pool_version: str
    files: int
    rows: int
    header: list[str]
    checked_at: str
    seconds: float
    dimensions: int | None = None  # the length of the pool's vectors (None without a vector column)


# --- reviews of labels already taken (alflow.operations.review) -------------------------------------


class ReviewRecord(Versioned):
    """`ledger/reviews/review-NNNN/review.json`: labels already taken sent to the vendor again, once.

    `items` in the exported order (likeliest errors first) with the `labels` they had when asked,
    where each came from (`origins`: seed | vendor), its label quality (`quality`, 0-1, low: likely
    wrong) and whether confident learning flagged it (`flagged`); `asked_before` is the round that
    was next when it was asked. Each item costs one label of the budget."""

    seq: int
    asked_before: int
    items: list[str]
    labels: list[str]
    origins: list[str]
    quality: list[float]
    flagged: list[bool]
    method: str
    at: str
    by: str
    reason: str | None = None


class ReviewVerdict(Versioned):
    """`ledger/reviews/review-NNNN/verdict-<sha>.json`: what one delivery file of a review said, once
    (keyed by its bytes). `confirmed`: id -> the label, answered again; `corrected`: id -> [old, new];
    `dropped`: id -> the old label, which the vendor rejected or said cannot be labeled. An item's
    first verdict stands (later ones are `duplicates`). `ingested_in`: the round whose opening read it."""

    review: int
    ingested_in: int
    file: str
    sha256: str
    version: str | None = None
    ingested_at: str
    confirmed: dict[str, str] = Field(default_factory=dict)
    corrected: dict[str, list[str]] = Field(default_factory=dict)
    dropped: dict[str, str] = Field(default_factory=dict)
    duplicates: list[str] = Field(default_factory=list)
    annotators: list[str] = Field(default_factory=list)
    refused_rows: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)
    message: str | None = None
