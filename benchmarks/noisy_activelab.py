"""Imperfect annotators by the protocol: alflow's labeling plans against cleanlab's ActiveLab, paired.

    nice -n 10 python benchmarks/noisy_activelab.py [--seeds 5] [--budget 600] [--batch 20] [--jobs 2]
        [--sets digits,wine,...] [--report]

The protocol is /work/shared/BENCHMARK.md, "Imperfect annotators". Six sets, bundled with
scikit-learn or generated (no download), split 70/30 into a pool and a clean holdout with 2 seed
labels per class (`noisy_annotators.write_campaign`); the model is the logistic-regression preset.
Each (set, seed) draws its own vendor (`draw_crowd`): 3 to 5 annotators, each with an error rate
drawn from 5-40 %, varied per class, its mistakes going mostly (70 %) to the class whose centroid
is nearest the true one (the confusable pair) and the rest spread evenly. Every request is one
annotation of one item by the next annotator in the item's routing, at price 1; the budget (600,
or the pool's size when smaller) counts the seed labels plus every annotation. All plans of one
(set, seed) meet the same annotations (`alflow.operations.annotators.draw_annotations`).

Plans: `perfect` (the ceiling), `once` (margin trusting every label), `repeat3` (margin, a fixed 3
per item, majority), `adaptive` (alflow's default labeling plan: repeats where a label is likely
wrong, Dawid-Skene with the model's prior; `alflow.operations.noisy.noisy_curve`), all with margin
selection; and `activelab`, run as cleanlab's authors run it (`activelab_curve`).

Output: per set and budget share (25/50/75/100 %) and the mean over the curve, the paired
difference adaptive minus ActiveLab over seeds with a 95 % t-interval; each plan's accuracy.
Each (set, seed) is written to benchmarks/results/noisy_activelab_parts/ as it finishes, so an
interrupted run keeps what ran (`--report` rebuilds the table from the parts).
Writes benchmarks/results/noisy_activelab.{json,md} (`--out` names another table; `--resume` runs
only the pairs with no part yet, e.g. more seeds).

`--only adaptive --parts noisy_activelab_parts_new` re-runs only the plans named (after a change to
alflow's default, say) and takes the other plans' curves from the parts in `--source` (the same
(set, seed) pairs meet the same vendor and annotations, so they are unchanged); the curves replaced
are kept as `<plan>_before` beside them, so the table shows the plan before and after.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))

from noisy_annotators import write_campaign

RESULTS = Path(__file__).parent / "results"
PARTS = RESULTS / "noisy_activelab_parts"
PLANS = ("perfect", "once", "repeat3", "adaptive", "activelab")
SHARES = (0.25, 0.5, 0.75, 1.0)
TO_PARTNER = 0.7  # an annotator's mistakes on a class: this share to its confusable partner


def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Six sets: four bundled with scikit-learn, two generated (fixed random_state)."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine, make_classification

    loaders = (("digits", load_digits), ("wine", load_wine), ("breast_cancer", load_breast_cancer), ("iris", load_iris))
    sets = {name: loader(return_X_y=True) for name, loader in loaders}
    sets["synth_6c"] = make_classification(
        n_samples=1500, n_features=20, n_informative=10, n_classes=6, n_clusters_per_class=1, random_state=0
    )
    sets["synth_4c_overlap"] = make_classification(
        n_samples=1200, n_features=12, n_informative=6, n_classes=4, n_clusters_per_class=2, class_sep=0.8,
        random_state=1,
    )  # fmt: skip
    return sets


def draw_crowd(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple:
    """3 to 5 annotators, error rates from 5-40 % (each class's rate 0.5-1.5 times it, below 0.9),
    mistakes on a class going TO_PARTNER to the class with the nearest centroid (standardised)."""
    from alflow.operations.annotators import Annotator

    classes = np.unique(y)
    k = classes.size
    Z = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-12)
    centroids = np.stack([Z[y == c].mean(axis=0) for c in classes])
    distance = np.linalg.norm(centroids[:, None] - centroids[None], axis=2) + np.diag(np.full(k, np.inf))
    partner = distance.argmin(axis=1)
    crowd = []
    for n in range(int(rng.integers(3, 6))):
        rate = float(rng.uniform(0.05, 0.40))
        confusion = np.zeros((k, k))
        for t in range(k):
            wrong = np.where(np.arange(k) == t, 0.0, (1 - TO_PARTNER) / max(k - 2, 1))
            wrong[partner[t]] = TO_PARTNER if k > 2 else 1.0
            confusion[t] = min(rate * rng.uniform(0.5, 1.5), 0.9) * wrong / wrong.sum()
            confusion[t, t] = 1 - confusion[t].sum()
        crowd.append(Annotator(f"a{n}", confusion))
    return tuple(crowd)


def _fit_predict_proba(config, X, labels: np.ndarray, X_unlabeled, k: int, seed: int):
    """Out-of-fold probabilities on the labeled items and the folds' mean on the unlabeled ones,
    as cleanlab's examples do (active_learning_multiannotator/utils/model_training.py:
    fit_predict_proba), with KFold rather than StratifiedKFold (2 seed labels per class) and
    a class a fold never saw given a small probability."""
    from sklearn.model_selection import KFold

    from alflow.model import estimators
    from alflow.selection.arrays import take

    proba = np.full((labels.size, k), np.nan)
    unlabeled = np.zeros((X_unlabeled.shape[0], k))
    folds = KFold(n_splits=min(5, labels.size), shuffle=True, random_state=seed).split(labels)
    for fit, held in folds:
        model = estimators.train(estimators.build_model(config.model, seed=seed), take(X, fit), labels[fit])
        columns = model.classes_.astype(int)
        proba[held] = 0.0
        proba[np.ix_(held, columns)] = model.predict_proba(take(X, held))
        if unlabeled.shape[0]:
            unlabeled[:, columns] += model.predict_proba(X_unlabeled)
    smooth = lambda p: (p + 1e-3) / (p + 1e-3).sum(axis=1, keepdims=True)  # noqa: E731
    return smooth(proba), smooth(unlabeled) if unlabeled.shape[0] else unlabeled


def _consensus(matrix: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """CROWDLAB's consensus label per row of `matrix` (NaN = not asked); majority vote while
    CROWDLAB cannot run yet (every item has one label), as the authors' notebook starts."""
    import pandas as pd
    from cleanlab.multiannotator import get_label_quality_multiannotator, get_majority_vote_label

    frame = pd.DataFrame(matrix).dropna(axis=1, how="all")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            result = get_label_quality_multiannotator(frame, pred_probs, verbose=False)
        return result["label_quality"]["consensus_label"].to_numpy().astype(int)
    except ValueError:
        return np.asarray(get_majority_vote_label(frame, pred_probs, verbose=False)).astype(int)


