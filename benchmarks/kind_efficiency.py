"""Label efficiency for tags and numbers (BENCHMARK.md's protocol, adapted per kind): alflow's strategies
of each kind vs random, modAL, scikit-activeml and small-text (tags: CVIRS), in one harness.

    python benchmarks/kind_efficiency.py [--quick] [--kinds multi,number] [--seeds 5] [--jobs 2]

Needs the `bench` extra (modAL-python, scikit-activeml). Writes benchmarks/results/kind_efficiency.{json,md}
(`--out NAME`; `--quick` writes kind_efficiency_quick.*: two sets a kind, two seeds, budget 60).

Loop: a 70 % pool / 30 % test split (stratified on the most frequent tag for tags), features
standardised on the pool, 20 random start labels, batch 10, budget 100. The model is alflow's
LabelModel with the kind's preset (tags: one-vs-rest LogisticRegression; numbers: Ridge), refit
after every batch; the model that selects is the model that is scored, except where a peer needs
a model of its own (say so below). Scores: macro F1 (tags; micro F1 too), R² (numbers; clipped at 0
for the AULC; RMSE too). AULC = the mean of the score over the curve (20, 30, ..., budget).

Data sets come in two suites, written down before any strategy ran: `choice` (where `auto` per
kind may be chosen) and `check` (where a choice made on `choice` is checked). Every number in the
Markdown comes from the JSON written in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_friedman1,
    make_friedman2,
    make_friedman3,
    make_multilabel_classification,
    make_regression,
)
from sklearn.metrics import f1_score, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

RESULTS = Path(__file__).parent / "results"
START, BATCH = 20, 10
BUDGET = 100
SLOW_CANDIDATES = 25
"""scikit-activeml's EMVR and KL-divergence maximisation score this many random unlabeled items a round."""

# --- data ------------------------------------------------------------------------------------------


def _digit_tags(groups: dict[str, set[int]]) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """Real inputs (sklearn's 8x8 handwritten digits, 1,797 images) with tags derived from the digit."""

    def load():
        X, digit = load_digits(return_X_y=True)
        return X, np.column_stack([np.isin(digit, sorted(g)) for g in groups.values()]).astype(int)

    return load


def _multilabel(**kw) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    return lambda: make_multilabel_classification(**{"n_samples": 1000, "n_features": 20, **kw})


def _cancer_fractal():
    """Real: breast-cancer cell nuclei (569); predict 'mean fractal dimension' from the 'mean' measures
    other than fractal dimension (a real measured column, not a generated function)."""
    data = load_breast_cancer()
    names = list(data.feature_names)
    target = names.index("mean fractal dimension")
    inputs = [i for i, n in enumerate(names) if n.startswith("mean ") and i != target]
    return data.data[:, inputs], data.data[:, target]


DATASETS: dict[str, dict[str, tuple[str, Callable[[], tuple[np.ndarray, np.ndarray]]]]] = {
    "multi": {
        # choice suite
        "ml_5tags": ("choice", _multilabel(n_classes=5, n_labels=2, random_state=101)),
        "ml_10tags": ("choice", _multilabel(n_classes=10, n_labels=3, random_state=102)),
        "digits_tags": (
            "choice",
            _digit_tags(
                {"even": {0, 2, 4, 6, 8}, "prime": {2, 3, 5, 7}, "large": {5, 6, 7, 8, 9}, "loop": {0, 6, 8, 9}}
            ),
        ),
        # check suite
        "ml_8tags_rare": ("check", _multilabel(n_classes=8, n_labels=1, random_state=201)),
        "ml_15tags": ("check", _multilabel(n_classes=15, n_labels=4, n_features=30, random_state=202)),
        "digits_strokes": (
            "check",
            _digit_tags(
                {
                    "bar": {2, 4, 5, 7},
                    "upright": {1, 4, 7},
                    "curve": {0, 2, 3, 5, 6, 8, 9},
                    "two_loops": {8},
                    "open_top": {4, 6},
                    "small_first": {0, 1, 2},
                }
            ),
        ),
    },
    "number": {
        "friedman1": ("choice", lambda: make_friedman1(1000, n_features=10, noise=1.0, random_state=101)),
        "friedman2": ("choice", lambda: make_friedman2(1000, noise=100.0, random_state=102)),
        "diabetes": ("choice", lambda: load_diabetes(return_X_y=True)),
        "friedman3": ("check", lambda: make_friedman3(1000, noise=0.1, random_state=201)),
        "linear_lowrank": (
            "check",
            lambda: make_regression(
                1000, n_features=50, n_informative=5, effective_rank=8, noise=5.0, random_state=202
            ),
        ),
        "cancer_fractal": ("check", _cancer_fractal),
    },
}
"""kind -> set -> (suite, loader). `linnerud` (20 rows) is too small for a budget of 100 and California
housing downloads, so neither is used; the real sets are digits (tags derived from the digit) and
diabetes and breast cancer (numbers), all shipped inside scikit-learn."""

