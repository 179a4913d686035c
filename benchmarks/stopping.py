"""Stopping without a holdout: where stabilising predictions stop, against the whole budget and the holdout rules.

    nice -n 10 python benchmarks/stopping.py [--seeds 3] [--budget 300] [--strategy auto] [--datasets a,b]

Each campaign follows /work/shared/BENCHMARK.md's protocol where it can (70/30 stratified split
with random_state=seed, 20 random seed labels, the logistic-regression preset, batches of 10, a
300-label budget), replayed by `alflow simulate`'s library call (`simulate.learning_curve`) with
a stop set: `min(1000, pool // 4)` pool items drawn as a round draws them, never asked, predicted by
every round's model (so the budget is capped at the pool less the stop set). Then, on the same
replay, where each rule stops (the labels bought and the test accuracy there):

- **budget**: never stop early (the whole budget);
- **stable 0.99/3** (`stopping.stable_predictions`, alflow's defaults): the mean Cohen's kappa of
  the last 3 successive models on the stop set reaches 0.99; no labels needed;
- **small-text KappaAverage 0.99/3**: small-text's implementation fed the same predictions
  (run when `small-text` is installed: the `bench` extra);
- **target 98 %**: accuracy on the holdout reaches 98 % of the model fit on the whole pool;
- **patience 4**: holdout accuracy does not improve for 4 rounds.

The holdout rules read a labeled holdout (here the 30 % test split: its size is in the table), which
the stabilising rule does not need. Accuracy is always the test split's. A rule that never fires
stops at the budget. Writes benchmarks/results/stopping.{json,md}; every number in the Markdown
comes from the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import yaml
from forecast import DATASETS  # the forecast benchmark's six sets, the same replays (benchmarks/ on the path)
from sklearn.model_selection import train_test_split

from alflow.config import load_campaign
from alflow.ledger.stopset import f1_bound
from alflow.operations.simulate import full_data_score, learning_curve, load_problem, stop_set_rows
from alflow.operations.stopping import patience_stop, stable_stop, successive_kappas, target_stop

RESULTS = Path(__file__).parent / "results"
START, BATCH, KAPPA, WINDOW, PATIENCE, TARGET = 20, 10, 0.99, 3, 4, 0.98
RULES = ("budget", "stable", "small_text", "target", "patience")


def write_campaign(folder: Path, X: np.ndarray, y: np.ndarray, *, seed: int, budget: int, strategy: str) -> Path:
    """A campaign over (X, y) whose pool holds the answers in `truth`: the protocol's split and seed labels."""
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.insert(0, "id", [f"item-{i:05d}" for i in range(len(frame))])
    frame["truth"] = y.astype(str)
    pool, holdout = train_test_split(frame, test_size=0.3, random_state=seed, stratify=frame["truth"])
    seeds = pool.iloc[np.random.default_rng(seed).choice(len(pool), START, replace=False)]
    (folder / "data").mkdir(parents=True)
    pool.to_csv(folder / "data" / "pool.csv", index=False)
    seeds[["id", "truth"]].rename(columns={"truth": "label"}).to_csv(folder / "data" / "seed.csv", index=False)
    holdout.drop(columns="id").rename(columns={"truth": "label"}).to_csv(folder / "data" / "holdout.csv", index=False)
    campaign = {
        "campaign": "stopping",
        "pool": {"uri": "data/pool.csv", "id_column": "id", "feature_columns": [c for c in frame if c.startswith("f")]},
        "seed_labels": {"uri": "data/seed.csv", "label_column": "label"},
        "holdout": {"uri": "data/holdout.csv", "label_column": "label"},
        "classes": sorted(set(frame["truth"])),
        "model": {"preset": "logistic_regression"},
        "strategy": {"name": strategy, "batch_size": BATCH},
        "budget": {"max_labels": budget},
        "stopping": {"metric": "accuracy", "stable_predictions": {"kappa": KAPPA, "rounds": WINDOW}},
        "vendor": {"bucket": "bucket"},
        "tracking": {"uri": "sqlite:///mlflow.db"},
        "seed": seed,
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path


def small_text_stop(predictions: list[np.ndarray], classes: list[str]) -> int | None:
    """Where small-text's KappaAverage stops the same predictions; None when it never does."""
    from small_text.stopping_criteria.kappa import KappaAverage

    criterion = KappaAverage(len(classes), window_size=WINDOW, kappa=KAPPA)
    codes = {c: i for i, c in enumerate(classes)}
    for i, predicted in enumerate(predictions):
        if criterion.stop(predictions=np.array([codes[p] for p in predicted])):
            return i
    return None


def replay(name: str, seed: int, args: argparse.Namespace) -> dict:
    """One replayed campaign and where each rule stops it."""
    X, y = DATASETS[name]()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_campaign(write_campaign(Path(tmp), X, y, seed=seed, budget=args.budget, strategy=args.strategy))
        problem = load_problem(config, answers="truth", seed=seed)
        full = full_data_score(config, problem, seed=seed)
        stop_set = stop_set_rows(problem, min(1000, len(problem.y_pool) // 4), seed=seed)
        started = time.monotonic()
        run = learning_curve(config, problem, strategy=args.strategy, seed=seed, stop_set=stop_set)
        seconds = time.monotonic() - started
    curve, last = run.curve, len(run.curve) - 1
    kappas = successive_kappas(run.stop_predictions)
    found = {
        "budget": None,
        "stable": stable_stop(run.stop_predictions, kappa=KAPPA, rounds=WINDOW),
        "small_text": small_text_stop(run.stop_predictions, list(config.classes)) if args.small_text else None,
        "target": target_stop(curve, TARGET * full),
        "patience": patience_stop(curve, PATIENCE),
    }
    stops = {
        rule: {"round": at if at is not None else last, "fired": at is not None}
        | {"labels": curve[at if at is not None else last][0], "accuracy": curve[at if at is not None else last][1]}
        for rule, at in found.items()
        if rule != "small_text" or args.small_text
    }
    at = found["stable"]
    return {
        "dataset": name,
        "seed": seed,
        "classes": len(config.classes),
        "pool": len(problem.y_pool),
        "holdout": len(problem.y_test),
        "stop_set": len(stop_set),
        "full_score": full,
        "curve": curve,
        "kappas": kappas,
        "stops": stops,
        "kappa_at_stable_stop": kappas[at - 1] if at else None,
        "f1_bound_at_stable_stop": f1_bound(kappas[at - 1]) if at else None,
        "seconds": round(seconds, 1),
    }


def summarise(runs: list[dict], rules: tuple[str, ...]) -> list[dict]:
    """Per dataset and rule: how often it fired, labels and accuracy at the stop (means over seeds),
    against the whole budget."""
    rows = []
    for name in dict.fromkeys(r["dataset"] for r in runs):
        mine = [r for r in runs if r["dataset"] == name]
        budget_labels = np.mean([r["stops"]["budget"]["labels"] for r in mine])
        budget_accuracy = np.mean([r["stops"]["budget"]["accuracy"] for r in mine])
        for rule in rules:
            stops = [r["stops"][rule] for r in mine]
            labels, accuracy = np.mean([s["labels"] for s in stops]), np.mean([s["accuracy"] for s in stops])
            rows.append(
                {
                    "dataset": name,
                    "classes": mine[0]["classes"],
                    "holdout": mine[0]["holdout"],
                    "stop_set": mine[0]["stop_set"],
                    "rule": rule,
                    "fired": sum(s["fired"] for s in stops),
                    "seeds": len(stops),
                    "labels": float(labels),
                    "accuracy": float(accuracy),
                    "labels_saved": float(budget_labels - labels),
                    "accuracy_lost": float(budget_accuracy - accuracy),
                    "full_score": float(np.mean([r["full_score"] for r in mine])),
                }
            )
    return rows


NAMES = {
    "budget": "whole budget",
    "stable": f"alflow stable_predictions {KAPPA}/{WINDOW}",
    "small_text": f"small-text KappaAverage {KAPPA}/{WINDOW}",
    "target": f"holdout target {TARGET:.0%} of full",
    "patience": f"holdout patience {PATIENCE}",
}


def markdown(result: dict) -> str:
    args, rows = result["args"], result["rows"]
    lines = [
        "# Stopping without a holdout: where each rule stops",
        "",
        f"`{result['command']}`; {result['machine']}. Strategy {args['strategy']}, budget {args['budget']} labels "
        f"(20 seed labels included), batches of {BATCH}, seeds {args['seeds']}, logistic-regression preset; "
        "a stop set of min(1000, pool/4) pool items, never asked. Labels and accuracy (on the 30 % test split) "
        "at the stop, means over seeds; a rule that never fires counts as stopping at the budget. "
        "The holdout rules read the test split as their labeled holdout (size in the table): labels the "
        "stabilising rule does not need, not counted in their labels column.",
        "",
        "| dataset | classes | holdout | stop set | rule | fired | labels | accuracy | labels saved | accuracy lost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['classes']} | {r['holdout']} | {r['stop_set']} | {NAMES[r['rule']]} | "
            f"{r['fired']}/{r['seeds']} | {r['labels']:.0f} | {r['accuracy']:.3f} | {r['labels_saved']:.0f} | "
            f"{r['accuracy_lost']:+.3f} |"
        )
    lines += ["", *result["notes"], ""]
    return "\n".join(lines)


def notes(runs: list[dict], rows: list[dict], small_text: bool) -> list[str]:
    """What the table says, computed from it."""
    stable = [r for r in rows if r["rule"] == "stable"]
    fired = sum(r["fired"] for r in stable)
    total = sum(r["seeds"] for r in stable)
    worst = max(stable, key=lambda r: r["accuracy_lost"])
    bounds = [r["f1_bound_at_stable_stop"] for r in runs if r["f1_bound_at_stable_stop"] is not None]
    out = [
        f"- The stabilising rule fired in {fired} of {total} replays; on average it saved "
        f"{np.mean([r['labels_saved'] for r in stable]):.0f} labels against the whole budget, losing at most "
        f"{worst['accuracy_lost']:.3f} accuracy ({worst['dataset']}) and "
        f"{np.mean([r['accuracy_lost'] for r in stable]):.3f} on average.",
    ]
    if bounds:
        out.append(
            f"- At its stops the last kappa implied F1 changes of at most {min(bounds):.3f}-{max(bounds):.3f} between "
            "the last two models (Bloodgood and Grothendieck's bound, proven for two classes): a statement about "
            "how much the model still moved, not about the accuracy still to gain."
        )
    if small_text:
        same = sum(r["stops"]["stable"]["round"] == r["stops"]["small_text"]["round"] for r in runs)
        out.append(
            f"- small-text's KappaAverage stopped at the same round as alflow's rule in {same} of {len(runs)} replays."
        )
    else:
        out.append("- small-text is not installed here: its KappaAverage was not run (`pip install -e '.[bench]'`).")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", default="stopping")
    args = parser.parse_args()
    try:
        import small_text  # noqa: F401
    except ImportError:
        args.small_text = False
    else:
        args.small_text = True
    rules = tuple(r for r in RULES if r != "small_text" or args.small_text)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    runs = []
    for name in args.datasets.split(","):
        for seed in range(args.seeds):
            runs.append(replay(name, seed, args))
            print(f"{name} seed {seed}: {runs[-1]['stops']['stable']} ({runs[-1]['seconds']} s)", flush=True)
    rows = summarise(runs, rules)
    load = os.getloadavg()
    result = {
        "command": f"nice -n 10 python benchmarks/stopping.py --seeds {args.seeds} --budget {args.budget} "
        f"--strategy {args.strategy}" + ("" if args.datasets == ",".join(DATASETS) else f" --datasets {args.datasets}"),
        "machine": f"{os.cpu_count()} cores, load average {load_before:.1f} at the start and {load[0]:.1f} at the end, "
        f"{time.monotonic() - started:.0f} s in all",
        "args": {k: v for k, v in vars(args).items()},
        "rows": rows,
        "runs": runs,
        "notes": notes(runs, rows, args.small_text),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
