"""`auto`: the default strategy, decided each time a batch is chosen from the labeled set.

Two regimes are known (Hacohen et al. 2022, "Active learning on a budget"; Hacohen & Weinshall
2023): while the model has seen too few items of each class, its uncertainty points at
boundaries it has wrong and covering the data teaches it more (TypiClust); once each class has
a few labels, the items it is least sure of are worth most, and a batch of them is kept diverse
(margin, then weighted k-means: Zhdanov 2019). `auto` reads the regime off the labeled set:

    no usable model (cold start, no predict_proba)               ->  typiclust
    fewer than LABELS_PER_CLASS labels per class                 ->  typiclust
    otherwise                                                    ->  combined (margin + diversity)

For a model of tags or numbers (alflow's LabelModel, which says its `label_task`; a plain scikit-learn
regressor, or a multi-label classifier: `label_task` below):

    tags                           ->  typiclust, fitted model or not (benchmarks/kind_efficiency.py:
                                       ahead of mean max loss, the earlier default, by 0.022 macro-F1
                                       AULC on the choice suite and 0.017 on the check suite at budget
                                       100; at BENCHMARK.md's budget 300 ahead of every other tag
                                       strategy and peer on average, though mean max loss overtakes it
                                       late on three sets and a switch to it did not pay; mean max
                                       loss came from Li et al. 2004)
    numbers                        ->  gsx (greedy sampling in the inputs), fitted model or not: on
                                       alflow's suite it was ahead of igs, the earlier default, by
                                       0.012 R² AULC on the choice sets (interval touching 0) and 0.015
                                       on the check sets, never behind it beyond noise, and igs costs
                                       hundreds of times the one-pass floor and over 1 GB at 10^6 rows
                                       (benchmarks/results/kind_compute.md); gsx about twice the floor.
                                       Checked at BENCHMARK.md's budget of 300 labels with both its
                                       models, Ridge and a random forest (whose committee_variance is
                                       its own trees' spread): no number strategy beat gsx by the rule
                                       (docs/STRATEGIES.md; kind_efficiency_number_{ridge,rf}_b300.md),
                                       nor with the forest at 100 (kind_efficiency_number_rf_b100.md),
                                       so gsx stays for either model

The rule and its threshold were fixed from this idea and the public benchmark suite: with 10
seeds on the tuned suite, 5 labels per class did best among 3, 4, 5 and 6, and it was then
checked on the held-out and checking suites. Rules that let the data decide (the model's
cross-validated skill, a replay on the labeled set, BADGE's gradient embedding, which needs no
switch) were measured against it and did not do better (docs/STRATEGIES.md, "How auto was
chosen"). Every decision comes with its reason, which `alflow.select` returns and the round logs
to MLflow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alflow.selection.checks import model_kind
from alflow.selection.measures import split_pipeline
from alflow.selection.registry import KIND_STRATEGIES, STRATEGIES, Choice

LABELS_PER_CLASS = 5
"""`auto` covers the data until the labeled set holds this many labels per class the model knows."""


def choose(model: Any, y_labeled: Any, *, unusable: str | None) -> Choice:
    """The strategy `auto` runs this time, and why (one sentence); `unusable` says why no model can serve."""
    task = label_task(model, y_labeled)
    if task in KIND_STRATEGIES:
        fitted = hasattr(model, "fitted_") if hasattr(model, "label_task") else _fitted(model)
        return _kind_choice(task, fitted=fitted, n=0 if y_labeled is None else len(y_labeled))
    if unusable is not None:
        return Choice(STRATEGIES["typiclust"], f"auto: {unusable}, so typical items of uncovered clusters")
    n_classes = len(model.classes_)
    if y_labeled is None:
        return Choice(STRATEGIES["combined"], "auto: no labeled set given; margin + diversity (combined)")
    n = len(y_labeled)
    if n < LABELS_PER_CLASS * n_classes:
        return Choice(
            STRATEGIES["typiclust"],
            f"auto: {n} labels for {n_classes} classes, fewer than {LABELS_PER_CLASS} a class: the model's "
            "uncertainty is not worth following yet; typical items of uncovered clusters",
        )
    return Choice(
        STRATEGIES["combined"],
        f"auto: {n} labels for {n_classes} classes, at least {LABELS_PER_CLASS} a class: the items the model "
        "is least sure of, kept diverse (combined)",
    )


def label_task(model: Any, y_labeled: Any) -> str | None:
    """'multi' (tags) or 'number' for a model of those kinds, None for one class per item. alflow's
    LabelModel says its `label_task`; a plain scikit-learn regressor is a model of numbers, and a
    classifier given a 0/1 matrix as `y_labeled`, or fitted on one (a multi-label one-vs-rest,
    `MultiOutputClassifier`, `ClassifierChain`, a forest of several outputs), a model of tags, so
    `alflow.select` and `ActiveLearner` run the kind's `auto` as a campaign of that kind does."""
    if hasattr(model, "label_task"):
        return model.label_task
    if model_kind(model) == "regressor":
        return "number"
    if y_labeled is not None and np.ndim(y_labeled) == 2 and np.shape(y_labeled)[1] > 1:
        return "multi"
    final, _ = split_pipeline(model)
    several = getattr(final, "multilabel_", False) or getattr(final, "n_outputs_", 1) > 1
    wrapped = type(final).__name__ in ("MultiOutputClassifier", "ClassifierChain")
    return "multi" if several is True or wrapped else None


def _fitted(model: Any) -> bool:
    """Whether a plain scikit-learn model of tags or numbers is fitted (scikit-learn's own test)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except (NotFittedError, TypeError):
        return False
    return True


def _kind_choice(task: str, *, fitted: bool, n: int) -> Choice:
    """`auto` for a model of tags or numbers (see the module)."""
    if task == "multi" and not fitted:
        return Choice(STRATEGIES["typiclust"], "auto: no model of the tags yet, so typical items of uncovered clusters")
    if task == "multi":  # measured: benchmarks/results/kind_efficiency.md
        return Choice(
            STRATEGIES["typiclust"],
            f"auto: tags, {n} labels: typical items of uncovered clusters (TypiClust), which labeled tags more "
            "efficiently than mean max loss and the other tag strategies on the public suite (budgets 100 and 300)",
        )
    if not fitted:
        return Choice(
            KIND_STRATEGIES["number"]["gsx"],
            "auto: no model of the numbers yet, so the items farthest from the labeled ones (greedy sampling, GSx)",
        )
    return Choice(  # measured: benchmarks/results/kind_efficiency.md and kind_compute.md
        KIND_STRATEGIES["number"]["gsx"],
        f"auto: numbers, {n} labels: the items farthest from the labeled ones in the inputs (greedy sampling, "
        "GSx), at least as label-efficient as the model-based number strategies on the public suite and cheap at scale",
    )