ALFLOW = {
    "multi": ["auto", "binary_minimum", "max_loss", "mean_max_loss", "min_confidence", "avg_confidence", "typiclust"],
    "number": ["auto", "igs", "committee_variance", "gsx", "typiclust"],
}
PEERS = {
    "multi": [
        "modal_svm_binary_minimum",
        "modal_max_loss",
        "modal_mean_max_loss",
        "modal_min_confidence",
        "modal_avg_confidence",
        "smalltext_cvirs",
    ],
    "number": [
        "modal_committee_max_std",
        "skal_gsx",
        "skal_gsy",
        "skal_igs",
        "skal_qbc",
        "skal_emc",
        "skal_emvr",
        "skal_kldiv",
    ],
}


def _kind(kind: str, n_tags: int):
    from alflow.kinds import LabelKind

    return LabelKind("multi", tuple(f"t{i}" for i in range(n_tags))) if kind == "multi" else LabelKind("number")


def split(kind: str, dataset: str, seed: int):
    """Standardised pool and test inputs, their targets (a 0/1 tag matrix or floats)."""
    X, Y = DATASETS[kind][dataset][1]()
    X, Y = np.asarray(X, dtype=float), np.asarray(Y)
    strata = Y[:, np.argmax(Y.sum(axis=0))] if kind == "multi" else None
    X_pool, X_test, Y_pool, Y_test = train_test_split(X, Y, test_size=0.3, random_state=seed, stratify=strata)
    scaler = StandardScaler().fit(X_pool)
    return scaler.transform(X_pool), scaler.transform(X_test), Y_pool, Y_test


def as_text(kind: str, Y: np.ndarray) -> np.ndarray:
    """The targets as label text, as a vendor delivers them (alflow.kinds' spellings)."""
    from alflow.kinds import spell_number, spell_tags

    if kind == "number":
        return np.asarray([spell_number(v) for v in Y], dtype=object)
    return np.asarray([spell_tags(f"t{j}" for j in np.flatnonzero(row)) for row in Y], dtype=object)


MODELS = ("default", "random_forest")
"""`--model`: `default` is the kind's preset (tags: logistic_regression, numbers: ridge); `random_forest` is
alflow's random_forest preset of the kind with the protocol's 100 trees."""


def make_model(kind: str, n_tags: int, seed: int, model: str = "default"):
    from alflow.config.schema import ModelConfig
    from alflow.model import targets

    if model == "random_forest":
        config = ModelConfig(preset="random_forest", params={"n_estimators": 100})
    else:
        config = ModelConfig(preset="logistic_regression" if kind == "multi" else "ridge")
    return targets.build_model(config, _kind(kind, n_tags), seed=seed)


def score(kind: str, model, X_test: np.ndarray, Y_test: np.ndarray) -> dict[str, float]:
    predicted = np.asarray(model.predict_target(X_test))
    if kind == "multi":
        return {
            "f1_macro": float(f1_score(Y_test, predicted, average="macro", zero_division=0)),
            "f1_micro": float(f1_score(Y_test, predicted, average="micro", zero_division=0)),
        }
    return {"r2": float(r2_score(Y_test, predicted)), "rmse": float(np.sqrt(mean_squared_error(Y_test, predicted)))}


# --- one batch -------------------------------------------------------------------------------------


def query(kind: str, strategy: str, model, X, Y, labeled: np.ndarray, k: int, rs: int) -> np.ndarray:
    """Indices into the pool X of the next batch; `labeled` is a boolean mask."""
    unlabeled = np.flatnonzero(~labeled)
    if strategy == "random":
        return np.random.default_rng(rs).choice(unlabeled, k, replace=False)
    if strategy.startswith("modal_"):
        return unlabeled[_modal(strategy, model, X, Y, labeled, unlabeled, k, rs)]
    if strategy.startswith("skal_"):
        return np.asarray(_skactiveml(strategy, model, X, Y, labeled, k, rs))
    if strategy == "smalltext_cvirs":
        return _smalltext_cvirs(model, X, Y, labeled, k)
    import alflow

    chosen = alflow.select(
        model,
        X[unlabeled],
        k,
        strategy=strategy,
        X_labeled=X[labeled],
        y_labeled=as_text(kind, Y[labeled]),
        random_state=rs,
    )
    USED.append(chosen.strategy)
    return unlabeled[chosen.indices]


