"""Diagnostics for `auto`'s pick stage on the label-efficiency protocol (one process, LR, no peers).

    python benchmarks/pick_variants.py STRATEGY DATASETS VARIANTS SEEDS
    e.g. python benchmarks/pick_variants.py auto heldout_highdim,digits base,topk,proba 5

Swaps how `combined` (auto after its warm-up) picks k of its margin candidates, by patching
`alflow.selection.scoring._pick` and the registry's `combined` entry in this process only; prints
one line per (dataset, variant): mean ± std AULC and the per-seed AULCs (seeds 0..SEEDS-1, the
protocol's split/start/loop from label_efficiency.py).
  base       the library as is: weighted k-means in the standardised input space (m = 10k candidates)
  proba      the same k-means on the model's predict_proba rows
  logit      the same k-means on the model's decision_function
  relevance  the input space with each feature scaled by the model's |coef_| (or feature_importances_)
  os3, os5, os20  base with m = 3k, 5k, 20k candidates
  topk       no diversity: the k highest margins (auto = typiclust warm-up, then plain margin)
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from dataclasses import replace

import label_efficiency as le
import numpy as np

from alflow.selection import diversity, registry, scoring

orig_pick, combined = scoring._pick, registry.STRATEGIES["combined"]
VARIANT = {"v": "base"}


def pick(strategy, ctx, Xc, scores, k, rng):
    v = VARIANT["v"]
    if strategy.name != "combined" or v in ("base", "os3", "os5", "os20"):
        return orig_pick(strategy, ctx, Xc, scores, k, rng)
    if v == "proba":
        Z = ctx.model.predict_proba(Xc)
        return diversity.kmeans_representatives(Z, k, weights=scores + 1e-9, rng=rng)
    if v == "relevance":
        Z = ctx.embed(Xc)
        Zl = ctx.embed(ctx.X_labeled)
        Z, _ = scoring._standardise(Z, Zl)
        m = ctx.model
        imp = np.sqrt((np.atleast_2d(m.coef_) ** 2).sum(axis=0)) if hasattr(m, "coef_") else m.feature_importances_
        w = imp / imp.max()
        return diversity.kmeans_representatives(Z * w, k, weights=scores + 1e-9, rng=rng)
    if v == "logit":
        Z = ctx.model.decision_function(Xc)
        Z = Z.reshape(len(Z), -1)
        return diversity.kmeans_representatives(Z, k, weights=scores + 1e-9, rng=rng)
    if v == "topk":
        return np.arange(k)  # candidates arrive best first
    raise ValueError(v)


def count(k, oversample):
    v = VARIANT["v"]
    if v.startswith("os"):
        return k * int(v[2:])
    return combined.candidates(k, oversample)


def main() -> None:
    scoring._pick = pick
    registry.STRATEGIES["combined"] = replace(combined, candidates=count)
    strategy, datasets, variants, seeds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), int(sys.argv[4])
    for d in datasets:
        for v in variants:
            VARIANT["v"] = v
            t = time.time()
            a = [float(np.mean(le._run(d, "lr", strategy, s)["curve"])) for s in range(seeds)]
            print(
                f"{d:24s} {strategy:9s} {v:6s} {np.mean(a):.4f} ± {np.std(a):.4f}  "
                f"{' '.join(f'{x:.4f}' for x in a)}  ({time.time() - t:.0f}s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
