"""What a strategy may know besides the pool: the model, the labeled set, and one chunk at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alflow.selection.arrays import is_text, stack
from alflow.selection.measures import split_pipeline


@dataclass(frozen=True)
class Context:
    """The fitted model and the labeled set, resolved once per selection.

    `fitted` is False at cold start (no usable model, or fewer than two labeled classes): then
    `classes` and every model-derived field are None and only diversity can choose.
    """

    model: Any
    fitted: bool
    classes: np.ndarray | None
    X_labeled: Any
    y_labeled: np.ndarray | None
    class_weights: np.ndarray | None
    committee: list[Any] | None

    def embed(self, X: Any) -> Any:
        """The model's features of X, row by row (see `embed`)."""
        return embed(self.model, X, fitted=self.fitted)


@dataclass(frozen=True)
class Chunk:
    """What a per-row prefilter sees of one pool chunk.

    `proba` is the model's predict_proba of X (None when nothing is fitted), `reference` the
    embedded pool sample density compares against, `rng` the generator uniform draws come from.
    """

    X: Any
    proba: np.ndarray | None
    context: Context
    reference: np.ndarray | None
    rng: np.random.Generator


def is_fitted(model: Any) -> bool:
    """Whether `model` has been fit on at least two classes.

    An unfitted estimator raises NotFittedError (an AttributeError) for `classes_`: getattr's default.
    """
    classes = getattr(model, "classes_", None)
    return classes is not None and len(classes) >= 2


def is_cold(model: Any, y_labeled: Any) -> bool:
    """No usable model or fewer than two labeled classes: only diversity can choose."""
    if y_labeled is not None and np.unique(np.asarray(y_labeled)).size < 2:
        return True
    return not is_fitted(model)


def embed(model: Any, X: Any, *, fitted: bool) -> Any:
    """The fitted pipeline's transformed features (everything before its last step), else X as floats.

    Per row, so a chunk at a time: a sparse result (TF-IDF) stays sparse, never a dense chunk.
    """
    _, head = split_pipeline(model)
    Z = head.transform(X) if head is not None and fitted else X
    return Z if hasattr(Z, "tocsr") else np.asarray(Z, dtype=float)


SPACE_DIMENSIONS = 100
"""Sparse features (TF-IDF) are projected to at most this many dimensions (LSA) before a batch pick."""


def pick_space(model: Any, X: Any, X_labeled: Any, *, fitted: bool) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(candidates, labeled items or None, whether already scaled): dense rows where batch picks
    measure distances, the same space for both.

    A fitted pipeline's transformed features; texts without one (cold start) go through the
    pipeline's own unfitted text steps, or TF-IDF, fit here on these rows alone (no labels needed).
    Sparse features are projected by truncated SVD and normalised, so only the bounded candidate
    set is ever dense, in a hundred dimensions rather than the vocabulary's.
    """
    parts = [X] if X_labeled is None else [X, X_labeled]
    _, head = split_pipeline(model)
    if head is not None and fitted:
        Zs, scaled = [head.transform(p) for p in parts], True
    elif is_text(X):
        Zs, scaled = _vectorised(head, parts), True
    else:
        Zs, scaled = [np.asarray(p, dtype=float) for p in parts], False
    if hasattr(Zs[0], "tocsr"):
        Zs = _projected(Zs)
    return Zs[0], (Zs[1] if len(Zs) > 1 else None), scaled


def _vectorised(head: Any, parts: list[Any]) -> list[Any]:
    """Texts as TF-IDF rows (or the pipeline's own text steps), fit on `parts` together."""
    from sklearn.base import clone
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = stack([np.asarray(p, dtype=object) for p in parts])
    try:
        vectoriser = clone(head).fit(texts) if head is not None else None
    except (TypeError, ValueError):  # a head that needs labels to fit (feature selection)
        vectoriser = None
    if vectoriser is None:
        vectoriser = TfidfVectorizer(sublinear_tf=True).fit(texts)
    return [vectoriser.transform(np.asarray(p, dtype=object)) for p in parts]


def _projected(Zs: list[Any]) -> list[np.ndarray]:
    """Sparse rows in a shared low-dimensional dense space (truncated SVD), rows of unit length."""
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    basis = sp.vstack(Zs).tocsr()
    dimensions = min(SPACE_DIMENSIONS, basis.shape[1] - 1, basis.shape[0] - 1)
    if dimensions < 2:
        return [normalize(Z).toarray() for Z in Zs]
    svd = TruncatedSVD(n_components=dimensions, random_state=0).fit(basis)
    return [normalize(svd.transform(Z)) for Z in Zs]