USED: list[str] = []  # the strategy alflow ran for each batch of the current curve (auto decides each round)


def _modal(strategy, model, X, Y, labeled, unlabeled, k, rs) -> np.ndarray:
    from modAL import multilabel

    X_unl = X[unlabeled]
    if strategy == "modal_committee_max_std":
        from modAL.disagreement import max_std_sampling
        from modAL.models import ActiveLearner, CommitteeRegressor

        np.random.seed(rs % 2**32)  # modAL draws its bootstrap samples from numpy's global generator
        members = [
            ActiveLearner(
                estimator=clone(model.estimator), X_training=X[labeled], y_training=Y[labeled], bootstrap_init=True
            )
            for _ in range(5)
        ]
        picked = max_std_sampling(CommitteeRegressor(learner_list=members), X_unl, n_instances=k)
        return np.asarray(picked[0] if isinstance(picked, tuple) else picked).ravel()
    if strategy == "modal_svm_binary_minimum":
        return _svm_binary_minimum(X[labeled], Y[labeled], X_unl, k)
    measure = {
        "modal_max_loss": multilabel.max_loss,
        "modal_mean_max_loss": multilabel.mean_max_loss,
        "modal_min_confidence": multilabel.min_confidence,
        "modal_avg_confidence": multilabel.avg_confidence,
    }[strategy]
    picked = measure(model.fitted_, X_unl, n_instances=k)  # the fitted one-vs-rest pipeline
    return np.asarray(picked[0] if isinstance(picked, tuple) else picked).ravel()


def _svm_binary_minimum(X_labeled, Y_labeled, X_unl, k) -> np.ndarray:
    """modAL's SVM_binary_minimum with a one-vs-rest linear SVM fit on the labels (it needs SVMs'
    decision functions); it returns one item, so it is asked k times, each pick removed (modAL's loop)."""
    from modAL.models import ActiveLearner
    from modAL.multilabel import SVM_binary_minimum
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    learner = ActiveLearner(
        estimator=OneVsRestClassifier(SVC(kernel="linear")), X_training=X_labeled, y_training=Y_labeled
    )
    left, picked = np.arange(len(X_unl)), []
    for _ in range(k):
        i = SVM_binary_minimum(learner, X_unl[left])
        i = int(np.asarray(i[0] if isinstance(i, tuple) else i).ravel()[0])
        picked.append(left[i])
        left = np.delete(left, i)
    return np.asarray(picked)


def _smalltext_cvirs(model, X, Y, labeled, k) -> np.ndarray:
    """small-text's CategoryVectorInconsistencyAndRanking (CVIRS; Reyes et al. 2018), its only multi-label
    strategy in small-text 1.4 (the rest are single-label or need torch). It reads the classifier's
    (n, n_tags) probabilities and the labeled tag matrix; the classifier handed to it is a small-text
    `Classifier` over the harness's fitted model (`_SmallTextView`), so it ranks by the probabilities of the
    model that is scored, whichever model that is (small-text's own SklearnClassifier(multi_label=True)
    would wrap the same one-vs-rest LogisticRegression and refit it)."""
    from scipy.sparse import csr_matrix
    from small_text.data import SklearnDataset
    from small_text.query_strategies import CategoryVectorInconsistencyAndRanking

    dataset = SklearnDataset(X, csr_matrix(Y), target_labels=np.arange(Y.shape[1]))
    strategy = CategoryVectorInconsistencyAndRanking(pbar=None)
    picked = strategy.query(
        _SmallTextView(model), dataset, np.flatnonzero(~labeled), np.flatnonzero(labeled), csr_matrix(Y[labeled]), n=k
    )
    return np.asarray(picked)


class _SmallTextView:
    """The harness's fitted LabelModel as small-text's Classifier interface sees it (predict_proba of a dataset)."""

    def __init__(self, model) -> None:
        self.model = model

    def fit(self, train_set, weights=None):  # pragma: no cover - small-text's strategies do not fit
        raise NotImplementedError

    def predict_proba(self, data_set) -> np.ndarray:
        return self.model.label_proba(data_set.x)

    def predict(self, data_set, return_proba=False):
        proba = self.predict_proba(data_set)
        return ((proba > 0.5).astype(int), proba) if return_proba else (proba > 0.5).astype(int)


