"""What a strategy may know besides the pool: the model, the labeled set, and one chunk at a time."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from alflow.selection.arrays import is_text, stack
from alflow.selection.checks import has_proba, model_kind
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
    tag_weights: np.ndarray | None = None  # class balance for tags (alflow.selection.tag_balance)

    def space(self, sample: Any) -> Space:
        """The space distances are measured in for this selection, fit on `sample` (pool rows) and the labeled items."""
        return fit_space(self.model, sample, self.X_labeled if self.has_labels else None, fitted=self.fitted)

    @property
    def has_labels(self) -> bool:
        return self.X_labeled is not None and self.y_labeled is not None and len(self.y_labeled) > 0


@dataclass(frozen=True)
class Space:
    """Where distances are measured, fit once per selection (`fit_space`).

    A fitted pipeline's transformed features (already scaled by its steps); texts without one
    (cold start) through the pipeline's own unfitted text steps, or TF-IDF (`vectoriser`); else
    the raw features standardised by a pool sample and the labeled items. Missing values sit at
    the mean (0 after standardising), so a NaN feature neither attracts nor repels. Sparse rows
    (TF-IDF) stay sparse: cosine similarity needs no scale, and a chunk is never densified.
    """

    model: Any
    fitted: bool
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    vectoriser: Any = None

    def __call__(self, X: Any) -> Any:
        if self.vectoriser is not None:
            return self.vectoriser.transform(np.asarray(X, dtype=object))
        Z = embed(self.model, X, fitted=self.fitted)
        if hasattr(Z, "tocsr"):
            return Z
        if self.mean is not None and self.std is not None:
            Z = (Z - self.mean) / self.std
        return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)

    def dense(self, X: Any, X_labeled: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(candidates, labeled items or None) as dense rows for a batch pick, in one space.

        Sparse features are projected together by truncated SVD to at most SPACE_DIMENSIONS and
        normalised, so only the bounded candidate set is ever dense.
        """
        Zs = [self(X)] if X_labeled is None else [self(X), self(X_labeled)]
        if hasattr(Zs[0], "tocsr"):
            Zs = _projected(Zs)
        return Zs[0], (Zs[1] if len(Zs) > 1 else None)


SPACE_DIMENSIONS = 100
"""Sparse features (TF-IDF) are projected to at most this many dimensions (LSA) before a batch pick."""


def fit_space(model: Any, sample: Any, X_labeled: Any = None, *, fitted: bool) -> Space:
    """The distance space of one selection, fit on `sample` (pool rows) and `X_labeled`."""
    _, head = split_pipeline(model)
    if head is not None and fitted:
        return Space(model, fitted)
    parts = [sample] if X_labeled is None else [sample, X_labeled]
    if is_text(sample):
        return Space(model, fitted, vectoriser=_vectoriser(head, parts))
    Zs = [embed(model, part, fitted=fitted) for part in parts]
    if hasattr(Zs[0], "tocsr"):
        return Space(model, fitted)
    Z = np.concatenate(Zs)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: mean 0, scale 1
        mean, std = np.nanmean(Z, axis=0), np.nanstd(Z, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return Space(model, fitted, mean, std)


def _vectoriser(head: Any, parts: list[Any]) -> Any:
    """A text vectoriser fit on `parts` together: the pipeline's own text steps, or TF-IDF (no labels needed)."""
    from sklearn.base import clone
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = stack([np.asarray(p, dtype=object) for p in parts])
    try:
        if head is not None:
            return clone(head).fit(texts)
    except (TypeError, ValueError):  # a head that needs labels to fit (feature selection)
        pass
    return TfidfVectorizer(sublinear_tf=True).fit(texts)


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


@dataclass(frozen=True)
class Chunk:
    """What a per-row prefilter sees of one pool chunk.

    `proba` is the model's predict_proba of X (None when the strategy does not score it),
    `reference` the pool sample density compares against, in `space`, `rng` the generator uniform
    draws come from, and `positions` the rows' places in the pool (increasing), which key those draws.
    """

    X: Any
    proba: np.ndarray | None
    context: Context
    reference: Any
    rng: np.random.Generator
    positions: np.ndarray
    space: Space | None = None

    def uniform(self) -> np.ndarray:
        """One uniform draw per row, the same whichever chunk or process the row is scored in."""
        return draws_at(self.rng, self.positions)


def draws_at(rng: np.random.Generator, positions: np.ndarray) -> np.ndarray:
    """The draws `rng.random(n)` would give at `positions` (increasing rows of a pool), computed
    without drawing those before them, so any part of a pool gets the draws one pass would give it.
    A generator that cannot jump ahead (PCG64 and Philox can) gives its next draws instead."""
    if not len(positions):
        return np.zeros(0)
    start = int(positions[0])
    return _at(rng, start).random(int(positions[-1]) - start + 1)[positions - start]


def _at(rng: np.random.Generator, position: int) -> np.random.Generator:
    """A copy of `rng` moved `position` draws ahead (or `rng` itself if it cannot jump)."""
    bits: Any = rng.bit_generator
    if not hasattr(bits, "advance"):
        return rng
    moved = type(bits)()
    moved.state = bits.state
    moved.advance(position)
    return np.random.Generator(moved)


def is_fitted(model: Any) -> bool:
    """Whether `model` is a classifier fit on at least two classes (a regressor never is).

    An unfitted estimator raises NotFittedError (an AttributeError) for `classes_`: getattr's default.
    """
    classes = getattr(model, "classes_", None)
    return classes is not None and len(classes) >= 2


def is_cold(model: Any, y_labeled: Any) -> bool:
    """No fitted classifier or fewer than two labeled classes: only diversity can choose."""
    if y_labeled is not None and np.unique(np.asarray(y_labeled)).size < 2:
        return True
    return not is_fitted(model)


def cold_reason(model: Any, y_labeled: Any) -> str | None:
    """Why strategies that score predict_proba cannot run (a sentence's clause), or None when they can."""
    name = type(model).__name__
    if model_kind(model) == "regressor":
        return f"{name} is a regressor"
    if y_labeled is not None and np.unique(np.asarray(y_labeled)).size < 2:
        return "the labeled set holds fewer than two classes"
    if not is_fitted(model):
        return f"{name} is not fitted"
    if not has_proba(model):
        return f"{name} offers no predict_proba"
    return None


def embed(model: Any, X: Any, *, fitted: bool) -> Any:
    """The fitted pipeline's transformed features (everything before its last step), else X as floats.

    Per row, so a chunk at a time: a sparse result (TF-IDF) stays sparse, never a dense chunk.
    """
    _, head = split_pipeline(model)
    Z = head.transform(X) if head is not None and fitted else X
    return Z if hasattr(Z, "tocsr") else np.asarray(Z, dtype=float)
