"""Labelbox both ways: data rows to import out; the project's export (NDJSON, export v2) in.

Out: `data_rows.json`, a JSON list of data rows as Labelbox's `create_data_rows` takes them: the
item's reference (an image or PDF; an s3:// URI as its https URL, read through the dataset's IAM
delegated access), else its
text, else its features as inline JSON text, as `row_data` with the matching `media_type`; its id
as `global_key`; and attachments telling the labeler the model's guess (and, beside a reference,
the item's text). In: one data row per line, its labels under
`projects.<project id>.labels[]`; each label is one vote, read from its radio (or single-answer
checklist) classification, the annotator from `label_details.created_by`. With several
classification questions in a label, the one named `label` is read. A label the labeler skipped
(`performance_details.skipped: true`) is no vote: the item stays outstanding. The time spent on a
label is its `performance_details.seconds_to_create` (export v2 with `performance_details: True`,
https://docs.labelbox.com/reference/export-glossary), else `seconds_to_label`; none without them.

Tags (alflow.kinds): a checklist question's answers are the item's tags; a submitted label that
answers no tag is the empty set. Numbers: Labelbox has no numeric question; a free-form text
question's answer (`text_answer.content`) is the number, or a radio question whose options are
numbers (a rating scale) gives its option's value. Words are `not_a_number`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import quote

import pandas as pd

from alflow.exchange.formats import reading
from alflow.exchange.formats.base import (
    ANNOTATOR,
    ID,
    LABEL,
    LABEL_ATTRIBUTE,
    SOURCE_REF,
    Format,
    ReadOptions,
    kind_of,
    plain_row,
)
from alflow.exchange.formats.reading import bad_row, vote
from alflow.kinds import EMPTY, LabelKind, tags
from alflow.values import plain


def _https(reference: str) -> str:
    """An s3:// URI as the object's https URL, which Labelbox requires of S3 assets (the SDK refuses
    `s3://`); anything else as written."""
    if not reference.startswith("s3://"):
        return reference
    bucket, _, key = reference.removeprefix("s3://").partition("/")
    return f"https://{bucket}.s3.amazonaws.com/{quote(key, safe='/')}"


def _row_data(fields: dict[str, Any], text_column: str | None) -> tuple[Any, str, list[dict[str, str]]]:
    """(row_data, media_type, extra attachments) of one item."""
    text = fields.get(text_column) if text_column else None
    if SOURCE_REF in fields:
        reference = _https(str(fields[SOURCE_REF]))
        media = "PDF" if reference.lower().endswith(".pdf") else "IMAGE"
        return reference, media, [] if text is None else [{"type": "RAW_TEXT", "value": str(text)}]
    if text is not None:
        return text, "TEXT", []
    shown = {k: v for k, v in fields.items() if k not in (ID, "score", "predicted")}
    return json.dumps(shown, sort_keys=True), "TEXT", []


def write_batch(
    items: pd.DataFrame, *, model_version: str, text_column: str | None, kind: LabelKind | None = None
) -> bytes:
    """Data rows, best first: `row_data` the item, `global_key` its id, the model's guess attached."""
    rows = []
    for rank, (_, row) in enumerate(items.iterrows(), start=1):
        fields = plain_row(row)
        guess = f"model {model_version} guesses {fields.get('predicted')}; item {rank} of {len(items)} to label"
        row_data, media, shown = _row_data(fields, text_column)
        rows.append(
            {
                "row_data": row_data,
                "global_key": str(fields[ID]),
                "media_type": media,
                "attachments": [*shown, {"type": "RAW_TEXT", "value": guess}],
            }
        )
    return (json.dumps(rows, indent=1) + "\n").encode()


def batch_ids(data: bytes) -> list[str]:
    return [str(row["global_key"]) for row in json.loads(data)]


def _option(answer: dict[str, Any], kind: LabelKind) -> Any:
    """The option an answer names: its `value`, or its `name` (the label the labeler saw) when only the
    name is a label of the campaign. Labelbox's ontology editor gives an option a value of its own,
    which need not be the option's name (export v2 writes both: `{"name": "Legal risk", "value":
    "legal_risk"}`), so a class or tag with spaces or capitals is often found by its name alone."""
    value, name = answer.get("value"), answer.get("name")
    if value is None or (name is not None and kind.parse(value)[1] is not None and kind.parse(name)[1] is None):
        return name
    return value


def _answer(classification: dict[str, Any], kind: LabelKind) -> tuple[Any, str | None]:
    """(the answer's value, problem) of one classification: a radio or checklist answer; for tags
    every checklist answer, for a number a free-form text answer too."""
    radio = classification.get("radio_answer")
    if isinstance(radio, dict):
        return _option(radio, kind), None
    checklist = classification.get("checklist_answers")
    text = classification.get("text_answer")
    if kind.kind == "number" and isinstance(text, dict):
        return text.get("content"), None
    if kind.kind == "multi" and isinstance(checklist, list):
        chosen = [_option(a, kind) if isinstance(a, dict) else a for a in checklist]
        return reading.tag_text(chosen), None
    if isinstance(checklist, list):
        if len(checklist) != 1 or not isinstance(checklist[0], dict):
            return None, reading.MULTIPLE_LABELS if len(checklist) > 1 else None
        return _option(checklist[0], kind), None
    return None, None


