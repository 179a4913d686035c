"""SageMaker Ground Truth: an input manifest out; the job's output manifest in.

Out: one JSON line per item, `source` (inline text) or `source-ref` (an object in the bucket),
every other field passed through (`id` among them). In: `<job>/manifests/output/output.manifest`,
one consolidated label per line under a label attribute `X` with its `X-metadata` object.
"""

from __future__ import annotations

import json

import pandas as pd

from alflow.errors import DataValidationError
from alflow.exchange.formats.base import (
    ANNOTATOR,
    ID,
    LABEL,
    LABEL_ATTRIBUTE,
    Format,
    json_lines,
    jsonl_bytes,
    plain_row,
    votes_frame,
)
from alflow.values import text

OUTPUT_MANIFEST = "manifests/output/output.manifest"


def write_batch(items: pd.DataFrame, *, model_version: str, text_column: str | None) -> bytes:
    """An input manifest: items with a `source-ref` column keep it; with a text column the text goes
    inline as `source`; otherwise the item's features go inline as JSON text."""
    lines = []
    for _, row in items.iterrows():
        fields = plain_row(row)
        if "source-ref" in fields:
            head = {"source-ref": fields.pop("source-ref")}
        elif text_column and text_column in fields:
            head = {"source": fields.pop(text_column)}
        else:
            features = {k: v for k, v in fields.items() if k not in (ID, "score", "predicted")}
            head = {"source": json.dumps(features, sort_keys=True)}
        lines.append({**head, **fields})
    return jsonl_bytes(lines)


def batch_ids(data: bytes) -> list[str]:
    return [str(json.loads(line)[ID]) for line in data.decode().splitlines() if line.strip()]


def _label_attribute(line: dict, *, source: str, number: int) -> str:
    attributes = [
        k.removesuffix("-metadata") for k in line if k.endswith("-metadata") and k[: -len("-metadata")] in line
    ]
    if len(attributes) != 1:
        raise DataValidationError(
            f"{source}: line {number} has {len(attributes)} label attributes (keys X with an X-metadata "
            "object); a Ground Truth output manifest line has exactly one",
            reason="unreadable",
        )
    return attributes[0]


def read_delivery(data: bytes, *, source: str, classes: tuple[str, ...]) -> pd.DataFrame:
    """One consolidated label per line, metadata kept: the label is the metadata's `class-name`,
    else the class index looked up in `classes`."""
    rows = []
    for number, line in enumerate(json_lines(data, source=source, what="Ground Truth manifest"), start=1):
        attr = _label_attribute(line, source=source, number=number)
        meta = line[f"{attr}-metadata"] if isinstance(line[f"{attr}-metadata"], dict) else {}
        label = meta.get("class-name")
        if label is None and isinstance(line[attr], int) and 0 <= line[attr] < len(classes):
            label = classes[line[attr]]
        rows.append(
            {
                ID: text(line.get(ID)),
                LABEL: text(label),
                ANNOTATOR: None,
                "confidence": meta.get("confidence"),
                "human_annotated": meta.get("human-annotated"),
                "job_name": meta.get("job-name"),
                "created_at": meta.get("creation-date"),
            }
        )
    return votes_frame(rows)


def write_delivery(
    votes: pd.DataFrame, *, classes: tuple[str, ...], job_name: str, created_at: str
) -> tuple[str, bytes]:
    lines = []
    for _, row in votes.iterrows():
        label = str(row[LABEL])
        meta = {
            "class-name": label,
            "confidence": 0.95,
            "type": "groundtruth/text-classification",
            "job-name": f"labeling-job/{job_name}",
            "human-annotated": "yes",
            "creation-date": created_at,
        }
        index = classes.index(label) if label in classes else -1
        lines.append({"id": str(row[ID]), LABEL_ATTRIBUTE: index, f"{LABEL_ATTRIBUTE}-metadata": meta})
    return f"{job_name}/{OUTPUT_MANIFEST}", jsonl_bytes(lines)


FORMAT = Format(
    "ground_truth",
    "input.manifest",
    OUTPUT_MANIFEST,
    write_batch,
    batch_ids,
    read_delivery,
    write_delivery,
    only_label_files=True,
)
