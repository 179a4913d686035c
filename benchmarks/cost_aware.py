"""Cost-aware selection (`strategy.cost_aware`): does dividing an item's score by its expected labeling
time buy more accuracy per second of annotators' time?

    nice -n 10 python benchmarks/cost_aware.py [--seeds 3] [--datasets a,b] [--hours 1.0]

Simulated annotators, always right, whose time per label depends on the item's true class: each
class gets a typical time drawn log-uniformly between 3 and 30 seconds (per set and seed), and each
label takes that time times a log-normal factor (sigma 0.3). Each run: a 70/30 stratified split
(random_state=seed), 20 random seed labels (free: their time unknown), then batches of 10 chosen
from the pool by

- **margin**: alflow's margin strategy (`SelectionOptions("margin")`);
- **margin, cost-aware**: the same with `class_seconds`, each class's median time over the labels
  bought so far (by the delivered label), once 10 labels carry a time, exactly as
  `strategy.cost_aware` feeds it to a round (alflow.ledger.timing.class_seconds);
- **random**: a uniform draw;

until the annotators' time reaches the budget (`--hours` of annotation per run). The model is
scikit-learn's logistic regression on standardised features, refit after every batch; accuracy is
the test split's. The table reports the mean test accuracy (and its standard deviation over seeds)
when 25 %, 50 % and 100 % of the time budget is spent, the labels bought by then, and the area
under accuracy against seconds (mean accuracy over the budget). Writes
benchmarks/results/cost_aware.{json,md}; every number in the Markdown comes from the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alflow.selection.notebook import select_with
from alflow.selection.options import SelectionOptions

RESULTS = Path(__file__).parent / "results"
START, BATCH, MIN_TIMED, CHECKPOINTS = 20, 10, 10, (0.25, 0.5, 1.0)
DATASETS = {
    "digits": lambda: load_digits(return_X_y=True),
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "synth_10c": lambda: make_classification(
        2000, n_features=20, n_informative=12, n_classes=10, n_clusters_per_class=1, random_state=0
    ),
    "synth_4c_overlap": lambda: make_classification(
        2500, n_features=10, n_informative=3, n_redundant=2, n_classes=4, class_sep=0.8, random_state=101
    ),
}
ARMS = ("margin", "margin_cost_aware", "random")


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _times(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds each item takes to label: its class's typical time (3-30 s, log-uniform) times noise."""
    classes = np.unique(y)
    typical = dict(zip(classes, np.exp(rng.uniform(np.log(3), np.log(30), len(classes))), strict=True))
    return np.array([typical[c] for c in y]) * rng.lognormal(0.0, 0.3, len(y))


def _class_seconds(labels: np.ndarray, seconds: np.ndarray) -> dict[str, float] | None:
    """Each class's median seconds over the labels bought, once MIN_TIMED carry a time."""
    if len(labels) < MIN_TIMED:
        return None
    return {str(c): float(np.median(seconds[labels == c])) for c in np.unique(labels)}


def _pick(arm: str, model, X_pool, y_bought, t_bought, X_lab, y_lab, rng) -> np.ndarray:
    k = min(BATCH, len(X_pool))
    if arm == "random":
        return rng.permutation(len(X_pool))[:k]
    costs = _class_seconds(y_bought, t_bought) if arm == "margin_cost_aware" else None
    options = SelectionOptions("margin", class_seconds=costs)
    return select_with(model, X_pool, k, options, X_labeled=X_lab, y_labeled=y_lab, rng=rng).indices


