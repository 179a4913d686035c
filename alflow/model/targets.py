"""The model of a campaign of tags or numbers (alflow.kinds): built, trained on label text, evaluated.

Labels travel as text (`cat;dog`, `3.5`); `LabelModel` wraps a scikit-learn estimator so the round
trains and predicts in that text, while the estimator inside (`fitted_`) reads and predicts the
shapes scikit-learn uses (a 0/1 matrix of tags, a float), which is what the registered model serves.

Presets: multi, `logistic_regression` (one-vs-rest, scaled), `random_forest` (multi-output) and
`tfidf_logistic_regression` (one-vs-rest over TF-IDF); number, `ridge` (scaled), `random_forest`
(a RandomForestRegressor) and `tfidf_ridge` (ridge over TF-IDF, for a text column).
`model.estimator` names any scikit-learn estimator by import path: a classifier for multi (wrapped
one-vs-rest unless it is a multi-label wrapper already), a regressor for number; anything else is
refused with one line.

Metrics: multi, `f1_macro` (the main one), `f1_micro`, `hamming_loss`, `subset_accuracy` and one
`model/f1_label/<tag>` per tag; number, `r2` (the main one), `rmse`, `mae`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, hamming_loss, mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from alflow.config import ModelConfig
from alflow.errors import ConfigError, ModelError
from alflow.kinds import LabelKind, indicator, numbers, spell_number, spell_tags
from alflow.model import estimators
from alflow.selection.arrays import take

METRICS = {
    "class": ("accuracy", "f1_macro"),
    "multi": ("f1_macro", "f1_micro", "hamming_loss", "subset_accuracy"),
    "number": ("r2", "rmse", "mae"),
}
MULTI_LABEL_WRAPPERS = (OneVsRestClassifier, MultiOutputClassifier, ClassifierChain)


def _preset(name: str, kind: str, params: dict[str, Any], seed: int) -> Any:
    if kind == "number":
        if name == "random_forest":
            return RandomForestRegressor(**{"n_estimators": 200, "random_state": seed, **params})
        if name == "tfidf_ridge":
            return make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1), Ridge(**params))
        return make_pipeline(StandardScaler(), Ridge(**params))
    if name == "random_forest":
        return RandomForestClassifier(**{"n_estimators": 200, "random_state": seed, **params})
    linear = OneVsRestClassifier(LogisticRegression(**{"max_iter": 2000, **params}))
    if name == "tfidf_logistic_regression":
        return make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1), linear)
    return make_pipeline(StandardScaler(), linear)


def build_estimator(config: ModelConfig, kind: LabelKind, *, seed: int) -> Any:
    """The scikit-learn estimator of a multi or number campaign, unfitted; ConfigError for one unfit for the kind."""
    if config.preset:
        try:
            return _preset(config.preset, kind.kind, config.params, seed)
        except TypeError as error:
            raise ConfigError(f"model.params: the {config.preset} preset rejected them: {error}") from None
    model = estimators.instantiate(config, seed=seed)
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if kind.kind == "number":
        if not is_regressor(final):
            raise ConfigError(f"model.estimator: {config.estimator} is not a regressor; labels.kind number needs one")
        return model
    if not is_classifier(final):
        raise ConfigError(f"model.estimator: {config.estimator} is not a classifier; labels.kind multi needs one")
    if isinstance(final, MULTI_LABEL_WRAPPERS) or isinstance(final, RandomForestClassifier):
        return model
    return OneVsRestClassifier(model)


class LabelModel(BaseEstimator):
    """A scikit-learn estimator trained on label text of one kind, predicting label text.

    `fitted_` is the estimator inside, fitted on the kind's array (a tag matrix, floats): the model
    MLflow serves. No predict_proba: strategies that read class probabilities do not apply.
    """

    def __init__(self, estimator: Any = None, kind: LabelKind | None = None) -> None:
        self.estimator = estimator
        self.kind = kind

    def __sklearn_tags__(self) -> Any:  # what scikit-learn's is_regressor and is_classifier read
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor" if self.kind is not None and self.kind.kind == "number" else "classifier"
        return tags

    def target(self, labels: Any) -> np.ndarray:
        """Label text as the estimator reads it: a 0/1 matrix (multi) or floats (number)."""
        assert self.kind is not None
        if self.kind.kind == "number":
            return numbers(labels)
        return indicator(labels, self.kind.classes)

    def fit(self, X: Any, y: Any) -> LabelModel:
        with warnings.catch_warnings():  # a tag no labeled item has yet is fitted as a constant: not news
            warnings.filterwarnings("ignore", "Label not .* is present in all training examples", UserWarning)
            self.fitted_ = clone(self.estimator).fit(X, self.target(y))
        if self.kind is not None and self.kind.kind == "multi":
            self.classes_ = np.asarray(self.kind.classes)  # the tags, one output each
        return self

    @property
    def label_task(self) -> str | None:
        """The kind of label (multi, number): what alflow.selection.auto reads to choose for it."""
        return None if self.kind is None else self.kind.kind

    def predict_target(self, X: Any) -> np.ndarray:
        return np.asarray(self.fitted_.predict(X))

    def label_proba(self, X: Any) -> np.ndarray:
        """(n, n_tags) the probability of each tag (multi), as alflow.selection.multilabel reads it."""
        proba = self.fitted_.predict_proba(X)
        if isinstance(proba, list):  # multi-output: one (n, 2) array per tag (n, 1) when a tag was constant
            return np.column_stack([p[:, -1] if p.shape[1] > 1 else np.zeros(len(p)) for p in proba])
        return np.asarray(proba, dtype=float)

    def predict(self, X: Any) -> np.ndarray:
        """Label text per row: the tags predicted (`[]` for none), or the number."""
        assert self.kind is not None
        raw = self.predict_target(X)
        if self.kind.kind == "number":
            return np.asarray([spell_number(float(v)) for v in raw], dtype=object)
        classes = self.kind.classes
        return np.asarray(
            [spell_tags(c for c, on in zip(classes, row, strict=True) if on) for row in raw], dtype=object
        )


def build_model(config: ModelConfig, kind: LabelKind, *, seed: int) -> LabelModel:
    return LabelModel(build_estimator(config, kind, seed=seed), kind)


def check_model(config: ModelConfig, kind: LabelKind, *, seed: int) -> str:
    """The estimator's name once built and its parameters checked as `fit` will (`alflow check`)."""
    estimator = build_estimator(config, kind, seed=seed)
    estimators.validate_params(estimator)
    return f"{estimators.model_name(estimator)} ({kind.describe()})"


