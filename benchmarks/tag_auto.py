"""Why `auto` for tags (TypiClust) trails on ml_8tags_rare, and hybrids that might fix it, in
kind_efficiency.py's harness (same splits, start labels, batch, budget, model and scores).

    nice -n 10 python benchmarks/tag_auto.py [--seeds 10] [--datasets ...] [--candidates ...] [--jobs 2]

Each candidate is paired by seed with `typiclust` (auto for tags) and `random`, run here too; their
curves are checked against those stored in benchmarks/results/kind_efficiency.json (the same
harness, the same seeds). Candidates, each a sound rule that
could keep TypiClust's early coverage and still find rare tags:

- `switch_seen`: TypiClust until every tag has SEEN positive labels, then mean max loss (the
  single-class `auto` rule, typicality then uncertainty, with "each class labeled" read per tag);
- `hunt_unseen`: mean max loss while some tag has fewer than SEEN positive labels (uncertainty
  finds the sparse regions where a rare tag lives, which TypiClust's dense clusters miss), then
  TypiClust;
- `half_mml`: half of each batch by TypiClust, the other half by mean max loss;
- `switch_count` (budget 300, `--after`, `--switch-per-tag`): TypiClust while the labeled set holds
  fewer than SWITCH_PER_TAG labels per tag (a labeled count, not per-tag positives, which
  `switch_seen` read and rare tags never reach), then the uncertainty strategy AFTER, whose batch
  alflow keeps diverse (weighted k-means over its top candidates).

`--baselines-from NAME` takes typiclust's and random's curves from a kind_efficiency result
(NAME.json, its `auto` runs being TypiClust's) instead of running them again.

Also written: positives per rare tag labeled at the budget (tags on < 10 % of the pool), the
reason measured (benchmarks/results/tag_balance.md counts labeled items carrying a rare tag).
Writes benchmarks/results/tag_auto.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import kind_efficiency as ke
import numpy as np

SEEN = 5
CANDIDATES = ("switch_seen", "hunt_unseen", "half_mml", "switch_count")
SWITCH = {"per_tag": 10, "after": "binary_minimum"}
"""switch_count's rule: TypiClust below per_tag x n_tags labels, then `after` (set from the command line)."""
RARE = 0.10


def _select(strategy: str, model, X, Y, labeled: np.ndarray, k: int, rs: int, exclude=()) -> np.ndarray:
    import alflow

    unlabeled = np.setdiff1d(np.flatnonzero(~labeled), np.asarray(exclude, dtype=int))
    chosen = alflow.select(
        model,
        X[unlabeled],
        k,
        strategy=strategy,
        X_labeled=X[labeled],
        y_labeled=ke.as_text("multi", Y[labeled]),
        random_state=rs,
    )
    ke.USED.append(chosen.strategy)
    return unlabeled[chosen.indices]


def hybrid_query(kind: str, strategy: str, model, X, Y, labeled: np.ndarray, k: int, rs: int) -> np.ndarray:
    """kind_efficiency.query for the candidates (every other strategy goes through the original);
    the items picked are kept in PICKED, to count the rare tags labeled."""
    picked = _query(kind, strategy, model, X, Y, labeled, k, rs)
    PICKED.extend(int(i) for i in picked)
    return picked


PICKED: list[int] = []


