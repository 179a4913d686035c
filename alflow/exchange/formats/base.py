"""What every exchange format is: one spec with both directions, and the vocabulary they share.

Out (alflow → vendor): the batch items, one row per item, best first, with the model's
prediction and the active-learning score (higher = label first).
In (vendor → alflow): a delivery file, read as a stream into chunks of *votes*: one row per
(item, annotator) with the columns of alflow.exchange.formats.reading (`row`, `id`, `label`,
`annotator`, the label metadata the format carries, and a `problem` for a row that could not be
read). Readers are total: any bytes give votes and bad rows, or a DataValidationError naming the
file when it cannot be read as a whole; never another exception.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

import pandas as pd

from alflow.exchange.formats.reading import ANNOTATOR, COLUMNS, ID, LABEL, META_COLUMNS, VOTE_COLUMNS
from alflow.kinds import LabelKind
from alflow.values import plain

__all__ = ["ANNOTATOR", "ID", "LABEL", "META_COLUMNS", "VOTE_COLUMNS", "Format", "ReadOptions"]

LABEL_ATTRIBUTE = "label"  # Ground Truth's label attribute name and Label Studio's from_name
SOURCE_REF = "source-ref"  # a batch item's reference (an image, a scan, a document), as Ground Truth names it


@dataclass(frozen=True)
class ReadOptions:
    """What a reader needs to know of the campaign: its class set and, for Ground Truth output of
    chained jobs, which job's label attribute holds the label (None: the last one on each line);
    `kind` is the campaign's kind of label (alflow.kinds: a multi-label campaign's JSON list of tags)."""

    classes: tuple[str, ...]
    label_attribute: str | None = None
    kind: str = "class"


class BatchWriter(Protocol):
    def __call__(
        self, items: pd.DataFrame, *, model_version: str, text_column: str | None, kind: LabelKind | None = None
    ) -> bytes: ...


class DeliveryReader(Protocol):
    def __call__(self, stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]: ...


class DeliveryWriter(Protocol):
    def __call__(
        self,
        votes: pd.DataFrame,
        *,
        classes: tuple[str, ...],
        job_name: str,
        created_at: str,
        kind: LabelKind | None = None,
    ) -> tuple[str, bytes]: ...


def no_extras(
    classes: tuple[str, ...], *, text_column: str | None, reference: bool = False, kind: LabelKind | None = None
) -> dict[str, bytes]:
    return {}


def kind_of(kind: LabelKind | None) -> str:
    """The kind's name; None (a writer called without one) is a single-class campaign."""
    return "class" if kind is None else kind.kind


@dataclass(frozen=True)
class Format:
    """One exchange format, both ways.

    `write_batch` makes the batch file (`batch_file`) from the items; `batch_ids` reads the ids back
    from it, as a vendor's tool would; `batch_extras` are other files the vendor's tool needs beside
    it (Label Studio's labeling config); `read_delivery` streams a label file as chunks of votes;
    `write_delivery` is the vendor's side (what their tool writes: the demo and tests deliver
    with it), returning the file's name relative to the delivery folder. The writers take the
    campaign's kind of label (alflow.kinds; None: one class per item): tags and numbers are
    written as each tool writes them, and read back by `read_delivery` (`ReadOptions.kind`). Label files end in
    `delivery_suffix`; with `only_label_files`, other files under a delivery are passed over
    (a Ground Truth job folder holds much besides its output manifest) instead of quarantined;
    the new files of a delivery for which `read_together` holds are read as one set of votes
    (doccano's one file per annotator, Label Studio's one object per annotation or task); with
    `bare_names`, files named by a number without an extension are label files too (Label
    Studio's target storage names its objects by the annotation's id); `batch_copy` names a
    second copy of the batch file in a folder of its own (Label Studio's source storage imports
    every object under its prefix, so its tasks alone under `tasks/` import with its defaults);
    with `rewrites_revise`, a `read_together` file read before and rewritten since is the tool's
    new version of the same votes (Label Studio rewrites an annotation's object when it changes):
    its labels replace those accepted before, instead of being conflicting relabels.
    """

    name: str
    batch_file: str
    delivery_suffix: str
    write_batch: BatchWriter
    batch_ids: Callable[[bytes], list[str]]
    read_delivery: DeliveryReader
    write_delivery: DeliveryWriter
    only_label_files: bool = False
    read_together: Callable[[str], bool] = lambda key: False
    bare_names: bool = False
    batch_extras: Callable[..., dict[str, bytes]] = no_extras
    batch_copy: str | None = None
    rewrites_revise: bool = False

    def is_delivery_file(self, key: str) -> bool:
        """Whether `key` is a label file of this format (markers and others are not)."""
        return key.lower().endswith(self.delivery_suffix) or (self.bare_names and key.rsplit("/", 1)[-1].isdigit())

    def votes(self, data: bytes, *, source: str = "delivery", classes: tuple[str, ...] = ()) -> pd.DataFrame:
        """A whole delivery's votes in one frame (for small files: tests, the demo, notebooks)."""
        chunks = list(self.read_delivery(io.BytesIO(data), source=source, options=ReadOptions(classes)))
        return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=COLUMNS, dtype=object)


def jsonl_bytes(objects: Iterable[dict[str, Any]]) -> bytes:
    """JSON Lines, one object per line, ending in a newline."""
    return ("\n".join(json.dumps(o) for o in objects) + "\n").encode()


def plain_row(row: pd.Series) -> dict[str, Any]:
    """A frame row as JSON-friendly values (numpy to Python, NaN to None)."""
    return {str(k): plain(v) for k, v in row.items()}
