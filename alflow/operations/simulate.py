"""Simulation: a campaign replayed on already-labeled data, with an oracle in place of the vendor.

Each strategy (and random sampling) runs the campaign's own pieces: the same model
(`models.build_model`), the same seed labels, batch size and budget, and the same selection
code as a round (`alflow.selection`). Only the vendor is replaced by the answers column,
and the ledger and Prefect are left out, so a whole simulation takes seconds, not hours.
The output tells a team how many labels each strategy saves over random on its own data.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from alflow.config import CampaignConfig
from alflow.data import frames
from alflow.errors import ConfigError
from alflow.model import targets
from alflow.operations import summary
from alflow.operations.summary import Simulation
from alflow.round.stability import STOP_SET_STREAM
from alflow.selection import registry
from alflow.selection.arrays import take
from alflow.selection.notebook import select_with
from alflow.selection.options import SelectionOptions
from alflow.selection.registry import Strategy


@dataclass(frozen=True)
class Problem:
    """The replayed campaign: a pool with its answers, a test set, the seed labels."""

    X_pool: Any = field(repr=False)  # what the model reads: a feature frame, a text series or vectors
    y_pool: np.ndarray = field(repr=False)
    X_test: Any = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    seed_rows: np.ndarray = field(repr=False)


def load_problem(config: CampaignConfig, *, answers: str, seed: int) -> Problem:
    """The pool with its `answers` column; the test set is the holdout, or a stratified 30 % of the pool.

    Raises ConfigError when the answers column is missing or holds labels outside the class set.
    """
    pool_cfg = config.pool
    frame = frames.read_table(pool_cfg.uri, text_columns=[pool_cfg.id_column, answers])
    if answers not in frame.columns:
        raise ConfigError(
            f"{pool_cfg.uri}: no answers column {answers!r}; columns are {list(frame.columns)}; "
            "pass --answers with the column that holds the true labels"
        )
    frame = _spelled_answers(config, frame, answers, pool_cfg.uri)
    features = [c for c in frames.feature_columns(pool_cfg, list(frame.columns)) if c != answers]
    seed_labels = frames.read_table(config.seed_labels.uri, text_columns=[pool_cfg.id_column])
    is_seed = frame[pool_cfg.id_column].isin(set(seed_labels[pool_cfg.id_column])).to_numpy()
    if config.holdout is not None:
        holdout = frames.read_table(config.holdout.uri, text_columns=[config.holdout.label_column])
        test = holdout.rename(columns={config.holdout.label_column: answers})
        if not config.label_kind.is_class:  # a single-class holdout is read as it always was
            test = _spelled_answers(config, test, answers, config.holdout.uri)
        pool = frame
    else:
        # seed-labeled items always stay in the pool: the campaign starts from them
        rest = frame[~is_seed]
        strata = rest[answers] if config.label_kind.is_class else None  # tags and numbers: a plain split
        train, test = train_test_split(rest, test_size=0.3, random_state=seed, stratify=strata)
        pool = pd.concat([frame[is_seed], train], ignore_index=True)
    pool = pool.reset_index(drop=True)
    seed_rows = np.flatnonzero(pool[pool_cfg.id_column].isin(set(seed_labels[pool_cfg.id_column])).to_numpy())
    return Problem(
        frames.model_input(pool, pool_cfg, features),
        pool[answers].to_numpy(dtype=str),
        frames.model_input(test, pool_cfg, features),
        test[answers].to_numpy(dtype=str),
        seed_rows,
    )


@dataclass(frozen=True)
class Replay:
    """One replayed campaign: (labels used, test metric) after each round, and the strategy each batch
    used; with a stop set, each round's model's predictions on it (one array per curve point)."""

    curve: list[tuple[int, float]]
    used: list[str]
    stop_predictions: list[np.ndarray] = field(default_factory=list, repr=False)


def stop_set_rows(problem: Problem, size: int, *, seed: int) -> np.ndarray:
    """`size` pool rows that are not seed labels, drawn with `seed` (as a round draws its stop set)."""
    free = np.setdiff1d(np.arange(len(problem.y_pool)), problem.seed_rows)
    return np.random.default_rng([seed, STOP_SET_STREAM]).choice(free, size=min(size, free.size), replace=False)


Progress = Callable[..., None]
"""progress(strategy, seed, rounds_done, total=rounds_in_all): called before and after every round of every replay."""


def rounds_in(config: CampaignConfig, problem: Problem) -> int:
    """How many batches one replay asks for: the budget left after the seed labels, in batches."""
    budget = min(config.budget.max_labels, len(problem.y_pool))
    return math.ceil(max(budget - len(problem.seed_rows), 0) / config.strategy.batch_size)


def learning_curve(
    config: CampaignConfig,
    problem: Problem,
    *,
    strategy: str | Strategy,
    seed: int,
    on_round: Callable[[int], None] | None = None,
    stop_set: np.ndarray | None = None,
) -> Replay:
    """The replayed campaign for one strategy and seed; `on_round(rounds done)` after each batch.
    With `stop_set` (pool rows, `stop_set_rows`) those rows are never asked and every round's model
    predicts them (`Replay.stop_predictions`): stopping by stabilising predictions, replayed."""
    section = config.strategy
    options = SelectionOptions(
        strategy, section.oversample, section.class_balance, committee_size=section.committee_size
    )
    metric = config.stopping.metric
    labeled = np.zeros(len(problem.y_pool), dtype=bool)
    labeled[problem.seed_rows] = True
    blocked = np.zeros_like(labeled)
    blocked[stop_set if stop_set is not None else []] = True
    budget = min(config.budget.max_labels, labeled.size - int(blocked.sum()))
    curve: list[tuple[int, float]] = []
    used: list[str] = []
    predicted: list[np.ndarray] = []
    round_ = 0
    while True:
        rows = np.flatnonzero(labeled)
        model = _fit(config, take(problem.X_pool, rows), problem.y_pool[rows], seed=seed)
        score = _scores(config, model, problem.X_test, problem.y_test)[metric]
        curve.append((int(labeled.sum()), float(score)))
        if stop_set is not None:
            predicted.append(np.asarray(model.predict(take(problem.X_pool, stop_set))).astype(str))
        k = min(config.strategy.batch_size, budget - int(labeled.sum()))
        if k <= 0:
            return Replay(curve, used, predicted)
        unlabeled = np.flatnonzero(~labeled & ~blocked)
        chosen = select_with(
            model,
            take(problem.X_pool, unlabeled),
            k,
            options,
            X_labeled=take(problem.X_pool, rows),
            y_labeled=problem.y_pool[rows],
            rng=[seed, round_],
        )
        labeled[unlabeled[chosen.indices]] = True  # the oracle answers at once
        used.append(chosen.strategy)
        round_ += 1
        if on_round is not None:
            on_round(round_)


def full_data_score(config: CampaignConfig, problem: Problem, *, seed: int) -> float:
    """The metric of the campaign's model fit on the whole pool: the ceiling the curves aim at."""
    model = _fit(config, problem.X_pool, problem.y_pool, seed=seed)
    return float(_scores(config, model, problem.X_test, problem.y_test)[config.stopping.metric])


