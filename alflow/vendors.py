"""Exchange formats with the labeling vendor, both ways, as pure functions over bytes and frames.

Out (alflow → vendor): the batch items, one row per item, best first, with the model's
prediction and the active-learning score (higher = label first).
In (vendor → alflow): a delivery file, read into *votes*: one row per (item, annotator) with the
columns `id`, `label`, `annotator` (empty when the format has none) and whatever label metadata the
format carries (`confidence`, `human_annotated`, `job_name`, `created_at`).

Formats (docs/VENDORS.md has an example of each):
- csv:           items.csv out; label files `*.csv` in, columns id,label[,annotator]
- jsonl:         items.jsonl out; label files `*.jsonl` in, objects {"id", "label"[, "annotator"]}
- ground_truth:  SageMaker Ground Truth input manifest out (`source` for inline text, `source-ref`
                 for objects in the bucket); output manifest in (`<job>/manifests/output/output.manifest`)
- label_studio:  tasks out with the prediction and score as pre-annotation; JSON export in
                 (annotations with `completed_by`; cancelled ones skipped)

Readers raise DataValidationError naming the file when it cannot be read at all; a readable file
with bad rows is the validator's business (alflow/ingest.py), not theirs.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any, Literal

import pandas as pd

from alflow.errors import DataValidationError

ID, LABEL, ANNOTATOR = "id", "label", "annotator"  # the columns of every delivery, once read
VOTE_COLUMNS = [ID, LABEL, ANNOTATOR]
META_COLUMNS = ["confidence", "human_annotated", "job_name", "created_at"]
Format = Literal["csv", "jsonl", "ground_truth", "label_studio"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "ground_truth", "label_studio")

BATCH_FILE = {
    "csv": "items.csv",
    "jsonl": "items.jsonl",
    "ground_truth": "input.manifest",
    "label_studio": "tasks.json",
}
DELIVERY_SUFFIX = {
    "csv": ".csv",
    "jsonl": ".jsonl",
    "ground_truth": "manifests/output/output.manifest",
    "label_studio": ".json",
}
LABEL_ATTRIBUTE = "label"  # Ground Truth's label attribute name and Label Studio's from_name


def is_delivery_file(key: str, fmt: Format) -> bool:
    """Whether `key` is a label file of the campaign's format (markers and others are not)."""
    return key.lower().endswith(DELIVERY_SUFFIX[fmt])


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy numbers to Python, NaN to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# --- out: the batch --------------------------------------------------------------------------


def items_csv(items: pd.DataFrame) -> bytes:
    """The batch as the vendor sees it: one row per item, best first."""
    return items.to_csv(index=False).encode()


def items_jsonl(items: pd.DataFrame) -> bytes:
    lines = [json.dumps({k: _plain(v) for k, v in row.items()}, sort_keys=False) for _, row in items.iterrows()]
    return ("\n".join(lines) + "\n").encode()


def ground_truth_manifest(items: pd.DataFrame, *, text_column: str | None = None) -> bytes:
    """A Ground Truth input manifest: `source` (inline text) or `source-ref` (an s3:// object).

    Items with a `source-ref` column keep it; with a text column the text goes inline; otherwise the
    item's features go inline as JSON text. Every other field passes through (`id` among them).
    """
    lines = []
    for _, row in items.iterrows():
        fields = {k: _plain(v) for k, v in row.items()}
        if "source-ref" in fields:
            head = {"source-ref": fields.pop("source-ref")}
        elif text_column and text_column in fields:
            head = {"source": fields.pop(text_column)}
        else:
            features = {k: v for k, v in fields.items() if k not in (ID, "score", "predicted")}
            head = {"source": json.dumps(features, sort_keys=True)}
        lines.append(json.dumps({**head, **fields}))
    return ("\n".join(lines) + "\n").encode()