def activelab_curve(config, problem, annotations, *, seed: int) -> tuple[list[tuple[int, float]], int]:
    """cleanlab's ActiveLab in the harness `noisy_curve` uses: same model preset, seed labels,
    annotations (item i's j-th request goes to annotators.who[i, j]) and budget.

    Each round, as the authors' loop runs it (cleanlab/examples active_learning_multiannotator/
    active_learning.ipynb with utils/active_learning.py: get_idx_to_label; the cleanlab docs'
    multiannotator module, https://docs.cleanlab.ai/stable/cleanlab/multiannotator.html, and the
    Hugging Face cookbook "Annotate text data using Active Learning with Cleanlab"): out-of-fold
    probabilities on the annotated items (trained on their consensus labels and the seed labels)
    and the folds' mean on the unannotated ones; `get_active_learning_scores` scores both on one
    scale; the batch is the lowest scores, one more annotation each (an annotated item only while
    an annotator is left to ask); consensus by CROWDLAB (`get_label_quality_multiannotator`);
    the model is refit on seed + consensus labels and scored on the holdout. Seed labels are the
    team's, trusted and never re-asked: they train every model but are not in the annotator matrix.
    Returns the curve (x = seed labels + annotations) and how many annotations were repeats.
    """
    from cleanlab.multiannotator import get_active_learning_scores

    from alflow.model import estimators
    from alflow.selection.arrays import take

    classes = tuple(config.classes)
    k = len(classes)
    truth = np.array([classes.index(c) for c in problem.y_pool])
    n_items, n_annotators = annotations.who.shape
    matrix = np.full((n_items, n_annotators), np.nan)  # [item, annotator] = class said
    asked = np.zeros(n_items, dtype=int)
    seeded = np.zeros(n_items, dtype=bool)
    seeded[problem.seed_rows] = True
    labels = np.where(seeded, truth, -1)
    budget = min(config.budget.max_labels, n_items)
    curve: list[tuple[int, float]] = []
    while True:
        rows = np.flatnonzero(labels >= 0)
        model = estimators.train(
            estimators.build_model(config.model, seed=seed), take(problem.X_pool, rows), np.array(classes)[labels[rows]]
        )
        score = estimators.holdout_metrics(model, problem.X_test, problem.y_test)[config.stopping.metric]
        spent = int(seeded.sum() + asked.sum())
        curve.append((spent, float(score)))
        batch = min(config.strategy.batch_size, budget - spent)
        voted = np.flatnonzero(asked > 0)
        free = np.flatnonzero(labels < 0)
        if batch <= 0 or (free.size == 0 and not (asked[voted] < n_annotators).any()):
            return curve, int(np.maximum(asked - 1, 0).sum())
        proba, proba_free = _fit_predict_proba(
            config, take(problem.X_pool, rows), labels[rows], take(problem.X_pool, free), k, seed
        )
        on_voted = proba[np.searchsorted(rows, voted)]
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            scores, scores_free = get_active_learning_scores(
                _asked_columns(matrix[voted]) if voted.size else None,
                on_voted if voted.size else None,
                proba_free if free.size else None,
            )
        scores = np.where(asked[voted] < n_annotators, scores, np.inf)  # nobody left to ask
        combined = np.concatenate([scores, scores_free if free.size else []])
        chosen = np.concatenate([voted, free])[np.argsort(combined, kind="stable")[:batch]]
        chosen = chosen[np.isfinite(np.sort(combined, kind="stable")[:batch])]
        for item in chosen:
            who = annotations.who[item, asked[item]]
            matrix[item, who] = annotations.said[item, asked[item]]
            asked[item] += 1
        voted = np.flatnonzero(asked > 0)
        labels[voted] = _consensus(
            matrix[voted], _fit_predict_proba_labeled(config, problem, labels, voted, seeded, matrix, k, seed)
        )


