"""Imperfect annotators: what a vendor's mistakes cost, and which labeling plan buys back accuracy.

    python benchmarks/noisy_annotators.py [--seeds 3] [--budget 200] [--batch 20] [--strategy margin]

Each set is one of scikit-learn's bundled sets or a generated one (no download), split 70/30 into a
pool and a holdout, with 2 seed labels per class; the model is the logistic-regression preset. The
vendor is three annotators routed evenly, wrong 10, 25 and 40 % of the time, the worst confusing
the first two classes with each other (docs/ANNOTATORS.md). Every plan spends the same budget
(seed labels + annotations, one label price each) through `alflow simulate`'s library call
(`alflow.operations.noisy.simulate_with_annotators`):

- perfect: the vendor never errs (the ceiling);
- once: one annotation per item, trusted (margin trusting every label);
- repeat3: three annotations per item, plain majority (fixed-3 majority);
- adaptive: alflow's repeats where a label is likely wrong, Dawid-Skene with a model prior.

Test accuracy on the clean holdout: the mean over the curve (AULC) and at the end of the budget,
mean over seeds. cleanlab's ActiveLab is not installed here and is not run. Writes
benchmarks/results/noisy_annotators.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

RESULTS = Path(__file__).parent / "results"
PLANS = ("perfect", "once", "repeat3", "adaptive")
CROWD = {"error_rates": (0.10, 0.25, 0.40)}


def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification

    sets = {name: loader(return_X_y=True) for name, loader in (("digits", load_digits), ("wine", load_wine))}
    sets["breast_cancer"] = load_breast_cancer(return_X_y=True)
    sets["synth_6c"] = make_classification(
        n_samples=1500, n_features=20, n_informative=10, n_classes=6, n_clusters_per_class=1, random_state=0
    )
    return sets


def write_campaign(folder: Path, X: np.ndarray, y: np.ndarray, *, budget: int, batch: int, strategy: str) -> Path:
    """A campaign over (X, y): the pool holds the answers in `truth`; 2 seed labels per class."""
    from sklearn.model_selection import train_test_split

    classes = sorted({str(c) for c in y})
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.insert(0, "id", [f"item-{i:05d}" for i in range(len(frame))])
    frame["truth"] = y.astype(str)
    pool, holdout = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame["truth"])
    seed = pool.groupby("truth").sample(2, random_state=0)
    (folder / "data").mkdir(parents=True)
    pool.to_csv(folder / "data" / "pool.csv", index=False)
    seed[["id", "truth"]].rename(columns={"truth": "label"}).to_csv(folder / "data" / "seed.csv", index=False)
    holdout.drop(columns="id").rename(columns={"truth": "label"}).to_csv(folder / "data" / "holdout.csv", index=False)
    campaign = {
        "campaign": folder.name.replace("_", "-"),
        "pool": {"uri": "data/pool.csv", "id_column": "id", "feature_columns": [c for c in frame if c.startswith("f")]},
        "seed_labels": {"uri": "data/seed.csv", "label_column": "label"},
        "holdout": {"uri": "data/holdout.csv", "label_column": "label"},
        "classes": classes,
        "model": {"preset": "logistic_regression"},
        "strategy": {"name": strategy, "batch_size": batch},
        "budget": {"max_labels": budget},
        "stopping": {"metric": "accuracy"},
        "vendor": {"bucket": "bucket"},
        "tracking": {"uri": "sqlite:///mlflow.db"},
        "seed": 0,
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    crowd = [{"name": f"a{n}", "error_rate": rate} for n, rate in enumerate(CROWD["error_rates"])]
    crowd[-1]["confusions"] = {classes[0]: {classes[1]: 1}, classes[1]: {classes[0]: 1}}
    (folder / "crowd.yaml").write_text(yaml.safe_dump({"annotators": crowd}, sort_keys=False))
    return path


def run_set(name: str, X, y, args) -> dict:
    from alflow.config import load_campaign
    from alflow.operations.annotators import load_annotators
    from alflow.operations.noisy import simulate_with_annotators

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        path = write_campaign(folder, X, y, budget=args.budget, batch=args.batch, strategy=args.strategy)
        config = load_campaign(path)
        crowd = load_annotators(folder / "crowd.yaml", tuple(config.classes))
        started = time.monotonic()
        sim = simulate_with_annotators(
            config, crowd, answers="truth", strategies=[args.strategy], seeds=args.seeds, plans=PLANS
        )
    rows = {r["strategy"]: r for r in sim.table}
    return {
        "set": name,
        "classes": len(config.classes),
        "full_score": sim.full_score,
        "seconds": round(time.monotonic() - started, 1),
        "plans": {
            plan: {
                "aulc": rows[f"{args.strategy}/{plan}"]["aulc"],
                "final": rows[f"{args.strategy}/{plan}"]["final"],
                "repeats": rows[f"{args.strategy}/{plan}"].get("repeats", 0),
            }
            for plan in PLANS
        },
        "annotators": list(sim.annotators),
    }


def markdown(results: list[dict], args) -> str:
    command = (
        f"python benchmarks/noisy_annotators.py --seeds {args.seeds} --budget {args.budget} "
        f"--batch {args.batch} --strategy {args.strategy}"
    )
    lines = [
        "# Imperfect annotators: accuracy at equal money, by labeling plan",
        "",
        f"`{command}`: three annotators wrong 10, 25 and 40 % of the time (the worst swaps the first two "
        f"classes), {args.strategy} selection, budget {args.budget} labels (seed labels + annotations), "
        f"batches of {args.batch}, seeds {args.seeds}; accuracy on the clean holdout. AULC = mean over the "
        "curve; final = at the end of the budget. cleanlab's ActiveLab was not installed and is not run.",
        "",
        "A first measurement, smaller than the protocol's (/work/shared/BENCHMARK.md, 'Imperfect annotators': "
        "budget 600, seeds 0-4, 3-5 annotators with rates drawn from 5-40 %, ActiveLab, gold items): "
        "three seeds, one vendor, no paired test.",
        "",
        "| set | classes | plan | AULC | final | repeats per replay |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for plan, p in r["plans"].items():
            lines.append(
                f"| {r['set']} | {r['classes']} | {plan} | {p['aulc']:.4f} | {p['final']:.4f} | {p['repeats']:g} |"
            )
    lines += ["", "| plan | mean AULC | mean final |", "|---|---|---|"]
    for plan in PLANS:
        aulc = np.mean([r["plans"][plan]["aulc"] for r in results])
        final = np.mean([r["plans"][plan]["final"] for r in results])
        lines.append(f"| {plan} | {aulc:.4f} | {final:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--sets", default="digits,wine,breast_cancer,synth_6c")
    args = parser.parse_args()
    chosen = args.sets.split(",")
    results = []
    for name, (X, y) in datasets().items():
        if name in chosen:
            results.append(run_set(name, X, y, args))
            print(f"{name}: {results[-1]['seconds']} s", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "noisy_annotators.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    (RESULTS / "noisy_annotators.md").write_text(markdown(results, args))
    print(markdown(results, args))


if __name__ == "__main__":
    main()