def _skactiveml(strategy, model, X, Y, labeled, k, rs):
    """scikit-activeml's regression strategies with the model's own regressor (Ridge, or the forest of
    `--model random_forest`, whose trees are QBC's committee); EMVR and KL need BayesianRidge."""
    from skactiveml import pool
    from skactiveml.regressor import SklearnNormalRegressor, SklearnRegressor
    from sklearn.ensemble import BaggingRegressor
    from sklearn.linear_model import BayesianRidge, Ridge
    from sklearn.pipeline import make_pipeline

    y = np.full(len(Y), np.nan)
    y[labeled] = Y[labeled]
    forest = hasattr(model.estimator, "n_estimators")
    reg = SklearnRegressor(clone(model.estimator), random_state=rs)  # the ridge preset or the forest
    if strategy == "skal_gsx":
        return pool.GreedySamplingX(random_state=rs).query(X, y, batch_size=k)
    if strategy in ("skal_gsy", "skal_igs"):
        method = "GSy" if strategy == "skal_gsy" else "GSi"
        return pool.GreedySamplingTarget(method=method, random_state=rs).query(X, y, reg=reg, batch_size=k)
    if strategy == "skal_qbc" and forest:  # the forest's trees are the committee (its `estimators_`)
        return pool.QueryByCommittee(random_state=rs).query(X, y, ensemble=reg, batch_size=k)
    if strategy == "skal_qbc":
        bagging = SklearnRegressor(
            BaggingRegressor(make_pipeline(StandardScaler(), Ridge()), n_estimators=5, random_state=rs), random_state=rs
        )
        return pool.QueryByCommittee(random_state=rs).query(X, y, ensemble=bagging, batch_size=k)
    if strategy == "skal_emc":
        return pool.ExpectedModelChangeMaximization(random_state=rs).query(X, y, reg=reg, batch_size=k)
    # EMVR and KL divergence need a regressor that predicts a distribution: Bayesian ridge (Ridge with its
    # variance; the inputs are standardised already). They refit it for every candidate and integration
    # point (about 30-80 ms a candidate here), so they score a random sample of the unlabeled items,
    # through scikit-activeml's own `candidates` argument.
    normal = SklearnNormalRegressor(BayesianRidge(), random_state=rs)
    unlabeled = np.flatnonzero(~labeled)
    candidates = np.random.default_rng(rs).choice(unlabeled, min(SLOW_CANDIDATES, unlabeled.size), replace=False)
    qs = pool.ExpectedModelVarianceReduction if strategy == "skal_emvr" else pool.KLDivergenceMaximization
    return qs(random_state=rs).query(X, y, reg=normal, candidates=candidates, batch_size=k)


# --- one curve -------------------------------------------------------------------------------------


def run(kind: str, dataset: str, strategy: str, seed: int, budget: int, model: str = "default") -> dict:
    """One learning curve. A peer that raises is recorded with its error (and left out of the means)."""
    try:
        return _run(kind, dataset, strategy, seed, budget, model)
    except Exception as error:
        if not strategy.startswith(("modal_", "skal_", "smalltext_")):
            raise
        return {"kind": kind, "dataset": dataset, "strategy": strategy, "seed": seed, "error": repr(error)}


def _run(kind: str, dataset: str, strategy: str, seed: int, budget: int, model_name: str = "default") -> dict:
    X, X_test, Y, Y_test = split(kind, dataset, seed)
    n_tags = Y.shape[1] if kind == "multi" else 0
    labeled = np.zeros(len(Y), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(Y), START, replace=False)] = True
    curve: list[dict[str, float]] = []
    seconds: list[float] = []
    USED.clear()
    round_ = 0
    while True:
        model = make_model(kind, n_tags, seed, model_name).fit(X[labeled], as_text(kind, Y[labeled]))
        curve.append(score(kind, model, X_test, Y_test))
        n = int(labeled.sum())
        if n >= min(budget, len(Y)):
            break
        k = min(BATCH, budget - n, len(Y) - n)
        started = time.perf_counter()
        picked = np.asarray(query(kind, strategy, model, X, Y, labeled, k, seed * 1000 + round_))
        seconds.append(time.perf_counter() - started)
        if picked.size != k or labeled[picked].any():
            raise RuntimeError(f"{strategy} returned a bad batch {picked}")
        labeled[picked] = True
        round_ += 1
    return {
        "kind": kind,
        "dataset": dataset,
        "strategy": strategy,
        "seed": seed,
        "model": model_name,
        "curve": curve,
        "seconds": seconds,
        "used": list(USED),
        "n_test": len(Y_test),
        "target_std": float(np.std(Y)) if kind == "number" else None,
    }


# --- figures ---------------------------------------------------------------------------------------

MAIN = {"multi": "f1_macro", "number": "r2"}