def _asked_columns(matrix: np.ndarray) -> np.ndarray:
    """The annotator columns with at least one annotation (cleanlab refuses a column of NaN)."""
    return matrix[:, ~np.isnan(matrix).all(axis=0)]


def _fit_predict_proba_labeled(config, problem, labels, voted, seeded, matrix, k, seed) -> np.ndarray:
    """Out-of-fold probabilities on the annotated items for CROWDLAB, the models trained on the
    seed labels and the annotated items' current labels (a new item: its first annotation)."""
    from alflow.selection.arrays import take

    current = labels.copy()
    fresh = voted[current[voted] < 0]
    current[fresh] = np.nanmax(np.where(np.isnan(matrix[fresh]), -1, matrix[fresh]), axis=1).astype(int)
    rows = np.flatnonzero(seeded | (current >= 0))
    proba, _ = _fit_predict_proba(
        config, take(problem.X_pool, rows), current[rows], take(problem.X_pool, rows[:0]), k, seed
    )
    return proba[np.searchsorted(rows, voted)]


def run_one(job: tuple) -> dict:
    """Every plan (or the `only` ones, the others from the `source` part) on one set and seed,
    against one drawn vendor; the curves, and the part written into `parts`."""
    from alflow.config import load_campaign
    from alflow.operations.annotators import draw_annotations
    from alflow.operations.noisy import noisy_curve
    from alflow.operations.simulate import load_problem

    name, seed, budget, batch, only, source, parts = job
    before = json.loads((RESULTS / source / f"{name}-{seed}.json").read_text()) if only else None
    X, y = datasets()[name]
    budget = min(budget, y.size - int(np.ceil(0.3 * y.size)))  # the pool: write_campaign's 70 %
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        config = load_campaign(write_campaign(folder, X, y, budget=budget, batch=batch, strategy="margin"))
        problem = load_problem(config, answers="truth", seed=seed)
        truth = np.array([config.classes.index(c) for c in problem.y_pool])
        crowd = draw_crowd(X, y, np.random.default_rng([seed, 22, len(name)]))
        drawn = draw_annotations(crowd, truth, rng=np.random.default_rng([seed, 22]))
        curves, seconds, repeats = {}, {}, {}
        for plan in only or PLANS:
            began = time.monotonic()
            if plan == "activelab":
                curves[plan], repeats[plan] = activelab_curve(config, problem, drawn, seed=seed)
            else:
                replay = noisy_curve(config, problem, drawn, strategy="margin", plan=plan, seed=seed)
                curves[plan], repeats[plan] = replay.replay.curve, replay.repeats
            seconds[plan] = round(time.monotonic() - began, 1)
    if before is not None:  # the plans not run: the source's; the ones run: theirs kept as <plan>_before
        for key, new in (("curves", curves), ("repeats", repeats), ("seconds", seconds)):
            new.update({f"{p}_before": before[key][p] for p in only})
            new.update({p: before[key][p] for p in PLANS if p not in only})
    part = {
        "set": name,
        "seed": seed,
        "budget": budget,
        "classes": len(config.classes),
        "annotators": [round(a.accuracy, 3) for a in crowd],
        "curves": curves,
        "repeats": repeats,  # annotations of items already annotated (repeat3: its 2nd and 3rd count 0)
        "seconds": seconds,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    (RESULTS / parts).mkdir(parents=True, exist_ok=True)
    (RESULTS / parts / f"{name}-{seed}.json").write_text(json.dumps(part))
    print(f"{name} seed {seed}: {part['total_seconds']} s {seconds}", file=sys.stderr, flush=True)
    return part


def at_budget(curve: list, spent: float) -> float:
    """The accuracy bought with `spent`: the last curve point at or under it (steps, no interpolation)."""
    under = [score for x, score in curve if x <= spent]
    return under[-1] if under else curve[0][1]


def curve_mean(curve: list, budget: int, points: int = 20) -> float:
    """The mean accuracy over `points` evenly spaced budgets up to `budget` (an AULC on one grid)."""
    return float(np.mean([at_budget(curve, budget * (i + 1) / points) for i in range(points)]))


def measures(part: dict) -> dict[str, dict[str, float]]:
    """Each plan's accuracy at each budget share and its curve mean."""
    out = {}
    for plan, curve in part["curves"].items():
        row = {f"{int(s * 100)}%": at_budget(curve, s * part["budget"]) for s in SHARES}
        row["mean"] = curve_mean(curve, part["budget"])
        row["repeats"] = float(part["repeats"][plan])
        out[plan] = row
    return out


def paired(differences: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (0 for one value)."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return float(d.mean()), 0.0
    return float(d.mean()), float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))