def _vote(number: int, item: Any, label: Any, kind: LabelKind) -> dict[str, Any]:
    if not isinstance(label, dict) or not isinstance(label.get("annotations", {}), dict):
        return bad_row(number, reading.MALFORMED, f"vote {number}: a label is not an object with `annotations`", item)
    found = label.get("annotations", {}).get("classifications") or []
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        return bad_row(number, reading.MALFORMED, f"vote {number}: `classifications` is not a list of objects", item)
    named = [c for c in found if LABEL_ATTRIBUTE in (c.get("name"), c.get("value"))]
    if len(found) > 1 and len(named) != 1:
        why = f"vote {number}: {len(found)} classification questions and none is named {LABEL_ATTRIBUTE!r}"
        return bad_row(number, reading.MALFORMED, why, item)
    answer, problem = _answer((named or found)[0], kind) if found else (EMPTY if kind.kind == "multi" else None, None)
    details: dict[str, Any] = label["label_details"] if isinstance(label.get("label_details"), dict) else {}
    detail = f"vote {number}: several answers for a single-choice item" if problem else None
    return vote(number, item, answer, details.get("created_by"), problem=problem, detail=detail,
                created_at=details.get("created_at"), human_annotated="yes", seconds=_seconds(label))  # fmt: skip


def _seconds(label: dict[str, Any]) -> Any:
    """The time spent creating the label (`performance_details.seconds_to_create`, else the older
    `seconds_to_label`), or None when the export left performance details out."""
    details = label.get("performance_details")
    if not isinstance(details, dict):
        return None
    return details.get("seconds_to_create", details.get("seconds_to_label"))


def _skipped(label: Any) -> bool:
    """Whether a label is a skip (`performance_details.skipped`, as export v2 writes it)."""
    details = label.get("performance_details") if isinstance(label, dict) else None
    return isinstance(details, dict) and details.get("skipped") is True


def _votes(stream: IO[bytes], kind: LabelKind) -> Iterator[dict[str, Any]]:
    number = 0
    for line_number, line, bad in reading.json_objects(stream, ("data_row", "global_key")):
        if bad is not None or line is None:
            number += 1
            yield bad if bad is not None else bad_row(number, reading.MALFORMED, "empty")
            continue
        row = line.get("data_row")
        projects = line.get("projects")
        if not isinstance(row, dict) or not isinstance(projects, dict | None):
            number += 1
            yield bad_row(number, reading.MALFORMED, f"line {line_number} has no `data_row` object and `projects`")
            continue
        item = row.get("global_key", row.get("external_id"))
        for project in (projects or {}).values():
            labels = project.get("labels") if isinstance(project, dict) else None
            if not isinstance(project, dict) or not isinstance(labels, list | None):
                number += 1
                what = "`labels` is not a list" if isinstance(project, dict) else "entry is not an object"
                yield bad_row(number, reading.MALFORMED, f"line {line_number}: a project's {what}", item)
                continue
            for label in labels or []:
                if _skipped(label):
                    continue  # the labeler skipped the data row: no vote, the item stays outstanding
                number += 1
                yield _vote(number, item, label, kind)


def read_delivery(stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """An export v2 NDJSON file, in chunks of votes: one per label of every project."""
    return reading.frames(_votes(stream, LabelKind(options.kind, options.classes)))


def _classification(label: str, kind: str) -> list[dict[str, Any]]:
    """A label as the label's classification answers: radio (a class), checklist (tags; none for the
    empty set), free-form text (a number)."""
    question = {"name": LABEL_ATTRIBUTE, "value": LABEL_ATTRIBUTE}
    if kind == "multi":
        chosen = tags(label)
        return [{**question, "checklist_answers": [{"name": t, "value": t} for t in chosen]}] if chosen else []
    if kind == "number":
        return [{**question, "text_answer": {"content": label}}]
    return [{**question, "radio_answer": {"name": label, "value": label}}]


def write_delivery(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    job_name: str,
    created_at: str,
    kind: LabelKind | None = None,
) -> tuple[str, bytes]:
    """An export as Labelbox writes it: one line per data row, one label per vote."""
    rows: dict[str, dict[str, Any]] = {}
    for number, (_, vote_row) in enumerate(votes.iterrows(), start=1):
        key = str(vote_row[ID])
        line = rows.setdefault(key, {"data_row": {"id": f"dr-{len(rows) + 1:04d}", "global_key": key},
                                     "projects": {"p-alflow": {"name": job_name, "labels": []}}})  # fmt: skip
        who = str(vote_row[ANNOTATOR]) if ANNOTATOR in votes.columns else "labeler@vendor.example"
        spent = reading.seconds(plain(vote_row.get(reading.SECONDS)))
        line["projects"]["p-alflow"]["labels"].append(
            {
                "id": f"lb-{number:04d}",
                "label_details": {"created_at": created_at, "created_by": who},
                **({} if spent is None else {"performance_details": {"seconds_to_create": spent, "skipped": False}}),
                "annotations": {
                    "objects": [],
                    "classifications": _classification(str(vote_row[LABEL]), kind_of(kind)),
                    "relationships": [],
                },
            }
        )
    return "export.ndjson", "".join(json.dumps(line) + "\n" for line in rows.values()).encode()


FORMAT = Format("labelbox", "data_rows.json", ".ndjson", write_batch, batch_ids, read_delivery, write_delivery)