def aulc(kind: str, curve: list[dict[str, float]]) -> float:
    values = [point[MAIN[kind]] for point in curve]
    return float(np.mean(np.clip(values, 0.0, None) if kind == "number" else values))


def summarise(runs: list[dict]) -> dict:
    """kind -> dataset -> strategy -> AULC by seed, its mean and spread, the last point, selection seconds."""
    groups: dict = {}
    for r in runs:
        groups.setdefault((r["kind"], r["dataset"], r["strategy"]), []).append(r)
    out: dict = {}
    for (kind, dataset, strategy), rs in sorted(groups.items()):
        ok = [r for r in rs if "error" not in r]
        if not ok:
            out.setdefault(kind, {}).setdefault(dataset, {})[strategy] = {"errors": [r["error"] for r in rs]}
            continue
        by_seed = {r["seed"]: aulc(kind, r["curve"]) for r in ok}
        other = "f1_micro" if kind == "multi" else "rmse"
        used: dict[str, int] = {}
        for r in ok:
            for s in r["used"]:
                used[s] = used.get(s, 0) + 1
        out.setdefault(kind, {}).setdefault(dataset, {})[strategy] = {
            "aulc_by_seed": by_seed,
            "aulc_mean": float(np.mean(list(by_seed.values()))),
            "aulc_std": float(np.std(list(by_seed.values()), ddof=1)) if len(by_seed) > 1 else 0.0,
            "last_main": float(np.mean([r["curve"][-1][MAIN[kind]] for r in ok])),
            f"last_{other}": float(np.mean([r["curve"][-1][other] for r in ok])),
            "seconds_per_round": float(np.mean([np.mean(r["seconds"]) for r in ok])),
            "used": used,
            "errors": [r["error"] for r in rs if "error" in r],
        }
    return out


def paired(a: dict, b: dict) -> dict:
    """Per-seed AULC of a minus b: mean, sd, 95 % interval (t over seeds), paired t-test p."""
    seeds = sorted(set(a["aulc_by_seed"]) & set(b["aulc_by_seed"]))
    d = np.array([a["aulc_by_seed"][s] - b["aulc_by_seed"][s] for s in seeds])
    if d.size < 2:
        return {
            "mean": float(d.mean()) if d.size else float("nan"),
            "sd": 0.0,
            "low": float("nan"),
            "high": float("nan"),
            "p": float("nan"),
            "n": int(d.size),
        }
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, d.size - 1) * sd / np.sqrt(d.size))
    p = float(stats.ttest_rel([a["aulc_by_seed"][s] for s in seeds], [b["aulc_by_seed"][s] for s in seeds]).pvalue)
    return {
        "mean": float(d.mean()),
        "sd": sd,
        "low": float(d.mean() - half),
        "high": float(d.mean() + half),
        "p": p,
        "n": int(d.size),
        "below": int((d < 0).sum()),
    }


def verdicts(kind: str, rows: dict) -> dict:
    """auto against random, the best peer and the best other alflow strategy on one data set."""
    ok = {s: r for s, r in rows.items() if "aulc_mean" in r}
    peers = {s: r for s, r in ok.items() if s in PEERS[kind]}
    mine = {s: r for s, r in ok.items() if s in ALFLOW[kind] and s != "auto"}
    out: dict = {"auto": ok["auto"]["aulc_mean"]}
    if "random" in ok:
        out["vs_random"] = paired(ok["auto"], ok["random"])
    for key, pool in (("peer", peers), ("mine", mine)):
        if pool:
            best = max(pool, key=lambda s: pool[s]["aulc_mean"])
            out[f"best_{key}"] = best
            out[f"vs_{key}"] = paired(ok["auto"], pool[best])
    return out


def _interval(d: dict) -> str:
    return f"{d['mean']:+.4f} ± {d['sd']:.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"


def _dataset_table(kind: str, dataset: str, suite: str, rows: dict) -> list[str]:
    other = "f1_micro" if kind == "multi" else "rmse"
    lines = [
        f"### {dataset} ({suite})",
        "",
        f"| strategy | AULC {MAIN[kind]} (mean ± sd) | last {MAIN[kind]} | last {other} | s / round |",
        "|---|---|---|---|---|",
    ]
    ordered = sorted(rows.items(), key=lambda kv: -kv[1].get("aulc_mean", -1e9))
    for strategy, row in ordered:
        if "aulc_mean" not in row:
            lines.append(f"| {strategy} | raised: {row['errors'][0][:100]} | | | |")
            continue
        name = strategy + (f" (raised on {len(row['errors'])} seeds)" if row["errors"] else "")
        lines.append(
            f"| {name} | {row['aulc_mean']:.4f} ± {row['aulc_std']:.4f} | {row['last_main']:.4f} "
            f"| {row[f'last_{other}']:.4f} | {row['seconds_per_round']:.3f} |"
        )
    return [*lines, ""]


