"""Simulation: a campaign replayed on already-labeled data, with an oracle in place of the vendor.

Each strategy (and random sampling) runs the campaign's own pieces: the same model
(`models.build_model`), the same seed labels, batch size and budget, and the same selection
code as a round (`alflow.selection`). Only the vendor is replaced by the answers column,
and the ledger and Prefect are left out, so a whole simulation takes seconds, not hours.
The output tells a team how many labels each strategy saves over random on its own data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from alflow.config import CampaignConfig
from alflow.errors import ConfigError
from alflow.learning import data, models
from alflow.selection import registry
from alflow.selection.arrays import take
from alflow.selection.pool import select_batch

TARGETS = (0.95, 0.98, 0.99)


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
    frame = data.read_table(pool_cfg.uri, text_columns=[pool_cfg.id_column, answers])
    if answers not in frame.columns:
        raise ConfigError(
            f"{pool_cfg.uri}: no answers column {answers!r}; columns are {list(frame.columns)}; "
            "pass --answers with the column that holds the true labels"
        )
    unknown = sorted(set(frame[answers]) - set(config.classes))
    if unknown:
        raise ConfigError(f"{pool_cfg.uri}: answers column {answers!r} has labels outside the class set: {unknown[:5]}")
    features = [c for c in data.feature_columns(pool_cfg, list(frame.columns)) if c != answers]
    seed_labels = data.read_table(config.seed_labels.uri, text_columns=[pool_cfg.id_column])
    is_seed = frame[pool_cfg.id_column].isin(set(seed_labels[pool_cfg.id_column])).to_numpy()
    if config.holdout is not None:
        holdout = data.read_table(config.holdout.uri, text_columns=[config.holdout.label_column])
        pool, test = frame, holdout.rename(columns={config.holdout.label_column: answers})
    else:
        # seed-labeled items always stay in the pool: the campaign starts from them
        rest = frame[~is_seed]
        train, test = train_test_split(rest, test_size=0.3, random_state=seed, stratify=rest[answers])
        pool = pd.concat([frame[is_seed], train], ignore_index=True)
    pool = pool.reset_index(drop=True)
    seed_rows = np.flatnonzero(pool[pool_cfg.id_column].isin(set(seed_labels[pool_cfg.id_column])).to_numpy())
    return Problem(
        data.model_input(pool, pool_cfg, features),
        pool[answers].to_numpy(dtype=str),
        data.model_input(test, pool_cfg, features),
        test[answers].to_numpy(dtype=str),
        seed_rows,
    )


def learning_curve(config: CampaignConfig, problem: Problem, *, strategy: str, seed: int) -> list[tuple[int, float]]:
    """(labels used, test metric) after each round of one replayed campaign."""
    metric = config.stopping.metric
    labeled = np.zeros(len(problem.y_pool), dtype=bool)
    labeled[problem.seed_rows] = True
    budget = min(config.budget.max_labels, labeled.size)
    curve, round_ = [], 0
    while True:
        rows = np.flatnonzero(labeled)
        model = models.train(
            models.build_model(config.model, seed=seed), take(problem.X_pool, rows), problem.y_pool[rows]
        )
        score = models.holdout_metrics(model, problem.X_test, problem.y_test)[metric]
        curve.append((int(labeled.sum()), float(score)))
        k = min(config.strategy.batch_size, budget - int(labeled.sum()))
        if k <= 0:
            return curve
        unlabeled = np.flatnonzero(~labeled)
        picked = select_batch(
            model,
            take(problem.X_pool, unlabeled),
            k,
            strategy=strategy,
            X_labeled=take(problem.X_pool, rows),
            y_labeled=problem.y_pool[rows],
            random_state=[seed, round_],
            oversample=config.strategy.oversample,
            class_balance=config.strategy.class_balance,
            committee_size=config.strategy.committee_size,
        )
        labeled[unlabeled[picked]] = True  # the oracle answers at once
        round_ += 1


def full_data_score(config: CampaignConfig, problem: Problem, *, seed: int) -> float:
    """The metric of the campaign's model fit on the whole pool: the ceiling the curves aim at."""
    model = models.train(models.build_model(config.model, seed=seed), problem.X_pool, problem.y_pool)
    return float(models.holdout_metrics(model, problem.X_test, problem.y_test)[config.stopping.metric])


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """Labels used at the first point of the curve at or above `target`, or None."""
    return next((n for n, score in curve if score >= target), None)


def mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Mean metric per point over seeds (curves of one strategy share their label counts)."""
    length = min(len(c) for c in curves)
    return [(curves[0][i][0], float(np.mean([c[i][1] for c in curves]))) for i in range(length)]


@dataclass(frozen=True)
class Simulation:
    """Curves and the table of a simulation, with the recommended strategy and why."""

    metric: str
    full_score: float
    curves: dict[str, list[tuple[int, float]]]  # strategy -> mean curve
    table: list[dict]
    recommended: str
    reason: str


def summarise(metric: str, curves: dict[str, list], full_score: float) -> Simulation:
    """AULC, labels to 95/98/99 % of the full-data score, labels saved against random, a recommendation."""
    rows = []
    random_98 = labels_to_reach(curves["random"], 0.98 * full_score) if "random" in curves else None
    for name, curve in curves.items():
        row: dict = {"strategy": name, "aulc": float(np.mean([s for _, s in curve])), "final": curve[-1][1]}
        for target in TARGETS:
            row[f"labels_to_{round(target * 100)}"] = labels_to_reach(curve, target * full_score)
        reached = row["labels_to_98"]
        row["labels_saved_vs_random_98"] = (
            None if reached is None or random_98 is None or name == "random" else random_98 - reached
        )
        rows.append(row)
    rows.sort(key=lambda r: -r["aulc"])
    best = rows[0]
    random_row = next((r for r in rows if r["strategy"] == "random"), None)
    reason = f"highest area under the learning curve ({best['aulc']:.4f}"
    reason += f" vs random {random_row['aulc']:.4f})" if random_row and best is not random_row else ")"
    if best["labels_to_98"] is not None:
        reason += f"; reaches 98 % of the full-data {metric} with {best['labels_to_98']} labels"
        if best["labels_saved_vs_random_98"] is not None:
            reason += f", {best['labels_saved_vs_random_98']} fewer than random"
    return Simulation(metric, full_score, curves, rows, best["strategy"], reason)


def simulate(config: CampaignConfig, *, answers: str, strategies: list[str], seeds: int) -> Simulation:
    """Replay the campaign for each strategy and random over `seeds` seeds (config.seed, +1, ...)."""
    unknown = [s for s in strategies if s not in registry.NAMES]
    if unknown:
        raise ConfigError(f"--strategies: unknown {unknown}; use names from {', '.join(registry.NAMES)}")
    names = list(dict.fromkeys([*strategies, "random"]))
    runs: dict[str, list] = {name: [] for name in names}
    fulls = []
    for seed in range(config.seed, config.seed + seeds):
        problem = load_problem(config, answers=answers, seed=seed)
        fulls.append(full_data_score(config, problem, seed=seed))
        for name in names:
            runs[name].append(learning_curve(config, problem, strategy=name, seed=seed))
    curves = {name: mean_curve(c) for name, c in runs.items()}
    return summarise(config.stopping.metric, curves, float(np.mean(fulls)))


def table_markdown(sim: Simulation) -> str:
    def show(value) -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

    lines = [
        f"Full-data {sim.metric}: {sim.full_score:.4f}. Recommended: **{sim.recommended}**: {sim.reason}.",
        "",
        "| strategy | AULC | final | to 95 % | to 98 % | to 99 % | saved vs random (98 %) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sim.table:
        lines.append(
            f"| {r['strategy']} | {r['aulc']:.4f} | {r['final']:.4f} | {show(r['labels_to_95'])} | "
            f"{show(r['labels_to_98'])} | {show(r['labels_to_99'])} | {show(r['labels_saved_vs_random_98'])} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(sim: Simulation, folder: Path) -> dict[str, Path]:
    """curves.json, curves.png (one line per strategy) and table.md under `folder`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"curves": folder / "curves.json", "plot": folder / "curves.png", "table": folder / "table.md"}
    payload = {
        "metric": sim.metric,
        "full_score": sim.full_score,
        "recommended": sim.recommended,
        "reason": sim.reason,
        "curves": {k: [{"labels": n, sim.metric: s} for n, s in v] for k, v in sim.curves.items()},
        "table": sim.table,
    }
    paths["curves"].write_text(json.dumps(payload, indent=2))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in sim.curves.items():
        ax.plot([n for n, _ in curve], [s for _, s in curve], label=name, linestyle="--" if name == "random" else "-")
    ax.axhline(sim.full_score, color="grey", linewidth=0.8, label="all labels")
    ax.set_xlabel("labels")
    ax.set_ylabel(sim.metric)
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["plot"], dpi=100)
    plt.close(fig)
    paths["table"].write_text(table_markdown(sim))
    return paths
