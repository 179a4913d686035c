"""Every query strategy alflow knows, one spec each.

A strategy is two stages (alflow.selection.scorer runs them): a per-row *prefilter* score,
computed chunk by chunk while the pool streams, keeps the best `candidates(k, oversample)` rows;
a batch-level *pick* then chooses k of them from their features, or a *selector* from their
scores alone (neither: the top k by prefilter score). Adding a strategy is one entry in
`STRATEGIES` plus its tests: the contract suite (tests/test_strategy_contract.py) and the
campaign file's allowed names both come from here. A strategy made elsewhere
(`alflow.make_strategy`) is the same spec, named by its import path (`package.module:attribute`).

`auto` is not a strategy but a rule over them, decided from the data each round
(`alflow.selection.auto`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

import numpy as np

from alflow.selection import diversity, measures, multilabel, regression
from alflow.selection.committee import committee_proba

if TYPE_CHECKING:
    from alflow.selection.knowledge import Chunk

Prefilter = Callable[["Chunk"], np.ndarray]
Pick = Callable[[np.ndarray, "np.ndarray | None", np.ndarray, int, np.random.Generator], np.ndarray]
"""(candidates embedded Z, labeled items embedded or None, prefilter scores, k, rng) -> k indices into Z."""
Selector = Callable[..., np.ndarray]
"""(scores, k, *, rng) -> k distinct indices into scores, best first."""

AUTO = "auto"
DIVERSITY_SAMPLE = 2000
"""Diversity-only strategies pick from a uniform random sample of the pool of at least this size."""


@dataclass(frozen=True)
class Strategy:
    """One query strategy: how it scores rows, how it picks a batch, and what it needs."""

    name: str
    summary: str
    prefilter: Prefilter
    pick: Pick | None = None
    candidates: Callable[[int, int], int] = lambda k, oversample: k
    needs_model: bool = True  # scores predict_proba; at cold start (nothing fitted) TypiClust chooses instead
    committee: bool = False  # fits a committee on the labeled set first
    reference: bool = False  # compares each item with a sample of the pool (density)
    check_model: Callable[[Any], None] | None = None  # raises ModelError before the pool is read
    selector: Selector | None = None  # picks k of the candidates from their prefilter scores alone


# --- prefilters ----------------------------------------------------------------------------------


def _uniform(chunk: Chunk) -> np.ndarray:
    return chunk.uniform()  # diversity picks from a uniform sample of the pool


UNIFORM: Prefilter = _uniform
"""The prefilter of random and the diversity strategies: one uniform draw per row."""


def measure_prefilter(measure: measures.Measure) -> Prefilter:
    """The prefilter that scores a chunk by `measure(predict_proba)` (a strategy that needs a model)."""

    def prefilter(chunk: Chunk) -> np.ndarray:
        assert chunk.proba is not None  # needs_model: never called without a fitted model
        return measure(chunk.proba)

    return prefilter


def _committee(measure: measures.Measure) -> Prefilter:
    def prefilter(chunk: Chunk) -> np.ndarray:
        ctx = chunk.context
        assert ctx.committee is not None and ctx.classes is not None
        return measure(committee_proba(ctx.committee, chunk.X, ctx.classes))

    return prefilter


def _egl(chunk: Chunk) -> np.ndarray:
    assert chunk.proba is not None
    return measures.expected_gradient_length(chunk.context.model, chunk.X, chunk.proba)


def _density_weighted_margin(chunk: Chunk) -> np.ndarray:
    assert chunk.proba is not None and chunk.reference is not None and chunk.space is not None
    return measures.margin(chunk.proba) * diversity.density(chunk.space(chunk.X), chunk.reference)


# --- picks and candidate counts ------------------------------------------------------------------


def _weighted_kmeans(Z: np.ndarray, Z_labeled: np.ndarray | None, scores: np.ndarray, k: int, rng) -> np.ndarray:
    return diversity.kmeans_representatives(Z, k, weights=scores + 1e-9, rng=rng)


def _kcenter(Z: np.ndarray, Z_labeled: np.ndarray | None, scores: np.ndarray, k: int, rng) -> np.ndarray:
    return diversity.k_center_greedy(Z, k, Z_labeled=Z_labeled, rng=rng)


def _kmeans(Z: np.ndarray, Z_labeled: np.ndarray | None, scores: np.ndarray, k: int, rng) -> np.ndarray:
    return diversity.kmeans_representatives(Z, k, rng=rng)


def _typiclust(Z: np.ndarray, Z_labeled: np.ndarray | None, scores: np.ndarray, k: int, rng) -> np.ndarray:
    return diversity.typical_representatives(Z, k, Z_labeled=Z_labeled, rng=rng)


def _oversampled(k: int, oversample: int) -> int:
    return k * oversample


_EVERY = 2**62


def every_row(k: int, oversample: int) -> int:
    """Keep every row as a candidate (a selector that draws from the whole pool)."""
    return _EVERY


def _diverse_sample(k: int, oversample: int) -> int:
    return max(k * oversample, DIVERSITY_SAMPLE)


def _diversity(name: str, summary: str, pick: Pick) -> Strategy:
    return Strategy(name, summary, _uniform, pick, _diverse_sample, needs_model=False)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("margin", "smallest gap between the two most likely classes", measure_prefilter(measures.margin)),
        Strategy("least_confident", "lowest top-class probability", measure_prefilter(measures.least_confident)),
        Strategy("entropy", "highest entropy of the predicted distribution", measure_prefilter(measures.entropy)),
        Strategy("random", "uniform random sample (the baseline)", _uniform, needs_model=False),
        Strategy(
            "qbc_vote_entropy",
            "query by committee: entropy of the members' votes",
            _committee(measures.vote_entropy),
            committee=True,
        ),
        Strategy(
            "qbc_kl",
            "query by committee: mean KL divergence to the consensus",
            _committee(measures.kl_to_consensus),
            committee=True,
        ),
        Strategy(
            "egl",
            "expected gradient length (expected model change; log-loss linear models)",
            _egl,
            check_model=measures.check_gradient_model,
        ),
        Strategy(
            "density",
            "margin weighted by similarity to the pool (information density)",
            _density_weighted_margin,
            reference=True,
        ),
        Strategy(
            "combined",
            "margin prefilter, then weighted k-means for a diverse batch",
            measure_prefilter(measures.margin),
            _weighted_kmeans,
            _oversampled,
        ),
        _diversity("kcenter", "core-set: k-center greedy over a pool sample", _kcenter),
        _diversity("kmeans", "k-means representatives of a pool sample", _kmeans),
        _diversity("typiclust", "TypiClust: typical items of uncovered clusters", _typiclust),
    )
}

NAMES: tuple[str, ...] = (AUTO, *STRATEGIES)
"""The names a campaign file's `strategy.name` and `alflow.select(strategy=...)` accept, besides an import path."""


