"""SageMaker Ground Truth: an input manifest out; the job's output manifest in.

Out: one JSON line per item: `source-ref` (an object in a bucket), else `source` (the item's text,
or its features as inline JSON text), then `id`, `score`, `predicted`; each feature written once.
Ground Truth's documented limits are checked on the way out: a line of at most 100,000
characters, no attribute over 20,000, no attribute name starting with `$`.

In: `<job>/manifests/output/output.manifest`, one consolidated label per line under a label
attribute `X` with its `X-metadata` object. A chained job (a verification or adjustment job on
top of a labeling job) adds its own attribute to each line (each job in a chain appends its
attribute after those of the jobs before it), and its metadata's `type` says which job is which:
the label is read from the attribute the campaign names (`vendor.label_attribute`), else from the
last one that is not a verification job's (`groundtruth/label-verification`): an adjustment job's
adjusted label wins over the first job's. The last verification job after the label's job gives
the verdict: a `bad` one (its `class-name` says bad, incorrect, wrong, no, ...) refuses the row as
`rejected_by_verifier` (with the verifier's feedback), a verdict neither good nor bad as
`malformed`. A class index written as text (`"1"`) is read as the number. `source` and
`source-ref` (and their `-metadata`) are the item, never a label. `human-annotated: "no"` marks
the service's own auto-labels: they are read as such and kept apart by the ingest. Time spent: the
workers' `timeSpentInSeconds` (a worker response's field, https://docs.aws.amazon.com/sagemaker/latest/dg/sms-data-output.html)
where the label's metadata carries it, itself or in the worker responses (`answers`) a custom
consolidation copies there; the built-in jobs' output manifest carries none, and the separate
worker-response files are not read.

Tags (alflow.kinds): a multi-label job's output (text or image classification, multi-label) is
the list of the class indices the workers chose, named by the metadata's `class-map` (index as
text -> class) with each tag's confidence in its `confidence-map`; the vote's confidence is the
lowest of them. An index the line's class map does not name is a `bad_value` row (the job's
categories need not be in the campaign's order, so no position is guessed); only a line without a
class map is read by the campaign's classes' order. Ground
Truth has no built-in task type for a number: a numeric campaign cannot use this format
(refused when the campaign file is read).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import pandas as pd

from alflow.errors import DataValidationError
from alflow.exchange.formats import reading
from alflow.exchange.formats.base import LABEL_ATTRIBUTE, Format, ReadOptions, jsonl_bytes, kind_of, plain_row
from alflow.exchange.formats.reading import ID, LABEL, bad_row, vote
from alflow.kinds import LabelKind, tags
from alflow.values import plain

OUTPUT_MANIFEST = "manifests/output/output.manifest"
MAX_LINE_CHARS, MAX_ATTRIBUTE_CHARS = 100_000, 20_000  # per JSON object, per attribute value
_INPUT_KEYS = ("source", "source-ref")
_METADATA = "-metadata"


def _line(fields: dict[str, Any], text_column: str | None) -> dict[str, Any]:
    """One input manifest line: the item's source first, every other field once."""
    if "source-ref" in fields:
        return {"source-ref": fields.pop("source-ref"), **fields}
    if text_column and text_column in fields:
        return {"source": fields.pop(text_column), **fields}
    kept = {k: fields.pop(k) for k in (ID, "score", "predicted") if k in fields}
    return {"source": json.dumps(fields, sort_keys=True), **kept}


def _check_limits(line: dict[str, Any]) -> None:
    item = line.get(ID)
    for key, value in line.items():
        if key.startswith("$"):
            raise DataValidationError(f"item {item}: Ground Truth refuses attribute names starting with '$' ({key!r})")
        size = len(value if isinstance(value, str) else json.dumps(value))
        if size > MAX_ATTRIBUTE_CHARS:
            raise DataValidationError(
                f"item {item}: its {key!r} is {size} characters and Ground Truth takes at most "
                f"{MAX_ATTRIBUTE_CHARS} per attribute; shorten it, or give the items a source-ref column "
                "(an s3:// object per item)"
            )
    if (size := len(json.dumps(line))) > MAX_LINE_CHARS:
        raise DataValidationError(
            f"item {item}: its manifest line is {size} characters and Ground Truth takes at most "
            f"{MAX_LINE_CHARS}; drop columns from the pool or give the items a source-ref column"
        )


def write_batch(
    items: pd.DataFrame, *, model_version: str, text_column: str | None, kind: LabelKind | None = None
) -> bytes:
    """An input manifest; DataValidationError naming the item for a line over Ground Truth's limits."""
    lines = [_line(plain_row(row), text_column) for _, row in items.iterrows()]
    for line in lines:
        _check_limits(line)
    return jsonl_bytes(lines)


