"""What every exchange format is: one spec with both directions, and the vocabulary they share.

Out (alflow → vendor): the batch items, one row per item, best first, with the model's
prediction and the active-learning score (higher = label first).
In (vendor → alflow): a delivery file, read into *votes*: one row per (item, annotator) with the
columns `id`, `label`, `annotator` (empty when the format has none) and whatever label metadata the
format carries (`confidence`, `human_annotated`, `job_name`, `created_at`).

Readers raise DataValidationError (reason `unreadable`) naming the file when it cannot be read
at all; a readable file with bad rows is the validator's business (alflow.ledger.ingest).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from alflow.errors import DataValidationError
from alflow.values import plain

ID, LABEL, ANNOTATOR = "id", "label", "annotator"  # the columns of every delivery, once read
VOTE_COLUMNS = [ID, LABEL, ANNOTATOR]
META_COLUMNS = ["confidence", "human_annotated", "job_name", "created_at"]
LABEL_ATTRIBUTE = "label"  # Ground Truth's label attribute name and Label Studio's from_name
SOURCE_REF = "source-ref"  # a batch item's reference (an image, a scan, a document), as Ground Truth names it


class BatchWriter(Protocol):
    def __call__(self, items: pd.DataFrame, *, model_version: str, text_column: str | None) -> bytes: ...


class DeliveryReader(Protocol):
    def __call__(self, data: bytes, *, source: str, classes: tuple[str, ...]) -> pd.DataFrame: ...


class DeliveryWriter(Protocol):
    def __call__(
        self, votes: pd.DataFrame, *, classes: tuple[str, ...], job_name: str, created_at: str
    ) -> tuple[str, bytes]: ...


@dataclass(frozen=True)
class Format:
    """One exchange format, both ways.

    `write_batch` makes the batch file (`batch_file`) from the items; `batch_ids` reads the ids back
    from it, as a vendor's tool would; `read_delivery` turns a label file into votes;
    `write_delivery` is the vendor's side (what their tool writes: the demo and tests deliver
    with it), returning the file's name relative to the delivery folder. Label files end in
    `delivery_suffix`; with `only_label_files`, other files under a delivery are passed over
    (a Ground Truth job folder holds much besides its output manifest) instead of quarantined.
    """

    name: str
    batch_file: str
    delivery_suffix: str
    write_batch: BatchWriter
    batch_ids: Callable[[bytes], list[str]]
    read_delivery: DeliveryReader
    write_delivery: DeliveryWriter
    only_label_files: bool = False

    def is_delivery_file(self, key: str) -> bool:
        """Whether `key` is a label file of this format (markers and others are not)."""
        return key.lower().endswith(self.delivery_suffix)


def votes_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Votes in the shared columns, as objects (text stays text)."""
    return pd.DataFrame(rows, columns=[*VOTE_COLUMNS, *META_COLUMNS], dtype=object)


def json_lines(data: bytes, *, source: str, what: str) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file, blank lines skipped; DataValidationError for anything else."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise DataValidationError(
            f"{source}: not UTF-8 text; a {what} file is UTF-8 JSON Lines", reason="unreadable"
        ) from None
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataValidationError(
                f"{source}: line {number} is not JSON ({error.msg})", reason="unreadable"
            ) from None
        if not isinstance(value, dict):
            raise DataValidationError(f"{source}: line {number} is not a JSON object", reason="unreadable")
        objects.append(value)
    return objects


def jsonl_bytes(objects: Iterable[dict[str, Any]]) -> bytes:
    """JSON Lines, one object per line, ending in a newline."""
    return ("\n".join(json.dumps(o) for o in objects) + "\n").encode()


def plain_row(row: pd.Series) -> dict[str, Any]:
    """A frame row as JSON-friendly values (numpy to Python, NaN to None)."""
    return {str(k): plain(v) for k, v in row.items()}
