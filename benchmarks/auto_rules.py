"""Candidate rules for `auto`, measured under BENCHMARK.md's protocol before one was fixed (LR or RF, no peers).

    python benchmarks/auto_rules.py [--seeds 3] [--datasets a,b] [--rules auto,until3,margin] [--jobs 1] [--out NAME]

Each rule picks, each round, which alflow strategy chooses the batch; the loop, split, start and
model are label_efficiency.py's. Writes benchmarks/results/auto_rules.{json,md} (or NAME.{json,md}).
The datasets of label_efficiency.py's suites (tuned, held-out, checking) get separate means: a
rule is chosen on the tuned (public) suite and checked on the others.

  auto    the library's rule: TypiClust below 5 labels per class, then combined
  untilN  the same rule with N labels per class instead of 5 (until3 was auto's rule before)
  skill   decided from the data: TypiClust while the model's cross-validated Cohen's kappa on the
          labeled set is below 0.5 (it cannot tell the classes apart yet), then combined
  replay  decided from the data (after SelectAL, Hacohen & Weinshall 2023): three times, a third of the
          labeled set is held out, half the rest is a start and the other half a pool with known
          labels; each of combined, typiclust and entropy picks a third of that pool; the strategy
          whose picks give the best held-out accuracy chooses the real batch
  badge   decided by the data without a switch (BADGE, Ash et al. 2020): each pool item's gradient
          embedding (p - e_yhat) x [x, 1], the log-loss gradient for the model's own label, whose length
          is the model's uncertainty; k-means++ seeding in that space (the longest first, then by
          squared distance), so a batch is uncertain when the model knows something and diverse
          when it knows nothing. For LogisticRegression only (the embedding is its last layer's).
  margin  plain margin sampling, the strongest single peer of the protocol (any strategy's name runs
          that strategy throughout)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import label_efficiency as le
import numpy as np
from sklearn.base import clone
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

import alflow
from alflow.selection.registry import NAMES

RESULTS = Path(__file__).parent / "results"
HARD = ",".join(
    (
        *("digits", "synth_10c", "synth_10c_minority", "synth_2c_minority"),
        *("heldout_20c", "heldout_highdim", "heldout_noisy", "heldout_3c_imbalanced"),
    )
)
"""The sets where the strategies of the protocol differ most (the others are near their ceiling)."""


MODELS = {"lr": "LogisticRegression", "rf": "RandomForestClassifier"}


def _skill(model, X, y) -> float:
    _, counts = np.unique(y, return_counts=True)
    folds = int(min(5, counts.min()))
    if folds < 2:
        return 0.0
    predicted = cross_val_predict(clone(model), X, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    return float(cohen_kappa_score(y, predicted))


def _replay(model, X, y, rng) -> str:
    candidates, accuracy = ("combined", "typiclust", "entropy"), {}
    for r in range(3):
        order = rng.permutation(len(y))
        held, rest = order[: len(y) // 3], order[len(y) // 3 :]
        start, pool = rest[: len(rest) // 2], rest[len(rest) // 2 :]
        if np.unique(y[start]).size < 2:
            continue
        fitted = clone(model).fit(X[start], y[start])
        for name in candidates:
            picked = alflow.select_batch(
                fitted, X[pool], max(len(pool) // 3, 1), strategy=name,
                X_labeled=X[start], y_labeled=y[start], random_state=[r, 7],
            )  # fmt: skip
            rows = np.concatenate([start, pool[picked]])
            score = (clone(model).fit(X[rows], y[rows]).predict(X[held]) == y[held]).mean()
            accuracy.setdefault(name, []).append(score)
    return max(candidates, key=lambda n: np.mean(accuracy[n])) if accuracy else "typiclust"


def _badge(model, X, k, rng) -> np.ndarray:
    """k rows of X by k-means++ seeding over the gradient embeddings (the longest first)."""
    p = model.predict_proba(X)
    onehot = np.eye(p.shape[1])[p.argmax(axis=1)]
    G = ((p - onehot)[:, :, None] * np.hstack([X, np.ones((len(X), 1))])[:, None, :]).reshape(len(X), -1)
    chosen = [int(np.argmax((G * G).sum(axis=1)))]
    nearest = ((G - G[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < k:
        weights = nearest.copy()
        weights[chosen] = 0.0
        if weights.sum() <= 0:  # every item left coincides with a chosen one: any of them
            rest = np.setdiff1d(np.arange(len(X)), chosen)
            return np.array([*chosen, *rng.choice(rest, k - len(chosen), replace=False)])
        chosen.append(int(rng.choice(len(X), p=weights / weights.sum())))
        nearest = np.minimum(nearest, ((G - G[chosen[-1]]) ** 2).sum(axis=1))
    return np.array(chosen)


def strategy_for(rule: str, model, X, y, labeled, rs) -> str:
    if rule in NAMES:  # auto, or one strategy throughout
        return rule
    if np.unique(y[labeled]).size < 2:
        return "typiclust"
    if rule.startswith("until"):
        per_class = int(rule.removeprefix("until"))
        return "typiclust" if labeled.sum() < per_class * np.unique(y[labeled]).size else "combined"
    if rule == "badge":
        return "badge"
    if rule == "skill":
        return "typiclust" if _skill(model, X[labeled], y[labeled]) < 0.5 else "combined"
    if rule == "replay":
        return _replay(model, X[labeled], y[labeled], np.random.default_rng(rs))
    raise ValueError(f"unknown rule {rule!r}: use a strategy name, untilN, badge, skill or replay")


def run(dataset: str, rule: str, seed: int, model_name: str = "lr") -> dict:
    X, X_test, y, y_test = le.split(dataset, seed)
    labeled = np.zeros(len(y), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(y), le.START, replace=False)] = True
    curve, used, round_ = [], [], 0
    while True:
        model = clone(le.make_model(model_name, seed))
        if np.unique(y[labeled]).size > 1:
            model.fit(X[labeled], y[labeled])
            curve.append(float((model.predict(X_test) == y_test).mean()))
        else:
            curve.append(float((y_test == y[labeled][0]).mean()))
        n = int(labeled.sum())
        if n >= min(le.BUDGET, len(y)):
            break
        k = min(le.BATCH, le.BUDGET - n, len(y) - n)
        name = strategy_for(rule, model, X, y, labeled, [seed, round_])
        unlabeled = np.flatnonzero(~labeled)
        if name == "badge":
            picked = _badge(model, X[unlabeled], k, np.random.default_rng([seed, round_]))
            labeled[unlabeled[picked]] = True
            used.append(name)
            round_ += 1
            continue
        chosen = alflow.select(
            model,
            X[unlabeled],
            k,
            strategy=name,
            X_labeled=X[labeled],
            y_labeled=y[labeled],
            random_state=[seed, round_],
        )
        labeled[unlabeled[chosen.indices]] = True
        used.append(chosen.strategy)
        round_ += 1
    return {
        "dataset": dataset,
        "model": model_name,
        "rule": rule,
        "seed": seed,
        "aulc": float(np.mean(curve)),
        "used": used,
    }


def markdown(results: list[dict], datasets: list[str], rules: list[str], command: str, load) -> str:
    lines = [
        f"# Candidate rules for auto (BENCHMARK.md protocol, {MODELS[results[0]['model']]})",
        "",
        f"Produced by `{command}`. AULC mean ± std over seeds; after each suite's datasets, the mean over them "
        "and each rule's worst difference to the best rule of a dataset. "
        f"Load average {', '.join(f'{x:.2f}' for x in load[0])} at the start, "
        f"{', '.join(f'{x:.2f}' for x in load[1])} at the end.",
        "",
        "| dataset | " + " | ".join(rules) + " |",
        "|---|" + "---|" * len(rules),
    ]
    for suite, members in le.SUITES.items():
        chosen = [d for d in datasets if d in members]
        if not chosen:
            continue
        means: dict[str, list[float]] = {r: [] for r in rules}
        gaps: dict[str, list[float]] = {r: [] for r in rules}
        for d in chosen:
            cell = {r: [x["aulc"] for x in results if x["dataset"] == d and x["rule"] == r] for r in rules}
            best = max(np.mean(v) for v in cell.values())
            for r in rules:
                means[r].append(float(np.mean(cell[r])))
                gaps[r].append(float(np.mean(cell[r]) - best))
            lines.append(f"| {d} | " + " | ".join(f"{np.mean(v):.4f} ± {np.std(v):.4f}" for v in cell.values()) + " |")
        lines.append(f"| **mean, {suite} suite** | " + " | ".join(f"**{np.mean(means[r]):.4f}**" for r in rules) + " |")
        lines.append(
            f"| worst gap to the best rule, {suite} suite | " + " | ".join(f"{min(gaps[r]):+.4f}" for r in rules) + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=HARD)
    parser.add_argument("--rules", default="auto,skill,replay,margin")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--model", choices=("lr", "rf"), default="lr")
    parser.add_argument("--out", default="auto_rules")
    args = parser.parse_args()
    datasets, rules = args.datasets.split(","), args.rules.split(",")
    jobs = [(d, r, s, args.model) for d in datasets for r in rules for s in range(args.seeds)]
    load_start = os.getloadavg()
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run, *zip(*jobs, strict=True), chunksize=1))
    load = (load_start, os.getloadavg())
    command = f"python benchmarks/auto_rules.py --seeds {args.seeds} --datasets {args.datasets} --rules {args.rules}"
    command += f" --model {args.model}" if args.model != "lr" else ""
    command += f" --out {args.out}" if args.out != "auto_rules" else ""
    RESULTS.mkdir(exist_ok=True)
    payload = {"command": command, "wall_seconds": time.perf_counter() - started, "results": results}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(results, datasets, rules, command, load))
    print((RESULTS / f"{args.out}.md").read_text())


if __name__ == "__main__":
    main()