# --- tags and numbers (alflow.kinds): a model's per-label probabilities, or its numeric predictions ------------
# Each scores rows with the model once it is fitted (uniform draws before: the pick then covers the
# pool) and keeps batch_size * oversample candidates, of which weighted k-means picks a diverse batch.


def _is_fitted(model: Any) -> bool:
    if hasattr(model, "fitted_"):
        return True
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except (NotFittedError, TypeError):
        return False
    return True


def _tags(measure: measures.Measure) -> Prefilter:
    def prefilter(chunk: Chunk) -> np.ndarray:
        model = chunk.context.model
        return measure(multilabel.label_proba(model, chunk.X)) if _is_fitted(model) else chunk.uniform()

    return prefilter


def _numbers(score: Callable[..., np.ndarray]) -> Prefilter:
    def prefilter(chunk: Chunk) -> np.ndarray:
        ctx = chunk.context
        if not (_is_fitted(ctx.model) and ctx.has_labels):
            return chunk.uniform()
        return score(ctx.model, chunk.X, ctx.X_labeled, ctx.y_labeled)

    return prefilter


def _committee_variance(model: Any, X: Any, X_labeled: Any, y_labeled: Any) -> np.ndarray:
    return regression.committee_variance(model, X, X_labeled, y_labeled, size=COMMITTEE_SIZE)


COMMITTEE_SIZE = 5
"""Bootstrap members of committee_variance."""


