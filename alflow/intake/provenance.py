"""Who labeled an item: the votes behind each label an ingest record accepted, read again from the
delivery file the record names.

An ingest record keeps the file's annotators and agreement, not each item's votes; the vendor's
file stays in the bucket, and its SHA-256 in the record proves it is the same bytes. A file that
is gone or was rewritten gives no votes (None), never other votes. Votes are counted as the judge
counted them (alflow.intake.votes): valid rows only, one vote per annotator and item, the first.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

from alflow.errors import DataValidationError
from alflow.exchange import formats
from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL, ReadOptions
from alflow.exchange.formats.reading import PROBLEM
from alflow.exchange.store import Store
from alflow.kinds import LabelKind
from alflow.ledger.records import IngestRecord, sha256
from alflow.values import text


@dataclass(frozen=True)
class ItemVotes:
    """One item's valid votes in its delivery file: `annotators` in file order (None: anonymous)."""

    labels: tuple[str, ...]
    annotators: tuple[str | None, ...]

    def for_label(self, label: str) -> int:
        return self.labels.count(label)


def _valid(chunk: pd.DataFrame, wanted: set[str], classes: tuple[str, ...], kind: LabelKind | None) -> pd.DataFrame:
    """The chunk's valid votes on `wanted` items: id, label (in its one spelling, alflow.kinds), annotator."""
    if kind is not None and not kind.is_class:
        chunk = chunk.assign(**{LABEL: kind.parse_column(chunk[LABEL])[0]})
        ok = chunk[PROBLEM].isna() & chunk[ID].isin(wanted) & chunk[LABEL].notna()
    else:
        ok = chunk[PROBLEM].isna() & chunk[ID].isin(wanted) & chunk[LABEL].isin(classes)
    return chunk.loc[ok.astype(bool), [ID, LABEL, ANNOTATOR]]


def item_votes(
    store: Store,
    record: IngestRecord,
    *,
    classes: tuple[str, ...],
    label_attribute: str | None = None,
    kind: LabelKind | None = None,
) -> dict[str, ItemVotes] | None:
    """Item id -> its votes, for the items `record` accepted (human and machine labels); None when
    the file is no longer there as it was ingested (gone, or other bytes), or can no longer be read.
    Tags and numbers (`kind`) are compared in their one spelling."""
    wanted = {*record.labels, *record.revised, *record.machine_labels}
    if not wanted:
        return {}
    try:
        data = store.read(record.file)
    except (FileNotFoundError, OSError, ValueError):
        return None
    if sha256(data) != record.sha256:
        return None
    reader = formats.get(record.format).read_delivery
    options = ReadOptions(classes, label_attribute, kind.kind if kind is not None else "class")
    votes: dict[str, list[tuple[str, str | None]]] = {}
    seen: set[tuple[str, str]] = set()
    try:
        for chunk in reader(io.BytesIO(data), source=record.file, options=options):
            for id_, label, annotator in _valid(chunk, wanted, classes, kind).itertuples(index=False):
                who = text(annotator)
                if who is not None and (id_, who) in seen:
                    continue  # one annotator, one vote per item: the first counts
                if who is not None:
                    seen.add((id_, who))
                votes.setdefault(str(id_), []).append((str(label), who))
    except (DataValidationError, ValueError):
        return None
    return {i: ItemVotes(tuple(v[0] for v in vs), tuple(v[1] for v in vs)) for i, vs in votes.items()}
