"""Query strategies as scores: one number per item, higher means "label this first", everywhere.

The measures here are per row: scoring a pool chunk by chunk gives the same scores as scoring it
whole. `proba` has shape (n, n_classes), rows summing to 1; committee measures take a stack of
shape (n_members, n, n_classes). Batch-level selection (diversity, typicality) lives in
`alflow.selection.diversity`; how a named strategy combines the two, in `alflow.selection.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from alflow.errors import ModelError

Measure = Callable[[np.ndarray], np.ndarray]


def least_confident(proba: np.ndarray) -> np.ndarray:
    """1 - max_c p(c|x): 0 for a one-hot row, 1 - 1/C for a uniform row."""
    return 1.0 - proba.max(axis=1)


def margin(proba: np.ndarray) -> np.ndarray:
    """1 - (p_first - p_second): 0 for a one-hot row, 1 when the top two classes tie."""
    if proba.shape[1] < 2:
        return np.zeros(proba.shape[0])
    top_two = np.partition(proba, -2, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats: 0 for a one-hot row, log(C) for a uniform row."""
    logs = np.log(proba, out=np.zeros_like(proba, dtype=float), where=proba > 0)
    logs *= proba  # in place: one temporary per chunk instead of two
    return -logs.sum(axis=1)


# --- query by committee ---------------------------------------------------------------------------


def vote_entropy(member_proba: np.ndarray) -> np.ndarray:
    """Entropy (nats) of the members' hard votes: 0 when all agree, log(min(M, C)) at most.

    `member_proba` has shape (n_members, n, n_classes).
    """
    n_members, _, n_classes = member_proba.shape
    votes = member_proba.argmax(axis=2)  # (M, n)
    shares = np.stack([(votes == c).sum(axis=0) for c in range(n_classes)], axis=1) / n_members
    return entropy(shares)


def kl_to_consensus(member_proba: np.ndarray) -> np.ndarray:
    """Mean KL(p_member || p_consensus) in nats, the consensus being the members' mean: 0 when all agree."""
    consensus = member_proba.mean(axis=0)
    ratio = np.divide(member_proba, consensus, out=np.ones_like(member_proba), where=member_proba > 0)
    return (member_proba * np.log(ratio)).sum(axis=2).mean(axis=0)


# --- expected model change ------------------------------------------------------------------------

_LOG_LOSS_MODELS = ("LogisticRegression", "LogisticRegressionCV", "SGDClassifier")


def split_pipeline(model: Any) -> tuple[Any, Any | None]:
    """(final estimator, the transforming steps before it or None): a pipeline's parts, or (model, None)."""
    steps = getattr(model, "steps", None)
    if steps and hasattr(type(model), "__getitem__"):  # a Pipeline, not a wrapper that passes `steps` on
        return steps[-1][1], model[:-1]
    return model, None


def check_gradient_model(model: Any) -> None:
    """Raise ModelError unless `model` is a fitted log-loss linear model or a pipeline ending in one."""
    final, _ = split_pipeline(model)
    name = type(final).__name__
    log_loss = name != "SGDClassifier" or getattr(final, "loss", None) == "log_loss"
    if name not in _LOG_LOSS_MODELS or not log_loss or not hasattr(final, "coef_"):
        raise ModelError(
            f"strategy 'egl' needs a fitted log-loss linear model (LogisticRegression, "
            f"SGDClassifier(loss='log_loss')) or a pipeline ending in one; got {name}: "
            "pick another strategy, e.g. margin"
        )


def expected_gradient_length(model: Any, X: Any, proba: np.ndarray) -> np.ndarray:
    """E_y~p ||grad_W log-loss(x, y)||: how much labeling x is expected to move the weights.

    Exact for each model it accepts. Multinomial (LogisticRegression): the gradient for label y is
    (p - e_y) ⊗ [x, 1], so its norm is ||p - e_y|| * ||[x, 1]||. One-vs-rest (a multiclass
    SGDClassifier fits one binary log-loss model per class): it is (s - e_y) ⊗ [x, 1], s the
    per-class sigmoids of decision_function before predict_proba normalises them. Binary models:
    |p_1 - y| * ||[x, 1]||. Validation by `check_gradient_model` is assumed.
    """
    final, head = split_pipeline(model)
    Z = head.transform(X) if head is not None else X
    squares = Z.multiply(Z).sum(axis=1).A1 if hasattr(Z, "tocsr") else (np.asarray(Z, dtype=float) ** 2).sum(axis=1)
    x_norm = np.sqrt(squares + (1.0 if getattr(final, "fit_intercept", True) else 0.0))  # sparse rows stay sparse
    if final.coef_.shape[0] == 1:  # binary: one weight vector, gradient (p_1 - y) x
        p1 = proba[:, -1]
        return 2.0 * p1 * (1.0 - p1) * x_norm
    # the per-class outputs the loss differentiates: softmax (= proba) or one-vs-rest sigmoids
    outputs = proba if type(final).__name__ != "SGDClassifier" else _sigmoid(final.decision_function(Z))
    # ||s - e_y||^2 = ||s||^2 - 2 s_y + 1, for every y at once
    squared = (outputs**2).sum(axis=1, keepdims=True) - 2.0 * outputs + 1.0
    return (proba * np.sqrt(np.clip(squared, 0.0, None))).sum(axis=1) * x_norm


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


# --- class balance --------------------------------------------------------------------------------


def class_cost_weights(classes: list[str], seconds: Mapping[str, float]) -> np.ndarray:
    """A weight per class, in `classes` order: the median expected seconds over the class's own, so
    that multiplying a score by the predicted class's weight divides it by that class's expected
    time (to a common scale). A class without a time costs the median of those given."""
    typical = float(np.median(list(seconds.values())))
    return np.array([typical / seconds.get(c, typical) for c in classes], dtype=float)


def class_balance_weights(classes: list[Any], counts: dict[Any, int]) -> np.ndarray:
    """A weight per class, in `classes` order: (1 + mean count) / (1 + count), so rare classes weigh more.

    Multiplying scores by the weight of the predicted class favours items likely to be of an
    under-represented class; a balanced labeled set gives weight 1 everywhere.
    """
    values = np.array([counts.get(c, 0) for c in classes], dtype=float)
    return (1.0 + values.mean()) / (1.0 + values)
