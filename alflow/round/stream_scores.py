"""How uncertain the round's model is of arriving items, for stream rounds of every kind of label.

A stream round asks for an item when its score is above a threshold that tracks the target rate
(alflow.selection.stream: the threshold starts at 0.5 and moves by 0.02 per item), so each kind's
score lies in [0, 1], 1 the most uncertain: one class per item, the margin between its two likeliest
classes; tags, the mean over tags of how close each tag's probability is to 1/2 (mean max loss);
a number, the spread of a committee's predictions (a forest's own trees, or bootstrap refits of
any other regressor: alflow.selection.regression.committee_variance) relative to the labels' own
spread (capped at 1). A forest's single trees spread more than refits of a whole model do, so with
the `random_forest` preset the scores sit higher and more items reach the cap (their order among
themselves is lost; the threshold still moves to the asked share). At cold start every item scores 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from alflow.kinds import numbers
from alflow.round.context import RoundContext
from alflow.round.train import Trained
from alflow.selection import multilabel, regression
from alflow.selection.arrays import n_rows
from alflow.selection.measures import margin

COMMITTEE = 5  # bootstrap refits scoring a numeric stream (a bagging ensemble uses its own members)


def stream_scores(ctx: RoundContext, trained: Trained, X: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """(a score per row of X in [0, 1], the model's labels of the rows a mask picks, as text)."""
    kind = ctx.config.label_kind
    if kind.is_class:
        # at cold start nothing is fitted: every item is as uncertain as can be
        proba = trained.model.predict_proba(X) if trained.fitted else np.full((n_rows(X), 2), 0.5)
        return margin(proba), lambda ask: trained.predicted(proba[ask])
    if not trained.fitted:
        return np.ones(n_rows(X)), lambda ask: np.full(int(np.sum(ask)), "", dtype=object)
    guesses = np.asarray(trained.model.predict(X), dtype=object)
    if kind.kind == "multi":
        scores = multilabel.mean_max_loss(multilabel.label_proba(trained.model, X))
    else:
        spread = float(np.std(numbers(trained.y)))
        variance = regression.committee_variance(trained.model, X, trained.X, trained.y, size=COMMITTEE)
        scores = np.minimum(1.0, np.sqrt(variance) / spread) if spread > 0 else np.ones(n_rows(X))
    return scores, lambda ask: guesses[ask]
