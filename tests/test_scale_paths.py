"""What keeps a round's memory flat at any pool size: the parts of its path that hold a bounded
number of items whatever the pool holds, checked on small data against the unbounded answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alflow.data.features import check_feature_batches, check_features
from alflow.errors import DataValidationError
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


def _pool_chunks(bad: object, row: int, column: str) -> list[pd.DataFrame]:
    """Three chunks of a pool (ids, two float32 and one int feature) with `bad` at `row` of `column`."""
    frame = pd.DataFrame(
        {
            "id": [f"item-{i:03d}" for i in range(30)],
            "f0": np.linspace(0, 1, 30, dtype=np.float32),
            "f1": np.arange(30, dtype=np.float64),
            "n": np.arange(30, dtype=np.int64),
        }
    )
    if bad is not None:
        frame[column] = frame[column].astype(str if isinstance(bad, str) else frame[column].dtype)
        frame.loc[row, column] = bad
    return [frame.iloc[start : start + 10] for start in range(0, 30, 10)]


@pytest.mark.parametrize(
    ("bad", "row", "column"),
    [
        (None, 0, "f0"),
        (float("nan"), 17, "f0"),
        (float("inf"), 3, "f1"),
        (-float("inf"), 29, "f1"),
        ("bright", 12, "f1"),
    ],
    ids=["clean", "nan-second-chunk", "inf-first-chunk", "minus-inf-last-row", "text"],
)
def test_the_pool_feature_check_on_arrow_batches_says_what_the_frame_check_says(bad, row, column):
    chunks = _pool_chunks(bad, row, column)
    features = ["f0", "f1", "n"]
    batches = [pa.RecordBatch.from_pandas(c, preserve_index=False) for c in chunks]
    expected = None
    try:
        check_features([c.reset_index(drop=True) for c in chunks], features, id_column="id", source="pool")
    except DataValidationError as error:
        expected = str(error)
    if expected is None:
        check_feature_batches(batches, features, id_column="id", source="pool")
        return
    assert f"row {row + 1} (id 'item-{row:03d}')" in expected
    with pytest.raises(DataValidationError) as raised:
        check_feature_batches(batches, features, id_column="id", source="pool")
    assert str(raised.value) == expected
