"""The pool's id column checked in one streamed pass, in bounded memory, with Arrow and numpy only.

- Nulls are counted from Arrow's validity bitmaps.
- Uniqueness is proven at no cost while the ids arrive in strictly increasing order (sequential
  ids, a sorted export). Once they do not, each id is hashed to 64 bits and the hashes are sorted:
  in memory up to HASH_BUDGET bytes, beyond that spilled to temporary files by their top bits and
  sorted a file at a time. Only when two hashes agree are the ids behind them read again and
  compared, so a hash collision never fails a pool and a duplicate is always reported.
- The ids a caller looks for (the seed labels') are found by Arrow's hash-set lookup.

No id becomes a Python or pandas string except those looked for and those reported.
"""

from __future__ import annotations

import bisect
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HASH_BUDGET = 32 * 1024 * 1024
"""Bytes of id hashes (8 per row) held in memory before they are spilled to disk."""
MAX_SUSPECTS = 1_000_000
"""Rows whose hash is shared that are read back to compare their ids (enough for any example)."""

Chunks = Callable[[], Iterable[tuple[int, pa.Array]]]
"""A fresh pass over the id column: `(pool position of the first row, Arrow string ids)` chunks."""

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@dataclass(frozen=True)
class IdScan:
    """What one pass over the id column found. Positions are 0-based rows of the pool."""

    rows: int
    nulls: int = 0
    first_null: int | None = None
    duplicated: int = 0  # rows whose id occurs more than once
    first_duplicate: int | None = None
    duplicate: str | None = None  # the id at first_duplicate
    found: frozenset[str] = frozenset()  # those of the wanted ids that are in the pool


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: every input bit moves every output bit."""
    h ^= h >> _S30
    h *= _M1
    h ^= h >> _S27
    h *= _M2
    h ^= h >> _S31
    return h


def _words(data: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """The strings of one length as rows of little-endian 64-bit words, zero-padded."""
    n, width = len(starts), -(-length // 8)
    block = np.zeros((n, width * 8), np.uint8)
    if n and starts[-1] - starts[0] == length * (n - 1):  # contiguous: a reshape, no gather
        block[:, :length] = data[starts[0] : starts[0] + n * length].reshape(n, length)
    elif n:
        block[:, :length] = data[starts[:, None] + np.arange(length)]
    return block.view("<u8")


def _hash_words(words: np.ndarray, length: int) -> np.ndarray:
    h = np.full(words.shape[0], np.uint64(length) * _M2 + _M1, np.uint64)
    for j in range(words.shape[1]):
        h ^= words[:, j]
        h *= _M1
        h ^= h >> _S31
    return _mix(h)


def hash_ids(ids: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string of `ids` (nulls hash as the empty string), vectorised by length."""
    if not pa.types.is_string(ids.type):
        ids = pc.cast(ids, pa.string())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    _, offsets_buffer, data_buffer = ids.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[ids.offset : ids.offset + len(ids) + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    with np.errstate(over="ignore"):
        if len(ids) == 0 or lengths.min() == lengths.max():  # one length, as ids usually are
            length = int(lengths[0]) if len(ids) else 0
            return _hash_words(_words(data, offsets[:-1], length), length)
        out = np.empty(len(ids), np.uint64)
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            out[rows] = _hash_words(_words(data, offsets[rows], int(length)), int(length))
        return out


class _Hashes:
    """Hashes of every id so far: in memory up to HASH_BUDGET bytes; beyond, each full buffer is
    sorted and split by its top bits into BUCKETS files, which are sorted one at a time at the end."""

    BUCKETS = 16

    def __init__(self) -> None:
        self._memory: list[np.ndarray] = []
        self._held = 0
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def add(self, h: np.ndarray) -> None:
        self._memory.append(h)
        self._held += h.nbytes
        if self._held > HASH_BUDGET:
            self._spill()

    def _spill(self) -> None:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="alflow-ids-")
        block = np.concatenate(self._memory) if self._memory else np.zeros(0, np.uint64)
        self._memory, self._held = [], 0
        block.sort()
        step = np.uint64(2**64 // self.BUCKETS)
        bounds = np.searchsorted(block, np.arange(1, self.BUCKETS, dtype=np.uint64) * step)
        for b, part in enumerate(np.split(block, bounds)):
            with open(Path(self._folder.name, f"{b:02d}.u64"), "ab") as handle:
                part.tofile(handle)

    def _sorted_parts(self) -> Iterable[np.ndarray]:
        if self._folder is None:
            block = np.concatenate(self._memory) if self._memory else np.zeros(0, np.uint64)
            self._memory = []
            block.sort()
            yield block
            return
        self._spill()
        for path in sorted(Path(self._folder.name).glob("*.u64")):
            part = np.fromfile(path, np.uint64)
            part.sort()
            yield part

    def shared(self) -> np.ndarray:
        """The hash values that occur more than once, sorted."""
        found = [np.unique(p[1:][p[1:] == p[:-1]]) for p in self._sorted_parts()]
        if self._folder is not None:
            self._folder.cleanup()
        return np.concatenate(found) if found else np.zeros(0, np.uint64)


def _strictly_increasing(ids: pa.Array, last: str | None) -> bool:
    if len(ids) > 1 and not pc.all(pc.less(ids.slice(0, len(ids) - 1), ids.slice(1))).as_py():
        return False
    return last is None or len(ids) == 0 or last < ids[0].as_py()


def _duplicates(read: Chunks, shared: np.ndarray) -> tuple[int, int | None, str | None]:
    """(rows whose id occurs twice or more, first such position, its id), reading back the rows
    whose hash is shared and comparing their ids."""
    positions: list[np.ndarray] = []
    values: list[str] = []
    for offset, ids in read():
        rows = np.flatnonzero(np.isin(hash_ids(ids), shared))
        positions.append(rows + offset)
        values += ids.take(pa.array(rows)).to_pylist()
        if len(values) >= MAX_SUSPECTS:
            break
    counts = Counter(values)
    repeated = [(int(p), v) for p, v in zip(np.concatenate(positions), values, strict=True) if counts[v] > 1]
    if not repeated:
        return 0, None, None  # hash collisions only: the ids differ
    first = min(repeated)
    return len(repeated), first[0], first[1]


class _Sorted:
    """An Arrow string array as a sequence of str, for `bisect` (Python orders str as Arrow does UTF-8)."""

    def __init__(self, ids: pa.Array) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> str:
        return self.ids[i].as_py()


def _found_in_order(ids: pa.Array, wanted: list[str]) -> list[str]:
    """Those of `wanted` (sorted) that are in `ids` (strictly increasing), by binary search: a few
    dozen lookups per chunk instead of hashing every id."""
    if not len(ids) or not wanted:
        return []
    view = _Sorted(ids)
    inside = wanted[bisect.bisect_left(wanted, view[0]) : bisect.bisect_right(wanted, view[len(ids) - 1])]
    return [w for w in inside if (i := bisect.bisect_left(view, w)) < len(ids) and view[i] == w]


def scan_ids(read: Chunks, *, wanted: Collection[str] = ()) -> IdScan:
    """One pass over the id column, looking for the `wanted` ids too. `read` is called again only
    to hash a prefix that was in order, or to compare the ids behind shared hashes."""
    looked_for = sorted(set(wanted))
    lookup = pa.array(looked_for, pa.string())
    rows, nulls, first_null = 0, 0, None
    found: set[str] = set()
    last: str | None = None
    hashes: _Hashes | None = None
    for offset, ids in read():
        rows += len(ids)
        if ids.null_count:
            first_null = first_null if first_null is not None else offset + pc.index(pc.is_null(ids), True).as_py()
            nulls += ids.null_count
        in_order = not nulls and hashes is None and _strictly_increasing(ids, last)
        if in_order:
            found.update(_found_in_order(ids, looked_for))
        elif looked_for:
            found.update(pc.filter(ids, pc.fill_null(pc.is_in(ids, value_set=lookup), False)).to_pylist())
        if nulls:
            continue  # the id column fails not-null first; uniqueness is not reported
        if in_order:
            last = ids[len(ids) - 1].as_py() if len(ids) else last
            continue
        if hashes is None:  # no longer in order: hash the prefix that was
            hashes = _Hashes()
            for earlier, prefix in read():
                if earlier >= offset:
                    break
                hashes.add(hash_ids(prefix))
        hashes.add(hash_ids(ids))
    if nulls or hashes is None:
        return IdScan(rows, nulls, first_null, found=frozenset(found))
    shared = hashes.shared()
    duplicated, first, value = _duplicates(read, shared) if len(shared) else (0, None, None)
    return IdScan(rows, nulls, first_null, duplicated, first, value, frozenset(found))
