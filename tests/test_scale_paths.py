"""What keeps a round's memory flat at any pool size: the parts of its path that hold a bounded
number of items whatever the pool holds, checked on small data against the unbounded answer."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alflow.round.autolabel import most_confident


def _all_then_top(confidence: list[float], limit: int | None) -> list[int]:
    """Positions the auto-labels keep when every confident item is held first: the `limit` most
    confident, ties in pool order (the stable sort auto_label then applies)."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    return order[:limit].tolist() if limit is not None else order.tolist()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from([0.9, 0.95, 0.99, 1.0]), max_size=60),
    st.lists(st.integers(1, 7), min_size=1, max_size=30),
    st.one_of(st.none(), st.integers(1, 20)),
)
def test_keeping_the_most_confident_part_by_part_keeps_what_one_sort_of_all_would(confidence, sizes, limit):
    ids = np.array([f"item-{i:03d}" for i in range(len(confidence))], dtype=object)
    labels = np.array([str(i % 3) for i in range(len(confidence))], dtype=object)
    found, start = [], 0
    for size in sizes * (len(confidence) + 1):  # parts of varying size over the whole pool
        if start >= len(confidence):
            break
        part = slice(start, start + size)
        found = [most_confident([*found, (ids[part], labels[part], np.asarray(confidence[part]))], limit)]
        start += size
        assert limit is None or len(found[0][0]) <= limit  # memory holds at most `limit` items
    if not confidence:
        return
    kept_ids, kept_labels, kept_confidence = found[0]
    order = np.argsort(-kept_confidence, kind="stable")
    expected = _all_then_top(confidence, limit)
    assert kept_ids[order].tolist() == ids[expected].tolist()
    assert kept_labels[order].tolist() == labels[expected].tolist()
