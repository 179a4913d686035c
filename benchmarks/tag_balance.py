"""Class balance for tags: the same strategies with and without `class_balance`, on the kind_efficiency
suite's sets that have rare tags, scored on the rare tags' F1 and on macro F1.

    nice -n 10 python benchmarks/tag_balance.py [--seeds 5] [--jobs 2] [--strategies auto,mean_max_loss,random]

Writes benchmarks/results/tag_balance.{json,md}. The loop, split, model and budget are kind_efficiency's
(20 random start labels, batch 10, budget 100, alflow's one-vs-rest LogisticRegression refit each batch).
A set's rare tags are those on fewer than RARE of its items, fixed before any run. Per curve: macro-F1
AULC; rare-tag F1 AULC (per-tag F1 of the rare tags, averaged over them, then over the curve); the rare
tags' F1 at the budget; and how many labeled items carry a rare tag at the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).parent))
import kind_efficiency as ke  # the suite, its split and its model

RESULTS = Path(__file__).parent / "results"
RARE = 0.10
"""A tag is rare on a set when fewer than this share of its items carry it."""
SETS = ("ml_5tags", "ml_8tags_rare", "ml_15tags", "digits_strokes")
"""The suite's tag sets with at least one tag under RARE (ml_10tags' rarest is 0.111, digits_tags' 0.397)."""


def rare_tags(dataset: str) -> list[int]:
    _, Y = ke.DATASETS["multi"][dataset][1]()
    return [int(j) for j in np.flatnonzero(np.asarray(Y).mean(axis=0) < RARE)]


def run(dataset: str, strategy: str, balance: bool, seed: int, budget: int) -> dict:
    """One learning curve of `strategy` with or without class balance."""
    import alflow

    X, X_test, Y, Y_test = ke.split("multi", dataset, seed)
    rare = rare_tags(dataset)
    labeled = np.zeros(len(Y), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(Y), ke.START, replace=False)] = True
    macro, rare_f1, used = [], [], []
    round_ = 0
    while True:
        model = ke.make_model("multi", Y.shape[1], seed).fit(X[labeled], ke.as_text("multi", Y[labeled]))
        predicted = np.asarray(model.predict_target(X_test))
        per_tag = f1_score(Y_test, predicted, average=None, zero_division=0)
        macro.append(float(np.mean(per_tag)))
        rare_f1.append(float(np.mean(per_tag[rare])))
        n = int(labeled.sum())
        if n >= budget:
            break
        unlabeled = np.flatnonzero(~labeled)
        if strategy == "random" and not balance:
            picked = np.random.default_rng(seed * 1000 + round_).choice(unlabeled, ke.BATCH, replace=False)
        else:
            chosen = alflow.select(
                model,
                X[unlabeled],
                min(ke.BATCH, budget - n),
                strategy=strategy,
                X_labeled=X[labeled],
                y_labeled=ke.as_text("multi", Y[labeled]),
                random_state=seed * 1000 + round_,
                class_balance=balance,
            )
            picked = unlabeled[chosen.indices]
            used.append(chosen.strategy)
        labeled[picked] = True
        round_ += 1
    return {
        "dataset": dataset,
        "strategy": strategy,
        "balance": balance,
        "seed": seed,
        "rare": rare,
        "macro": macro,
        "rare_f1": rare_f1,
        "rare_labeled": int(Y[labeled][:, rare].any(axis=1).sum()),
        "used": sorted(set(used)),
    }


def _paired(on: dict[int, float], off: dict[int, float]) -> str:
    seeds = sorted(set(on) & set(off))
    d = np.array([on[s] - off[s] for s in seeds])
    half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    verdict = "beyond noise" if d.size > 1 and abs(d.mean()) > half else "within noise"
    return f"{d.mean():+.4f} [{d.mean() - half:+.4f}, {d.mean() + half:+.4f}] {verdict}"


