"""Label Studio: import tasks out, with the model's prediction and score as pre-annotation; its JSON
export in (annotations with `completed_by`; cancelled ones skipped)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

import pandas as pd

from alflow.errors import DataValidationError
from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL, LABEL_ATTRIBUTE, SOURCE_REF, Format, votes_frame
from alflow.values import plain, text

TO_NAME = "item"  # the object tag the choices annotate: a project's labeling config must name it so


def _choices(label: str) -> list[dict[str, Any]]:
    return [{"from_name": LABEL_ATTRIBUTE, "to_name": TO_NAME, "type": "choices", "value": {"choices": [label]}}]


def write_batch(items: pd.DataFrame, *, model_version: str, text_column: str | None) -> bytes:
    """Import tasks: the item as `data` (its text as `data.text`, its reference, a `source-ref`, as
    `data.image`), the prediction pre-annotated. `labeling_config` is the project config they fit."""
    tasks = []
    for _, row in items.iterrows():
        data = {k: plain(v) for k, v in row.items() if k not in ("score", "predicted")}
        if text_column and text_column in data:
            data["text"] = data.pop(text_column)
        if SOURCE_REF in data:
            data["image"] = data.pop(SOURCE_REF)
        prediction = {
            "model_version": model_version,
            "score": plain(row["score"]),
            "result": _choices(str(row["predicted"])),
        }
        tasks.append({"data": data, "predictions": [prediction]})
    return (json.dumps(tasks, indent=1) + "\n").encode()


def labeling_config(classes: tuple[str, ...], *, image: bool) -> str:
    """The Label Studio project config these tasks fit: the item (`data.image`, else `data.text`)
    is the object tag `item` the single choice `label` annotates; with an image, the text (if any)
    is shown beside it."""
    shown = ['  <Image name="item" value="$image"/>', '  <Text name="context" value="$text"/>'] if image else []
    shown = shown or ['  <Text name="item" value="$text"/>']
    choices = "\n".join(f'    <Choice value="{escape(c, quote=True)}"/>' for c in classes)
    return (
        "<View>\n"
        + "\n".join(shown)
        + f'\n  <Choices name="{LABEL_ATTRIBUTE}" toName="{TO_NAME}" choice="single" showInline="true">\n'
        + choices
        + "\n  </Choices>\n</View>\n"
    )


def batch_ids(data: bytes) -> list[str]:
    return [str(task["data"][ID]) for task in json.loads(data)]


def _vote(task: dict[str, Any], annotation: dict[str, Any]) -> dict[str, Any]:
    choices = [
        choice
        for result in annotation.get("result") or []
        if result.get("type") == "choices"
        for choice in (result.get("value") or {}).get("choices") or []
    ]
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return {
        ID: text(task["data"].get(ID)),
        # Several choices for a single-choice item is a bad row; keep them visible.
        LABEL: text("|".join(map(str, choices))) if choices else None,
        ANNOTATOR: text(who),
        "confidence": None,
        "human_annotated": "yes",
        "job_name": None,
        "created_at": annotation.get("created_at"),
    }


def read_delivery(data: bytes, *, source: str, classes: tuple[str, ...]) -> pd.DataFrame:
    """A JSON export: one vote per annotation that was not cancelled."""
    try:
        tasks = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataValidationError(f"{source}: not a Label Studio JSON export ({error})", reason="unreadable") from None
    if not isinstance(tasks, list):
        raise DataValidationError(
            f"{source}: a Label Studio JSON export is a list of tasks, got {type(tasks).__name__}", reason="unreadable"
        )
    rows = []
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataValidationError(f"{source}: task {number} has no `data` object", reason="unreadable")
        rows += [_vote(task, a) for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return votes_frame(rows)


def write_delivery(
    votes: pd.DataFrame, *, classes: tuple[str, ...], job_name: str, created_at: str
) -> tuple[str, bytes]:
    """An export as Label Studio writes it: one task per item, one annotation per vote."""
    tasks: dict[str, dict[str, Any]] = {}
    for number, (_, row) in enumerate(votes.iterrows(), start=1):
        task = tasks.setdefault(str(row[ID]), {"id": len(tasks) + 1, "data": {ID: str(row[ID])}, "annotations": []})
        task["annotations"].append(
            {
                "id": number,
                "completed_by": plain(row[ANNOTATOR]) if ANNOTATOR in votes.columns else 1,
                "was_cancelled": False,
                "created_at": created_at,
                "result": _choices(str(row[LABEL])),
            }
        )
    return "export.json", (json.dumps(list(tasks.values()), indent=1) + "\n").encode()


FORMAT = Format("label_studio", "tasks.json", ".json", write_batch, batch_ids, read_delivery, write_delivery)
