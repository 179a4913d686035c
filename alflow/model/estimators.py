"""Building, training and evaluating the campaign's scikit-learn classifier."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from alflow.config import ModelConfig, PoolConfig
from alflow.data import embeddings
from alflow.errors import ConfigError, ModelError
from alflow.selection.arrays import take
from alflow.selection.measures import split_pipeline


def _preset(name: str, params: dict[str, Any], seed: int) -> ClassifierMixin:
    if name == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(**{"max_iter": 2000, **params}))
    if name == "random_forest":
        return RandomForestClassifier(**{"n_estimators": 200, "random_state": seed, **params})
    # tfidf_logistic_regression: a text column in, the usual strong baseline for short texts.
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
        LogisticRegression(**{"max_iter": 2000, **params}),
    )


@dataclass(frozen=True)
class Servable:
    """A trained model as it is logged: reading raw items (texts stay texts), an input example,
    the skops types its added steps need trusted, and the packages it needs beyond scikit-learn."""

    model: Any
    example: Any
    trusted_types: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()


def servable(model: Any, example: Any, pool: PoolConfig) -> Servable:
    """`model` for MLflow. A text model gets a first step that turns whatever MLflow hands it (a
    list, array or series of strings, or a one-column frame) into the 1-D texts scikit-learn's
    vectorisers read; a model trained on alflow's embeddings gets the embedder in front, so the
    registered model predicts on raw strings either way."""
    constant = _constant_types(model)
    if pool.embedder:
        embedder = embeddings.TextEmbedder(pool.embedder)
        types = (f"{embeddings.TextEmbedder.__module__}.TextEmbedder", *constant)
        return Servable(make_pipeline(embedder, model), example, types, ("sentence-transformers", "torch"))
    if pool.reads == "text":
        return Servable(make_pipeline(FunctionTransformer(np.ravel), model), example, ("numpy.ravel", *constant))
    return Servable(model, example, constant)


_CONSTANT = "sklearn.multiclass._ConstantPredictor"


def _constant_types(model: Any) -> tuple[str, ...]:
    """The skops type to trust when a fitted one-vs-rest model holds scikit-learn's constant predictor:
    a tag that every labeled item has, or none has (a rare tag absent from the labels so far), is fitted
    as one, and skops refuses to save a type it was not told to trust."""
    final, _ = split_pipeline(model)
    fitted = getattr(final, "estimators_", None)
    held = isinstance(fitted, list) and any(f"{type(e).__module__}.{type(e).__name__}" == _CONSTANT for e in fitted)
    return (_CONSTANT,) if held else ()


def _import(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"model.estimator: cannot import {path!r}; give module.ClassName") from None


def instantiate(config: ModelConfig, *, seed: int) -> Any:
    """`model.estimator` imported and built with `model.params` (`random_state` defaults to `seed`)."""
    assert config.estimator is not None  # ModelConfig holds exactly one of the two
    cls = _import(config.estimator)
    params = dict(config.params)
    if "random_state" in inspect.signature(cls).parameters:
        params.setdefault("random_state", seed)
    try:
        return cls(**params)
    except TypeError as error:
        raise ConfigError(f"model.params: {config.estimator} rejected them: {error}") from None


def build_model(config: ModelConfig, *, seed: int) -> ClassifierMixin:
    """An unfitted classifier with `predict_proba`; `random_state` defaults to the campaign seed."""
    if config.preset:
        try:
            return _preset(config.preset, config.params, seed)
        except TypeError as error:
            raise ConfigError(f"model.params: the {config.preset} preset rejected them: {error}") from None
    model = instantiate(config, seed=seed)
    if not hasattr(model, "predict_proba"):
        raise ConfigError(f"model.estimator: {config.estimator} has no predict_proba; pick a probabilistic classifier")
    return model


def check_model(config: ModelConfig, *, seed: int) -> ClassifierMixin:
    """`build_model`, with its parameters checked as `fit` will check them; raises ConfigError."""
    model = build_model(config, seed=seed)
    validate_params(model)
    return model


def validate_params(model: Any) -> None:
    """Each step's scikit-learn parameter constraints, as `fit` runs them; ConfigError with one line."""
    for _, step in getattr(model, "steps", [(None, model)]):
        validate = getattr(step, "_validate_params", None)
        if validate is not None:
            try:
                validate()
            except (ValueError, TypeError) as error:
                raise ConfigError(f"model.params: {error}") from None


def model_name(model: ClassifierMixin) -> str:
    """A readable name: the final step of a pipeline, e.g. LogisticRegression."""
    final, _ = split_pipeline(model)
    return type(final).__name__


def train(model: ClassifierMixin, X: Any, y: np.ndarray) -> ClassifierMixin:
    """A fitted copy of `model`. Raises ModelError when the labels hold fewer than two classes."""
    classes = np.unique(y)
    if classes.size < 2:
        raise ModelError(
            f"the labeled set has {len(y)} item(s) of a single class {classes.tolist()}; "
            "add seed labels of at least two classes"
        )
    try:
        return clone(model).fit(X, y)
    except (ValueError, TypeError) as error:
        raise ModelError(f"{model_name(model)} could not be trained on the labeled items: {error}") from None


def scores_of(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def holdout_metrics(model: Any, X: Any, y: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of a fitted model on labeled items it never saw."""
    return scores_of(y, model.predict(X))


def _cross_validated(
    model: ClassifierMixin, X: Any, y: np.ndarray, *, seed: int, method: str
) -> tuple[Any, np.ndarray] | None:
    """Out-of-fold `method` outputs over the labeled items of classes with at least two labels,
    and those items' labels; None when fewer than two such classes (or folds) exist."""
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= 2])
    folds = int(min(5, counts[counts >= 2].min())) if keep.any() else 0
    if folds < 2 or np.unique(y[keep]).size < 2:
        return None
    X_keep = take(X, np.flatnonzero(keep))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(clone(model), X_keep, y[keep], cv=cv, method=method), y[keep]


def cross_validated_metrics(model: ClassifierMixin, X: Any, y: np.ndarray, *, seed: int) -> dict[str, float]:
    """Accuracy and macro-F1 estimated by stratified k-fold (k <= 5) on the labeled set.

    Used when the campaign has no holdout; classes with a single label are too rare to split,
    so the estimate is made on the others and is optimistic early in a campaign.
    """
    result = _cross_validated(model, X, y, seed=seed, method="predict")
    if result is None:
        return {"accuracy": float("nan"), "f1_macro": float("nan")}
    predicted, truth = result
    return scores_of(truth, predicted)


def cross_validated_proba(
    model: ClassifierMixin, X: Any, y: np.ndarray, *, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(out-of-fold probabilities, their labels, the probability columns' classes), or None (see above)."""
    result = _cross_validated(model, X, y, seed=seed, method="predict_proba")
    if result is None:
        return None
    proba, truth = result
    return proba, truth, np.unique(truth)
