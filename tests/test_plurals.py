"""Counts in what people read: '1 label', '2 labels' (alflow.values.counted and the round line)."""

from __future__ import annotations

import pytest

from alflow.reporting.reports import RoundReport
from alflow.values import counted


@pytest.mark.parametrize(
    ("n", "noun", "plural", "shown"),
    [
        (1, "label", None, "1 label"),
        (0, "label", None, "0 labels"),
        (2, "row or file", "rows or files", "2 rows or files"),
    ],
)
def test_counted(n, noun, plural, shown):
    assert counted(n, noun, plural) == shown


def test_the_round_line_says_one_label_and_one_row():
    report = RoundReport("c", "waiting", waiting_for={1: 1}, labels_ingested=1, rows_rejected=1, quarantined=("q",))
    message = report.message()
    assert "waiting for 1 label from round 1" in message
    assert "ingested 1 label," in message and "rejected 1 row or file (reasons beside q)" in message
    many = RoundReport("c", "waiting", waiting_for={1: 2}, labels_ingested=3, rows_rejected=2, quarantined=("q",))
    assert "waiting for 2 labels" in many.message() and "rejected 2 rows or files" in many.message()