def summarise(runs: list[dict]) -> dict:
    """dataset -> strategy -> balance (on/off) -> per-seed figures and their means."""
    out: dict = {}
    for r in runs:
        row = (
            out.setdefault(r["dataset"], {})
            .setdefault(r["strategy"], {})
            .setdefault("on" if r["balance"] else "off", {"macro": {}, "rare": {}, "rare_last": {}, "rare_labeled": {}})
        )
        row["macro"][r["seed"]] = float(np.mean(r["macro"]))
        row["rare"][r["seed"]] = float(np.mean(r["rare_f1"]))
        row["rare_last"][r["seed"]] = r["rare_f1"][-1]
        row["rare_labeled"][r["seed"]] = r["rare_labeled"]
    return out


def _mean(values: dict) -> float:
    return float(np.mean(list(values.values())))


def markdown(summary: dict, meta: dict) -> str:
    lines = [
        "# Class balance for tags",
        "",
        f"Produced by `{meta['command']}`: seeds {meta['seeds']}, start {ke.START}, batch {ke.BATCH}, budget "
        f"{meta['budget']}, {meta['wall_seconds'] / 60:.1f} min with {meta['jobs']} worker(s) under `nice -n 10`. "
        f"Load average (1, 5, 15 min) {meta['load_start']} at the start, {meta['load_end']} at the end "
        "(a shared 2-core machine).",
        "",
        f"Rare tags: those on fewer than {RARE:.0%} of a set's items. 'rare F1' = per-tag F1 of the rare tags, "
        "averaged over them; AULC = its mean over the curve (20, 30, ..., budget). 'rare labeled' = labeled items "
        "carrying a rare tag at the budget. on - off: paired by seed, mean [95 % t-interval]; 'beyond noise' when "
        "the interval excludes 0. `random` with balance on is the weighted random sample.",
        "",
        "| set (rare tags) | strategy | rare F1 AULC off / on | on - off | rare F1 at budget off / on "
        "| rare labeled off / on | macro F1 AULC off / on | on - off |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset, strategies in summary.items():
        for strategy, rows in strategies.items():
            if "on" not in rows or "off" not in rows:
                continue
            off, on = rows["off"], rows["on"]
            lines.append(
                f"| {dataset} ({', '.join(f't{j}' for j in meta['rare'][dataset])}) | {strategy} "
                f"| {_mean(off['rare']):.4f} / {_mean(on['rare']):.4f} | {_paired(on['rare'], off['rare'])} "
                f"| {_mean(off['rare_last']):.4f} / {_mean(on['rare_last']):.4f} "
                f"| {_mean(off['rare_labeled']):.1f} / {_mean(on['rare_labeled']):.1f} "
                f"| {_mean(off['macro']):.4f} / {_mean(on['macro']):.4f} | {_paired(on['macro'], off['macro'])} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default=",".join(SETS))
    parser.add_argument("--strategies", default="auto,mean_max_loss,random")
    parser.add_argument("--budget", type=int, default=ke.BUDGET)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (the machine is shared)")
    parser.add_argument("--out", default="tag_balance")
    args = parser.parse_args()
    sets, names = args.datasets.split(","), args.strategies.split(",")
    jobs = [
        (d, s, b, seed, args.budget) for d in sets for s in names for b in (False, True) for seed in range(args.seeds)
    ]
    started, load_start = time.perf_counter(), os.getloadavg()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True), chunksize=1))
    meta = {
        "command": f"nice -n 10 python benchmarks/tag_balance.py --seeds {args.seeds} --datasets {args.datasets} "
        f"--strategies {args.strategies} --budget {args.budget} --jobs {args.jobs}",
        "seeds": f"0-{args.seeds - 1}",
        "budget": args.budget,
        "jobs": args.jobs,
        "wall_seconds": time.perf_counter() - started,
        "load_start": ", ".join(f"{x:.2f}" for x in load_start),
        "load_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "rare": {d: rare_tags(d) for d in sets},
    }
    summary = summarise(runs)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({**meta, "summary": summary, "runs": runs}, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(summary, meta))
    print((RESULTS / f"{args.out}.md").read_text())


if __name__ == "__main__":
    main()