def _kind_strategy(name: str, summary: str, prefilter: Prefilter) -> Strategy:
    return Strategy(name, summary, prefilter, _weighted_kmeans, _oversampled, needs_model=False)


KIND_STRATEGIES: dict[str, dict[str, Strategy]] = {
    "multi": {
        s.name: s
        for s in (
            _kind_strategy(
                "binary_minimum", "the tag nearest its boundary (Brinker)", _tags(multilabel.binary_minimum)
            ),
            _kind_strategy(
                "max_loss", "hinge loss against the most likely tag alone (Li et al.)", _tags(multilabel.max_loss)
            ),
            _kind_strategy(
                "mean_max_loss",
                "mean hinge loss against the predicted tags (Li et al.)",
                _tags(multilabel.mean_max_loss),
            ),
            _kind_strategy("min_confidence", "lowest probability of any tag", _tags(multilabel.min_confidence)),
            _kind_strategy("avg_confidence", "highest mean tag probability (modAL)", _tags(multilabel.avg_confidence)),
        )
    },
    "number": {
        "committee_variance": _kind_strategy(
            "committee_variance",
            "variance of a committee's predictions: a forest's trees, or bootstrap refits (query by committee)",
            _numbers(_committee_variance),
        ),
        "igs": _kind_strategy(
            "igs",
            "improved greedy sampling: input distance x prediction distance to the labels",
            _numbers(regression.improved_greedy),
        ),
        "gsx": _diversity("gsx", "greedy sampling in the inputs: k-center greedy from the labeled set", _kcenter),
    },
}
"""Strategies for a campaign of tags (`multi`) or numbers (`number`), beside the diversity strategies."""

KIND_NAMES: dict[str, tuple[str, ...]] = {
    "class": NAMES,
    **{
        kind: (AUTO, *specs, *(n for n, s in STRATEGIES.items() if not s.needs_model))
        for kind, specs in KIND_STRATEGIES.items()
    },
}
"""The names `strategy.name` accepts for each kind of label (alflow.kinds)."""


def lookup(strategy: str | Strategy) -> Strategy | None:
    """The spec for a name, an import path (`package.module:attribute`) or a spec; None for `auto`.

    Raises ValueError, in one line, for an unknown name or a path that does not lead to a Strategy.
    """
    if isinstance(strategy, Strategy):
        return strategy
    if strategy == AUTO:
        return None
    if strategy in STRATEGIES:
        return STRATEGIES[strategy]
    for specs in KIND_STRATEGIES.values():
        if strategy in specs:
            return specs[strategy]
    if ":" not in str(strategy):
        raise ValueError(
            f"strategy {strategy!r} is unknown; use one of {', '.join(NAMES)}, "
            "or the import path package.module:attribute of a strategy made with alflow.make_strategy"
        )
    return _imported(strategy)


def _imported(path: str) -> Strategy:
    module, _, attribute = path.partition(":")
    try:
        found = getattr(import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"strategy {path!r} cannot be imported: {error}; check package.module:attribute") from None
    if not isinstance(found, Strategy):
        raise ValueError(
            f"strategy {path!r} is a {type(found).__name__}, not a Strategy; make it with alflow.make_strategy"
        )
    return found


def check_name(name: str) -> str:
    """`name` if it is a strategy, `auto` or the import path of a strategy, else ValueError saying what is."""
    lookup(name)
    return name


@dataclass(frozen=True)
class Choice:
    """The strategy that runs for a requested name, and why (what `select` and the round report)."""

    strategy: Strategy
    reason: str


def resolve(strategy: str | Strategy, *, cold: str | None) -> Choice:
    """The strategy that runs for an explicit strategy (not `auto`); `cold` says why no model can be used, or is None.

    At cold start every strategy that needs a model becomes TypiClust. `auto` is decided by
    `alflow.selection.auto.choose`, from the data. Raises ValueError for an unknown strategy.
    """
    spec = lookup(strategy)
    if spec is None:
        raise ValueError("strategy 'auto' is decided by alflow.selection.auto.choose, not resolved")
    if cold is not None and spec.needs_model:
        return Choice(
            STRATEGIES["typiclust"], f"{spec.name} needs a model, but {cold}: typical items of uncovered clusters"
        )
    return Choice(spec, f"{spec.name}, as asked")