def summarise(parts: list[dict], a: str = "adaptive", b: str = "activelab") -> dict:
    """Per set and overall: each plan's mean per column, and the paired difference a - b per column."""
    columns = [f"{int(s * 100)}%" for s in SHARES] + ["mean"]
    by_set: dict[str, list[dict]] = {}
    for part in sorted(parts, key=lambda p: (p["set"], p["seed"])):
        by_set.setdefault(part["set"], []).append(measures(part))
    table = {}
    every = [r for per_seed in by_set.values() for r in per_seed]
    for name, rows in [*by_set.items(), ("all", every)]:
        table[name] = {
            "seeds": len(rows),
            "plans": {p: {c: float(np.mean([r[p][c] for r in rows])) for c in [*columns, "repeats"]} for p in rows[0]},
            "difference": {c: paired([r[a][c] - r[b][c] for r in rows]) for c in columns},
        }
    return table


def _difference_lines(table: dict, columns: list[str]) -> list[str]:
    """One table row per set: the paired differences with their intervals and the verdict."""
    lines = []
    for name, row in table.items():
        cells = [f"{m:+.4f} ± {h:.4f}" for m, h in (row["difference"][c] for c in columns)]
        behind = [c for c in columns if row["difference"][c][0] + row["difference"][c][1] < 0]
        ahead = [c for c in columns if row["difference"][c][0] - row["difference"][c][1] > 0]
        verdict = f"behind at {', '.join(behind)}" if behind else "never behind beyond noise"
        verdict += f"; ahead at {', '.join(ahead)}" if ahead else ""
        lines.append(f"| {name} | {row['seeds']} | " + " | ".join(cells) + f" | {verdict} |")
    return lines


