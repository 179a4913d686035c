"""Query synthesis for numeric features: new items placed on the model's decision boundary.

For a labeled item, take its nearest labeled neighbour of another class; on the segment between
them, the point where the model's margin is smallest (margin score highest) is a synthetic
query. Each synthesized point is a convex combination of two labeled items of different classes,
so it lies between the classes it came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alflow.selection.measures import margin

PREFIX = "synthetic-"


def synthesize(
    model: Any,
    X_labeled: Any,
    y_labeled: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator,
    steps: int = 21,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `n` synthetic points (m, d) and, per point, the two labeled rows it lies between (m, 2):
    one per distinct pair of a labeled item and its nearest labeled item of another class, so m < n
    when there are fewer such pairs.

    Raises ValueError when y_labeled holds fewer than two classes or n < 1.
    """
    from sklearn.metrics import pairwise_distances

    columns = getattr(X_labeled, "columns", None)  # a model fit on a frame is asked with frames
    X = np.asarray(X_labeled, dtype=float)
    y = np.asarray(y_labeled)
    if np.unique(y).size < 2:
        raise ValueError("query synthesis needs labeled items of at least two classes")
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    distances = pairwise_distances(X)
    distances[y[:, None] == y[None, :]] = np.inf  # only partners of another class
    partners = distances.argmin(axis=1)
    # one point per segment: A's nearest other-class item may be B and B's be A, the same segment
    pairs: dict[tuple[int, int], None] = {}
    for a in rng.permutation(len(X)):
        pairs.setdefault((min(a, partners[a]), max(a, partners[a])))
        if len(pairs) == n:
            break
    pairs_list = [(int(a), int(b)) for a, b in pairs]
    t = np.linspace(0.0, 1.0, steps)
    points = np.empty((len(pairs_list), X.shape[1]))
    for i, (a, b) in enumerate(pairs_list):
        segment = X[a] + t[:, None] * (X[b] - X[a])
        asked = segment if columns is None else pd.DataFrame(segment, columns=columns)
        points[i] = segment[np.argmax(margin(model.predict_proba(asked)))]
    return points, np.array(pairs_list, dtype=int).reshape(-1, 2)


def synthetic_batch(points: np.ndarray, columns: list[str], *, round_: int) -> pd.DataFrame:
    """A batch frame like an exported one: ids that say `synthetic`, then the feature values."""
    ids = [f"{PREFIX}r{round_:04d}-{i:04d}" for i in range(len(points))]
    frame = pd.DataFrame(points, columns=columns)
    frame.insert(0, "id", ids)
    frame.insert(1, "synthetic", True)
    return frame
