"""`auto`: the default strategy, decided each time a batch is chosen from the labeled set.

Two regimes are known (Hacohen et al. 2022, "Active learning on a budget"; Hacohen & Weinshall
2023): while the model has seen too few items of each class, its uncertainty points at
boundaries it has wrong and covering the data teaches it more (TypiClust); once each class has
a few labels, the items it is least sure of are worth most, and a batch of them is kept diverse
(margin, then weighted k-means: Zhdanov 2019). `auto` reads the regime off the labeled set:

    no usable model (cold start, a regressor, no predict_proba)  ->  typiclust
    fewer than LABELS_PER_CLASS labels per class                 ->  typiclust
    otherwise                                                    ->  combined (margin + diversity)

For a model of tags or numbers (alflow's LabelModel, which says its `label_task`):

    tags                           ->  typiclust, fitted model or not (benchmarks/kind_efficiency.py:
                                       ahead of mean max loss, the earlier default, by 0.022 macro-F1
                                       AULC on the choice suite and 0.017 on the check suite, budgets
                                       up to 100 labels; mean max loss came from Li et al. 2004)
    numbers                        ->  gsx (greedy sampling in the inputs), fitted model or not: on
                                       alflow's suite it was ahead of igs, the earlier default, by
                                       0.012 R² AULC on the choice sets (interval touching 0) and 0.015
                                       on the check sets, never behind it beyond noise, and igs costs
                                       hundreds of times the one-pass floor and over 1 GB at 10^6 rows
                                       (benchmarks/results/kind_compute.md); gsx about twice the floor

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

from alflow.selection.registry import KIND_STRATEGIES, STRATEGIES, Choice

LABELS_PER_CLASS = 5
"""`auto` covers the data until the labeled set holds this many labels per class the model knows."""


def choose(model: Any, y_labeled: Any, *, unusable: str | None) -> Choice:
    """The strategy `auto` runs this time, and why (one sentence); `unusable` says why no model can serve."""
    task = getattr(model, "label_task", None)
    if task in KIND_STRATEGIES:
        return _kind_choice(task, fitted=hasattr(model, "fitted_"), n=0 if y_labeled is None else len(y_labeled))
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


def _kind_choice(task: str, *, fitted: bool, n: int) -> Choice:
    """`auto` for a model of tags or numbers (see the module)."""
    if task == "multi" and not fitted:
        return Choice(STRATEGIES["typiclust"], "auto: no model of the tags yet, so typical items of uncovered clusters")
    if task == "multi":  # measured: benchmarks/results/kind_efficiency.md
        return Choice(
            STRATEGIES["typiclust"],
            f"auto: tags, {n} labels: typical items of uncovered clusters (TypiClust), which labeled tags more "
            "efficiently than mean max loss and the other tag strategies on the public suite (up to 100 labels)",
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
