"""From a model and a streamed pool to a batch: score per row while streaming, then pick from a bounded set.

Every strategy is two stages (alflow.selection.registry). A per-row *prefilter* score is computed
chunk by chunk and only the best `m` rows are kept (memory O(chunk + m), whatever the pool size).
A batch-level *pick* then chooses `k` of those `m` candidates: plain top-k for per-row strategies
(m = k), or diversity/typicality for batch strategies. `make_scorer(...).rank` runs both over a pool
streamed as chunks; `alflow.selection.notebook.select` is the same over an in-memory pool. How it
runs (strategy, oversample, class balance, committee) is one `SelectionOptions` value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alflow.errors import ModelError
from alflow.selection import auto, checks, measures, multilabel, registry, tag_balance
from alflow.selection.arrays import n_rows, stack, take
from alflow.selection.checks import spawn
from alflow.selection.committee import fit_committee
from alflow.selection.knowledge import Chunk, Context, Space, cold_reason, draws_at, is_cold
from alflow.selection.options import SelectionOptions
from alflow.selection.registry import UNIFORM, Choice, Strategy

REFERENCE_SAMPLE = 1000
"""Information density compares each item to a random sample of the pool of this size."""


def select_top_k(scores: np.ndarray, k: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of the `k` highest scores, best first.

    Ties are broken at random by `rng`, or by position when it is None.
    Raises ValueError when k is not in 1..len(scores).
    """
    scores = np.asarray(scores, dtype=float)
    if not 0 < k <= scores.shape[0]:
        raise ValueError(f"k={k} must be between 1 and the number of scored items {scores.shape[0]}")
    n = scores.shape[0]
    tiebreak = np.asarray(rng.random(n)) if rng is not None else -np.arange(n, dtype=float)
    return _top_k(scores, tiebreak, k)


def _top_k(scores: np.ndarray, tiebreak: np.ndarray, k: int) -> np.ndarray:
    scores = np.where(np.isnan(scores), -np.inf, scores)  # a NaN score (a row the model cannot read) goes last
    if k < scores.shape[0]:
        # argpartition keeps the cost O(n); only the k survivors (plus ties at the cut) are sorted.
        cut = np.partition(scores, -k)[-k]
        keep = np.flatnonzero(scores >= cut)
    else:
        keep = np.arange(scores.shape[0])
    order = np.lexsort((-tiebreak[keep], -scores[keep]))
    return keep[order[:k]]


def make_context(
    model: Any,
    strategy: Strategy,
    options: SelectionOptions,
    *,
    X_labeled: Any = None,
    y_labeled: Any = None,
    rng: np.random.Generator,
) -> Context:
    """Everything the strategy needs before the pool is read: raises ModelError/ValueError early."""
    fitted = not is_cold(model, y_labeled)
    y = None if y_labeled is None else np.asarray(y_labeled)
    classes = np.asarray(model.classes_) if fitted else None
    weights = tags = None
    if options.class_balance:
        checks.check_balance(model)
        Y = tag_balance.tag_indicator(model, y) if fitted else None
        if Y is not None:
            tags = tag_balance.tag_weights(Y)
        elif classes is not None and y is not None:
            counts = dict(zip(*np.unique(y, return_counts=True), strict=True))
            weights = measures.class_balance_weights(list(classes), counts)
    if options.class_seconds and classes is not None:
        cheap = measures.class_cost_weights([str(c) for c in classes], options.class_seconds)
        weights = cheap if weights is None else weights * cheap
    members = None
    if strategy.committee:
        if X_labeled is None or y is None:
            raise ValueError(
                f"strategy {strategy.name!r} needs X_labeled and y_labeled to fit its committee; pass them"
            )
        members = fit_committee(model, X_labeled, y, members=options.committee, size=options.committee_size, rng=rng)
    if strategy.check_model is not None and fitted:
        strategy.check_model(model)
    return Context(model, fitted, classes, X_labeled, y, weights, members, tags)


def _distinct(picked: np.ndarray, k: int, n: int) -> np.ndarray:
    """The first k distinct indices of `picked`, topped up in candidate order (best prefilter first)."""
    _, first = np.unique(picked, return_index=True)
    unique = picked[np.sort(first)]
    if unique.size >= k:
        return unique[:k]
    rest = np.setdiff1d(np.arange(n), unique, assume_unique=True)
    return np.concatenate([unique, rest[: k - unique.size]])


@dataclass
class Candidates:
    """The best rows by prefilter score seen so far: at most `m` of them, with their inputs."""

    ids: np.ndarray
    X: Any
    scores: np.ndarray
    tiebreak: np.ndarray

    def merge(self, other: Candidates, m: int) -> Candidates:
        """The best `m` of both. Any order of merging gives the same rows (ties fall by tiebreak)."""
        ids = np.concatenate([self.ids, other.ids])
        scores = np.concatenate([self.scores, other.scores])
        tiebreak = np.concatenate([self.tiebreak, other.tiebreak])
        keep = _top_k(scores, tiebreak, min(m, scores.shape[0]))
        X = take(stack([self.X, other.X]), keep)
        return Candidates(ids[keep], X, scores[keep], tiebreak[keep])


