"""A campaign replayed with imperfect annotators: each request is one annotation at the label price.

A labeling *plan* says how annotations are asked and turned into training labels (`PLANS`). The
budget counts seed labels (the team's own, trusted) plus every annotation asked, so plans compare
at equal money. The annotations themselves are drawn before the replay (`annotators.draw_annotations`),
so every plan and strategy of one seed meets the same vendor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
from sklearn.model_selection import KFold

from alflow.config import CampaignConfig
from alflow.errors import ConfigError
from alflow.intake.quality import MODEL_WEIGHT, ask_again, dawid_skene_em, repeat_when, tempered, vote_posterior
from alflow.model import estimators
from alflow.operations import summary
from alflow.operations.annotators import Annotations, Annotator, draw_annotations
from alflow.operations.simulate import (
    Problem,
    Progress,
    Replay,
    full_data_score,
    load_problem,
    mean_curve,
    rounds_in,
    strategy_specs,
)
from alflow.operations.summary import Simulation
from alflow.selection.arrays import take
from alflow.selection.notebook import select_with
from alflow.selection.options import SelectionOptions
from alflow.selection.registry import Strategy

PLANS = {
    "perfect": "a flawless vendor: every label is the answer (what the vendor's mistakes cost, by difference)",
    "once": "one annotation per item, trusted as it comes",
    "repeat3": "three annotations per item, plain majority (a tie takes the first annotator's)",
    "adaptive": (
        "one annotation per new item; another for a labeled item whose label is likely wrong "
        "(disagreeing votes, a weak annotator, a confident model that disagrees; the threshold by class "
        "count), up to half a batch; an item's label: Dawid-Skene's consensus of its votes, each weighed by "
        "its annotator's estimated quality, with the model's out-of-fold view as the item's prior"
    ),
}

# repeat_when and MODEL_WEIGHT, the repeat rule's settings, live in alflow.intake.quality (live rounds share them)


@dataclass(frozen=True)
class NoisyReplay:
    """A replay's curve (x = seed labels + annotations bought) and, for `adaptive`, each
    annotator's accuracy as Dawid-Skene estimated it at the end (NaN for one never asked)."""

    replay: Replay
    estimated: np.ndarray | None = field(default=None, repr=False)
    repeats: int = 0  # annotations asked of items already labeled


