"""Label Studio: import tasks out, with the model's prediction as pre-annotation, and the labeling
config beside them (`label_config.xml`, imported as is); its JSON export in.

Out: one task per item. `data.id` is the item, `data.image` its reference (a `source-ref`: an image,
scan or document), `data.text` its text, else `data.features`, its features, shown as a table; the
prediction's `result` is the model's guess as a `choices` value
under the tag names of `label_config.xml` (`label` for the choices, `item` for the object), its
`score` the item's place in the batch scaled to [0, 1) with 0 for the item to label first (Label
Studio's active-learning ordering serves the lowest score first), and its `model_version` the
round's registered model version. `data.alflow_rank` (1 = label first) is there to sort by too.
The tasks are written twice: `tasks.json` beside `batch.json`, and `tasks/tasks.json` alone in its
folder, for a source storage whose prefix is that folder (Label Studio imports every JSON object
under its prefix: `batch.json` would be a task).

In: the project's JSON export, streamed task by task, or the objects of its target storage (one
per annotation, named by its id, with its task nested; or one `<task id>.json` per task with
FUTURE_SAVE_TASK_TO_STORAGE), read together as one set of votes: every annotation not cancelled is one vote;
`completed_by` is the annotator, `lead_time` the seconds spent on it (the vote's `seconds`; none
without it; https://labelstud.io/guide/task_format). Reviews (Label Studio Enterprise): an annotation's
`reviews`, a list of its annotation review objects (`accepted` false = rejected, `created_by`,
`created_at`, `comment`; https://api.labelstud.io/api-reference/api-reference/annotation-reviews),
are honoured: one whose latest review rejected it is one refused row, `rejected_in_review`; one whose
latest review accepted it with a fix (`fixed_annotation_history_result`) is a vote for the fix; accepted
or unreviewed, a vote as before (docs/VENDORS.md, "Reviews", says what was and was not verified).
Label Studio rewrites an object when its annotation changes: read
again, its label replaces the one it gave (`rewrites_revise`, alflow.intake.ingest). A task,
annotation or result of an unexpected shape is one bad row. Choices under other tag names than
`label`/`item` are `wrong_tag_names`, and a file in which no vote uses alflow's tag names (a
project with another labeling config) is refused whole.

Tags and numbers (alflow.kinds): a multi-label campaign's `label` is `<Choices choice="multiple">`
(`required` unless the empty set is allowed) and an annotation's choices are its tags, none chosen
being the empty set; a numeric campaign's is `<Number>` (with the campaign's bounds), or `<Rating>`
with `labels.input: rating`, read from the result's `value.number` or `value.rating`. The
prediction is the model's guess in the same shape (its tags; its number, a rating rounded to a star).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import IO, Any, cast
from xml.sax.saxutils import quoteattr

import pandas as pd

from alflow.errors import DataValidationError
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
)
from alflow.exchange.formats.reading import bad_row, vote
from alflow.kinds import EMPTY, LabelKind, json_number, tags
from alflow.values import plain

TO_NAME = "item"  # the object tag the choices annotate (label_config.xml names it so)
LABEL_CONFIG = "label_config.xml"
SOURCE_TASKS = "tasks/tasks.json"  # the tasks again, alone in a folder: a source storage's prefix with its defaults


def _choices(label: str) -> list[dict[str, Any]]:
    return [{"from_name": LABEL_ATTRIBUTE, "to_name": TO_NAME, "type": "choices", "value": {"choices": [label]}}]


def _result(label: Any, kind: LabelKind | None) -> list[dict[str, Any]]:
    """A label (alflow.kinds' text) as the result of an annotation or prediction of the campaign's kind:
    tags as the choices chosen (none for the empty set), a number as `number` or a whole `rating`."""
    name = kind_of(kind)
    if name == "class":
        return _choices(str(label))
    if label is None or str(label).strip() in ("", "nan", "None"):
        return []  # no guess (a cold start): a prediction without a result
    head = {"from_name": LABEL_ATTRIBUTE, "to_name": TO_NAME}
    if name == "multi":
        picked = list(tags(str(label)))
        return [{**head, "type": "choices", "value": {"choices": picked}}] if picked else []
    value = json_number(str(label))
    if kind is not None and kind.rating:
        stars = max(1, min(int(kind.maximum or 1), round(value))) if isinstance(value, int | float) else value
        return [{**head, "type": "rating", "value": {"rating": stars}}]
    return [{**head, "type": "number", "value": {"number": value}}]


def _control(classes: tuple[str, ...], kind: LabelKind | None) -> str:
    """The control tag `label` of the campaign's kind, annotating the object tag `item`."""
    if kind is not None and kind.kind == "number":
        if kind.rating:
            stars = int(kind.maximum or 5)
            return f'<Rating name="{LABEL_ATTRIBUTE}" toName="{TO_NAME}" maxRating="{stars}" required="true"/>'
        bounds = "".join(f' {k}="{v:g}"' for k, v in (("min", kind.minimum), ("max", kind.maximum)) if v is not None)
        # step "any": the Number tag is an HTML number input, whose default step of 1 refuses decimals
        return f'<Number name="{LABEL_ATTRIBUTE}" toName="{TO_NAME}"{bounds} step="any" required="true"/>'
    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
    if kind is not None and kind.kind == "multi":
        required = "" if kind.allow_empty else ' required="true"'
        return (
            f'<Choices name="{LABEL_ATTRIBUTE}" toName="{TO_NAME}" choice="multiple" showInline="true"{required}>'
            f"\n{choices}\n  </Choices>"
        )
    return (
        f'<Choices name="{LABEL_ATTRIBUTE}" toName="{TO_NAME}" choice="single" '
        f'showInline="true">\n{choices}\n  </Choices>'
    )


def label_config(
    classes: tuple[str, ...], *, text_column: str | None, reference: bool = False, kind: LabelKind | None = None
) -> dict[str, bytes]:
    """The labeling config the tasks are written for: paste it into the project's settings as is.

    The object tag `item` is the image (with the text, if any, shown beside it as `context`), else
    the text, else the features as a table; the control tag `label` annotates it: a single choice,
    several choices (tags), a number or a rating, by the campaign's kind."""
    if reference:
        context = '\n  <Text name="context" value="$text"/>' if text_column else ""
        shown = '<Image name="item" value="$image"/>' + context
    else:
        shown = '<Text name="item" value="$text"/>' if text_column else '<Table name="item" value="$features"/>'
    xml = f"<View>\n  {shown}\n  {_control(classes, kind)}\n</View>\n"
    return {LABEL_CONFIG: xml.encode()}


def write_batch(
    items: pd.DataFrame, *, model_version: str, text_column: str | None, kind: LabelKind | None = None
) -> bytes:
    """Import tasks, best first: the item as `data`, the prediction pre-annotated (see the module)."""
    tasks = []
    for rank, (_, row) in enumerate(items.iterrows()):
        fields = {str(k): plain(v) for k, v in row.items() if k not in ("score", "predicted")}
        data: dict[str, Any] = {ID: fields.pop(ID)}
        if SOURCE_REF in fields:
            data["image"] = fields.pop(SOURCE_REF)
        if text_column and text_column in fields:
            data["text"] = fields.pop(text_column)
        shown = text_column or "image" in data
        data.update({"features": fields} if fields and not shown else fields)
        data["alflow_rank"] = rank + 1
        prediction = {
            "model_version": model_version,
            "score": round(rank / len(items), 6),
            "result": _result(row["predicted"], kind),
        }
        tasks.append({"data": data, "predictions": [prediction]})
    return (json.dumps(tasks, indent=1) + "\n").encode()


def batch_ids(data: bytes) -> list[str]:
    return [str(task["data"][ID]) for task in json.loads(data)]


def _annotator(who: Any) -> Any:
    if isinstance(who, dict):
        return who.get("email") or who.get("id")
    return who


_RESULT_TYPES = {"class": ("choices",), "multi": ("choices",), "number": ("number", "rating")}


def _picked(where: str, annotation: dict[str, Any], kind: str) -> tuple[list[Any], list[str], str | None]:
    """(the values under alflow's tag names, the other tag names used, what is malformed) of the
    results of the campaign's kind in one annotation: choices, or a number or rating."""
    picked: list[Any] = []
    others: list[str] = []
    for result in annotation.get("result") or []:
        if not isinstance(result, dict) or not isinstance(result.get("value", {}), dict):
            return [], [], f"{where}: a result is not an object with a `value` object"
        kind_of_result = result.get("type")
        if kind_of_result not in _RESULT_TYPES[kind]:
            continue
        value = result["value"].get(kind_of_result)
        if kind_of_result == "choices" and not isinstance(value, list):
            return [], [], f"{where}: `value.choices` is not a list"
        if (result.get("from_name"), result.get("to_name")) == (LABEL_ATTRIBUTE, TO_NAME):
            picked += value if kind_of_result == "choices" else [value]
        else:
            others.append(f"{str(result.get('from_name'))[:40]!r} -> {str(result.get('to_name'))[:40]!r}")
    return picked, others, None


def _review(where: str, annotation: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    """(problem, detail, the annotation to read) after its reviews: Label Studio Enterprise's review
    objects in the annotation's `reviews` list (`accepted` false = rejected; the API's annotation
    review object, https://api.labelstud.io/api-reference/api-reference/annotation-reviews). The latest
    review (by `created_at`, then list order) decides: rejected is `rejected_in_review`; accepted with
    a reviewer's fix (`fixed_annotation_history_result`, a result list) is the annotation with the fix
    as its result; accepted without, or no review, the annotation as it is. Reviews of another shape
    are `malformed`. docs/VENDORS.md, "Reviews", says what was and was not verified."""
    reviews = annotation.get("reviews")
    if reviews is None or reviews == []:
        return None, None, annotation
    if not isinstance(reviews, list) or not all(
        isinstance(r, dict) and isinstance(r.get("accepted"), bool) for r in reviews
    ):
        return (
            reading.MALFORMED,
            f"{where}: `reviews` is not a list of reviews with `accepted` true or false",
            annotation,
        )
    _, _, latest = max((str(r.get("created_at") or ""), n, r) for n, r in enumerate(reviews))
    if latest["accepted"]:
        fixed = latest.get("fixed_annotation_history_result")
        return None, None, {**annotation, "result": fixed} if isinstance(fixed, list) else annotation
    by, said = _annotator(latest.get("created_by")), latest.get("comment")
    comment = f": {said[:80]!r}" if isinstance(said, str) and said.strip() else ""
    return reading.REJECTED_IN_REVIEW, f"{where} rejected in review by {by or 'a reviewer'}{comment}", annotation


def _vote(number: int, task: int, item: Any, annotation: Any, kind: str = "class") -> dict[str, Any]:
    """One annotation as a vote, or a bad row naming what is wrong with its shape; the vote of an
    annotation its latest review rejected carries `rejected_in_review` (refused, label kept as said)."""
    where = f"task {task}, annotation {number}"
    if not isinstance(annotation, dict) or not isinstance(annotation.get("result", []), list):
        return bad_row(number, reading.MALFORMED, f"{where} is not an object with a `result` list", item)
    reviewed, review_detail, annotation = _review(where, annotation)
    if reviewed == reading.MALFORMED:
        return bad_row(number, reading.MALFORMED, review_detail or "", item)
    picked, others, malformed = _picked(where, annotation, kind)
    if malformed:
        return bad_row(number, reading.MALFORMED, malformed, item)
    problem, detail, label = None, None, None
    if others and not picked:
        problem = reading.WRONG_TAG_NAMES
        detail = f"{where}: {_RESULT_TYPES[kind][0]} {others[0]}; {LABEL_CONFIG} names them 'label' -> 'item'"
    elif kind == "multi":
        label = reading.tag_text(picked) if picked else EMPTY  # submitted with no tag chosen: the empty set
    elif len(picked) > 1:
        what = "choices for a single-choice item" if kind == "class" else "values for one number"
        problem, detail = reading.MULTIPLE_LABELS, f"{where}: {len(picked)} {what}"
    elif picked:
        label = picked[0]
    if reviewed and not problem:
        problem, detail = reviewed, review_detail
    who = _annotator(annotation.get("completed_by"))
    return vote(
        number,
        item,
        label,
        who,
        problem=problem,
        detail=detail,
        human_annotated="yes",
        created_at=annotation.get("created_at"),
        seconds=annotation.get("lead_time"),
    )


def _task_votes(task: Any, index: int, first: int, kind: str = "class") -> list[dict[str, Any]]:
    """The votes of one task (numbered from `first`), or one bad row for a task of the wrong shape."""
    data = task.get("data") if isinstance(task, dict) else None
    annotations = task.get("annotations") if isinstance(task, dict) else None
    if not isinstance(data, dict) or not isinstance(annotations, list | None):
        detail = f"task {index} is not an object with `data` and an `annotations` list"
        return [bad_row(first, reading.MALFORMED, detail, data.get(ID) if isinstance(data, dict) else None)]
    kept = [a for a in annotations or [] if not (isinstance(a, dict) and a.get("was_cancelled") is True)]
    return [_vote(first + n, index, data.get(ID), a, kind) for n, a in enumerate(kept)]


def _votes(stream: IO[bytes], source: str, kind: str = "class") -> Iterator[dict[str, Any]]:
    number, matched, foreign = 1, 0, 0
    for index, task in enumerate(reading.json_list(stream, source=source, what="a Label Studio JSON export"), start=1):
        for one in _task_votes(task, index, number, kind):
            number += 1
            matched += one[reading.PROBLEM] != reading.WRONG_TAG_NAMES
            foreign += one[reading.PROBLEM] == reading.WRONG_TAG_NAMES
            yield one
    if foreign and not matched:
        raise DataValidationError(
            f"{source}: no annotation uses the tag names alflow exported ({LABEL_ATTRIBUTE!r} for the choices, "
            f"{TO_NAME!r} for the item): the project's labeling config is not {LABEL_CONFIG}. Import "
            f"{LABEL_CONFIG} from the batch folder into the project's settings as is, then export again",
            reason="wrong_tag_names",
        )


def _storage_object(data: bytes, source: str, kind: str = "class") -> list[dict[str, Any]]:
    """The votes of one object Label Studio's target storage writes: an annotation with its task
    nested (the default layout), or a task with its annotations (FUTURE_SAVE_TASK_TO_STORAGE)."""
    if len(data) > reading.MAX_ELEMENT:
        raise DataValidationError(f"{source}: over {reading.MAX_ELEMENT} bytes for one object", reason="too_large")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise DataValidationError(f"{source}: not a JSON object Label Studio writes", reason="unreadable") from None
    task = value.get("task") if isinstance(value, dict) else None
    if isinstance(task, dict) and "result" in value:  # one annotation, named by its id
        return _task_votes({"data": task.get("data"), "annotations": [value]}, task.get("id") or 1, 1, kind)
    if isinstance(value, dict) and "data" in value:  # one task, named <task id>.json
        return _task_votes(value, value.get("id") or 1, 1, kind)
    return [bad_row(1, reading.MALFORMED, "not an annotation with its `task`, nor a task with `data`")]


def read_delivery(stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """A JSON export (a list of tasks), or one object of the project's target storage, in chunks of
    votes: one per annotation that was not cancelled. A file is a storage object when its name is
    (`_storage_key`) and its JSON an object; one without a vote (a cancelled annotation, a task not
    annotated) is read as no vote: one empty chunk, never `empty`."""
    if not _storage_key(source):
        return reading.frames(_votes(stream, source, options.kind))
    head = stream.read(_PEEK)
    if head.removeprefix(codecs.BOM_UTF8).lstrip()[:1] != b"{":
        return reading.frames(_votes(cast(IO[bytes], _Rejoined(head, stream)), source, options.kind))
    votes = _storage_object(head + stream.read(reading.MAX_ELEMENT + 1 - len(head)), source, options.kind)
    return iter([pd.DataFrame(votes, columns=reading.COLUMNS, dtype=object)])


_PEEK = 1 << 12


class _Rejoined:
    """A stream whose first bytes were read already: them, then the rest."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(size)
        if size < 0:
            out, self._head = self._head + self._rest.read(), b""
            return out
        out, self._head = self._head[:size], self._head[size:]
        return out


def write_delivery(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    job_name: str,
    created_at: str,
    kind: LabelKind | None = None,
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
                "result": _result(row[LABEL], kind),
                **_lead_time(row),
            }
        )
    return "export.json", (json.dumps(list(tasks.values()), indent=1) + "\n").encode()


def _lead_time(row: pd.Series) -> dict[str, float]:
    """An annotation's `lead_time` (seconds spent on it) from a vote's `seconds`, when it has one."""
    spent = reading.seconds(plain(row.get(reading.SECONDS)))
    return {} if spent is None else {"lead_time": spent}


def _storage_key(key: str) -> bool:
    """An object of the project's target storage: named by an annotation id, or `<task id>.json`."""
    return key.rsplit("/", 1)[-1].lower().removesuffix(".json").isdigit()


FORMAT = Format(
    "label_studio",
    "tasks.json",
    ".json",
    write_batch,
    batch_ids,
    read_delivery,
    write_delivery,
    batch_extras=label_config,
    read_together=_storage_key,
    bare_names=True,
    batch_copy=SOURCE_TASKS,
    rewrites_revise=True,
)