def _query(kind: str, strategy: str, model, X, Y, labeled: np.ndarray, k: int, rs: int) -> np.ndarray:
    if strategy not in CANDIDATES:
        return ORIGINAL(kind, strategy, model, X, Y, labeled, k, rs)
    if strategy == "switch_count":
        late = int(labeled.sum()) >= SWITCH["per_tag"] * Y.shape[1]
        return _select(str(SWITCH["after"]) if late else "typiclust", model, X, Y, labeled, k, rs)
    seen_all = bool((Y[labeled].sum(axis=0) >= SEEN).all())
    if strategy == "switch_seen":
        return _select("mean_max_loss" if seen_all else "typiclust", model, X, Y, labeled, k, rs)
    if strategy == "hunt_unseen":
        return _select("typiclust" if seen_all else "mean_max_loss", model, X, Y, labeled, k, rs)
    first = _select("typiclust", model, X, Y, labeled, k - k // 2, rs)
    return np.concatenate([first, _select("mean_max_loss", model, X, Y, labeled, k // 2, rs, exclude=first)])


ORIGINAL = ke.query


def run(dataset: str, strategy: str, seed: int, budget: int, model: str = "default", switch: dict | None = None):
    ke.query = hybrid_query  # _run looks `query` up at call time, in this worker
    SWITCH.update(switch or {})
    PICKED.clear()
    out = ke._run("multi", dataset, strategy, seed, budget, model)
    _, _, Y, _ = ke.split("multi", dataset, seed)
    start = np.random.default_rng(seed).choice(len(Y), ke.START, replace=False)  # as _run draws them
    rare = np.flatnonzero(Y.mean(axis=0) < RARE)
    labeled = np.concatenate([start, np.asarray(PICKED, dtype=int)])
    out["rare_tags"] = [int(j) for j in rare]
    out["rare_labeled"] = int(Y[labeled][:, rare].any(axis=1).sum()) if rare.size else 0
    return out


def _stored(name: str = "kind_efficiency") -> dict:
    """(set, strategy, seed) -> a stored tag curve; `auto` runs that ran TypiClust throughout count as typiclust's."""
    data = json.loads((ke.RESULTS / f"{name}.json").read_text())
    out = {}
    for r in data["runs"]:
        if r["kind"] == "multi" and "curve" in r:
            typiclust = r["strategy"] == "auto" and set(r["used"]) == {"typiclust"}
            out[(r["dataset"], "typiclust" if typiclust else r["strategy"], r["seed"])] = r
    return out


def _mean(values: list[int]) -> str:
    return f"{np.mean(values):.1f}" if values else "not recorded"


def _rare_labeled(run: dict) -> int:
    """Labeled items carrying a rare tag at the end, for a stored curve (its picks are not stored): -1."""
    return int(run.get("rare_labeled", -1))


def _paired(a: dict[int, float], b: dict[int, float]) -> dict:
    return ke.paired({"aulc_by_seed": a}, {"aulc_by_seed": b})


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Tags: why `auto` (TypiClust) trails on ml_8tags_rare, and hybrids tried",
        "",
        f"Produced by `{meta['command']}`: seeds {meta['seeds']}, start {ke.START}, batch {ke.BATCH}, budget "
        f"{meta['budget']}, {meta['wall_seconds'] / 60:.1f} min with {meta['jobs']} worker(s) under `nice -n 10`. "
        f"Load average (1, 5, 15 min) {meta['load_start']} at the start, {meta['load_end']} at the end (a shared "
        "2-core machine).",
        "",
        f"typiclust (auto for tags) and random: {meta['check']}. AULC = mean macro F1 over the curve. "
        "Differences paired by seed: "
        "mean [95 % t-interval]; 'beyond noise' when the interval excludes 0. 'rare+' = labeled items carrying "
        f"a tag on fewer than {RARE:.0%} of the pool, at the budget (mean over seeds); TypiClust's and "
        f"random's: {meta['rare_reference']}.",
        "",
        "| set (suite) | candidate | AULC | − typiclust | − random | rare+ |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} ({r['suite']}) | {r['strategy']} | {r['aulc']:.4f} | {ke._interval(r['vs_typiclust'])} "
            f"{'beyond noise' if r['vs_typiclust']['low'] > 0 or r['vs_typiclust']['high'] < 0 else ''} | "
            f"{ke._interval(r['vs_random'])} | {r['rare']:.1f} |"
        )
    lines += ["", "## Pooled per suite: candidate − typiclust over (set, seed)", ""]
    lines += ["| candidate | choice suite | check suite |", "|---|---|---|"]
    for strategy in sorted({r["strategy"] for r in rows}):
        cells = []
        for suite in ("choice", "check"):
            d = np.array([x for r in rows if r["strategy"] == strategy and r["suite"] == suite for x in r["diffs"]])
            if d.size < 2:
                cells.append("-")
                continue
            half = float(ke.stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
            cells.append(f"{d.mean():+.4f} [{d.mean() - half:+.4f}, {d.mean() + half:+.4f}] ({d.size})")
        lines.append(f"| {strategy} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _by_seed(runs: list[dict], dataset: str, strategy: str) -> dict[int, float]:
    return {
        r["seed"]: ke.aulc("multi", r["curve"]) for r in runs if (r["dataset"], r["strategy"]) == (dataset, strategy)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--datasets", default=",".join(ke.DATASETS["multi"]))
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--budget", type=int, default=ke.BUDGET)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--model", default="default", choices=ke.MODELS)
    parser.add_argument("--switch-per-tag", type=int, default=SWITCH["per_tag"], help="switch_count's threshold")
    parser.add_argument("--after", default=SWITCH["after"], help="switch_count's uncertainty strategy")
    parser.add_argument("--baselines-from", default=None, help="a kind_efficiency result holding typiclust/random")
    parser.add_argument("--out", default="tag_auto")
    args = parser.parse_args()
    sets, names = args.datasets.split(","), args.candidates.split(",")
    switch = {"per_tag": args.switch_per_tag, "after": args.after}
    stored = _stored(args.baselines_from or "kind_efficiency")
    seeds = range(args.seeds)
    jobs = [(d, s, seed, args.budget, args.model, switch) for d in sets for seed in seeds for s in names]
    base = [(d, s, seed) for d in sets for seed in seeds for s in ("typiclust", "random")]
    if not args.baselines_from:
        jobs += [(d, s, seed, args.budget, args.model, switch) for d, s, seed in base]
    started, load_start = time.perf_counter(), os.getloadavg()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True), chunksize=1))
    if args.baselines_from:
        runs += [{**stored[key], "strategy": key[1], "rare_labeled": _rare_labeled(stored[key])} for key in base]
    compared = [
        np.allclose([p["f1_macro"] for p in r["curve"]], [p["f1_macro"] for p in stored[key]["curve"]])
        for r in runs
        if (key := (r["dataset"], r["strategy"], r["seed"])) in stored
        and r["strategy"] in ("typiclust", "random")
        and len(r["curve"]) == len(stored[key]["curve"])
    ]
    same = "the same curves" if compared and all(compared) else "DIFFERENT curves" if compared else "nothing to compare"
    rare = {
        (d, s): [r["rare_labeled"] for r in runs if (r["dataset"], r["strategy"]) == (d, s) and r["rare_labeled"] >= 0]
        for d in sets
        for s in ("typiclust", "random")
    }
    rows = []
    for d in sets:
        for s in names:
            mine = {r["seed"]: r for r in runs if (r["dataset"], r["strategy"]) == (d, s)}
            a = {seed: ke.aulc("multi", r["curve"]) for seed, r in mine.items()}
            t, rnd = _by_seed(runs, d, "typiclust"), _by_seed(runs, d, "random")
            rows.append(
                {
                    "dataset": d,
                    "suite": ke.DATASETS["multi"][d][0],
                    "strategy": s,
                    "aulc": float(np.mean(list(a.values()))),
                    "vs_typiclust": _paired(a, t),
                    "vs_random": _paired(a, rnd),
                    "diffs": [a[seed] - t[seed] for seed in sorted(a)],
                    "rare": float(np.mean([r["rare_labeled"] for r in mine.values()])),
                }
            )
    meta = {
        "command": "nice -n 10 python benchmarks/tag_auto.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "seeds": f"0-{args.seeds - 1}",
        "budget": args.budget,
        "jobs": args.jobs,
        "wall_seconds": time.perf_counter() - started,
        "load_start": ", ".join(f"{x:.2f}" for x in load_start),
        "load_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "check": f"typiclust and random taken from {args.baselines_from}.json (not re-run)"
        if args.baselines_from
        else f"re-run here, checked against kind_efficiency.json: {same}",
        "rare_reference": "; ".join(f"{d} {_mean(rare[d, 'typiclust'])} / {_mean(rare[d, 'random'])}" for d in sets),
    }
    (ke.RESULTS / f"{args.out}.json").write_text(json.dumps({**meta, "rows": rows, "runs": runs}, indent=1))
    (ke.RESULTS / f"{args.out}.md").write_text(markdown(rows, meta))
    print((ke.RESULTS / f"{args.out}.md").read_text())


if __name__ == "__main__":
    main()
