"""Label efficiency under /work/shared/BENCHMARK.md's protocol: alflow's strategies vs random, modAL, scikit-activeml.

    python benchmarks/label_efficiency.py [--seeds 5] [--models lr,rf] [--suite tuned|heldout] [--datasets a,b]

Needs the `bench` extra (`pip install -e ".[bench]"`). Writes benchmarks/results/label_efficiency.{json,md}
(or `--out NAME`). Every number in the Markdown table comes from the JSON written in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
    make_classification,
    make_gaussian_quantiles,
    make_hastie_10_2,
    make_moons,
)
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

RESULTS = Path(__file__).parent / "results"
START, BATCH, BUDGET = 20, 10, 300
ALFLOW = ["auto", "margin", "entropy", "least_confident", "combined", "typiclust", "kcenter", "density", "egl"]
PEERS = [
    "modal_margin",
    "modal_entropy",
    "modal_uncertainty",
    "skal_margin",
    "skal_entropy",
    "skal_coreset",
    "skal_typiclust",
    "skal_qbc",
    "skal_pal",
]


def _minority(n_classes: int) -> list[float]:
    # one class at 5 %, the rest sharing the remainder
    return [0.05] + [0.95 / (n_classes - 1)] * (n_classes - 1)


DATASETS = {
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
    "digits": lambda: load_digits(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "iris": lambda: load_iris(return_X_y=True),
    "synth_2c": lambda: make_classification(2000, n_features=20, n_informative=8, random_state=0),
    "synth_2c_minority": lambda: make_classification(
        2000, n_features=20, n_informative=8, weights=_minority(2), random_state=0
    ),
    "synth_10c": lambda: make_classification(
        2000, n_features=20, n_informative=12, n_classes=10, n_clusters_per_class=1, random_state=0
    ),
    "synth_10c_minority": lambda: make_classification(
        2000,
        n_features=20,
        n_informative=12,
        n_classes=10,
        n_clusters_per_class=1,
        weights=_minority(10),
        random_state=0,
    ),
}

# Held-out suite: chosen before any result on it was seen and never used to tune alflow (see the
# commit that added it). Each differs in kind from the tuned set above.
HELDOUT = {
    # 4 classes, only 3 informative directions, classes overlapping (class_sep 0.8)
    "heldout_4c_overlap": lambda: make_classification(
        2500,
        n_features=10,
        n_informative=3,
        n_redundant=2,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=0.8,
        random_state=101,
    ),
    # many classes: 20, about 105 pool items each; 3 labels per class = 60 labels of warm-up
    "heldout_20c": lambda: make_classification(
        3000, n_features=30, n_informative=16, n_classes=20, n_clusters_per_class=1, random_state=102
    ),
    # non-linear (concentric shells), 3 classes: a linear model is misspecified
    "heldout_quantiles": lambda: make_gaussian_quantiles(n_samples=2000, n_features=6, n_classes=3, random_state=103),
    # Hastie et al. 10.2: binary, non-linear (chi-square threshold), 10 features
    "heldout_hastie": lambda: make_hastie_10_2(n_samples=3000, random_state=104),
    # label noise (10 % flipped) with redundant, repeated and useless features
    "heldout_noisy": lambda: make_classification(
        3000,
        n_features=40,
        n_informative=6,
        n_redundant=10,
        n_repeated=4,
        n_classes=3,
        flip_y=0.1,
        random_state=105,
    ),
    # 3 classes with 10 % and 3 % minorities, two clusters per class
    "heldout_3c_imbalanced": lambda: make_classification(
        3000,
        n_features=15,
        n_informative=6,
        n_classes=3,
        n_clusters_per_class=2,
        weights=[0.87, 0.10, 0.03],
        random_state=106,
    ),
    # high-dimensional: 100 features, 10 informative, 5 classes of two clusters each
    "heldout_highdim": lambda: make_classification(
        2000,
        n_features=100,
        n_informative=10,
        n_redundant=10,
        n_classes=5,
        n_clusters_per_class=2,
        random_state=107,
    ),
}


def _moons_with_noise():
    X, y = make_moons(2400, noise=0.3, random_state=204)
    noise = np.random.default_rng(204).uniform(-2, 2, size=(len(X), 8))
    return np.hstack([X, noise]), y


# Checking suite: written down, with the rule `auto` already fixed on the tuned suite, before any
# strategy ran on it (the commit that added it says so). Kinds the issue named as weak spots.
CHECK = {
    # 6 classes of two clusters each, moderate separation
    "check_6c": lambda: make_classification(
        2400, n_features=15, n_informative=8, n_classes=6, n_clusters_per_class=2, random_state=201
    ),
    # 4 classes, one of them a 5 % minority
    "check_4c_minority": lambda: make_classification(
        2400,
        n_features=12,
        n_informative=5,
        n_classes=4,
        n_clusters_per_class=1,
        weights=[0.55, 0.25, 0.15, 0.05],
        random_state=202,
    ),
    # 8 overlapping Gaussian blobs in 10 dimensions
    "check_blobs_8c": lambda: make_blobs(2400, n_features=10, centers=8, cluster_std=3.0, random_state=203),
    # two interleaved half-moons with 8 uniform noise features: binary, non-linear
    "check_moons_noise": _moons_with_noise,
    # 26 classes (a letter-recognition-like count), about 80 pool items each
    "check_26c": lambda: make_classification(
        3000, n_features=16, n_informative=12, n_classes=26, n_clusters_per_class=1, class_sep=1.5, random_state=205
    ),
}
SUITES = {"tuned": list(DATASETS), "heldout": list(HELDOUT), "check": list(CHECK)}
DATASETS = {**DATASETS, **HELDOUT, **CHECK}


def make_model(name: str, seed: int):
    if name == "lr":
        return LogisticRegression(max_iter=2000)
    return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)


def split(dataset: str, seed: int):
    X, y = DATASETS[dataset]()
    X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_pool)
    return scaler.transform(X_pool), scaler.transform(X_test), y_pool, y_test


USED: list[str] = []  # the strategy alflow ran for each batch of the current curve (auto decides each round)


def query(strategy: str, model, X, y, labeled: np.ndarray, k: int, seed: int, round_: int) -> np.ndarray:
    """Indices into X (the whole pool) of the next batch; `labeled` is a boolean mask."""
    unlabeled = np.flatnonzero(~labeled)
    one_class = np.unique(y[labeled]).size < 2
    if strategy == "random" or (one_class and strategy.startswith(("modal_", "skal_"))):
        # peers need a fitted model: while the labels hold one class they pick at random
        return np.random.default_rng([seed, round_]).choice(unlabeled, k, replace=False)
    if not strategy.startswith(("modal_", "skal_")):
        import alflow

        chosen = alflow.select(
            model,
            X[unlabeled],
            k,
            strategy=strategy,
            X_labeled=X[labeled],
            y_labeled=y[labeled],
            random_state=[seed, round_],
        )
        USED.append(chosen.strategy)
        return unlabeled[chosen.indices]
    if strategy.startswith("modal_"):
        from modAL import uncertainty

        measure = {
            "modal_margin": uncertainty.margin_sampling,
            "modal_entropy": uncertainty.entropy_sampling,
            "modal_uncertainty": uncertainty.uncertainty_sampling,
        }[strategy]
        picked, _ = measure(model, X[unlabeled], n_instances=k)
        return unlabeled[picked]
    return _skactiveml(strategy, model, X, y, labeled, k, seed, round_)


def _skactiveml(strategy, model, X, y, labeled, k, seed, round_):
    from skactiveml.classifier import ParzenWindowClassifier, SklearnClassifier
    from skactiveml.pool import CoreSet, ProbabilisticAL, QueryByCommittee, TypiClust, UncertaintySampling

    classes = np.unique(y)
    y_al = np.full(len(y), np.nan)
    y_al[labeled] = y[labeled]
    rs = seed * 1000 + round_
    clf = SklearnClassifier(clone(model), classes=classes, random_state=rs)
    if strategy in ("skal_margin", "skal_entropy"):
        method = "margin_sampling" if strategy == "skal_margin" else "entropy"
        qs = UncertaintySampling(method=method, random_state=rs)
        return qs.query(X, y_al, clf=clf, batch_size=k)
    if strategy == "skal_coreset":
        return CoreSet(random_state=rs).query(X, y_al, batch_size=k)
    if strategy == "skal_typiclust":
        return TypiClust(random_state=rs).query(X, y_al, batch_size=k)
    if strategy == "skal_qbc":
        from sklearn.ensemble import BaggingClassifier

        bagging = BaggingClassifier(clone(model), n_estimators=5, random_state=rs)
        ensemble = SklearnClassifier(bagging, classes=classes, random_state=rs)
        return QueryByCommittee(random_state=rs).query(X, y_al, ensemble=ensemble, batch_size=k)
    # ProbabilisticAL needs frequency estimates: it selects with a Parzen window classifier, as its authors do.
    pwc = ParzenWindowClassifier(classes=classes, random_state=rs)
    return ProbabilisticAL(random_state=rs).query(X, y_al, clf=pwc, batch_size=k)


def run(dataset: str, model_name: str, strategy: str, seed: int) -> dict:
    """One learning curve. A peer that raises is recorded with its error (and left out of the means)."""
    try:
        return _run(dataset, model_name, strategy, seed)
    except Exception as error:
        if not strategy.startswith(("modal_", "skal_")):
            raise
        return {"dataset": dataset, "model": model_name, "strategy": strategy, "seed": seed, "error": repr(error)}


def _run(dataset: str, model_name: str, strategy: str, seed: int) -> dict:
    X, X_test, y, y_test = split(dataset, seed)
    labeled = np.zeros(len(y), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(y), START, replace=False)] = True
    curve, seconds = [], []
    USED.clear()
    round_ = 0
    while True:
        model = clone(make_model(model_name, seed))
        if np.unique(y[labeled]).size > 1:
            model.fit(X[labeled], y[labeled])
            curve.append(float((model.predict(X_test) == y_test).mean()))
        else:  # the random start can hold one class (5 % minority): the model predicts that class
            curve.append(float((y_test == y[labeled][0]).mean()))
        n = int(labeled.sum())
        if n >= min(BUDGET, len(y)):  # wine and iris pools are smaller than the budget
            break
        k = min(BATCH, BUDGET - n, len(y) - n)
        started = time.perf_counter()
        picked = np.asarray(query(strategy, model, X, y, labeled, k, seed, round_))
        seconds.append(time.perf_counter() - started)
        if picked.size != k or labeled[picked].any():
            raise RuntimeError(f"{strategy} returned a bad batch {picked}")
        labeled[picked] = True
        round_ += 1
    return {
        "dataset": dataset,
        "model": model_name,
        "strategy": strategy,
        "seed": seed,
        "curve": curve,
        "seconds": seconds,
        "used": list(USED),
        "n_test": len(y_test),
    }


def full_score(dataset: str, model_name: str, seed: int) -> float:
    X, X_test, y, y_test = split(dataset, seed)
    return float((make_model(model_name, seed).fit(X, y).predict(X_test) == y_test).mean())


def _labels_to(curve: list[float], target: float) -> int | None:
    for i, accuracy in enumerate(curve):
        if accuracy >= target:
            return START + BATCH * i
    return None


def summarise(runs: list[dict], full: dict) -> dict:
    """Per (model, dataset, strategy): mean/std AULC over seeds, mean labels to 98 %, selection seconds."""
    table: dict = {}
    for r in (r for r in runs if "error" not in r):
        key = (r["model"], r["dataset"], r["strategy"])
        table.setdefault(key, []).append(r)
    out = {}
    for key, rs in sorted(table.items()):
        model, dataset, strategy = key
        aulc = [float(np.mean(r["curve"])) for r in rs]
        reach = [_labels_to(r["curve"], 0.98 * full[(dataset, model, r["seed"])]) for r in rs]
        used = Counter(s for r in rs for s in r.get("used", []))
        out.setdefault(model, {}).setdefault(dataset, {})[strategy] = {
            "aulc_mean": float(np.mean(aulc)),
            "aulc_std": float(np.std(aulc)),
            "aulc_by_seed": aulc,
            "seeds": [r["seed"] for r in rs],
            "n_test": rs[0].get("n_test"),
            "labels_to_98": [x for x in reach],
            "seconds_per_round": float(np.mean([np.mean(r["seconds"]) for r in rs])),
            "used": dict(used) if set(used) - {strategy} else {},
            "failed_seeds": [
                r["seed"] for r in runs if "error" in r and (r["model"], r["dataset"], r["strategy"]) == key
            ],
        }
    return out


def _by_seed(row: dict) -> dict[int, float]:
    return dict(zip(row["seeds"], row["aulc_by_seed"], strict=True))


def _difference(a: dict, b: dict) -> np.ndarray:
    """Per-seed AULC of a minus b, on the seeds where both ran (a peer may have raised on some)."""
    a_, b_ = _by_seed(a), _by_seed(b)
    return np.array([a_[s] - b_[s] for s in sorted(a_) if s in b_])


def _mean_sd(d: np.ndarray) -> str:
    return f"{d.mean():+.4f} ± {d.std(ddof=1) if d.size > 1 else 0.0:.4f}"


def verdict(rows: dict, dataset: str) -> tuple[str, dict] | None:
    """One line of the auto table: against margin, the best peer and the best alflow strategy in
    hindsight (per-seed differences, mean ± std), and the seeds below random beyond the test set's noise."""
    if "auto" not in rows:
        return None
    auto = rows["auto"]
    peers = {s: r for s, r in rows.items() if s in PEERS or s == "random"}
    mine = {s: r for s, r in rows.items() if s in ALFLOW and s != "auto"}
    best_peer = max(peers, key=lambda s: peers[s]["aulc_mean"]) if peers else None
    best_mine = max(mine, key=lambda s: mine[s]["aulc_mean"]) if mine else None
    cells = [dataset, f"{auto['aulc_mean']:.4f}", f"{rows.get('margin', {}).get('aulc_mean', float('nan')):.4f}"]
    facts: dict = {"auto": auto["aulc_mean"]}
    for best, pool in ((best_peer, peers), (best_mine, mine)):
        if best is None:
            cells += ["-", "-"]
            continue
        d = _difference(auto, pool[best])
        cells += [f"{best} {pool[best]['aulc_mean']:.4f}", _mean_sd(d)]
        facts[("peer" if pool is peers else "mine")] = float(d.mean())
    below = "-"
    if "random" in rows and auto.get("n_test"):
        d = _difference(auto, rows["random"])
        # the noise of one seed: the standard error of an accuracy measured on that seed's test set
        noise = np.array([np.sqrt(a * (1 - a) / auto["n_test"]) for a in auto["aulc_by_seed"][: d.size]])
        worst = int(np.argmin(d - (-noise)))
        beyond = int((d < -noise).sum())
        below = (
            f"{int((d < 0).sum())}/{d.size}, {beyond} beyond noise (worst {d[worst]:+.4f}, noise {noise[worst]:.4f})"
        )
        facts["beyond_noise"] = beyond
    used = auto.get("used") or {}
    share = ", ".join(f"{s} {n / sum(used.values()):.0%}" for s, n in sorted(used.items(), key=lambda kv: -kv[1]))
    return "| " + " | ".join([*cells, below, share or "-"]) + " |", facts


