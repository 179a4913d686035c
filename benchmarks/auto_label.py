"""Auto-labeling: does the calibrated threshold deliver the accuracy it promises, and for how many items?

    python benchmarks/auto_label.py [--seeds 5] [--datasets digits,breast_cancer,...]

BENCHMARK.md's split (stratified 70 % pool / 30 % held out, scaler fit on the pool, 20 random
start labels, LogisticRegression), then `auto` selection in batches of 10. At 50, 100 and 200
labels the threshold is calibrated on the held-out 30 % (`alflow.selection.confidence.confidence_threshold`,
min 30 items) for each target accuracy, once by the Wilson lower bound (z = 1.645, what the round
uses) and once by the observed share (z = 0); the unlabeled pool items above it are auto-labeled
and checked against the truth. Writes benchmarks/results/auto_label.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from label_efficiency import START, split
from sklearn.linear_model import LogisticRegression

import alflow
from alflow.selection.confidence import auto_labels, confidence_threshold

RESULTS = Path(__file__).parent / "results"
CHECKPOINTS, TARGETS, Z = (50, 100, 200), (0.95, 0.98, 0.99), {"wilson": 1.645, "observed": 0.0}


def run(dataset: str, seed: int) -> list[dict]:
    X_pool, X_held, y_pool, y_held = split(dataset, seed)
    labeled = np.zeros(len(X_pool), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(X_pool), START, replace=False)] = True
    rows = []
    while True:
        model = LogisticRegression(max_iter=2000).fit(X_pool[labeled], y_pool[labeled])
        n = int(labeled.sum())
        if n in CHECKPOINTS:
            unlabeled = np.flatnonzero(~labeled)
            proba = model.predict_proba(X_held)
            for target in TARGETS:
                for rule, z in Z.items():
                    t = confidence_threshold(proba, y_held, model.classes_, target_accuracy=target, min_items=30, z=z)
                    chosen, predicted = (
                        (np.array([], dtype=int), np.array([]))
                        if t is None
                        else auto_labels(model, X_pool[unlabeled], unlabeled, threshold=t)[:2]
                    )
                    correct = float(np.mean(y_pool[chosen] == predicted)) if len(chosen) else None
                    rows.append(
                        {
                            "dataset": dataset,
                            "seed": seed,
                            "labels": n,
                            "target": target,
                            "rule": rule,
                            "coverage": len(chosen) / len(unlabeled),
                            "accuracy": correct,
                        }
                    )
        if n >= max(CHECKPOINTS) or (~labeled).sum() <= 10:  # wine's pool has 124 items
            return rows
        picked = alflow.select_batch(
            model, X_pool[~labeled], 10, X_labeled=X_pool[labeled], y_labeled=y_pool[labeled], random_state=[seed, n]
        )
        labeled[np.flatnonzero(~labeled)[picked]] = True


def table(rows: list[dict], command: str) -> str:
    lines = [
        "# Auto-labeling: promised against delivered accuracy",
        "",
        f"Produced by `{command}`. Per dataset, labels used and target: the share of the unlabeled pool "
        "auto-labeled (coverage) and the accuracy of those labels against the truth, mean over seeds "
        "(seeds where nothing was auto-labeled count 0 coverage and no accuracy; 'n' = seeds with labels). "
        "'wilson' is the round's rule (lower bound of held-out accuracy >= target), 'observed' the plain share.",
        "",
        "| dataset | labels | target | wilson coverage | wilson accuracy (n) "
        "| observed coverage | observed accuracy (n) |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["dataset"], r["labels"], r["target"]) for r in rows})
    for dataset, labels, target in keys:
        cells = []
        for rule in Z:
            group = [
                r
                for r in rows
                if (r["dataset"], r["labels"], r["target"], r["rule"]) == (dataset, labels, target, rule)
            ]
            accuracy = [r["accuracy"] for r in group if r["accuracy"] is not None]
            cells.append(f"{np.mean([r['coverage'] for r in group]):.3f}")
            cells.append(f"{np.mean(accuracy):.4f} ({len(accuracy)})" if accuracy else "- (0)")
        lines.append(f"| {dataset} | {labels} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default="digits,breast_cancer,wine,synth_2c,synth_10c,synth_10c_minority")
    args = parser.parse_args()
    rows = []
    for dataset in args.datasets.split(","):
        for seed in range(args.seeds):
            rows += run(dataset, seed)
            print(f"{dataset} seed {seed} done", flush=True)
    command = f"python benchmarks/auto_label.py --seeds {args.seeds} --datasets {args.datasets}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auto_label.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1))
    (RESULTS / "auto_label.md").write_text(table(rows, command))
    print(table(rows, command))


if __name__ == "__main__":
    main()
