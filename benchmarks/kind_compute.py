"""Selection speed for tags and numbers at 10^6 rows, against the one-pass floor (BENCHMARK.md's compute
protocol, adapted per kind).

    python benchmarks/kind_compute.py [--n 1000000] [--kinds multi,number] [--strategies ...]

Pool in memory: n rows, 20 standardised Gaussian features. Tags: 10 tags, each on where a random
linear function of the inputs plus noise passes a threshold (as make_multilabel_classification's
tags depend on the inputs, drawn fast enough for 10^6 rows). Numbers: make_regression(n, 20
features, 10 informative, noise 10). 1,000 labeled rows, alflow's LabelModel with the kind's preset
(tags: one-vs-rest LogisticRegression; numbers: Ridge; `--model random_forest`: kind_efficiency's
forest of 100 trees, whose own trees are committee_variance's committee), batch 100, selection through alflow.select
(chunks of 50,000 rows, as a round scores a pool). Floor: one pass of the model over the pool
(tags: predict_proba of every tag; numbers: predict) plus an np.argpartition top-k, timed in the
same process. Each (kind, strategy) runs in a fresh process, so its peak RSS (VmHWM) is its own.
Seconds are the best of up to 3 runs (1 if a run takes over 3 s). Writes
benchmarks/results/kind_compute.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from kind_efficiency import MODELS, as_text, make_model  # the kinds' models and label text

RESULTS = Path(__file__).parent / "results"
K, LABELED, TAGS = 100, 1000, 10
STRATEGIES = {
    "multi": ["auto", "binary_minimum", "max_loss", "mean_max_loss", "min_confidence", "avg_confidence", "typiclust"],
    "number": ["auto", "igs", "committee_variance", "gsx", "typiclust", "kcenter"],
}
PEERS = {"multi": ["modal_max_loss", "modal_mean_max_loss", "modal_min_confidence"], "number": ["modal_max_std"]}


def pool(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "number":
        from sklearn.datasets import make_regression

        X, y = make_regression(n, n_features=20, n_informative=10, noise=10.0, random_state=0)
        return X, y
    X = rng.standard_normal((n, 20))
    W = rng.standard_normal((20, TAGS))
    scores = X @ W + rng.standard_normal((n, TAGS)) * 2.0
    return X, (scores > np.quantile(scores[:10_000], 0.7, axis=0)).astype(int)


def _peak_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def _best(run) -> float:
    times: list[float] = []
    while len(times) < 3 and not (times and max(times) > 3.0):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(kind: str, strategy: str, n: int, model_name: str = "default") -> dict:
    """One row, in this process: the strategy's best seconds, the floor's, peak RSS before and after."""
    import alflow

    X, Y = pool(kind, n)
    model = make_model(kind, TAGS, 0, model_name).fit(X[:LABELED], as_text(kind, Y[:LABELED]))
    X_pool, X_labeled, y_labeled = X[LABELED:], X[:LABELED], as_text(kind, Y[:LABELED])
    loaded = _peak_mb()

    def floor():
        out = model.label_proba(X_pool).min(axis=1) if kind == "multi" else model.predict_target(X_pool)
        return np.argpartition(-np.abs(out), K)[:K]

    def select():
        if strategy.startswith("modal_"):
            return _modal(strategy, model, X_pool, X_labeled, Y[:LABELED])
        return alflow.select(
            model, X_pool, K, strategy=strategy, X_labeled=X_labeled, y_labeled=y_labeled, random_state=0
        )

    seconds = _best(select)
    peak = _peak_mb()
    floor_seconds = _best(floor)
    return {
        "kind": kind,
        "model": model_name,
        "strategy": strategy,
        "n": n,
        "seconds": seconds,
        "floor": floor_seconds,
        "ratio": seconds / floor_seconds,
        "peak_mb": peak,
        "extra_mb": peak - loaded,
        "load": os.getloadavg()[0],
    }


def _modal(strategy, model, X_pool, X_labeled, Y_labeled):
    if strategy == "modal_max_std":
        from modAL.disagreement import max_std_sampling
        from modAL.models import ActiveLearner, CommitteeRegressor
        from sklearn.base import clone

        np.random.seed(0)
        members = [
            ActiveLearner(
                estimator=clone(model.estimator), X_training=X_labeled, y_training=Y_labeled, bootstrap_init=True
            )
            for _ in range(5)
        ]
        return max_std_sampling(CommitteeRegressor(learner_list=members), X_pool, n_instances=K)
    from modAL import multilabel

    measure_ = {
        "modal_max_loss": multilabel.max_loss,
        "modal_mean_max_loss": multilabel.mean_max_loss,
        "modal_min_confidence": multilabel.min_confidence,
    }[strategy]
    return measure_(model.fitted_, X_pool, n_instances=K)


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Selection speed for tags and numbers",
        "",
        f"Produced by `{meta['command']}` under `nice -n 10`. {' '.join(__doc__.split(chr(10) + chr(10))[2].split())}",
        "",
        f"Load average (1, 5, 15 min) {meta['load_start']} at the start, {meta['load_end']} at the end (a shared "
        "2-core machine: other engineers' jobs ran beside this one). ratio = seconds / floor; extra MB = growth of "
        "the process's peak RSS during selection over its peak once the pool and model were loaded (0 where drawing "
        "the pool peaked higher than selecting did). With a run over 3 s timed once, and the load above 15, "
        "a row's seconds and floor can each be off by 2x: read the ratios as orders of magnitude.",
        "",
        "| kind | model | n | strategy | seconds | floor s | ratio | peak RSS MB | extra MB | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['kind']} | {r.get('model', 'default')} | {r['n']:,} | {r['strategy']} "
                f"| failed: {r['error'][:120]} | | | | | |"
            )
            continue
        lines.append(
            f"| {r['kind']} | {r.get('model', 'default')} | {r['n']:,} | {r['strategy']} | {r['seconds']:.2f} "
            f"| {r['floor']:.2f} | {r['ratio']:.2f} "
            f"| {r['peak_mb']:.0f} | {r['extra_mb']:.0f} | {r['load']:.2f} |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--kinds", default="multi,number")
    parser.add_argument("--strategies", default=None, help="comma-separated; default: every one of the kind")
    parser.add_argument(
        "--model",
        default="default",
        choices=MODELS,
        help="the kind's preset, or kind_efficiency's forest (its table: kind_compute_random_forest)",
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # kind:strategy, in a fresh process
    parser.add_argument("--row-timeout", type=int, default=900, help="seconds before a row is given up")
    parser.add_argument("--out", default=None, help="default: kind_compute, or kind_compute_MODEL")
    parser.add_argument("--render", action="store_true", help="write the Markdown again from the saved JSON")
    args = parser.parse_args()
    args.out = args.out or ("kind_compute" if args.model == "default" else f"kind_compute_{args.model}")
    if args.render:  # the Markdown again from the JSON of a run
        saved = json.loads((RESULTS / f"{args.out}.json").read_text())
        (RESULTS / f"{args.out}.md").write_text(markdown(saved["rows"], saved))
        return
    if args.one:
        kind, strategy = args.one.split(":")
        print(json.dumps(measure(kind, strategy, args.n, args.model)))
        return
    load_start, rows = os.getloadavg(), []
    for kind in args.kinds.split(","):
        names = [*STRATEGIES[kind], *PEERS[kind]]
        names = [s for s in names if s in args.strategies.split(",")] if args.strategies else names
        for strategy in names:
            try:
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--n",
                        str(args.n),
                        "--model",
                        args.model,
                        "--one",
                        f"{kind}:{strategy}",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=args.row_timeout,
                )
            except subprocess.TimeoutExpired:
                rows.append(
                    {
                        "kind": kind,
                        "model": args.model,
                        "strategy": strategy,
                        "n": args.n,
                        "error": f"over {args.row_timeout} s",
                    }
                )
                print(rows[-1], flush=True)
                continue
            if done.returncode:
                rows.append(
                    {
                        "kind": kind,
                        "model": args.model,
                        "strategy": strategy,
                        "n": args.n,
                        "error": done.stderr.strip()[-300:],
                    }
                )
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    meta = {
        "command": "python benchmarks/kind_compute.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if v is not None and k not in ("one", "out", "render")
        ),
        "load_start": ", ".join(f"{x:.2f}" for x in load_start),
        "load_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(rows, meta))
    print((RESULTS / f"{args.out}.md").read_text())


if __name__ == "__main__":
    main()
