"""Review of labels already taken: how well confident learning finds injected errors, and what a review buys.

    python benchmarks/label_review.py [--seeds 3] [--noise 0.05,0.10,0.20] [--cost 0.08]

Each set is one of scikit-learn's bundled sets or a generated one (no download), split 70/30 into a
labeled set and a clean test set. A share of the labeled set (`--noise`) is made wrong: each
chosen label replaced by another class drawn uniformly. `alflow review`'s scoring
(`alflow.operations.label_review.label_issues`: the logistic-regression preset cross-validated,
k <= 5, cleanlab's label quality and its issues pruned by noise rate) flags likely errors; the
flagged items are reviewed by a reviewer who is always right (each review costs one label,
`--cost` each), and the model is trained again. Reported per set and noise level, mean over seeds:

- precision and recall of the flagged items against the injected errors;
- test accuracy with the noisy labels, after the review, and with every label right (the ceiling);
- accuracy gained per review dollar (percentage points per dollar), for the flagged review and for
  a review of as many items drawn at random (what a review without scoring buys).

Writes benchmarks/results/label_review.{json,md}, with the machine's load average while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from alflow.config.schema import ModelConfig
from alflow.model import estimators
from alflow.operations.label_review import label_issues

RESULTS = Path(__file__).parent / "results"


def data_sets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine, make_classification

    sets = {name: loader(return_X_y=True) for name, loader in (("digits", load_digits), ("wine", load_wine))}
    sets["breast_cancer"] = load_breast_cancer(return_X_y=True)
    sets["iris"] = load_iris(return_X_y=True)
    sets["synth_4c"] = make_classification(
        n_samples=1500, n_features=20, n_informative=8, n_classes=4, n_clusters_per_class=2, random_state=7
    )
    return {name: (np.asarray(X, dtype=float), np.asarray(y).astype(str)) for name, (X, y) in sets.items()}


def accuracy(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, seed: int) -> float:
    model = estimators.build_model(ModelConfig(), seed=seed).fit(X, y)
    return float(np.mean(model.predict(X_test) == y_test))


def one_run(X: np.ndarray, y: np.ndarray, noise: float, seed: int, cost: float) -> dict[str, float]:
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_true, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    wrong = rng.choice(len(y_true), size=max(1, round(noise * len(y_true))), replace=False)
    noisy = y_true.copy()
    for i in wrong:
        noisy[i] = rng.choice(classes[classes != y_true[i]])
    model = estimators.build_model(ModelConfig(), seed=seed)
    found = estimators.cross_validated_proba(model, X_train, noisy, seed=seed)
    assert found is not None
    proba, truth, columns = found
    _, flagged = label_issues(np.searchsorted(columns, truth), proba)
    chosen = np.flatnonzero(flagged)
    hits = len(set(chosen) & set(wrong))
    reviewed, at_random = noisy.copy(), noisy.copy()
    reviewed[chosen] = y_true[chosen]
    drawn = rng.choice(len(y_true), size=len(chosen), replace=False)
    at_random[drawn] = y_true[drawn]
    before = accuracy(X_train, noisy, X_test, y_test, seed)
    after = accuracy(X_train, reviewed, X_test, y_test, seed)
    random_after = accuracy(X_train, at_random, X_test, y_test, seed)
    dollars = len(chosen) * cost
    return {
        "errors": float(len(wrong)),
        "flagged": float(len(chosen)),
        "precision": hits / len(chosen) if len(chosen) else float("nan"),
        "recall": hits / len(wrong),
        "accuracy_noisy": before,
        "accuracy_reviewed": after,
        "accuracy_clean": accuracy(X_train, y_true, X_test, y_test, seed),
        "review_dollars": dollars,
        "points_per_dollar": 100 * (after - before) / dollars if dollars else float("nan"),
        "random_points_per_dollar": 100 * (random_after - before) / dollars if dollars else float("nan"),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| set | noise | errors | flagged | precision | recall | acc. noisy | acc. reviewed | acc. clean "
        "| review $ | pts/$ flagged | pts/$ random |\n|" + " --- |" * 12
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['noise']:.0%} | {r['errors']:.0f} | {r['flagged']:.0f} | {r['precision']:.2f} "
            f"| {r['recall']:.2f} | {r['accuracy_noisy']:.3f} | {r['accuracy_reviewed']:.3f} "
            f"| {r['accuracy_clean']:.3f} "
            f"| {r['review_dollars']:.2f} | {r['points_per_dollar']:.2f} | {r['random_points_per_dollar']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", default="0.05,0.10,0.20")
    parser.add_argument("--cost", type=float, default=0.08)
    args = parser.parse_args()
    started, loads = time.time(), [os.getloadavg()[0]]
    rows = []
    for name, (X, y) in data_sets().items():
        for noise in (float(n) for n in args.noise.split(",")):
            runs = [one_run(X, y, noise, seed, args.cost) for seed in range(args.seeds)]
            mean = {k: float(np.nanmean([r[k] for r in runs])) for k in runs[0]}
            rows.append({"set": name, "noise": noise, **mean})
            loads.append(os.getloadavg()[0])
            print(name, f"{noise:.0%}", f"precision {mean['precision']:.2f} recall {mean['recall']:.2f}", flush=True)
    load = f"load average (1 min) {min(loads):.1f}-{max(loads):.1f} while it ran"
    seconds = time.time() - started
    RESULTS.mkdir(exist_ok=True)
    meta = {"seeds": args.seeds, "cost_per_label": args.cost, "seconds": round(seconds, 1), "load": load}
    (RESULTS / "label_review.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    text = (
        "# Review of labels already taken: injected errors found, accuracy bought\n\n"
        f"`python benchmarks/label_review.py --seeds {args.seeds} --noise {args.noise} --cost {args.cost}` "
        f"({seconds:.0f} s, {load}). Mean over {args.seeds} seeds; a reviewer who is always right; "
        "pts/$: test accuracy gained, in percentage points, per dollar of review, for the flagged items "
        "and for as many items drawn at random.\n\n" + table(rows) + "\n"
    )
    (RESULTS / "label_review.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