def _fit(config: CampaignConfig, X: Any, y: np.ndarray, *, seed: int) -> Any:
    """The campaign's model fit on (X, y): a classifier, or a model of tags or numbers (alflow.model.targets)."""
    return targets.fit_any(config.model, config.label_kind, X, y, seed=seed)


def _scores(config: CampaignConfig, model: Any, X: Any, y: np.ndarray) -> dict[str, float]:
    return targets.score_any(config.label_kind, model, X, y)


def _spelled_answers(config: CampaignConfig, frame: pd.DataFrame, answers: str, source: str) -> pd.DataFrame:
    """`frame` with its answers checked for the campaign's kind and in their one spelling (ConfigError)."""
    if answers not in frame.columns:
        return frame
    if config.label_kind.is_class:
        unknown = sorted(set(frame[answers]) - set(config.classes))
        if unknown:
            raise ConfigError(f"{source}: answers column {answers!r} has labels outside the class set: {unknown[:5]}")
        return frame
    texts, reasons = config.label_kind.parse_column(frame[answers])
    bad = frame.loc[reasons.notna().to_numpy() | texts.isna().to_numpy(), answers]
    if len(bad):
        kind = config.labels.kind
        shown = sorted(map(str, set(bad)))[:5]
        raise ConfigError(f"{source}: answers column {answers!r} has labels not of labels.kind {kind}: {shown}")
    return frame.assign(**{answers: texts})


def mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Mean metric per point over seeds (curves of one strategy share their label counts)."""
    length = min(len(c) for c in curves)
    return [(curves[0][i][0], float(np.mean([c[i][1] for c in curves]))) for i in range(length)]


DEFAULT_STRATEGIES = {
    "class": ("auto", "margin", "entropy", "combined", "typiclust"),
    "multi": ("auto", "mean_max_loss", "max_loss", "typiclust"),
    "number": ("auto", "committee_variance", "gsx", "typiclust"),
}
"""What `alflow simulate` replays without `--strategies`, per kind of label (random is always added)."""


def simulate(
    config: CampaignConfig,
    *,
    answers: str,
    strategies: Sequence[str | Strategy],
    seeds: int,
    objective: str = "aulc",
    progress: Progress | None = None,
) -> Simulation:
    """Replay the campaign for each strategy and random over `seeds` seeds (config.seed, +1, ...).

    A strategy is a name, the import path of a strategy (`package.module:attribute`) or a
    Strategy spec (`alflow.make_strategy`); the table names a spec by its `name`.
    `objective` is what the recommendation optimises (`summary.OBJECTIVES`). Raises ConfigError
    for an unknown strategy or objective, or an answers column that does not fit the campaign.
    """
    allowed = registry.KIND_NAMES[config.labels.kind]  # the class names for a single-class campaign
    specs = {**strategy_specs(strategies, allowed), **strategy_specs(["random"])}
    summary.check_objective(objective)
    names = list(specs)
    runs: dict[str, list[Replay]] = {name: [] for name in names}
    fulls = []
    for seed in range(config.seed, config.seed + seeds):
        problem = load_problem(config, answers=answers, seed=seed)
        fulls.append(full_data_score(config, problem, seed=seed))
        total = rounds_in(config, problem)
        for name in names:
            on_round = None if progress is None else partial(progress, name, seed, total=total)
            if on_round is not None:
                on_round(0)
            runs[name].append(learning_curve(config, problem, strategy=specs[name], seed=seed, on_round=on_round))
    curves = {name: mean_curve([r.curve for r in replays]) for name, replays in runs.items()}
    used = {name: Counter(s for r in replays for s in r.used) for name, replays in runs.items()}
    return summary.summarise(config.stopping.metric, curves, float(np.mean(fulls)), objective=objective, used=used)


def strategy_specs(
    strategies: Sequence[str | Strategy], allowed: Sequence[str] = registry.NAMES
) -> dict[str, str | Strategy]:
    """Each strategy by its name in the table (names from `allowed`: the campaign's kind's). Raises
    ConfigError for an unknown name or a bad import path."""
    unknown = [s for s in strategies if isinstance(s, str) and ":" not in s and s not in allowed]
    if unknown:
        raise ConfigError(
            f"--strategies: unknown {unknown}; use names from {', '.join(allowed)}, "
            "or the import path package.module:attribute of a strategy made with alflow.make_strategy"
        )
    return {_label(s): s for s in strategies}


def _label(strategy: str | Strategy) -> str:
    """The strategy's name in the table; ConfigError for an import path that does not lead to a strategy."""
    if isinstance(strategy, Strategy):
        return strategy.name
    try:
        spec = registry.lookup(strategy)
    except ValueError as error:
        raise ConfigError(f"--strategies: {error}") from None
    return strategy if spec is None or ":" not in strategy else spec.name