def _verdict_table(kind: str, facts: dict[str, dict]) -> list[str]:
    lines = [
        "| set | auto | auto − random | beyond noise | best peer | auto − best peer | within noise "
        "| best other alflow | auto − it |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, f in facts.items():
        r, p, m = f.get("vs_random"), f.get("vs_peer"), f.get("vs_mine")
        ahead = "-" if r is None else ("yes" if r["low"] > 0 else ("no (below)" if r["high"] < 0 else "no"))
        within = "-" if p is None else ("ahead" if p["low"] > 0 else ("yes" if p["high"] >= 0 else "no (below)"))
        lines.append(
            f"| {dataset} | {f['auto']:.4f} | {_interval(r) if r else '-'} | {ahead} | {f.get('best_peer', '-')} "
            f"| {_interval(p) if p else '-'} | {within} | {f.get('best_mine', '-')} | {_interval(m) if m else '-'} |"
        )
    return [*lines, ""]


def _averages(kind: str, summary: dict, datasets: list[str]) -> list[str]:
    """Mean AULC over the data sets, per strategy, with each strategy's mean rank."""
    names = sorted({s for d in datasets for s, r in summary[d].items() if "aulc_mean" in r})
    complete = [s for s in names if all("aulc_mean" in summary[d].get(s, {}) for d in datasets)]
    ranks = {s: [] for s in complete}
    for d in datasets:
        order = sorted(complete, key=lambda s: -summary[d][s]["aulc_mean"])
        for i, s in enumerate(order):
            ranks[s].append(i + 1)
    rows = sorted(complete, key=lambda s: -np.mean([summary[d][s]["aulc_mean"] for d in datasets]))
    lines = ["| strategy | mean AULC | mean rank |", "|---|---|---|"]
    for s in rows:
        mean = np.mean([summary[d][s]["aulc_mean"] for d in datasets])
        lines.append(f"| {s} | {mean:.4f} | {np.mean(ranks[s]):.1f} |")
    return [*lines, ""]


def _pooled(summary: dict, sets: list[str], a: str, b: str) -> dict | None:
    """Per-(set, seed) AULC of a minus b pooled over `sets`: mean, sd, 95 % t-interval, wins."""
    d = []
    for dataset in sets:
        ra, rb = summary[dataset].get(a, {}), summary[dataset].get(b, {})
        if "aulc_by_seed" in ra and "aulc_by_seed" in rb:
            d += [ra["aulc_by_seed"][s] - rb["aulc_by_seed"][s] for s in ra["aulc_by_seed"] if s in rb["aulc_by_seed"]]
    if len(d) < 2:
        return None
    x = np.asarray(d)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return {"mean": float(x.mean()), "low": float(x.mean() - half), "high": float(x.mean() + half), "n": x.size}


def _choice_table(kind: str, summary: dict) -> list[str]:
    """Each alflow strategy and random against `auto`, per-(set, seed) differences pooled per suite: the
    figure a change of `auto` rests on (better on the choice suite beyond noise, and not worse on the check)."""
    suites = {s: [d for d in summary if DATASETS[kind][d][0] == s] for s in ("choice", "check")}
    lines = [
        f"### Candidates for auto ({kind}): strategy − auto, per (set, seed), pooled per suite",
        "",
        "| strategy | choice suite: mean [95 % interval] (n) | check suite: mean [95 % interval] (n) |",
        "|---|---|---|",
    ]
    for name in [*ALFLOW[kind], "random"]:
        if name == "auto":
            continue
        cells = []
        for suite in ("choice", "check"):
            d = _pooled(summary, suites[suite], name, "auto")
            cells.append("-" if d is None else f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] ({d['n']})")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]


FOREST_NOTE = (
    "**This run's model is `--model random_forest`** (alflow's `random_forest` preset with 100 trees, "
    "random_state = seed), for numbers in place of Ridge above: it selects and is scored; alflow's "
    "`committee_variance` reads its own trees' spread; modAL's committee is 5 learners of that forest "
    "(bootstrap_init); scikit-activeml's GSy/iGS/EMC use it as `reg` and QBC as its `ensemble` (the "
    "forest's trees are the committee); EMVR and KL-divergence still select with BayesianRidge."
)
"""The paragraph a table of `--model random_forest` runs carries (numbers)."""


def _tag_models(meta: dict) -> str:
    """Which model the tag peers read in this run (`--model`), and which of them can read it."""
    models = meta.get("model") or "default"
    text = (
        f"Tags, `--model {models}`. small-text's CategoryVectorInconsistencyAndRanking (`smalltext_cvirs`, its one "
        "multi-label strategy in small-text 1.4; the others are single-label or need torch) ranks by the "
        "probabilities of the model that is scored, handed to it as a small-text `Classifier` (its query reads "
        "`predict_proba` and the labeled tag matrix only)."
    )
    if "random_forest" in models:
        text += (
            " With `random_forest` (alflow's multi-output RandomForestClassifier preset, 100 trees, random_state = "
            "seed) the scored model is the forest for every strategy. modAL's `mean_max_loss` reads only the "
            "forest's 0/1 predictions and runs; its `max_loss`, `min_confidence` and `avg_confidence` read "
            "`predict_proba`, which a multi-output forest returns as a list of one array per tag: `max_loss` raises "
            "(a list has no argmax), `min_confidence` fails modAL's own check (its utility has one value per tag, "
            "not per item; `avg_confidence` reads it the same way), so they are recorded as raised. SVM binary "
            "minimum selects with its own one-vs-rest linear SVC, whatever the scored model."
        )
    return text


def markdown(summary: dict, meta: dict) -> str:
    summed = " (summed over pieces)" if meta.get("pieces") else ""
    lines = [
        "# Label efficiency for tags and numbers",
        "",
        f"Produced by `{meta['command']}`: seeds {meta['seeds']}, start {START}, batch {BATCH}, budget "
        f"{meta['budget']}, {meta['wall_seconds'] / 60:.1f} min of wall time{summed} with "
        f"{meta['jobs']} worker(s) under `nice -n 10`. Load average (1, 5, 15 min) {meta['load_start']} at the "
        f"start, {meta['load_end']} at the end (a shared 2-core machine; seconds per round are under that load).",
        "",
        *([meta["note"], ""] if meta.get("note") else []),
        "AULC = mean over the curve of macro F1 (tags) or R² clipped at 0 (numbers) on the test split. Differences "
        "are paired by seed: mean ± sd [95 % t-interval over seeds]. 'Beyond noise' means the interval excludes 0; "
        "'within noise' means it contains 0 (or auto is ahead).",
        "",
        "Models: tags, alflow's `logistic_regression` preset (one-vs-rest LogisticRegression on scaled inputs); "
        "numbers, the `ridge` preset. modAL's multi-label strategies read that fitted one-vs-rest model, except "
        "SVM binary minimum, which needs SVMs: it selects with a one-vs-rest linear SVC fit on the same labels "
        "(asked k times, one item each, as modAL's loop does) while the LogisticRegression is scored. modAL's "
        "committee is 5 bootstrap Ridge learners (CommitteeRegressor, max_std_sampling). scikit-activeml's "
        "GSx/GSy/iGS, QBC (5 bagged Ridge) and EMC use Ridge; EMVR and KL-divergence maximisation need a "
        "regressor that predicts a distribution, so they select with BayesianRidge (scored: Ridge), and, as "
        f"they refit it for every candidate and integration point, score {SLOW_CANDIDATES} random unlabeled items "
        "a round (their `candidates` argument) rather than the whole pool. alflow's `kcenter` is not run for "
        "numbers: on pools under 2,000 rows it is the same k-center greedy from the labeled set as `gsx`.",
        "",
        *([FOREST_NOTE, ""] if "number" in summary and "random_forest" in (meta.get("model") or "") else []),
        *([_tag_models(meta), ""] if "multi" in summary else []),
        "Real sets, all shipped inside scikit-learn: `digits_tags`/`digits_strokes` (the 1,797 handwritten "
        "digits, tags derived from the digit), `diabetes` (442 patients), `cancer_fractal` (569 cell nuclei: "
        "'mean fractal dimension' from the other 'mean' measures). Not used: linnerud (20 rows, below the "
        "budget) and California housing (downloads). The rest are generated (make_multilabel_classification, "
        "make_friedman1/2/3, make_regression).",
        "",
    ]
    for kind, datasets in summary.items():
        lines += [f"## {'Tags (multi)' if kind == 'multi' else 'Numbers'}", ""]
        facts = {}
        for dataset, rows in datasets.items():
            lines += _dataset_table(kind, dataset, DATASETS[kind][dataset][0], rows)
            if "aulc_mean" in rows.get("auto", {}):
                facts[dataset] = verdicts(kind, rows)
        lines += [f"### auto ({kind}) against random, the best peer and the best other alflow strategy", ""]
        lines += _verdict_table(kind, facts)
        for suite in ("choice", "check"):
            sets = [d for d in datasets if DATASETS[kind][d][0] == suite]
            if sets:
                lines += [
                    f"### Averages over the {suite} suite ({', '.join(sets)})",
                    "",
                    *_averages(kind, datasets, sets),
                ]
        lines += ["### Averages over every set", "", *_averages(kind, datasets, list(datasets))]
        lines += _choice_table(kind, datasets)
    return "\n".join(lines)


def _merge(names: list[str], out: str, note: str | None) -> None:
    """One table from the runs of several result files (pieces of one benchmark run one after another)."""
    parts = [json.loads((RESULTS / f"{name}.json").read_text()) for name in names]
    runs = [r for part in parts for r in part["runs"]]
    models = {r.get("model", "default") for r in runs}
    if len(models) > 1:
        raise SystemExit(f"--merge: these pieces ran different models ({', '.join(sorted(models))}): merge each apart")
    meta = {
        "command": "python benchmarks/kind_efficiency.py --merge " + ",".join(names),
        "commands": [part["command"] for part in parts],
        "seeds": ", ".join(sorted({part["seeds"] for part in parts})),
        "budget": ", ".join(sorted({str(part["budget"]) for part in parts})),
        "jobs": ", ".join(str(part["jobs"]) for part in parts),
        "wall_seconds": sum(part["wall_seconds"] for part in parts),
        "load_start": " / ".join(part["load_start"] for part in parts),
        "load_end": " / ".join(part["load_end"] for part in parts),
        "pieces": names,
        "model": models.pop(),
        "note": note,
    }
    (RESULTS / f"{out}.json").write_text(json.dumps({**meta, "summary": summarise(runs), "runs": runs}, indent=1))
    (RESULTS / f"{out}.md").write_text(markdown(summarise(runs), meta))
    print((RESULTS / f"{out}.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two sets a kind, two seeds, budget 60")
    parser.add_argument("--kinds", default="multi,number")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--datasets", default=None, help="comma-separated; default: every set of the kinds")
    parser.add_argument("--strategies", default=None, help="comma-separated; default: every one of the kind")
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (the machine is shared)")
    parser.add_argument("--model", default="default", choices=MODELS, help="the model that selects and is scored")
    parser.add_argument("--out", default=None)
    parser.add_argument("--merge", default=None, help="comma-separated result names: one table from their runs")
    parser.add_argument("--note", default=None, help="with --merge: a paragraph to put under the heading")
    args = parser.parse_args()
    if args.merge:
        return _merge(args.merge.split(","), args.out or "kind_efficiency", args.note)
    kinds = args.kinds.split(",")
    seeds, budget = (2, 60) if args.quick else (args.seeds, args.budget)
    first = 0 if args.quick else args.first_seed
    jobs = []
    for kind in kinds:
        sets = [d for d in (args.datasets.split(",") if args.datasets else DATASETS[kind]) if d in DATASETS[kind]]
        sets = sets[:2] if args.quick else sets
        names = args.strategies.split(",") if args.strategies else ["random", *ALFLOW[kind], *PEERS[kind]]
        names = [s for s in names if s == "random" or s in ALFLOW[kind] or s in PEERS[kind]]
        jobs += [
            (kind, d, s, seed, budget, args.model) for d in sets for seed in range(first, first + seeds) for s in names
        ]
    started, load_start = time.perf_counter(), os.getloadavg()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True), chunksize=1))
    summary = summarise(runs)
    command = "nice -n 10 python benchmarks/kind_efficiency.py " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if v not in (None, False) and k not in ("out", "merge")
    )
    if args.quick:
        command = command.replace("--quick True", "--quick").replace(f" --seeds {args.seeds}", "")
        command = command.replace(f" --budget {args.budget}", "")
    meta = {
        "command": command,
        "seeds": f"{first}-{first + seeds - 1}",
        "budget": budget,
        "model": args.model,
        "jobs": args.jobs,
        "wall_seconds": time.perf_counter() - started,
        "load_start": ", ".join(f"{x:.2f}" for x in load_start),
        "load_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    out = args.out or ("kind_efficiency_quick" if args.quick else "kind_efficiency")
    (RESULTS / out).parent.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{out}.json").write_text(json.dumps({**meta, "summary": summary, "runs": runs}, indent=1))
    (RESULTS / f"{out}.md").write_text(markdown(summary, meta))
    print((RESULTS / f"{out}.md").read_text())


if __name__ == "__main__":
    main()
