"""alflow.collector: the garbage collector paused for a stage, resumed by its last holder, settled by
one full pass when the stage left first-use imports' objects behind."""

from __future__ import annotations

import gc
import threading

import pytest

from alflow import collector


@pytest.fixture
def passes():
    """The collector's passes while the test runs, by generation."""
    seen: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    yield seen
    gc.callbacks.remove(record)


def test_the_collector_is_paused_within_and_resumed_by_the_last_holder():
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer holder is still in
    assert gc.isenabled()


def test_a_process_that_disabled_the_collector_keeps_it_disabled(passes, monkeypatch):
    monkeypatch.setattr(collector, "CATCH_UP", -1)  # would settle, had the collector been running
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
        assert 2 not in passes
    finally:
        gc.enable()


def test_holders_in_two_threads_resume_it_once_both_have_left():
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with collector.paused():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=hold)
    other.start()
    inside.wait(10)
    with collector.paused():
        pass
    assert not gc.isenabled()  # the other thread still holds it
    leave.set()
    other.join(10)
    assert gc.isenabled()


def test_a_pause_that_left_many_objects_ends_with_one_full_pass(passes, monkeypatch):
    monkeypatch.setattr(collector, "CATCH_UP", 50_000)
    with collector.paused():
        kept = [[i] for i in range(100_000)]  # as first-use imports leave them: alive, tracked
    assert passes.count(2) == 1
    passes.clear()
    with collector.paused():
        few = [[i] for i in range(1_000)]  # a warm stage's: no pass at its end
    assert 2 not in passes
    assert len(kept) + len(few) == 101_000