def markdown(table: dict, parts: list[dict], args, load: str, change: dict | None = None) -> str:
    columns = [f"{int(s * 100)}%" for s in SHARES] + ["mean"]
    budgets = {p["set"]: p["budget"] for p in parts}
    lines = [
        "# Imperfect annotators by the protocol: alflow's plans against cleanlab's ActiveLab",
        "",
        "`nice -n 10 python benchmarks/noisy_activelab.py"
        + (f" --first-seed {args.first_seed}" if args.first_seed else "")
        + f" --seeds {args.seeds} --budget {args.budget} "
        f"--batch {args.batch} --jobs {args.jobs} --sets {args.sets}"
        + (f" --only {args.only} --source {args.source}" if args.only else "")
        + (f" --parts {args.parts} --out {args.out}" if args.parts != PARTS.name else "")
        + "` (module docstring: the vendor, the plans, "
        "the harness). Accuracy on the clean holdout at 25/50/75/100 % of each set's budget (seed labels + "
        "annotations; 600 or the pool's size) and the mean over the curve (20 evenly spaced budgets). "
        f"Budgets: {', '.join(f'{k} {v}' for k, v in budgets.items())}.",
        "",
        f"Machine load (`uptime`): {load}.",
        "",
        "## Paired difference: alflow's default (adaptive) minus ActiveLab",
        "",
        "Mean over seeds ± the half-width of its 95 % t-interval; positive = alflow ahead. "
        "`all` pairs every (set, seed). Repeats: annotations of an item already annotated, per replay "
        "(repeat3's fixed second and third annotations are not counted)."
        + (
            f" Plans re-run ({args.only}); the others' curves are the parts in {args.source}, and "
            "`<plan>_before` is the plan's curve there (before the change)."
            if args.only
            else ""
        ),
        "",
        "| set | seeds | " + " | ".join(columns) + " | beyond noise (interval excludes 0) |",
        "|---|---|" + "---|" * (len(columns) + 1),
    ]
    lines += _difference_lines(table, columns)
    if change is not None:
        lines += ["", "## Paired difference: alflow's default after the change minus before (adaptive_before)"]
        lines += ["", "| set | seeds | " + " | ".join(columns) + " | beyond noise (interval excludes 0) |"]
        lines += ["|---|---|" + "---|" * (len(columns) + 1), *_difference_lines(change, columns)]
    lines += ["", "## Accuracy by plan (mean over seeds)", "", "| set | plan | " + " | ".join(columns) + " | repeats |"]
    lines.append("|---|---|" + "---|" * (len(columns) + 1))
    for name, row in table.items():
        for plan, values in row["plans"].items():
            cells = " | ".join(f"{values[c]:.4f}" for c in columns)
            lines.append(f"| {name} | {plan} | {cells} | {values['repeats']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. seeds-1 (held-out seeds)")
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--sets", default=",".join(datasets()))
    parser.add_argument("--report", action="store_true", help="rebuild the table from the parts written so far")
    parser.add_argument("--resume", action="store_true", help="run only the (set, seed) pairs with no part yet")
    parser.add_argument("--out", default="noisy_activelab", help="the table's name in benchmarks/results/")
    parser.add_argument("--load", help="the machine load to note (with --report: the run's, from uptime)")
    parser.add_argument("--only", help="run only these plans (comma-separated), the others from --source's parts")
    parser.add_argument("--source", default=PARTS.name, help="with --only: the parts the other plans come from")
    parser.add_argument("--parts", default=PARTS.name, help="the folder in benchmarks/results/ parts are written to")
    args = parser.parse_args()
    chosen = args.sets.split(",")
    unknown = sorted(set(chosen) - set(datasets()))
    if unknown:
        sys.exit(f"--sets: unknown {unknown}; use some of {', '.join(datasets())}")
    load = os.getloadavg()
    only = tuple(args.only.split(",")) if args.only else ()
    if set(only) - set(PLANS):
        sys.exit(f"--only: unknown {sorted(set(only) - set(PLANS))}; use some of {', '.join(PLANS)}")
    if not args.report:
        jobs = [
            (name, seed, args.budget, args.batch, only, args.source, args.parts)
            for seed in range(args.first_seed, args.seeds)
            for name in chosen
        ]
        if args.resume:
            jobs = [job for job in jobs if not (RESULTS / args.parts / f"{job[0]}-{job[1]}.json").exists()]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(run_one, jobs))
    parts = [json.loads(p.read_text()) for p in sorted((RESULTS / args.parts).glob("*.json"))]
    parts = [p for p in parts if p["set"] in chosen and args.first_seed <= p["seed"] < args.seeds]
    if not parts:
        sys.exit(f"no results in {RESULTS / args.parts}; run without --report first")
    end = os.getloadavg()
    note = args.load or (
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} at the start, {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f} at the end"
    )
    table = summarise(parts)
    change = summarise(parts, "adaptive", "adaptive_before") if "adaptive" in only else None
    RESULTS.mkdir(exist_ok=True)
    found = {"args": vars(args), "table": table, "change": change}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(found, indent=2))
    (RESULTS / f"{args.out}.md").write_text(markdown(table, parts, args, note, change))
    print(markdown(table, parts, args, note, change))


if __name__ == "__main__":
    main()