def merge_all(parts: Iterable[Candidates | None], m: int) -> Candidates | None:
    """The best `m` rows of several parts' candidates (None for a part with no rows)."""
    best: Candidates | None = None
    for part in parts:
        if part is not None:
            best = part if best is None else best.merge(part, m)
    return best


@dataclass(frozen=True)
class Ranked:
    """A chosen batch, best first, with the strategy that chose it and why.

    `batch` has columns id, score, predicted (the model's label for the item; None at cold start
    or for a model that is not a classifier); `X` holds the batch rows' model inputs.
    """

    batch: pd.DataFrame
    strategy: str
    reason: str
    X: Any = field(default=None, repr=False)


@dataclass
class Scorer:
    """A selection resolved before the pool is read: the strategy (and why it runs), what it knows of
    the model and the labeled set, how many candidates to keep, and random draws keyed by pool
    position. Any split of the pool into parts, scored in any process, keeps the same candidates as
    one pass over it, once `sample_reference` has seen the pool's first chunk."""

    spec: Strategy
    reason: str
    context: Context
    m: int
    score_rng: np.random.Generator = field(repr=False)
    tie_rng: np.random.Generator = field(repr=False)
    pick_rng: np.random.Generator = field(repr=False)
    reference: Any = field(default=None, repr=False)  # pool rows density compares with (a sample)
    space: Space | None = field(default=None, repr=False)
    reference_Z: Any = field(default=None, repr=False)  # `reference` in `space`; may be sparse

    def sample_reference(self, X: Any) -> None:
        """Fit density's distance space on its reference rows (`reference`, else a sample of `X`, the
        pool's first chunk), once the model is fitted; a no-op for every other strategy."""
        if not self.spec.reference or self.space is not None or not self.context.fitted:
            return
        sample = self.reference if self.reference is not None else take(X, _sample_rows(n_rows(X), self.pick_rng))
        self.space = self.context.space(sample)
        self.reference_Z = self.space(sample)

    def candidates(self, ids: np.ndarray, X: Any, positions: np.ndarray) -> Candidates:
        """The best `m` rows of one chunk by the prefilter (weighted by class or tag balance). `positions`
        are the rows' places in the pool, increasing (they key the draws).

        predict_proba is called only when the prefilter scores it or class balance weighs by it.
        """
        ctx = self.context
        proba = None
        if ctx.fitted and (self.spec.needs_model or ctx.class_weights is not None):
            proba = ctx.model.predict_proba(X)
        chunk = Chunk(X, proba, ctx, self.reference_Z, self.score_rng, positions, self.space)
        scores = self.spec.prefilter(chunk)
        if ctx.class_weights is not None and proba is not None:
            scores = scores * ctx.class_weights[proba.argmax(axis=1)]
        if ctx.tag_weights is not None:
            w = tag_balance.item_weights(multilabel.label_proba(ctx.model, X), ctx.tag_weights)
            scores = tag_balance.weighted_draws(scores, w) if self.spec.prefilter is UNIFORM else scores * w
        tiebreak = draws_at(self.tie_rng, positions)
        top = _top_k(scores, tiebreak, min(self.m, len(ids)))
        return Candidates(np.asarray(ids)[top], take(X, top), scores[top], tiebreak[top])

    def pick(self, best: Candidates | None, k: int, *, seen: int) -> Ranked:
        """The batch of `k` distinct items from the candidates of `seen` pool rows. ValueError if
        fewer than k arrived."""
        if best is None or seen < k:
            raise ValueError(f"batch_size={k} must be <= the number of unlabeled pool items {seen}")
        ctx = self.context
        if self.spec.pick is not None:
            # the candidates are a bounded sample of the pool: their spread, with the labels', sets the scale
            Z, Z_labeled = ctx.space(best.X).dense(best.X, ctx.X_labeled if ctx.has_labels else None)
            picks = np.asarray(self.spec.pick(Z, Z_labeled, best.scores, k, self.pick_rng))
            picked, scores = _distinct(picks, k, len(best.ids)), 1.0 - np.arange(k) / k
        elif self.spec.selector is not None:
            picked = _distinct(np.asarray(self.spec.selector(best.scores, k, rng=self.pick_rng)), k, len(best.ids))
            scores = best.scores[picked]
        else:
            picked, scores = np.arange(k), best.scores[:k]
        X = take(best.X, picked)
        batch = pd.DataFrame({"id": best.ids[picked], "score": scores, "predicted": _predicted(ctx, X)})
        return Ranked(batch, self.spec.name, self.reason, X)

    def rank(self, chunks: Iterable[tuple[np.ndarray, Any]], k: int) -> Ranked:
        """The `k` best items of a pool streamed as `(ids, X)` chunks, best first, and the strategy that ran.

        The one-process loop over `candidates` and `pick` (the round scores parts instead: alflow.round.scoring).
        Memory holds one chunk plus the bounded candidate set. Same chunks in the same order and the
        same `rng` state give the same batch; for per-row strategies, whatever the chunk size.
        Batch-level strategies report a rank score (1 for the first pick, falling by 1/k). Distances
        are measured in a `Space` (`Context.space`): for density, standardised by `reference` (pool
        rows: a sample of the whole pool) or else a sample of the first chunk, with the labeled items;
        for a batch pick, by its candidates and the labeled items. The batch holds k distinct ids
        whenever the chunks do. Raises ValueError if fewer than k items arrive.
        """
        best: Candidates | None = None
        seen = 0
        for ids, X in chunks:
            if len(ids) == 0:
                continue
            self.sample_reference(X)
            chunk = self.candidates(np.asarray(ids), X, np.arange(seen, seen + len(ids)))
            seen += len(ids)
            best = chunk if best is None else best.merge(chunk, self.m)
        return self.pick(best, k, seen=seen)