def label_studio_tasks(
    items: pd.DataFrame, *, model_version: str, text_column: str | None = None, to_name: str = "item"
) -> bytes:
    """Label Studio import tasks: the item as `data`, the model's prediction and score pre-annotated."""
    tasks = []
    for _, row in items.iterrows():
        data = {k: _plain(v) for k, v in row.items() if k not in ("score", "predicted")}
        if text_column and text_column in data:
            data["text"] = data.pop(text_column)
        prediction = {
            "model_version": model_version,
            "score": _plain(row["score"]),
            "result": [
                {
                    "from_name": LABEL_ATTRIBUTE,
                    "to_name": to_name,
                    "type": "choices",
                    "value": {"choices": [str(row["predicted"])]},
                }
            ],
        }
        tasks.append({"data": data, "predictions": [prediction]})
    return (json.dumps(tasks, indent=1) + "\n").encode()


def batch_file(
    items: pd.DataFrame, fmt: Format, *, model_version: str = "alflow", text_column: str | None = None
) -> tuple[str, bytes]:
    """The batch file for the vendor in the campaign's format: (file name, bytes)."""
    if fmt == "csv":
        return BATCH_FILE[fmt], items_csv(items)
    if fmt == "jsonl":
        return BATCH_FILE[fmt], items_jsonl(items)
    if fmt == "ground_truth":
        return BATCH_FILE[fmt], ground_truth_manifest(items, text_column=text_column)
    if fmt == "label_studio":
        return BATCH_FILE[fmt], label_studio_tasks(items, model_version=model_version, text_column=text_column)
    raise ValueError(f"format={fmt!r}: use one of {FORMATS}")


def batch_ids(data: bytes, fmt: Format) -> list[str]:
    """The item ids of a batch file, in order (what a vendor tool reads back from it)."""
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(data), dtype={ID: str})[ID].tolist()
    if fmt in ("jsonl", "ground_truth"):
        return [str(json.loads(line)[ID]) for line in data.decode().splitlines() if line.strip()]
    if fmt == "label_studio":
        return [str(task["data"][ID]) for task in json.loads(data)]
    raise ValueError(f"format={fmt!r}: use one of {FORMATS}")


# --- in: deliveries -------------------------------------------------------------------------------


