"""benchmarks/kind_efficiency.py: small-text's multi-label peer (CVIRS) reads the scored model of either preset."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("small_text.query_strategies")
    spec = importlib.util.spec_from_file_location("kind_efficiency", BENCHMARKS / "kind_efficiency.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model_name", ["default", "random_forest"])
def test_cvirs_picks_a_batch_of_unlabeled_items_from_the_scored_model(bench, model_name):
    X, _, Y, _ = bench.split("multi", "ml_5tags", 0)
    labeled = np.zeros(len(Y), dtype=bool)
    labeled[:40] = True
    model = bench.make_model("multi", Y.shape[1], 0, model_name).fit(X[labeled], bench.as_text("multi", Y[labeled]))
    picked = bench.query("multi", "smalltext_cvirs", model, X, Y, labeled, 10, 0)
    assert picked.size == 10 and np.unique(picked).size == 10
    assert not labeled[picked].any()


def test_cvirs_follows_the_models_probabilities(bench):
    """Two models that disagree on the pool make CVIRS pick differently: it ranks by the model handed to it."""
    X, _, Y, _ = bench.split("multi", "ml_5tags", 0)
    labeled = np.zeros(len(Y), dtype=bool)
    labeled[:40] = True

    class Fixed:
        def __init__(self, proba):
            self.proba = proba

        def label_proba(self, X_rows):
            return self.proba[: len(X_rows)]

    rng = np.random.default_rng(0)
    a = bench.query("multi", "smalltext_cvirs", Fixed(rng.random((len(Y), 5))), X, Y, labeled, 10, 0)
    b = bench.query("multi", "smalltext_cvirs", Fixed(rng.random((len(Y), 5))), X, Y, labeled, 10, 0)
    assert set(a) != set(b)
