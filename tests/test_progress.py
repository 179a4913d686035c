"""Progress bars: drawn on a terminal only, and never in the way of what they wrap."""

import pytest

from alflow import progress


@pytest.mark.parametrize(
    ("setting", "tty", "drawn"),
    [("", False, False), ("", True, True), ("0", True, False), ("1", False, True)],
    ids=["pipe", "terminal", "off", "forced"],
)
def test_bars_are_drawn_on_a_terminal_unless_turned_off(monkeypatch, setting, tty, drawn):
    monkeypatch.setenv("ALFLOW_PROGRESS", setting)
    monkeypatch.setattr("sys.stderr.isatty", lambda: tty)
    assert progress.enabled() is drawn


@pytest.mark.parametrize("setting", ["0", "1"], ids=["quiet", "drawn"])
def test_rows_passes_every_chunk_through_unchanged(monkeypatch, capsys, setting):
    monkeypatch.setenv("ALFLOW_PROGRESS", setting)
    chunks = [[1, 2, 3], [4], [5, 6]]
    assert list(progress.rows(iter(chunks), total=6, description="scoring the pool")) == chunks
    with progress.activity("validating"):
        pass
    assert capsys.readouterr().out == ""  # stdout stays for the command's own output


def test_advance_counts_what_it_is_told(monkeypatch):
    monkeypatch.setenv("ALFLOW_PROGRESS", "1")
    with progress.bar("ingesting", total=10, unit="rows") as advance:
        for _ in range(10):
            advance(1)