def make_scorer(
    model: Any,
    options: SelectionOptions,
    *,
    k: int,
    rng: np.random.Generator,
    X_labeled: Any = None,
    y_labeled: Any = None,
    reference: Any = None,
) -> Scorer:
    """Choose the strategy (`auto`, cold start), check the model can serve it and fit what it needs;
    raises ValueError (an unknown strategy) or ModelError (one the model cannot serve) before the pool
    is read. `reference`: pool rows density compares with (else a sample of the first chunk)."""
    score_rng, tie_rng, pick_rng = spawn(rng, 3)
    choice = _choose(model, options.strategy, y_labeled=y_labeled)
    spec = choice.strategy
    ctx = make_context(model, spec, options, X_labeled=X_labeled, y_labeled=y_labeled, rng=pick_rng)
    m = spec.candidates(k, options.oversample)
    if ctx.tag_weights is not None and spec.prefilter is UNIFORM and spec.pick is not None:
        m = min(m, k * options.oversample)  # the weighted sample, not the whole pool, is what the pick covers
    return Scorer(spec, choice.reason, ctx, m, score_rng, tie_rng, pick_rng, reference)


def _sample_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.permutation(n)[:REFERENCE_SAMPLE])


def _choose(model: Any, strategy: str | Strategy, *, y_labeled: Any) -> Choice:
    """The strategy that runs (auto decides from the data), after checking the model can serve it."""
    spec = registry.lookup(strategy)
    n_classes = None if y_labeled is None else int(np.unique(np.asarray(y_labeled)).size)
    fitted = not is_cold(model, y_labeled)
    unusable = cold_reason(model, y_labeled)
    if spec is None:
        checks.check_model(model, strategy=registry.AUTO, reads_model=False, fitted=fitted, n_classes=n_classes)
        return auto.choose(model, y_labeled, unusable=unusable)
    checks.check_model(model, strategy=spec.name, reads_model=spec.needs_model, fitted=fitted, n_classes=n_classes)
    if spec.needs_model and registry.STRATEGIES.get(spec.name) is spec and auto.label_task(model, y_labeled) == "multi":
        tags = ", ".join(n for n in registry.KIND_NAMES["multi"] if n not in registry.STRATEGIES)
        raise ModelError(
            f"strategy {spec.name!r} reads the probabilities of one class per item, and {type(model).__name__} "
            f"predicts tags (several classes per item): use {tags}"
        )
    return registry.resolve(spec, cold=unusable)


def _predicted(ctx: Context, X: Any) -> np.ndarray:
    """The model's label for each picked item (None at cold start or for a model that is not a classifier);
    a fitted model of numbers of alflow's (a campaign's LabelModel) gives its number, the vendor's guess."""
    numbers = getattr(ctx.model, "label_task", None) == "number" and hasattr(ctx.model, "fitted_")
    if numbers:  # a guess a person reads: six significant digits, not a float's seventeen, and no exponent
        guesses = (
            np.format_float_positional(float(v), precision=6, unique=False, fractional=False, trim="-")
            for v in ctx.model.predict(X)
        )
        return np.asarray(list(guesses), dtype=object)
    if ctx.fitted:
        predicted = np.asarray(ctx.model.predict(X), dtype=object)
        if predicted.ndim > 1:  # a multi-label model's 0/1 row per item: one tuple each
            rows = np.empty(len(predicted), dtype=object)
            rows[:] = [tuple(row) for row in predicted.tolist()]
            return rows
        return predicted
    return np.full(n_rows(X), None, dtype=object)
