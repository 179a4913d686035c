"""Reading a vendor's file without trusting it: line by line or element by element, any bytes at all.

Every reader of alflow.exchange.formats is built on these. They never hold more than one line (or
one element of a JSON list) and a chunk of votes in memory, so a file's size costs time, not
memory. A line or element that cannot be read becomes one *bad row* (a vote with a `problem`
code and a `detail`), so one bad byte costs one row, never the file; only what cannot be read
at all (a JSON document broken in the middle, a CSV header without the columns) raises
DataValidationError for the whole file.

Row problems a reader reports (beside the checks of alflow.intake.votes):
undecodable (bytes that are not UTF-8 text), too_long (a line or element over its limit),
malformed (not the format's shape), bad_value (an id, label or annotator that is not text or a
number), multiple_labels (several labels for a single-choice item), wrong_tag_names (Label
Studio results under tag names other than the labeling config alflow exported),
rejected_by_verifier (a verification job's verdict on the label was "bad"), rejected_in_review
(a reviewer rejected the annotation: Label Studio Enterprise's latest review has `accepted: false`).
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

import pandas as pd

from alflow.errors import DataValidationError

ID, LABEL, ANNOTATOR = "id", "label", "annotator"  # the columns of every delivery, once read
VOTE_COLUMNS = [ID, LABEL, ANNOTATOR]
SECONDS = "seconds"  # the time an annotator spent on the vote, as the tool records it (None: not recorded)
META_COLUMNS = ["confidence", "human_annotated", "job_name", "created_at", SECONDS]
ROW, PROBLEM, DETAIL = "row", "problem", "detail"
COLUMNS = [ROW, *VOTE_COLUMNS, *META_COLUMNS, PROBLEM, DETAIL]

UNDECODABLE, TOO_LONG, MALFORMED, BAD_VALUE = "undecodable", "too_long", "malformed", "bad_value"
MULTIPLE_LABELS, WRONG_TAG_NAMES = "multiple_labels", "wrong_tag_names"
REJECTED_BY_VERIFIER = "rejected_by_verifier"  # a verification job (Ground Truth's) said the label is wrong
REJECTED_IN_REVIEW = "rejected_in_review"  # the annotation's latest review (Label Studio Enterprise's) rejected it
READER_PROBLEMS = (
    UNDECODABLE,
    TOO_LONG,
    MALFORMED,
    BAD_VALUE,
    MULTIPLE_LABELS,
    WRONG_TAG_NAMES,
    REJECTED_BY_VERIFIER,
    REJECTED_IN_REVIEW,
)

MAX_LINE = 1 << 20  # bytes in one line of a line format (1 MiB): beyond, the line is one bad row
MAX_ELEMENT = 16 << 20  # characters in one element of a JSON list (16 Mi): beyond, the file is refused
CHUNK_ROWS = 20_000  # votes per chunk handed to the judge
_READ = 1 << 16


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(value: str) -> bool:
    """Whether `value` holds bytes that were not UTF-8 (decoded with surrogateescape) or lone surrogates."""
    return not value.isascii() and _SURROGATE.search(value) is not None


def cell(value: Any) -> tuple[str | None, str | None]:
    """(text, problem) of one field: text is stripped, None when empty; a problem for anything but
    text or a number (a bool, a list, an object) and for text that was not valid UTF-8."""
    if value is None:
        return None, None
    if type(value) is str:
        value = value.strip()
        if not value.isascii() and _SURROGATE.search(value):
            return safe(value), UNDECODABLE
        return value or None, None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, BAD_VALUE
    return str(value), None


def safe(value: str) -> str:
    """`value` as valid Unicode: undecodable bytes and lone surrogates as backslash escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def vote(
    row: int,
    id_: Any,
    label: Any,
    annotator: Any = None,
    *,
    problem: str | None = None,
    detail: str | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """One vote as every reader yields it: fields normalised by `cell`, the first problem kept."""
    out: dict[str, Any] = {ROW: row, PROBLEM: problem, DETAIL: detail}
    for column, value in ((ID, id_), (LABEL, label), (ANNOTATOR, annotator)):
        if value is None or (type(value) is str and value.isascii() and value.strip() == value and value):
            out[column] = value  # the common case: plain text as it is
            continue
        out[column], trouble = cell(value)
        if trouble and not out[PROBLEM]:
            out[PROBLEM], out[DETAIL] = trouble, f"{column} is {_kind(value)}"
    for column in META_COLUMNS:
        value = meta.get(column)
        out[column] = value if value is None or isinstance(value, str | int | float) else None
    out[SECONDS] = seconds(meta.get(SECONDS))
    return out


def seconds(value: Any) -> float | None:
    """Time spent as a tool writes it (a number, or a number as text) in seconds; None for anything
    else (missing, negative, not finite, a boolean): time not recorded is never an error."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def tag_text(label: Any) -> Any:
    """A list of tags as alflow.kinds spells them (`a;b`, `[]` for none); anything else as it is
    (a list holding other than plain tags stays a list: `vote` makes it a `bad_value` row)."""
    if not isinstance(label, list) or not all(type(t) is str and ";" not in t and t != "[]" for t in label):
        return label
    return ";".join(t.strip() for t in label) or "[]"


def bad_row(row: int, problem: str, detail: str, id_: Any = None) -> dict[str, Any]:
    """A row that could not be read as a vote (with its item's id when that much is known)."""
    return vote(
        row,
        id_ if isinstance(id_, str | int) and not isinstance(id_, bool) else None,
        None,
        problem=problem,
        detail=detail,
    )


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "not valid UTF-8 text"
    return {bool: "a boolean", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def texts(values: list[str]) -> tuple[list[str | None], list[str | None]]:
    """`cell` over a column of text (as CSV gives it), fast: (texts, problems)."""
    out = [v.strip() or None for v in values]
    problems: list[str | None] = [None] * len(out)
    if "".join(filter(None, out)).isascii():  # the common case, checked at C speed
        return out, problems
    for n, v in enumerate(out):
        if v is not None and not v.isascii() and _SURROGATE.search(v):
            out[n], problems[n] = safe(v), UNDECODABLE
    return out, problems


def frames(votes: Iterable[dict[str, Any]], size: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Votes in chunks of `size` rows, as frames with the shared COLUMNS (objects: text stays text)."""
    chunk: list[dict[str, Any]] = []
    for one in votes:
        chunk.append(one)
        if len(chunk) >= size:
            yield pd.DataFrame(chunk, columns=COLUMNS, dtype=object)
            chunk = []
    if chunk:
        yield pd.DataFrame(chunk, columns=COLUMNS, dtype=object)


class Long(bytes):
    """The first HEAD bytes of a line over the limit (the rest skipped unread): where its id may be found."""


HEAD = 1 << 16  # bytes kept of a line too long to read: enough to find the id it starts with


def lines(stream: IO[bytes], *, max_line: int = MAX_LINE) -> Iterator[tuple[int, bytes | Long]]:
    """(line number, bytes without the line break) of every line; for a line over `max_line` bytes
    its first HEAD bytes as `Long`, the rest skipped without being held."""
    number = 0
    while line := stream.readline(max_line + 1):
        number += 1
        if len(line) > max_line and not line.endswith(b"\n"):
            while (rest := stream.readline(_READ)) and not rest.endswith(b"\n"):
                pass
            yield number, Long(line[:HEAD])
            continue
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        yield number, line.rstrip(b"\r\n")


class TextLines:
    """A binary stream as lines of text for csv.reader, read in blocks (fast): each line keeps its
    "\n"; bytes that are not UTF-8 become surrogates (`has_surrogates`), line by line, so they
    cost their own line only. A line over `max_line` bytes is read as an empty line and its
    number kept in `too_long` (its first HEAD bytes in `heads`), the rest skipped without being held."""

    def __init__(self, stream: IO[bytes], *, max_line: int = MAX_LINE) -> None:
        self._stream, self._max = stream, max_line
        self.too_long: set[int] = set()
        self.heads: dict[int, bytes] = {}  # the first HEAD bytes of each line too long, by number

    def __iter__(self) -> Iterator[str]:
        carry, number, skipping = b"", 0, False
        while block := self._stream.read(self._max):
            if number == 0 and not carry:
                block = block.removeprefix(codecs.BOM_UTF8)
            pieces = (carry + block).split(b"\n")
            carry = pieces.pop()
            if skipping and pieces:  # the end of a line too long to keep
                pieces[0], skipping = b"", False
            if pieces and max(map(len, pieces)) > self._max:  # a line too long that arrived whole
                for n, piece in enumerate(pieces):
                    if len(piece) > self._max:
                        self.too_long.add(number + n + 1)
                        self.heads[number + n + 1], pieces[n] = piece[:HEAD], b""
            if pieces:
                text = b"\n".join(pieces).decode("utf-8", "surrogateescape").split("\n")
                number += len(text)
                yield from (line + "\n" for line in text)
            if len(carry) > self._max:
                self.too_long.add(number + 1)
                self.heads[number + 1] = carry[:HEAD]
                carry, skipping = b"", True
        if skipping:  # the file ends inside a line too long to keep
            yield ""
        elif carry:
            yield carry.decode("utf-8", "surrogateescape")


def json_line(number: int, line: bytes, id_path: tuple[str, ...] = (ID,)) -> tuple[Any, dict[str, Any] | None]:
    """The JSON value on one line, or (None, the bad row saying why it is not one: for a line too
    long, with the id at `id_path` when its head shows it)."""
    if isinstance(line, Long):
        return None, bad_row(number, TOO_LONG, f"line {number} is longer than {MAX_LINE} bytes", head_id(line, id_path))
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, bad_row(number, UNDECODABLE, f"line {number}: byte {error.start + 1} is not UTF-8")
    try:
        return json.loads(text), None
    except RecursionError:
        return None, bad_row(number, MALFORMED, f"line {number}: JSON nested too deeply")
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
        return None, bad_row(number, MALFORMED, f"line {number} is not JSON ({str(error)[:80]})")


def json_objects(
    stream: IO[bytes], id_path: tuple[str, ...] = (ID,)
) -> Iterator[tuple[int, dict[str, Any] | None, dict[str, Any] | None]]:
    """(line number, object, bad row) for each non-blank line of a JSON Lines file: exactly one of
    object and bad row is set; a line too long to read names the id found at `id_path` (the keys
    from the line's object down) in its head."""
    for number, line in lines(stream):
        if not isinstance(line, Long) and not line.strip():
            continue
        value, bad = json_line(number, line, id_path)
        if bad is None and not isinstance(value, dict):
            bad = bad_row(number, MALFORMED, f"line {number} is a JSON {_json_kind(value)}, not an object")
        yield number, (value if bad is None else None), bad


_TOKEN = re.compile(rb'\s*(?:("(?:[^"\\]|\\.)*")|([{}\[\],:])|([^\s{}\[\],:"]+))')


def head_id(head: bytes, path: tuple[str, ...]) -> str | None:
    """The text or number at `path` (keys from the top object down) in the head of a JSON object cut
    off anywhere; None when the head does not show it whole."""
    tokens = [m.groups() for m in _TOKEN.finditer(head)]
    opened: list[str | None] = []  # the key each open container was opened under (None: top, list item)
    key: str | None = None
    for n, (text, mark, bare) in enumerate(tokens):
        if text is not None and n + 1 < len(tokens) and tokens[n + 1][1] == b":":
            key = _text(text)
            continue
        if mark in (b"{", b"["):
            opened.append(key)
        elif mark in (b"}", b"]"):
            opened = opened[:-1]
        elif mark is None and key is not None and (*opened[1:], key) == path and n + 1 < len(tokens):
            if text is not None:
                return _text(text)
            number = bare.decode("ascii", "replace")
            return number if re.fullmatch(r"-?\d+(\.\d+)?", number) else None
        if mark != b":":
            key = None
    return None


def _text(token: bytes) -> str | None:
    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _json_kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


class _Text:
    """The stream decoded incrementally (undecodable bytes kept as surrogates, for the rows to refuse)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.buffer = ""
        self.eof = False
        self.consumed = 0  # characters dropped from the front of the buffer

    def more(self, at_least: int = _READ) -> bool:
        """Read at least `at_least` more bytes into the buffer; False at the end of the stream."""
        if self.eof:
            return False
        data = self._stream.read(max(at_least, _READ))
        self.buffer += self._decoder.decode(data, final=not data)
        self.eof = not data
        if self.consumed == 0 and self.buffer.startswith("\ufeff"):
            self.buffer, self.consumed = self.buffer[1:], 1
        return True

    def skip_space(self, pos: int) -> int:
        while True:
            while pos < len(self.buffer) and self.buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(self.buffer) or not self.more():
                return pos

    def drop(self, pos: int) -> int:
        """Forget the buffer before `pos`; returns the new position (0)."""
        self.consumed += pos
        self.buffer = self.buffer[pos:]
        return 0


def json_list(stream: IO[bytes], *, source: str, what: str) -> Iterator[Any]:
    """The elements of a JSON document that is a list, one at a time (never the whole list in memory).

    Raises DataValidationError (reason `unreadable`) when the document is not a list or breaks off
    in the middle: past a broken element nothing can be found again.
    """
    text, decoder = _Text(stream), json.JSONDecoder()
    pos = text.skip_space(0)
    if not text.buffer[pos:].startswith("["):
        raise DataValidationError(
            f"{source}: {what} is a JSON list, and this file does not start with '['", reason="unreadable"
        )
    pos = text.skip_space(pos + 1)
    if text.buffer[pos:].startswith("]"):
        return
    while True:
        value, pos = _element(text, decoder, pos, source=source)
        yield value
        pos = text.skip_space(text.drop(pos))
        if text.buffer[pos : pos + 1] == "]":
            return
        if text.buffer[pos : pos + 1] != ",":
            raise _broken(source, text, pos, "expected ',' or ']' after an element")
        pos = text.skip_space(pos + 1)


def _element(text: _Text, decoder: json.JSONDecoder, pos: int, *, source: str) -> tuple[Any, int]:
    """Decode the element at `pos`, reading more of the stream until it is complete."""
    while True:
        try:
            value, end = decoder.raw_decode(text.buffer, pos)
            if end - pos > MAX_ELEMENT:  # arrived whole in one read: as large all the same
                raise _too_large(source, text, pos)
            if end < len(text.buffer) or text.eof:  # a number at the end of the buffer may go on
                return value, end
        except RecursionError:
            raise _broken(source, text, pos, "JSON nested too deeply") from None
        except ValueError as error:
            if text.eof:
                raise _broken(source, text, pos, str(error)[:80]) from None
        if len(text.buffer) - pos > MAX_ELEMENT:
            raise _too_large(source, text, pos)
        text.more(len(text.buffer))


def _too_large(source: str, text: _Text, pos: int) -> DataValidationError:
    return DataValidationError(
        f"{source}: an element at character {text.consumed + pos} is larger than {MAX_ELEMENT} characters",
        reason="too_large",
    )


def _broken(source: str, text: _Text, pos: int, why: str) -> DataValidationError:
    return DataValidationError(
        f"{source}: not readable JSON at character {text.consumed + pos} ({why})", reason="unreadable"
    )
