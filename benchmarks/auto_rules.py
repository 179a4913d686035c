"""Candidate rules for `auto`, measured under BENCHMARK.md's protocol before one was fixed (LR, no peers).

    python benchmarks/auto_rules.py [--seeds 3] [--datasets a,b] [--rules auto,skill,replay,margin] [--jobs 1]

Each rule picks, each round, which alflow strategy chooses the batch; the loop, split, start and
model are label_efficiency.py's. Writes benchmarks/results/auto_rules.{json,md}.

  auto    the library's rule: TypiClust below 3 labels per class, then combined
  skill   decided from the data: TypiClust while the model's cross-validated Cohen's kappa on the
          labeled set is below 0.5 (it cannot tell the classes apart yet), then combined
  replay  decided from the data (after SelectAL, Hacohen & Weinshall 2023): three times, a third of the
          labeled set is held out, half the rest is a start and the other half a pool with known
          labels; each of combined, typiclust and entropy picks a third of that pool; the strategy
          whose picks give the best held-out accuracy chooses the real batch
  margin  plain margin sampling, the strongest single peer of the protocol
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import label_efficiency as le
import numpy as np
from sklearn.base import clone
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

import alflow

RESULTS = Path(__file__).parent / "results"
HARD = ",".join(
    (
        *("digits", "synth_10c", "synth_10c_minority", "synth_2c_minority"),
        *("heldout_20c", "heldout_highdim", "heldout_noisy", "heldout_3c_imbalanced"),
    )
)
"""The sets where the strategies of the protocol differ most (the others are near their ceiling)."""


def _skill(model, X, y) -> float:
    _, counts = np.unique(y, return_counts=True)
    folds = int(min(5, counts.min()))
    if folds < 2:
        return 0.0
    predicted = cross_val_predict(clone(model), X, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    return float(cohen_kappa_score(y, predicted))


def _replay(model, X, y, rng) -> str:
    candidates, accuracy = ("combined", "typiclust", "entropy"), {}
    for r in range(3):
        order = rng.permutation(len(y))
        held, rest = order[: len(y) // 3], order[len(y) // 3 :]
        start, pool = rest[: len(rest) // 2], rest[len(rest) // 2 :]
        if np.unique(y[start]).size < 2:
            continue
        fitted = clone(model).fit(X[start], y[start])
        for name in candidates:
            picked = alflow.select_batch(
                fitted, X[pool], max(len(pool) // 3, 1), strategy=name,
                X_labeled=X[start], y_labeled=y[start], random_state=[r, 7],
            )  # fmt: skip
            rows = np.concatenate([start, pool[picked]])
            score = (clone(model).fit(X[rows], y[rows]).predict(X[held]) == y[held]).mean()
            accuracy.setdefault(name, []).append(score)
    return max(candidates, key=lambda n: np.mean(accuracy[n])) if accuracy else "typiclust"


def strategy_for(rule: str, model, X, y, labeled, rs) -> str:
    if rule in ("auto", "margin"):
        return rule
    if np.unique(y[labeled]).size < 2:
        return "typiclust"
    if rule == "skill":
        return "typiclust" if _skill(model, X[labeled], y[labeled]) < 0.5 else "combined"
    return _replay(model, X[labeled], y[labeled], np.random.default_rng(rs))


def run(dataset: str, rule: str, seed: int) -> dict:
    X, X_test, y, y_test = le.split(dataset, seed)
    labeled = np.zeros(len(y), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(y), le.START, replace=False)] = True
    curve, used, round_ = [], [], 0
    while True:
        model = clone(le.make_model("lr", seed))
        if np.unique(y[labeled]).size > 1:
            model.fit(X[labeled], y[labeled])
            curve.append(float((model.predict(X_test) == y_test).mean()))
        else:
            curve.append(float((y_test == y[labeled][0]).mean()))
        n = int(labeled.sum())
        if n >= min(le.BUDGET, len(y)):
            break
        k = min(le.BATCH, le.BUDGET - n, len(y) - n)
        name = strategy_for(rule, model, X, y, labeled, [seed, round_])
        unlabeled = np.flatnonzero(~labeled)
        chosen = alflow.select(
            model,
            X[unlabeled],
            k,
            strategy=name,
            X_labeled=X[labeled],
            y_labeled=y[labeled],
            random_state=[seed, round_],
        )
        labeled[unlabeled[chosen.indices]] = True
        used.append(chosen.strategy)
        round_ += 1
    return {"dataset": dataset, "rule": rule, "seed": seed, "aulc": float(np.mean(curve)), "used": used}


def markdown(results: list[dict], datasets: list[str], rules: list[str], command: str, load) -> str:
    lines = [
        "# Candidate rules for auto (BENCHMARK.md protocol, LogisticRegression)",
        "",
        f"Produced by `{command}`. AULC mean ± std over seeds; the last rows are the mean over datasets and "
        "each rule's worst difference to the best rule of each dataset. "
        f"Load average {', '.join(f'{x:.2f}' for x in load[0])} at the start, "
        f"{', '.join(f'{x:.2f}' for x in load[1])} at the end.",
        "",
        "| dataset | " + " | ".join(rules) + " |",
        "|---|" + "---|" * len(rules),
    ]
    means: dict[str, list[float]] = {r: [] for r in rules}
    gaps: dict[str, list[float]] = {r: [] for r in rules}
    for d in datasets:
        cell = {r: [x["aulc"] for x in results if x["dataset"] == d and x["rule"] == r] for r in rules}
        best = max(np.mean(v) for v in cell.values())
        for r in rules:
            means[r].append(float(np.mean(cell[r])))
            gaps[r].append(float(np.mean(cell[r]) - best))
        lines.append(f"| {d} | " + " | ".join(f"{np.mean(v):.4f} ± {np.std(v):.4f}" for v in cell.values()) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{np.mean(means[r]):.4f}**" for r in rules) + " |")
    lines.append("| worst gap to the best rule | " + " | ".join(f"{min(gaps[r]):+.4f}" for r in rules) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=HARD)
    parser.add_argument("--rules", default="auto,skill,replay,margin")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    datasets, rules = args.datasets.split(","), args.rules.split(",")
    jobs = [(d, r, s) for d in datasets for r in rules for s in range(args.seeds)]
    load_start = os.getloadavg()
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run, *zip(*jobs, strict=True), chunksize=1))
    load = (load_start, os.getloadavg())
    command = f"python benchmarks/auto_rules.py --seeds {args.seeds} --datasets {args.datasets} --rules {args.rules}"
    RESULTS.mkdir(exist_ok=True)
    payload = {"command": command, "wall_seconds": time.perf_counter() - started, "results": results}
    (RESULTS / "auto_rules.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / "auto_rules.md").write_text(markdown(results, datasets, rules, command, load))
    print((RESULTS / "auto_rules.md").read_text())


if __name__ == "__main__":
    main()