def noisy_curve(
    config: CampaignConfig,
    problem: Problem,
    annotations: Annotations,
    *,
    strategy: str | Strategy,
    plan: str,
    seed: int,
    on_round: Callable[[int], None] | None = None,
) -> NoisyReplay:
    """The replayed campaign for one strategy, plan and seed; `on_round(rounds done)` after each batch."""
    section = config.strategy
    options = SelectionOptions(
        strategy, section.oversample, section.class_balance, committee_size=section.committee_size
    )
    classes = tuple(config.classes)
    truth = np.array([classes.index(y) for y in problem.y_pool])
    asked = np.zeros(truth.size, dtype=int)  # annotations asked per item
    seeded = np.zeros(truth.size, dtype=bool)
    seeded[problem.seed_rows] = True
    budget = config.budget.max_labels
    curve: list[tuple[int, float]] = []
    used: list[str] = []
    repeated = rounds = 0
    while True:
        rows = np.flatnonzero(seeded | (asked > 0))
        labels, posterior = _labels(plan, truth, annotations, asked, seeded, len(classes))
        if posterior is not None:  # adaptive: again, the model's out-of-fold view as each item's prior
            prior = _model_prior(config, problem, rows, labels[rows], len(classes), seed=seed)
            labels, posterior = _labels(plan, truth, annotations, asked, seeded, len(classes), prior)
        y = np.array(classes)[labels[rows]]
        model = estimators.train(estimators.build_model(config.model, seed=seed), take(problem.X_pool, rows), y)
        score = estimators.holdout_metrics(model, problem.X_test, problem.y_test)[config.stopping.metric]
        spent = int(seeded.sum() + asked.sum())
        curve.append((spent, float(score)))
        k = min(section.batch_size, budget - spent)
        repeats = _repeats(asked, seeded, annotations, (labels, posterior), k // 2)
        each = 3 if plan == "repeat3" else 1
        new = _new_items(
            model, problem, options, (rows, y), seeded | (asked > 0), k - len(repeats), each, [seed, rounds]
        )
        if k <= 0 or not (len(repeats) or new.size):
            estimated = _estimated(annotations, asked, len(classes)) if plan == "adaptive" else None
            return NoisyReplay(Replay(curve, used), estimated, repeated)
        repeated += len(repeats)
        asked[repeats] += 1
        asked[new.indices] = min(each, k)
        used += [new.strategy] if new.size else []
        rounds += 1
        if on_round is not None:
            on_round(rounds)


@dataclass(frozen=True)
class _Chosen:
    indices: np.ndarray
    strategy: str

    @property
    def size(self) -> int:
        return int(self.indices.size)


def _new_items(
    model, problem: Problem, options: SelectionOptions, labeled, taken: np.ndarray, k: int, each: int, rng
) -> _Chosen:
    """New items for `k` annotations, `each` per item (at least one item while k > 0), chosen by the strategy."""
    free = np.flatnonzero(~taken)
    n = min(max(k // each, 1) if k > 0 else 0, free.size)
    if n == 0:
        return _Chosen(np.array([], dtype=int), "none")
    rows, y = labeled
    chosen = select_with(
        model, take(problem.X_pool, free), n, options, X_labeled=take(problem.X_pool, rows), y_labeled=y, rng=rng
    )
    return _Chosen(free[chosen.indices], chosen.strategy)


def _labels(
    plan: str,
    truth: np.ndarray,
    annotations: Annotations,
    asked: np.ndarray,
    seeded: np.ndarray,
    k: int,
    model_prior: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The training label (class index) of every item under the plan (seed items: the answer), and
    for `adaptive` the Dawid-Skene posterior (items, classes) with `model_prior` as each item's
    prior when given. An adaptive label is that posterior's most likely class (the votes weighed by
    their annotators' estimated confusions and the model's out-of-fold view, as CROWDLAB's
    consensus), or without a prior the votes' own (`vote_posterior`). Items not labeled hold -1."""
    labels = np.where(seeded, truth, -1)
    voted = np.flatnonzero((asked > 0) & ~seeded)
    if plan == "perfect":
        labels[voted] = truth[voted]
        return labels, None
    if plan == "adaptive":
        items, who, said = _votes(annotations, asked)
        shape = (truth.size, annotations.who.shape[1], k)
        quality = dawid_skene_em(items, who, said, shape=shape, item_prior=model_prior)
        # the consensus of the votes and the model's out-of-fold view once there is one (a model's
        # first fit, on the votes alone, is what gives that view)
        by_votes = vote_posterior(items, who, said, quality.confusion, truth.size)
        labels[voted] = np.argmax((by_votes if model_prior is None else quality.posterior)[voted], axis=1)
        return labels, quality.posterior
    for row in voted:  # once (one vote) and repeat3: the majority, a tie to the earliest vote
        said = annotations.said[row, : asked[row]]
        counts = np.bincount(said, minlength=k)
        labels[row] = next(s for s in said if counts[s] == counts.max())
    return labels, None


def _votes(annotations: Annotations, asked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every annotation asked so far as (item, annotator, said) index arrays."""
    mask = np.arange(annotations.who.shape[1])[None, :] < asked[:, None]
    items = np.nonzero(mask)[0]
    return items, annotations.who[mask], annotations.said[mask]


def _repeats(
    asked: np.ndarray,
    seeded: np.ndarray,
    annotations: Annotations,
    judged: tuple[np.ndarray, np.ndarray | None],
    most: int,
) -> list[int]:
    """Labeled items (not seed, an annotator left to ask) whose label is wrong with probability at
    least `repeat_when(classes)`, the likeliest wrong first, at most `most`. `judged` is (each item's label,
    the posterior that weighs its votes with the model's view); no posterior (plans other than
    adaptive), no repeats."""
    labels, posterior = judged
    open_ = np.flatnonzero((asked > 0) & (asked < annotations.who.shape[1]) & ~seeded)
    if posterior is None or most <= 0 or open_.size == 0:
        return []
    wrong = 1 - posterior[open_, labels[open_]]
    return [int(open_[i]) for i in ask_again(wrong, most, when=repeat_when(posterior.shape[1]))]


def _model_prior(
    config: CampaignConfig, problem: Problem, rows: np.ndarray, labels: np.ndarray, k: int, *, seed: int
) -> np.ndarray:
    """Each item's prior (items, classes): for labeled `rows`, the campaign model's out-of-fold
    probabilities (5 folds, trained on the other items' `labels`, class indices) tempered by
    MODEL_WEIGHT; even elsewhere, and for all when the folds cannot be trained (too few classes)."""
    prior = np.full((problem.y_pool.size, k), 1.0 / k)
    folds = KFold(n_splits=min(5, rows.size), shuffle=True, random_state=seed)
    X = take(problem.X_pool, rows)
    for fit, held in folds.split(rows):
        if np.unique(labels[fit]).size < 2:
            continue
        model = estimators.train(estimators.build_model(config.model, seed=seed), take(X, fit), labels[fit])
        proba = np.zeros((held.size, k))
        proba[:, model.classes_.astype(int)] = model.predict_proba(take(X, held))
        prior[rows[held]] = tempered(proba, weight=MODEL_WEIGHT)
    return prior


def _estimated(annotations: Annotations, asked: np.ndarray, k: int) -> np.ndarray:
    items, who, said = _votes(annotations, asked)
    shape = (asked.size, annotations.who.shape[1], k)
    return dawid_skene_em(items, who, said, shape=shape).accuracy


DEFAULT_PLANS = ("perfect", "once", "repeat3", "adaptive")


def simulate_with_annotators(
    config: CampaignConfig,
    crowd: tuple[Annotator, ...],
    *,
    answers: str,
    strategies: Sequence[str | Strategy],
    seeds: int,
    plans: Sequence[str] = DEFAULT_PLANS,
    objective: str = "aulc",
    progress: Progress | None = None,
) -> Simulation:
    """`simulate` with the vendor replaced by `crowd`: each strategy under each labeling plan
    (rows `strategy/plan`) and random labeled once (`random`), over `seeds` seeds.

    Raises ConfigError for an unknown strategy, plan or objective, or answers that do not fit.
    """
    unknown = [p for p in plans if p not in PLANS]
    if unknown or not plans:
        raise ConfigError(f"--labeling: unknown {unknown or 'empty'}; use some of {', '.join(PLANS)}")
    summary.check_objective(objective)
    specs = strategy_specs(strategies)
    jobs = [(f"{name}/{plan}", spec, plan) for name, spec in specs.items() for plan in plans]
    jobs.append(("random", "random", "once"))
    runs: dict[str, list[Replay]] = {name: [] for name, _, _ in jobs}
    fulls, on_pool, estimated, repeats = [], [], [], Counter[str]()
    for seed in range(config.seed, config.seed + seeds):
        problem = load_problem(config, answers=answers, seed=seed)
        fulls.append(full_data_score(config, problem, seed=seed))
        truth = np.array([config.classes.index(y) for y in problem.y_pool])
        drawn = draw_annotations(crowd, truth, rng=np.random.default_rng([seed, 22]))
        on_pool.append(_right_share(drawn, truth, len(crowd)))
        for name, spec, plan in jobs:
            on_round = None if progress is None else partial(progress, name, seed, total=rounds_in(config, problem))
            if on_round is not None:
                on_round(0)
            replay = noisy_curve(config, problem, drawn, strategy=spec, plan=plan, seed=seed, on_round=on_round)
            runs[name].append(replay.replay)
            repeats[name] += replay.repeats
            if replay.estimated is not None:
                estimated.append(replay.estimated)
    curves = {name: mean_curve([r.curve for r in replays]) for name, replays in runs.items()}
    used = {name: Counter(s for r in replays for s in r.used) for name, replays in runs.items()}
    result = summary.summarise(config.stopping.metric, curves, float(np.mean(fulls)), objective=objective, used=used)
    rows = _crowd_rows(crowd, np.mean(on_pool, axis=0), np.nanmean(estimated, axis=0) if estimated else None)
    for row in result.table:
        row["repeats"] = repeats[row["strategy"]] / seeds
    return replace(result, annotators=rows, plans={p: PLANS[p] for p in plans})


def _right_share(drawn: Annotations, truth: np.ndarray, n: int) -> np.ndarray:
    """Each annotator's share of right answers among every answer drawn for them on this pool."""
    right = drawn.said == truth[:, None]
    return np.array([right[drawn.who == a].mean() for a in range(n)])


def _crowd_rows(crowd: tuple[Annotator, ...], on_pool: np.ndarray, estimated: np.ndarray | None) -> tuple[dict, ...]:
    total = sum(a.share for a in crowd)
    return tuple(
        {
            "name": a.name,
            "share": a.share / total,
            "accuracy": a.accuracy,
            "on_pool": float(on_pool[n]),
            "estimated": None if estimated is None or np.isnan(estimated[n]) else float(estimated[n]),
        }
        for n, a in enumerate(crowd)
    )