def markdown(summary: dict, *, seeds: int, command: str, load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    lines = [
        "# Label efficiency (BENCHMARK.md protocol)",
        "",
        f"Produced by `{command}`; seeds 0-{seeds - 1}. AULC = mean test accuracy over the curve "
        f"({START}, {START + BATCH}, …, {BUDGET} labels), mean ± std over seeds. 'to 98 %' = labels needed to reach "
        "98 % of the accuracy of the same model fit on the whole pool (mean over seeds that reached it; "
        "'>300' if none did, a count in brackets when only some did). When the random start holds a single class "
        "(possible with a 5 % minority), the model predicts that class, alflow's strategies start cold (typicality) "
        "and the peers, which need a fitted model, pick at random until a second class is labeled. "
        "skal_pal selects with scikit-activeml's Parzen window classifier "
        "(ProbabilisticAL needs frequency estimates); the scored model is the protocol's. "
        f"Load average (1, 5, 15 min) {', '.join(f'{x:.2f}' for x in load[0])} at the start, "
        f"{', '.join(f'{x:.2f}' for x in load[1])} at the end (a shared 2-core machine).",
        "",
    ]
    for model, datasets in summary.items():
        lines += [f"## Model: {model}", ""]
        head = (
            "| dataset | auto | margin | best peer | auto − best peer (per seed) | best alflow in hindsight "
            "| auto − best alflow (per seed) | seeds auto < random | auto ran |"
        )
        table, facts = [head, "|---|---|---|---|---|---|---|---|---|"], []
        for dataset, rows in datasets.items():
            lines += _dataset_table(dataset, rows)
            line = verdict(rows, dataset)
            if line is not None:
                table.append(line[0])
                facts.append((dataset, line[1]))
        lines += ["### auto against the best peer and the best alflow strategy in hindsight", "", *table, ""]
        lines += _totals(datasets, facts)
    return "\n".join(lines)


def _dataset_table(dataset: str, rows: dict) -> list[str]:
    lines = [f"### {dataset}", "", "| strategy | AULC | to 98 % | s / round |", "|---|---|---|---|"]
    for strategy, row in sorted(rows.items(), key=lambda kv: -kv[1]["aulc_mean"]):
        reached = [x for x in row["labels_to_98"] if x is not None]
        to98 = ">300" if not reached else f"{np.mean(reached):.0f}"
        if reached and len(reached) < len(row["labels_to_98"]):
            to98 += f" ({len(reached)}/{len(row['labels_to_98'])})"
        name = f"{strategy} (raised on seeds {row['failed_seeds']})" if row["failed_seeds"] else strategy
        lines.append(
            f"| {name} | {row['aulc_mean']:.4f} ± {row['aulc_std']:.4f} | {to98} | {row['seconds_per_round']:.3f} |"
        )
    return [*lines, ""]


def _totals(datasets: dict, facts: list[tuple[str, dict]]) -> list[str]:
    autos = [rows["auto"]["aulc_mean"] for rows in datasets.values() if "auto" in rows and "margin" in rows]
    margins = [rows["margin"]["aulc_mean"] for rows in datasets.values() if "auto" in rows and "margin" in rows]
    out = []
    if autos:
        out.append(
            f"Mean AULC over {len(autos)} datasets: auto {np.mean(autos):.4f}, margin {np.mean(margins):.4f} "
            f"(auto − margin {np.mean(autos) - np.mean(margins):+.4f})."
        )
    for key, label in (("peer", "best peer"), ("mine", "best alflow strategy in hindsight")):
        gaps = [(f[key], d) for d, f in facts if key in f]
        if gaps:
            worst = min(gaps)
            within = sum(g >= -0.003 for g, _ in gaps)
            out.append(
                f"Against the {label}: worst {worst[0]:+.4f} ({worst[1]}); "
                f"within 0.003 or ahead on {within} of {len(gaps)} datasets."
            )
    beyond = sum(f.get("beyond_noise", 0) for _, f in facts)
    out.append(f"Seeds where auto is below random by more than the test set's noise: {beyond}.")
    return [*out, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default="lr,rf")
    parser.add_argument("--suite", choices=sorted(SUITES), default="tuned", help="default dataset list")
    parser.add_argument("--datasets", default=None, help="comma-separated; default: the --suite's datasets")
    parser.add_argument("--strategies", default=",".join(["random", *ALFLOW, *PEERS]))
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (the machine is shared: 1 or 2)")
    parser.add_argument("--out", default="label_efficiency")
    args = parser.parse_args()
    args.datasets = args.datasets or ",".join(SUITES[args.suite])
    models, datasets, strategies = (a.split(",") for a in (args.models, args.datasets, args.strategies))
    jobs = [(d, m, s, seed) for m in models for d in datasets for seed in range(args.seeds) for s in strategies]
    started = time.perf_counter()
    load_start = os.getloadavg()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True), chunksize=1))
        full_keys = [(d, m, seed) for m in models for d in datasets for seed in range(args.seeds)]
        full = dict(zip(full_keys, pool.map(full_score, *zip(*full_keys, strict=True)), strict=True))
    summary = summarise(runs, full)
    load = (load_start, os.getloadavg())
    command = "python benchmarks/label_efficiency.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k not in ("jobs", "out", "suite")
    )
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "command": command,
        "wall_seconds": time.perf_counter() - started,
        "load_average": {"start": load[0], "end": load[1]},
        "summary": summary,
        "full_data_accuracy": {"|".join(map(str, k)): v for k, v in full.items()},
        "runs": runs,
    }
    (RESULTS / f"{args.out}.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(summary, seeds=args.seeds, command=command, load=load))
    print((RESULTS / f"{args.out}.md").read_text())


if __name__ == "__main__":
    main()
