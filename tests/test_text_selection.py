"""Selection on texts and sparse rows: every strategy takes a list, series or array of strings,
starts cold on an unfitted text pipeline, and never densifies a whole TF-IDF chunk."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import alflow
from alflow.operations.corpus import support_tickets
from alflow.selection import diversity, measures
from alflow.selection.registry import NAMES


@pytest.fixture(scope="module")
def tickets():
    frame = support_tickets(300, seed=1)
    texts, labels = frame["text"].tolist(), frame["label"].to_numpy()
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(texts[:60], labels[:60])
    return model, texts, labels


@pytest.mark.parametrize("strategy", NAMES)
def test_every_strategy_takes_a_plain_list_of_texts(tickets, strategy):
    model, texts, labels = tickets
    picked = alflow.select_batch(
        model, texts[60:], 8, strategy=strategy, X_labeled=texts[:60], y_labeled=labels[:60], random_state=0
    )
    assert len(set(picked.tolist())) == 8 and 0 <= picked.min() and picked.max() < len(texts) - 60


@pytest.mark.parametrize("strategy", ["margin", "combined", "typiclust"])
def test_a_list_a_series_and_an_array_of_texts_give_the_same_batch(tickets, strategy):
    model, texts, labels = tickets
    batches = [
        alflow.select_batch(
            model,
            kind(texts[60:]),
            8,
            strategy=strategy,
            X_labeled=kind(texts[:60]),
            y_labeled=labels[:60],
            random_state=0,
        )
        for kind in (list, pd.Series, np.array)
    ]
    assert np.array_equal(batches[0], batches[1]) and np.array_equal(batches[0], batches[2])


@pytest.mark.parametrize("strategy", ["auto", "margin", "typiclust", "kcenter", "density", "egl", "qbc_kl"])
def test_cold_start_on_an_unfitted_text_pipeline_picks_diverse_texts(tickets, strategy):
    _, texts, labels = tickets
    unfitted = make_pipeline(TfidfVectorizer(), LogisticRegression())
    seed = np.flatnonzero(labels == "billing")[:5]
    pool = np.setdiff1d(np.arange(len(texts)), seed)
    picked = alflow.select_batch(
        unfitted,
        [texts[i] for i in pool],
        12,
        strategy=strategy,
        X_labeled=[texts[i] for i in seed],
        y_labeled=labels[seed],
        random_state=0,
    )
    assert len(set(picked.tolist())) == 12
    assert len(set(labels[pool[picked]])) >= 3  # spread over the classes, not stuck on the seed's


def _wide_sparse_pool(rows=1000, vocabulary=60_000, per_row=30, seed=0):
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, vocabulary, size=rows * per_row)
    indptr = np.arange(0, rows * per_row + 1, per_row)
    Z = sp.csr_matrix((rng.random(rows * per_row), columns, indptr), shape=(rows, vocabulary))
    Z.sum_duplicates()  # a term counted once per row, as a vectoriser writes it
    return Z


def _peak_bytes(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_egl_and_density_keep_sparse_rows_sparse():
    """Densifying this chunk would take 1000 x 60,000 x 8 bytes = 480 MB; sparse it is under 1 MB."""
    Z = _wide_sparse_pool()
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], size=Z.shape[0])
    model = LogisticRegression(max_iter=200).fit(Z, y)
    proba = model.predict_proba(Z)
    budget = 40 * 2**20  # a few dense vocabulary-long rows and per-row arrays, never the chunk

    egl_peak = _peak_bytes(lambda: measures.expected_gradient_length(model, Z, proba))
    density_peak = _peak_bytes(lambda: diversity.density(Z, Z[:500]))
    assert egl_peak < budget, f"egl peaked at {egl_peak / 2**20:.0f} MB"
    assert density_peak < budget, f"density peaked at {density_peak / 2**20:.0f} MB"


def test_sparse_egl_and_density_equal_their_dense_values():
    Z = _wide_sparse_pool(rows=60, vocabulary=300, per_row=8)
    y = np.random.default_rng(1).choice(["a", "b", "c"], size=60)
    model = LogisticRegression(max_iter=500).fit(Z, y)
    proba = model.predict_proba(Z)
    dense = Z.toarray()
    assert np.allclose(
        measures.expected_gradient_length(model, Z, proba), measures.expected_gradient_length(model, dense, proba)
    )
    assert np.allclose(diversity.density(Z, Z[:20]), diversity.density(dense, dense[:20]))
