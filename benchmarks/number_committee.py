"""One change to the numbers' strategies, measured: a wider bootstrap committee for committee_variance.

    nice -n 10 python benchmarks/number_committee.py [--seeds 10] [--sizes 5,20] [--jobs 2]

benchmarks/results/number_headroom.md found the spread of 5 bootstrap refits of Ridge barely ranks the
model's errors (Spearman 0.01-0.18) and 20 refits rank them better on every set (0.05-0.26): five
members are too few to tell the spread of an item from the noise of the resampling. This runs
committee_variance with each committee size through kind_efficiency's loop (same split, model, start,
batch, budget and seeds), with random and gsx (`auto` for numbers) beside it, and applies the rule of
docs/STRATEGIES.md: a strategy replaces `auto` if its per-(set, seed) AULC difference against it,
pooled over the choice suite, has a 95 % interval above 0 and its mean on the check suite is not below 0.
Writes benchmarks/results/number_committee.{json,md}.
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

sys.path.insert(0, str(Path(__file__).parent))
import kind_efficiency as ke  # the suite, its loop and its AULC

RESULTS = Path(__file__).parent / "results"


def run(dataset: str, strategy: str, size: int, seed: int) -> dict:
    """One curve; `committee_variance` with `size` bootstrap members (the registry's COMMITTEE_SIZE)."""
    from alflow.selection import registry

    registry.COMMITTEE_SIZE = size  # read when a chunk is scored; this worker process only
    out = ke._run("number", dataset, strategy, seed, ke.BUDGET)
    name = f"committee_variance_{size}" if strategy == "committee_variance" else strategy
    return {"dataset": dataset, "name": name, "seed": seed, "aulc": ke.aulc("number", out["curve"])}


def _pooled(runs: list[dict], sets: list[str], a: str, b: str) -> str:
    by = {(r["dataset"], r["name"], r["seed"]): r["aulc"] for r in runs}
    d = np.array([by[(s, a, seed)] - by[(s, b, seed)] for (s, name, seed) in by if name == a and s in sets])
    half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
    return f"{d.mean():+.4f} [{d.mean() - half:+.4f}, {d.mean() + half:+.4f}]"


def markdown(runs: list[dict], meta: dict, names: list[str]) -> str:
    sets = list(dict.fromkeys(r["dataset"] for r in runs))
    suites = {suite: [s for s in sets if ke.DATASETS["number"][s][0] == suite] for suite in ("choice", "check")}
    lines = [
        "# Numbers: committee_variance with a wider committee",
        "",
        f"Produced by `{meta['command']}`: seeds {meta['seeds']}, kind_efficiency's loop (start {ke.START}, batch "
        f"{ke.BATCH}, budget {ke.BUDGET}, `ridge` preset), {meta['wall_seconds'] / 60:.1f} min with {meta['jobs']} "
        f"worker(s) under `nice -n 10`. Load average (1, 5, 15 min) {meta['load_start']} at the start, "
        f"{meta['load_end']} at the end (a shared 2-core machine). AULC of R² clipped at 0.",
        "",
        "| set (suite) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for s in sets:
        cells = []
        for name in names:
            values = [r["aulc"] for r in runs if r["dataset"] == s and r["name"] == name]
            cells.append(f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}")
        lines.append(f"| {s} ({ke.DATASETS['number'][s][0]}) | " + " | ".join(cells) + " |")
    lines += ["", "Pooled paired differences (per set and seed), mean [95 % t-interval]:", ""]
    lines += ["| a - b | choice suite | check suite |", "|---|---|---|"]
    for a in [n for n in names if n.startswith("committee_variance")]:
        for b in ("gsx", "random", "committee_variance_5"):
            if b != a and b in names:
                row = [_pooled(runs, suites[suite], a, b) for suite in ("choice", "check")]
                lines.append(f"| {a} - {b} | {row[0]} | {row[1]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", default="5,20")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    jobs = [
        (d, "committee_variance", n, seed) for d in ke.DATASETS["number"] for n in sizes for seed in range(args.seeds)
    ]
    jobs += [(d, s, 5, seed) for d in ke.DATASETS["number"] for s in ("random", "gsx") for seed in range(args.seeds)]
    started, load_start = time.perf_counter(), os.getloadavg()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True), chunksize=1))
    meta = {
        "command": f"nice -n 10 python benchmarks/number_committee.py --seeds {args.seeds} --sizes {args.sizes} "
        f"--jobs {args.jobs}",
        "seeds": f"0-{args.seeds - 1}",
        "jobs": args.jobs,
        "wall_seconds": time.perf_counter() - started,
        "load_start": ", ".join(f"{x:.2f}" for x in load_start),
        "load_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    names = [f"committee_variance_{n}" for n in sizes] + ["gsx", "random"]
    (RESULTS / "number_committee.json").write_text(json.dumps({**meta, "runs": runs}, indent=1))
    (RESULTS / "number_committee.md").write_text(markdown(runs, meta, names))
    print((RESULTS / "number_committee.md").read_text())


if __name__ == "__main__":
    main()