def batch_ids(data: bytes) -> list[str]:
    return [str(json.loads(line)[ID]) for line in data.decode().splitlines() if line.strip()]


def label_attributes(line: dict[str, Any]) -> list[str]:
    """The label attributes of an output manifest line, in line order: keys X with an X-metadata object."""
    return [
        key[: -len(_METADATA)]
        for key, value in line.items()
        if key.endswith(_METADATA)
        and isinstance(value, dict)
        and key[: -len(_METADATA)] in line
        and key[: -len(_METADATA)] not in _INPUT_KEYS
    ]


def _index(value: Any, names: dict[str, Any], classes: tuple[str, ...]) -> tuple[Any, str | None]:
    """(the class an index names, None), or (None, why not): the class map's name, else `classes`' entry."""
    if isinstance(value, str) and value.strip().isdecimal():  # the index written as text: "1"
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"the class index is {json.dumps(value)[:40]}, not an integer"
    if str(value) in names:
        return names[str(value)], None
    if names:  # the job's class map names the indices it chose: one it leaves out is no class to guess
        shown = ", ".join(sorted(names, key=lambda k: (len(k), k))[:10])
        return None, f"class index {value} is not in the line's class-map (which names {shown})"
    if not 0 <= value < len(classes):
        return None, f"class index {value} is outside the class set ({len(classes)} classes)"
    return classes[value], None


def _tags(value: Any, meta: dict[str, Any], classes: tuple[str, ...]) -> tuple[Any, str | None, str | None]:
    """(tags, problem, detail) of a multi-label output: its list of class indices named by the class map
    (a single-label output's class is one tag)."""
    names: dict[str, Any] = meta["class-map"] if isinstance(meta.get("class-map"), dict) else {}
    if not isinstance(value, list):
        return _label(value, meta, classes)
    found = []
    for index in value:
        name, why = _index(index, names, classes)
        if why is not None:
            return None, reading.BAD_VALUE, why
        found.append(name)
    return reading.tag_text(found), None, None