def trainable(kind: LabelKind, y: np.ndarray) -> bool:
    """Whether labels `y` can train a model: two distinct numbers, or tags with some tag both on and off."""
    if len(y) < 2:
        return False
    if kind.kind == "number":
        return np.unique(numbers(y)).size >= 2
    Y = indicator(y, kind.classes)
    return bool(((Y.min(axis=0) == 0) & (Y.max(axis=0) == 1)).any())


def train(model: LabelModel, X: Any, y: np.ndarray) -> LabelModel:
    """A fitted copy of `model`; ModelError with one line when the estimator cannot be trained."""
    try:
        return clone(model).fit(X, y)
    except (ValueError, TypeError) as error:
        name = type(model.estimator).__name__
        raise ModelError(f"{name} could not be trained on the labeled items: {error}") from None


def scores(kind: LabelKind, truth: Any, predicted: Any) -> dict[str, float]:
    """The kind's metrics of predicted label text against true label text."""
    if kind.kind == "number":
        t, p = numbers(truth), numbers(predicted)
        r2 = float(r2_score(t, p)) if len(t) > 1 else math.nan
        return {"r2": r2, "rmse": float(math.sqrt(mean_squared_error(t, p))), "mae": float(mean_absolute_error(t, p))}
    T, P = indicator(truth, kind.classes), indicator(predicted, kind.classes)
    out = {
        "f1_macro": float(f1_score(T, P, average="macro", zero_division=0)),
        "f1_micro": float(f1_score(T, P, average="micro", zero_division=0)),
        "hamming_loss": float(hamming_loss(T, P)),
        "subset_accuracy": float((T == P).all(axis=1).mean()),
    }
    per_label = f1_score(T, P, average=None, zero_division=0)
    out.update({f"model/f1_label/{c}": float(v) for c, v in zip(kind.classes, per_label, strict=True)})
    return out


def cold(kind: LabelKind) -> dict[str, float]:
    """The kind's metrics before anything is fitted: NaN."""
    return dict.fromkeys(METRICS[kind.kind], math.nan)


def cross_validated(model: LabelModel, X: Any, y: np.ndarray, kind: LabelKind, *, seed: int) -> dict[str, float]:
    """The kind's metrics estimated by k-fold (k <= 5) on the labeled set; NaN with fewer than 4 labels."""
    folds = min(5, len(y) // 2)
    if folds < 2:
        return cold(kind)
    predicted = np.empty(len(y), dtype=object)
    for fit_rows, test_rows in KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.arange(len(y))):
        if not trainable(kind, y[fit_rows]):
            return cold(kind)
        predicted[test_rows] = train(model, take(X, fit_rows), y[fit_rows]).predict(take(X, test_rows))
    return scores(kind, y, predicted)


def fit_any(config: ModelConfig, kind: LabelKind, X: Any, y: np.ndarray, *, seed: int) -> Any:
    """The campaign's model fit on (X, y) whatever its kind: a classifier, or a LabelModel."""
    if kind.is_class:
        return estimators.train(estimators.build_model(config, seed=seed), X, y)
    return train(build_model(config, kind, seed=seed), X, y)


def score_any(kind: LabelKind, model: Any, X: Any, y: np.ndarray) -> dict[str, float]:
    """The kind's metrics of a fitted model on labeled items it never saw."""
    return estimators.holdout_metrics(model, X, y) if kind.is_class else scores(kind, y, model.predict(X))