def run(arm: str, X, y, seed: int, budget: float) -> list[tuple[float, int, float]]:
    """(seconds spent, labels bought, test accuracy) after the seed labels and after every batch."""
    rng = np.random.default_rng(seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    seconds = _times(y_tr, np.random.default_rng([seed, 7]))
    labeled = list(rng.choice(len(y_tr), START, replace=False))
    bought: list[int] = []
    spent, curve = 0.0, []
    pick_rng = np.random.default_rng([seed, 11])
    while True:
        model = _model().fit(X_tr[labeled], y_tr[labeled])
        curve.append((spent, len(bought), float(model.score(X_te, y_te))))
        pool = np.setdiff1d(np.arange(len(y_tr)), labeled)
        if spent >= budget or not len(pool):
            return curve
        chosen = pool[
            _pick(arm, model, X_tr[pool], y_tr[bought], seconds[bought], X_tr[labeled], y_tr[labeled], pick_rng)
        ]
        labeled += list(chosen)
        bought += list(chosen)
        spent += float(seconds[chosen].sum())


def _at(curve: list[tuple[float, int, float]], seconds: float) -> tuple[float, int]:
    """(accuracy, labels) of the last model trained within `seconds` of annotation."""
    within = [point for point in curve if point[0] <= seconds + 1e-9]
    return within[-1][2], within[-1][1]


def _area(curve: list[tuple[float, int, float]], budget: float) -> float:
    """Mean accuracy over [0, budget] seconds, the accuracy held between batches (a step function)."""
    total = 0.0
    for (start, _, accuracy), (end, _, _) in zip(curve, [*curve[1:], (budget, 0, 0.0)], strict=True):
        total += accuracy * max(0.0, min(end, budget) - min(start, budget))
    return total / budget


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hours", type=float, default=1.0, help="annotation time per run")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    budget = args.hours * 3600
    started, load = time.time(), os.getloadavg()
    rows = []
    for name in args.datasets.split(","):
        X, y = DATASETS[name]()
        for seed in range(args.seeds):
            for arm in ARMS:
                curve = run(arm, X, y, seed, budget)
                points = {
                    f"{p:g}": dict(zip(("accuracy", "labels"), _at(curve, p * budget), strict=True))
                    for p in CHECKPOINTS
                }
                rows.append({"dataset": name, "seed": seed, "arm": arm, "at": points, "area": _area(curve, budget)})
                print(name, seed, arm, points["1"], round(rows[-1]["area"], 4), flush=True)
    out = {
        "budget_seconds": budget,
        "seeds": args.seeds,
        "load_before": load,
        "load_after": os.getloadavg(),
        "wall_seconds": round(time.time() - started, 1),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cost_aware.json").write_text(json.dumps(out, indent=1) + "\n")
    (RESULTS / "cost_aware.md").write_text(markdown(out))


def _mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def markdown(out: dict) -> str:
    rows = out["rows"]
    lines = [
        "# Cost-aware selection: accuracy against annotators' seconds",
        "",
        f"Budget {out['budget_seconds'] / 3600:g} h of annotation per run, {out['seeds']} seeds; class times "
        "3-30 s (log-uniform per class), noise log-normal 0.3; batches of 10 after 20 free seed labels. "
        f"Load average before {out['load_before'][0]:.1f}, after {out['load_after'][0]:.1f} "
        f"(wall {out['wall_seconds']:.0f} s). Generated by benchmarks/cost_aware.py.",
        "",
        "| set | arm | acc @25 % | acc @50 % | acc @100 % | labels @100 % | mean acc over budget |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    gains = {}
    for name in dict.fromkeys(r["dataset"] for r in rows):
        for arm in ARMS:
            mine = [r for r in rows if r["dataset"] == name and r["arm"] == arm]
            cells = [_mean_sd([r["at"][f"{p:g}"]["accuracy"] for r in mine]) for p in CHECKPOINTS]
            labels = np.mean([r["at"]["1"]["labels"] for r in mine])
            lines.append(
                f"| {name} | {arm} | {' | '.join(cells)} | {labels:.0f} | {_mean_sd([r['area'] for r in mine])} |"
            )
        pairs = zip(
            sorted(
                (r for r in rows if r["dataset"] == name and r["arm"] == "margin_cost_aware"), key=lambda r: r["seed"]
            ),
            sorted((r for r in rows if r["dataset"] == name and r["arm"] == "margin"), key=lambda r: r["seed"]),
            strict=True,
        )
        gains[name] = [a["area"] - b["area"] for a, b in pairs]
    lines += [
        "",
        "Cost-aware minus margin, mean accuracy over the budget (per seed):",
        "",
        *[f"- {name}: {np.mean(g):+.4f} (seeds: {', '.join(f'{x:+.4f}' for x in g)})" for name, g in gains.items()],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
