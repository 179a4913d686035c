"""benchmarks/noisy_activelab.py: cleanlab's ActiveLab in the noisy-annotator harness, its vendor and its statistics."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("cleanlab")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("noisy_activelab", BENCHMARKS / "noisy_activelab.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_drawn_vendor_follows_the_protocol(bench):
    X, y = bench.datasets()["wine"]
    for seed in range(4):
        crowd = bench.draw_crowd(X, y, np.random.default_rng(seed))
        assert 3 <= len(crowd) <= 5
        for annotator in crowd:
            c = annotator.confusion
            assert np.allclose(c.sum(axis=1), 1) and (c >= 0).all()
            wrong = 1 - np.diag(c)
            assert ((wrong >= 0.025 - 1e-9) & (wrong <= 0.6 + 1e-9)).all()
            # on each class, the mistakes go 70 % to one partner class (3 classes: the rest to the other)
            off = np.where(np.eye(3, dtype=bool), 0, c) / wrong[:, None]
            assert np.allclose(off.max(axis=1), bench.TO_PARTNER)


def test_activelab_spends_the_budget_and_repeats_where_the_vendor_errs(bench, tmp_path):
    from alflow.config import load_campaign
    from alflow.operations.annotators import Annotator, draw_annotations
    from alflow.operations.simulate import load_problem

    X, y = bench.datasets()["iris"]
    path = bench.write_campaign(tmp_path / "iris", X, y, budget=26, batch=10, strategy="margin")
    config = load_campaign(path)
    problem = load_problem(config, answers="truth", seed=0)
    truth = np.array([config.classes.index(c) for c in problem.y_pool])
    swap = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # always wrong
    # one annotator always wrong; one so rarely routed that no item has their label yet (NaN for cleanlab)
    crowd = (Annotator("good", np.eye(3)), Annotator("bad", swap), Annotator("rare", np.eye(3), share=0.001))
    drawn = draw_annotations(crowd, truth, rng=np.random.default_rng(0))
    curve, repeats = bench.activelab_curve(config, problem, drawn, seed=0)
    spent = [x for x, _ in curve]
    assert spent[0] == 6 and spent[-1] == 26  # 2 seed labels per class, then the whole budget
    assert all(0 < b - a <= 10 for a, b in itertools.pairwise(spent))
    assert all(0 <= score <= 1 for _, score in curve)
    assert 0 < repeats < 20  # half the labels are wrong: some are asked again, not all


def test_paired_differences_and_budget_steps(bench):
    mean, half = bench.paired([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and half == pytest.approx(4.3027 / np.sqrt(3), rel=1e-4)
    assert bench.paired([0.5]) == (0.5, 0.0)
    curve = [(6, 0.5), (26, 0.7), (46, 0.9)]
    assert [bench.at_budget(curve, b) for b in (5, 26, 45, 100)] == [0.5, 0.7, 0.7, 0.9]
    part = {
        "set": "s",
        "seed": 0,
        "budget": 40,
        "curves": {"adaptive": curve, "activelab": [(6, 0.5), (46, 0.6)]},
        "repeats": {"adaptive": 3, "activelab": 1},
    }
    table = bench.summarise([part, {**part, "seed": 1}])
    assert table["s"]["difference"]["100%"] == (pytest.approx(0.2), 0.0)
    assert table["all"]["seeds"] == 2 and table["s"]["plans"]["adaptive"]["repeats"] == 3
