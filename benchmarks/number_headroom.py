"""Why no number strategy beats random on the kind_efficiency suite: the room there is to beat it, and
whether the model's uncertainty points at its errors.

    nice -n 10 python benchmarks/number_headroom.py [--seeds 5]

Writes benchmarks/results/number_headroom.{json,md}. Per number set of the suite (kind_efficiency's split
and `ridge` preset), per seed:

- ceiling: R² of the model fit on the whole pool (about 700 labels), the best any selection of 100 can
  approach; `random AULC` and `gsx AULC` are read from benchmarks/results/kind_efficiency.json (same
  seeds), so headroom = ceiling - random AULC is the most a strategy could gain;
- R² of the model at 20 and at 100 random labels: how flat the curve is;
- for 40 random labels, the Spearman rank correlation, over the unlabeled pool, between the model's
  absolute error and three uncertainties: the spread of 5 (and of 20) bootstrap refits (committee_variance), iGS's
  score, and the distance to the labeled set in the inputs (what gsx maximises). Near 0: the score does
  not point at the items the model gets wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy import stats
from sklearn.metrics import r2_score

sys.path.insert(0, str(Path(__file__).parent))
import kind_efficiency as ke  # the suite, its split and its model

RESULTS = Path(__file__).parent / "results"
PROBE = 40
"""Labels the uncertainty-error correlations are measured at."""


def _fit(X, Y, rows, seed):
    return ke.make_model("number", 0, seed).fit(X[rows], ke.as_text("number", Y[rows]))


def one(dataset: str, seed: int) -> dict:
    from alflow.selection import regression

    X, X_test, Y, Y_test = ke.split("number", dataset, seed)
    order = np.random.default_rng(seed).permutation(len(Y))
    r2 = {n: float(r2_score(Y_test, _fit(X, Y, order[:n], seed).predict_target(X_test))) for n in (20, 100)}
    ceiling = float(r2_score(Y_test, _fit(X, Y, np.arange(len(Y)), seed).predict_target(X_test)))
    labeled, pool = order[:PROBE], order[PROBE:]
    model = _fit(X, Y, labeled, seed)
    error = np.abs(model.predict_target(X[pool]) - Y[pool])
    y_text = ke.as_text("number", Y[labeled])
    spread = np.sqrt(regression.committee_variance(model, X[pool], X[labeled], y_text, size=5))
    wide = np.sqrt(regression.committee_variance(model, X[pool], X[labeled], y_text, size=20))
    igs = regression.improved_greedy(model, X[pool], X[labeled], y_text)
    gap = np.sqrt(((X[pool][:, None, :] - X[labeled][None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    rho = {
        name: float(stats.spearmanr(score, error).statistic)
        for name, score in (("committee", spread), ("committee20", wide), ("igs", igs), ("distance", gap))
    }
    return {"dataset": dataset, "seed": seed, "ceiling": ceiling, "r2_20": r2[20], "r2_100": r2[100], "rho": rho}


def efficiency_seeds() -> str:
    return str(json.loads((RESULTS / "kind_efficiency.json").read_text()).get("seeds", "?"))


def markdown(rows: list[dict], meta: dict) -> str:
    efficiency = json.loads((RESULTS / "kind_efficiency.json").read_text())["summary"]["number"]
    lines = [
        "# Numbers: the room to beat random, and whether uncertainty points at errors",
        "",
        f"Produced by `{meta['command']}`: seeds {meta['seeds']}, {meta['wall_seconds']:.0f} s under `nice -n 10`; "
        f"load average (1, 5, 15 min) {meta['load_start']} at the start, {meta['load_end']} at the end. Model: the "
        "`ridge` preset; split and sets of benchmarks/kind_efficiency.py. AULC columns from "
        f"benchmarks/results/kind_efficiency.json (budget 100, its seeds {efficiency_seeds()}). "
        "ρ: Spearman correlation over the unlabeled pool, "
        f"at {PROBE} random labels, between the model's absolute error and each score (mean over seeds).",
        "",
        "| set | ceiling R² (whole pool) | R² at 20 / 100 random labels | random AULC | gsx AULC | headroom "
        "(ceiling - random AULC) | ρ committee spread (5 / 20 refits) | ρ iGS | ρ distance to labels |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        mean = {k: float(np.mean([r[k] for r in mine])) for k in ("ceiling", "r2_20", "r2_100")}
        rho = {k: float(np.mean([r["rho"][k] for r in mine])) for k in ("committee", "committee20", "igs", "distance")}
        random_aulc, gsx = efficiency[dataset]["random"]["aulc_mean"], efficiency[dataset]["gsx"]["aulc_mean"]
        lines.append(
            f"| {dataset} | {mean['ceiling']:.3f} | {mean['r2_20']:.3f} / {mean['r2_100']:.3f} | {random_aulc:.3f} "
            f"| {gsx:.3f} | {mean['ceiling'] - random_aulc:+.3f} | {rho['committee']:+.2f} / {rho['committee20']:+.2f} "
            f"| {rho['igs']:+.2f} "
            f"| {rho['distance']:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    started, load_start = time.perf_counter(), os.getloadavg()
    rows = [one(d, seed) for d in ke.DATASETS["number"] for seed in range(args.seeds)]
    meta = {
        "command": f"nice -n 10 python benchmarks/number_headroom.py --seeds {args.seeds}",
        "seeds": f"0-{args.seeds - 1}",
        "wall_seconds": time.perf_counter() - started,
        "load_start": ", ".join(f"{x:.2f}" for x in load_start),
        "load_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    (RESULTS / "number_headroom.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    (RESULTS / "number_headroom.md").write_text(markdown(rows, meta))
    print((RESULTS / "number_headroom.md").read_text())


if __name__ == "__main__":
    main()