def _votes(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[*VOTE_COLUMNS, *META_COLUMNS], dtype=object)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def read_labels_csv(data: bytes, *, source: str) -> pd.DataFrame:
    """A delivered CSV label file (`id,label[,annotator]`), everything kept as text."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataValidationError(f"{source}: not a readable CSV file ({error})") from None
    frame = frame.rename(columns=str.strip)
    return frame


def _lines(data: bytes, *, source: str, what: str) -> list[dict]:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise DataValidationError(f"{source}: not UTF-8 text; a {what} file is UTF-8 JSON Lines") from None
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataValidationError(f"{source}: line {number} is not JSON ({error.msg})") from None
        if not isinstance(value, dict):
            raise DataValidationError(f"{source}: line {number} is not a JSON object")
        objects.append(value)
    return objects


def read_labels_jsonl(data: bytes, *, source: str) -> pd.DataFrame:
    """A JSON Lines label file: one object per vote, {"id", "label"[, "annotator"]}."""
    return pd.DataFrame(_lines(data, source=source, what="JSON Lines"), dtype=object)


def read_ground_truth(data: bytes, *, source: str, classes: tuple[str, ...] = ()) -> pd.DataFrame:
    """A Ground Truth output manifest: one consolidated label per line, metadata kept.

    The label attribute is the key `X` that has an `X-metadata` object; the label is the metadata's
    `class-name`, else the class index looked up in `classes`.
    """
    rows = []
    for number, line in enumerate(_lines(data, source=source, what="Ground Truth manifest"), start=1):
        attributes = [
            k[: -len("-metadata")] for k in line if k.endswith("-metadata") and k[: -len("-metadata")] in line
        ]
        if len(attributes) != 1:
            raise DataValidationError(
                f"{source}: line {number} has {len(attributes)} label attributes (keys X with an X-metadata "
                "object); a Ground Truth output manifest line has exactly one"
            )
        attr = attributes[0]
        meta = line[f"{attr}-metadata"] if isinstance(line[f"{attr}-metadata"], dict) else {}
        label = meta.get("class-name")
        if label is None and isinstance(line[attr], int) and 0 <= line[attr] < len(classes):
            label = classes[line[attr]]
        rows.append(
            {
                ID: _text(line.get(ID)),
                LABEL: _text(label),
                ANNOTATOR: None,
                "confidence": meta.get("confidence"),
                "human_annotated": meta.get("human-annotated"),
                "job_name": meta.get("job-name"),
                "created_at": meta.get("creation-date"),
            }
        )
    return _votes(rows)


def read_label_studio(data: bytes, *, source: str) -> pd.DataFrame:
    """A Label Studio JSON export: one vote per annotation that was not cancelled."""
    try:
        tasks = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataValidationError(f"{source}: not a Label Studio JSON export ({error})") from None
    if not isinstance(tasks, list):
        raise DataValidationError(
            f"{source}: a Label Studio JSON export is a list of tasks, got {type(tasks).__name__}"
        )
    rows = []
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataValidationError(f"{source}: task {number} has no `data` object")
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            choices = [
                choice
                for result in annotation.get("result") or []
                if result.get("type") == "choices"
                for choice in (result.get("value") or {}).get("choices") or []
            ]
            who = annotation.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("id")
            rows.append(
                {
                    ID: _text(task["data"].get(ID)),
                    # Several choices for a single-choice item is a bad row; keep them visible.
                    LABEL: _text("|".join(map(str, choices))) if choices else None,
                    ANNOTATOR: _text(who),
                    "confidence": None,
                    "human_annotated": "yes",
                    "job_name": None,
                    "created_at": annotation.get("created_at"),
                }
            )
    return _votes(rows)


def read_delivery(data: bytes, fmt: Format, *, source: str, classes: tuple[str, ...] = ()) -> pd.DataFrame:
    """A delivery file as votes. CSV and JSON Lines keep their own columns (validated later)."""
    if fmt == "csv":
        return read_labels_csv(data, source=source)
    if fmt == "jsonl":
        return read_labels_jsonl(data, source=source)
    if fmt == "ground_truth":
        return read_ground_truth(data, source=source, classes=classes)
    if fmt == "label_studio":
        return read_label_studio(data, source=source)
    raise ValueError(f"format={fmt!r}: use one of {FORMATS}")


# --- the vendor's side (simulated vendors, tests and examples) ---------------------------------


def delivery_file(
    votes: pd.DataFrame, fmt: Format, *, classes: tuple[str, ...] = (), job_name: str = "alflow", created_at: str = ""
) -> tuple[str, bytes]:
    """What a vendor's tool writes for `votes` (id, label[, annotator]): (relative name, bytes)."""
    has_annotator = ANNOTATOR in votes.columns
    if fmt == "csv":
        return "labels.csv", votes[[c for c in VOTE_COLUMNS if c in votes.columns]].to_csv(index=False).encode()
    if fmt == "jsonl":
        columns = [c for c in VOTE_COLUMNS if c in votes.columns]
        lines = [json.dumps({c: _plain(row[c]) for c in columns}) for _, row in votes.iterrows()]
        return "labels.jsonl", ("\n".join(lines) + "\n").encode()
    if fmt == "ground_truth":
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
            lines.append(json.dumps({"id": str(row[ID]), LABEL_ATTRIBUTE: index, f"{LABEL_ATTRIBUTE}-metadata": meta}))
        return f"{job_name}/manifests/output/output.manifest", ("\n".join(lines) + "\n").encode()
    if fmt == "label_studio":
        tasks: dict[str, dict] = {}
        for number, (_, row) in enumerate(votes.iterrows(), start=1):
            task = tasks.setdefault(str(row[ID]), {"id": len(tasks) + 1, "data": {ID: str(row[ID])}, "annotations": []})
            task["annotations"].append(
                {
                    "id": number,
                    "completed_by": _plain(row[ANNOTATOR]) if has_annotator else 1,
                    "was_cancelled": False,
                    "created_at": created_at,
                    "result": [
                        {
                            "from_name": LABEL_ATTRIBUTE,
                            "to_name": "item",
                            "type": "choices",
                            "value": {"choices": [str(row[LABEL])]},
                        }
                    ],
                }
            )
        return "export.json", (json.dumps(list(tasks.values()), indent=1) + "\n").encode()
    raise ValueError(f"format={fmt!r}: use one of {FORMATS}")
