"""Python's cyclic garbage collector, paused while a stage makes mostly long-lived objects.

The log stage of a round in a fresh process imports what it alone needs (MLflow and its SQL store,
skops, matplotlib): some 5 * 10^5 objects, all kept. Their allocations set off the collector again
and again, and its full passes walk the whole heap and find next to nothing to free: in a fresh
process's warm round at 10^5 rows, five full passes and some 700 young ones, about 0.9 CPU s of the
stage. Paused, the stage makes them without a pass; when it ends, if it left that many new objects
(first-use imports: `CATCH_UP`), one full pass settles them there, so that the next round does not
pay it; a warm stage leaves a few 10^4 and the collector simply resumes. Only for stages whose
allocations are bounded (not the pool's scoring, whose frames are freed as it streams).

Reentrant and thread-safe: the collector resumes when the last holder leaves, and only if it ran
when the first came in (a process that disabled it keeps it disabled, and gets no pass).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CATCH_UP = 200_000  # new objects a pause leaves that call for one full pass at its end (a warm log stage: ~3 * 10^4)

_lock = threading.Lock()
_holders = 0
_resume = False


@contextmanager
def paused() -> Iterator[None]:
    """Within: no automatic collection (reference counting still frees what it can)."""
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            settle = _holders == 0 and _resume
            if settle:
                gc.enable()
        if settle and gc.get_count()[0] > CATCH_UP:
            gc.collect()