def _confidence(meta: dict[str, Any]) -> Any:
    """The label's confidence: the metadata's, else the lowest of a multi-label output's confidence map."""
    scores = meta.get("confidence-map")
    if meta.get("confidence") is not None or not isinstance(scores, dict) or not scores:
        return meta.get("confidence")
    numbers = [v for v in scores.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    return min(numbers) if len(numbers) == len(scores) else None


def _label(value: Any, meta: dict[str, Any], classes: tuple[str, ...]) -> tuple[Any, str | None, str | None]:
    """(label, problem, detail): the metadata's class-name, else the class index looked up in `classes`."""
    name = meta.get("class-name")
    if name is not None:
        return name, None, None
    if isinstance(value, list):  # multi-label output: a list of class indices
        if len(value) != 1:
            return None, reading.MULTIPLE_LABELS, f"{len(value)} class indices for a single-choice item"
        value = value[0]
    if isinstance(value, str) and value.strip().isdecimal():  # the index written as text: "1"
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None, reading.BAD_VALUE, f"the class index is {json.dumps(value)[:40]}, not an integer"
    if not 0 <= value < len(classes):
        return None, reading.BAD_VALUE, f"class index {value} is outside the class set ({len(classes)} classes)"
    return classes[value], None, None


def is_verification(line: dict[str, Any], attribute: str) -> bool:
    """Whether `attribute` is a verification job's (metadata `type` `groundtruth/label-verification`)."""
    kind = line[attribute + _METADATA].get("type")
    return isinstance(kind, str) and kind.endswith("label-verification")


def verdict(line: dict[str, Any], attribute: str) -> tuple[bool | None, str]:
    """(True: the label is rejected, False: accepted, None: not understood; the verdict's text) of a
    verification attribute: its `class-name` (the job's own categories), judged by its words."""
    text = line[attribute + _METADATA].get("class-name")
    words = set(str(text).lower().replace("-", " ").replace("_", " ").split()) if text is not None else set()
    if words & _REJECTING:
        return True, str(text)
    return (False if words & _ACCEPTING else None), str(text)


_REJECTING = {"bad", "incorrect", "wrong", "no", "not", "reject", "rejected", "invalid", "inaccurate"}
_ACCEPTING = {"good", "correct", "yes", "accept", "accepted", "valid", "right", "accurate"}


def _checked(number: int, line: dict[str, Any], attribute: str, checks: list[str]) -> tuple[str | None, str | None]:
    """(problem, detail) from the verification jobs after the label's job: the last one's verdict."""
    if not checks:
        return None, None
    rejected, text = verdict(line, checks[-1])
    feedback = line[checks[-1] + _METADATA].get("worker-feedback")
    said = f"; feedback: {json.dumps(feedback)[:200]}" if feedback else ""
    if rejected:
        return reading.REJECTED_BY_VERIFIER, f"line {number}: {checks[-1]!r} says {text[:60]!r} of {attribute!r}{said}"
    if rejected is None:
        why = f"line {number}: verdict {text[:60]!r} of {checks[-1]!r} is neither good nor bad (e.g. 'good', 'bad')"
        return reading.MALFORMED, why
    return None, None


TIME_SPENT = "timeSpentInSeconds"  # a worker response's time on the task (Ground Truth's worker-response files)


def time_spent(meta: dict[str, Any]) -> float | None:
    """The seconds workers spent on the label, where the output manifest's metadata carries them: its own
    `timeSpentInSeconds`, else the sum over the worker responses it holds (`answers`, as a worker-response
    file writes them, copied by a custom consolidation); None when it carries neither."""
    if (own := reading.seconds(meta.get(TIME_SPENT))) is not None:
        return own
    answers = meta.get("answers")
    if not isinstance(answers, list):
        return None
    spent = [reading.seconds(a.get(TIME_SPENT)) for a in answers if isinstance(a, dict)]
    known = [s for s in spent if s is not None]
    return sum(known) if known else None


def _vote(number: int, line: dict[str, Any], options: ReadOptions) -> dict[str, Any]:
    attributes = label_attributes(line)
    labels = [a for a in attributes if not is_verification(line, a)]
    wanted = options.label_attribute
    if wanted is not None and wanted not in attributes:
        found = ", ".join(attributes) or "none"
        why = f"line {number} has no label attribute {wanted!r} (it has: {found})"
        return bad_row(number, reading.MALFORMED, why, line.get(ID))
    if not labels:
        why = f"line {number} has no label attribute (a key X with an X-metadata object, not a verification's)"
        return bad_row(number, reading.MALFORMED, why, line.get(ID))
    attribute = wanted or labels[-1]
    after = attributes[attributes.index(attribute) + 1 :]
    meta = line[attribute + _METADATA]
    read = _tags if options.kind == "multi" else _label
    label, problem, detail = read(line[attribute], meta, options.classes)
    if problem is None:
        problem, detail = _checked(number, line, attribute, [a for a in after if is_verification(line, a)])
    return vote(
        number,
        line.get(ID),
        label,
        None,
        problem=problem,
        detail=detail,
        confidence=_confidence(meta),
        human_annotated=meta.get("human-annotated"),
        job_name=meta.get("job-name"),
        created_at=meta.get("creation-date"),
        seconds=time_spent(meta),
    )


def _votes(stream: IO[bytes], options: ReadOptions) -> Iterator[dict[str, Any]]:
    for number, line, bad in reading.json_objects(stream):
        if bad is not None:
            yield bad
        elif line is not None:
            yield _vote(number, line, options)


def read_delivery(stream: IO[bytes], *, source: str, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """One consolidated label per line, metadata kept (confidence, human-annotated, job, date)."""
    return reading.frames(_votes(stream, options))


def _multi_label_line(id_: str, label: str, classes: tuple[str, ...], job_name: str, created_at: str) -> dict:
    """An output manifest line of a multi-label job: class indices, their class map and confidences."""
    chosen = tags(label)
    indices = [classes.index(t) if t in classes else len(classes) + n for n, t in enumerate(chosen)]
    meta = {
        "job-name": f"labeling-job/{job_name}",
        "class-map": {str(i): t for i, t in zip(indices, chosen, strict=True)},
        "human-annotated": "yes",
        "creation-date": created_at,
        "confidence-map": {str(i): 0.95 for i in indices},
        "type": "groundtruth/text-classification-multilabel",
    }
    return {"id": id_, LABEL_ATTRIBUTE: indices, f"{LABEL_ATTRIBUTE}-metadata": meta}


def write_delivery(
    votes: pd.DataFrame,
    *,
    classes: tuple[str, ...],
    job_name: str,
    created_at: str,
    kind: LabelKind | None = None,
) -> tuple[str, bytes]:
    if kind_of(kind) == "multi":
        lines = [
            _multi_label_line(str(row[ID]), str(row[LABEL]), classes, job_name, created_at)
            for _, row in votes.iterrows()
        ]
        return f"{job_name}/{OUTPUT_MANIFEST}", jsonl_bytes(lines)
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
        if (spent := reading.seconds(plain(row.get(reading.SECONDS)))) is not None:
            meta[TIME_SPENT] = spent
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
