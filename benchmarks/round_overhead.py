"""Whole-round overhead under /work/shared/BENCHMARK.md: wall time of a round on a 10^5 pool, and
how much of it is orchestration (Prefect), tracking (MLflow) and validation (Great Expectations).

    python benchmarks/round_overhead.py [--pool 100000] [--rounds 4]

A campaign is written to a temporary folder: a Parquet pool of make_classification(n,
n_features=20, n_informative=12, n_classes=10) rows, 1,000 seed labels, a 10,000-row holdout, a
local bucket folder and a SQLite MLflow store; strategy auto, batch 100, LogisticRegression.
It runs twice, each in a fresh process on its own copy of the campaign:

- library: the round's stages (alflow.round.*, and the log stage alflow.reporting.round_run.log_round)
  as plain calls, in the flow's order;
- prefect: the flow flows.round.active_learning_round, with Prefect's temporary local server
  (no PREFECT_API_URL; a throwaway PREFECT_HOME). A no-op flow runs first: its time is the server start.

In both, the same library functions are wrapped by timers (a stage's seconds exclude the stages
timed inside it), so the Prefect run reports its own per-stage seconds too, and orchestration =
flow wall time - the stages inside it. GX seconds are the time spent in
alflow.data.validation's GX calls (checks and Data Docs); the log stage is split into
rendering (plots, tables, Data Docs) and MLflow calls. Between rounds a simulated vendor delivers
the exported batch with the answers (alflow.operations.demo.SimulatedVendor). Writes
benchmarks/results/round_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
for name, value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # The temporary server's default 20 s start-up limit (counted in 0.1 s sleeps) is too short on a loaded machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}.items():
    os.environ.setdefault(name, value)

RESULTS = Path(__file__).parent / "results"
SEED_LABELS, HOLDOUT, BATCH = 1000, 10_000, 100
STAGES = ["read config", "validate", "ingest", "claim", "train", "evaluate", "decide", "select", "summarize"]
STAGES += ["log", "commit", "export"]


def write_campaign(folder: Path, n: int) -> None:
    import numpy as np
    import pandas as pd
    import yaml
    from sklearn.datasets import make_classification

    X, y = make_classification(n + HOLDOUT, n_features=20, n_informative=12, n_classes=10, random_state=0)
    features = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    ids = [f"item-{i:07d}" for i in range(n)]
    (folder / "data").mkdir(parents=True)
    features[:n].assign(id=ids)[["id", *features.columns]].to_parquet(folder / "data" / "pool.parquet", index=False)
    features[n:].assign(label=y[n:].astype(str)).to_csv(folder / "data" / "holdout.csv", index=False)
    seed = np.random.default_rng(0).choice(n, SEED_LABELS, replace=False)
    pd.DataFrame({"id": np.array(ids)[seed], "label": y[seed].astype(str)}).to_csv(
        folder / "data" / "seed.csv", index=False
    )
    pd.DataFrame({"id": ids, "label": y[:n].astype(str)}).to_csv(folder / "data" / "answers.csv", index=False)
    campaign = {
        "campaign": "round-overhead",
        "pool": {"uri": "data/pool.parquet", "id_column": "id"},
        "seed_labels": {"uri": "data/seed.csv", "label_column": "label"},
        "holdout": {"uri": "data/holdout.csv", "label_column": "label"},
        "classes": [str(c) for c in range(10)],
        "model": {"preset": "logistic_regression"},
        "strategy": {"name": "auto", "batch_size": BATCH},
        "budget": {"max_labels": 10_000},
        "vendor": {"bucket": "bucket", "format": "csv"},
        "tracking": {"uri": "sqlite:///mlflow.db"},
        "seed": 0,
    }
    (folder / "campaign.yaml").write_text(yaml.safe_dump(campaign, sort_keys=False))


def copy_template(template: Path, folder: Path) -> None:
    """`folder`: a copy of the template whose data/ is the template's own (a symlink), so that the input
    files keep their versions (a local file's includes its inode and ctime) and round 2 finds its
    inputs checked by round 1, as a campaign's next round in its own folder does."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(template, folder, ignore=lambda where, _: ["data"] if Path(where) == template else [])
    (folder / "data").symlink_to(template / "data", target_is_directory=True)


# --- timers: the same library functions, timed in both modes ---------------------------------------

SECONDS: dict[str, float] = defaultdict(float)
_stack: list[list] = []  # the stages being timed, innermost last: [key, seconds of the stages inside it]


def _timed(owner, name: str, key: str, *, stage: bool) -> None:
    """Time `owner.name` under `key`: a stage (its own seconds, without the stages inside it), or a
    part of the enclosing stage (`key:stage`, e.g. gx:validate)."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        _stack.append([key, 0.0])
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            _, inner = _stack.pop()
            if stage:
                SECONDS[key] += elapsed - inner
                if _stack:
                    _stack[-1][1] += elapsed
            else:
                enclosing = next((k for k, _ in reversed(_stack) if k in STAGES), "other")
                SECONDS[f"{key}:{enclosing}"] += elapsed

    setattr(owner, name, timed)


def install_timers() -> None:
    import tasks
    from alflow.data import validation
    from alflow.reporting import round_run
    from alflow.round import autolabel, commit, decide, export, opening, select, train

    # inside the open stage (its task calls them through the module): read, validate, ingest, resume exports
    for name, key in [
        ("load_campaign", "read config"),
        ("validate_inputs", "validate"),
        ("ingest_campaign", "ingest"),
        ("finish_exports", "claim"),
    ]:
        _timed(opening, name, key, stage=True)
    _timed(train, "evaluate", "evaluate", stage=True)
    _timed(round_run, "round_view", "summarize", stage=True)
    # the stages the flow's tasks call: timed, and the tasks made to call the timed function
    for module, name, task, key in [
        (opening, "claim_round", "claim_round", "claim"),
        (train, "train_model", "train_model", "train"),
        (autolabel, "auto_label", "auto_label", "decide"),
        (decide, "decide", "decide_round", "decide"),
        (select, "select_batch", "select_batch", "select"),
        (round_run, "log_round", "log_round", "log"),
        (commit, "commit_round", "commit_round", "commit"),
        (export, "export_batch", "export_batch", "export"),
    ]:
        _timed(module, name, key, stage=True)
        getattr(tasks, task).fn = getattr(module, name)
    # Inside the stages: GX (checks and Data Docs) and the log stage's rendering of plots and tables.
    _timed(validation, "_failed", "gx", stage=False)
    _timed(validation, "document", "gx", stage=False)
    _timed(round_run, "write_round_artifacts", "render", stage=False)


def run_mode(mode: str, folder: str, n_rounds: int) -> dict:
    """Runs in its own process: n_rounds rounds, the vendor delivering in between."""
    import pandas as pd

    os.environ["PREFECT_HOME"] = str(Path(folder) / "prefect-home")
    os.chdir(folder)  # MLflow and Prefect write nothing outside the campaign folder
    config_path = str(Path(folder) / "campaign.yaml")
    install_timers()
    from alflow.config import load_campaign
    from alflow.ledger.ledger import bucket
    from alflow.operations.demo import SimulatedVendor

    config = load_campaign(config_path)
    answers = pd.read_csv(Path(folder) / "data" / "answers.csv", dtype=str)
    vendor = SimulatedVendor(bucket(config), config.campaign, dict(zip(answers["id"], answers["label"], strict=True)))
    result: dict = {"mode": mode, "rounds": []}
    if mode == "prefect":
        from prefect import flow

        from flows.round import active_learning_round

        @flow(name="noop")
        def noop() -> int:
            return 1

        started = time.perf_counter()
        noop()
        result["server_start"] = time.perf_counter() - started
        run_round = active_learning_round
    else:
        from alflow.operations.plain import plain_round as run_round
    for _ in range(n_rounds):
        SECONDS.clear()
        started = time.perf_counter()
        report = run_round(config_path)
        wall = time.perf_counter() - started
        assert report.status == "exported", report.message()
        result["rounds"].append({"round": report.round, "wall": wall, "seconds": dict(SECONDS)})
        vendor.deliver(report.round, fmt=config.vendor.format)
    return result


# --- the table -------------------------------------------------------------------------------------


def _warm(values: list[float]) -> float:
    """The median over the rounds after the first (the first pays imports and the MLflow DB migration)."""
    return statistics.median(values[1:] or values)


def _row(label: str, values: list[float]) -> str:
    cells = " | ".join(f"{v:.2f}" for v in values)
    return f"| {label} | {_warm(values):.2f} | {cells} |"


def _figures(result: dict) -> dict[str, list[float]]:
    """Per round: each stage, GX and rendering inside them, MLflow, the sum of stages and the wall time."""
    figures: dict[str, list[float]] = defaultdict(list)
    for r in result["rounds"]:
        seconds = r["seconds"]
        for stage in STAGES:
            figures[stage].append(seconds.get(stage, 0.0))
        figures["stages"].append(sum(seconds.get(s, 0.0) for s in STAGES))
        figures["gx"].append(sum(v for k, v in seconds.items() if k.startswith("gx:")))
        for stage in ("validate", "ingest"):
            figures[f"gx {stage}"].append(seconds.get(f"gx:{stage}", 0.0))
        figures["gx docs"].append(seconds.get("gx:log", 0.0))
        figures["render"].append(seconds.get("render:log", 0.0))
        figures["mlflow"].append(seconds.get("log", 0.0) - seconds.get("render:log", 0.0))
        figures["wall"].append(r["wall"])
        figures["outside"].append(r["wall"] - figures["stages"][-1])
    return figures


def markdown(results: dict, command: str, load: dict, n: int) -> str:
    library, prefect = _figures(results["library"]), _figures(results["prefect"])
    rounds = len(results["library"]["rounds"])
    heads = " | ".join(f"round {r['round']}" for r in results["library"]["rounds"])
    heads = "median, rounds 2+ | " + heads.replace("round 1", "round 1 (cold)", 1)
    lines = [
        "# Whole-round overhead (BENCHMARK.md protocol)",
        "",
        f"Produced by `{command}`. Pool {n:,} items (Parquet, 20 features, 10 classes), {SEED_LABELS:,} seed labels, "
        f"{HOLDOUT:,}-row holdout, strategy auto (combined at these label counts), batch {BATCH}, "
        "LogisticRegression; local bucket folder; SQLite MLflow store (fresh: round 1 includes its migration "
        "and the first imports, so medians are over the later rounds). Each mode ran in a fresh process on its "
        "own copy of the campaign; a simulated vendor delivered every batch before the next round. Seconds per "
        "round. The Prefect run's temporary server gets 120 s to start (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_"
        "SECONDS; the default 20 s timed out under this load).",
        "",
        f"Figures taken under shared load (other agents on the same 2 cores): load average {load['start']} at the "
        f"start, {load['end']} at the end (1, 5, 15 min).",
        "",
        "## Stages as plain library calls (no Prefect)",
        "",
        f"| stage | {heads} |",
        "|---|---|" + "---|" * rounds,
    ]
    lines += [_row(s, library[s]) for s in STAGES]
    lines += [
        _row("**sum of stages**", library["stages"]),
        _row("of which GX (validate)", library["gx validate"]),
        _row("of which GX (ingest)", library["gx ingest"]),
        _row("of which GX (Data Docs, in log)", library["gx docs"]),
        _row("of which rendering plots/tables/Data Docs (in log)", library["render"]),
        _row("of which MLflow calls (log − rendering)", library["mlflow"]),
        _row("wall time of the round", library["wall"]),
        "",
        "## The Prefect flow (flows.round.active_learning_round)",
        "",
        f"Temporary server start (no PREFECT_API_URL, fresh PREFECT_HOME) plus a no-op flow run: "
        f"{results['prefect']['server_start']:.2f} s, once per process, not in the rounds below.",
        "",
        f"| | {heads} |",
        "|---|---|" + "---|" * rounds,
        _row("flow wall time", prefect["wall"]),
        _row("library stages inside the flow", prefect["stages"]),
        _row("**orchestration (Prefect) = wall − stages**", prefect["outside"]),
    ]
    lines += [_row(f"stage: {s}", prefect[s]) for s in STAGES]
    lines += [
        "",
        "## Where a warm round's time goes (Prefect rounds 2+)",
        "",
        "Means, not medians, so that the parts add up to the flow's wall time.",
        "",
        "| part | seconds (mean) | share of the flow's wall time |",
        "|---|---|---|",
    ]

    def mean(values: list[float]) -> float:
        return statistics.mean(values[1:] or values)

    wall = mean(prefect["wall"])
    parts = [
        ("orchestration (Prefect)", prefect["outside"]),
        ("tracking: MLflow calls", prefect["mlflow"]),
        (
            "tracking: rendering plots, tables (without Data Docs)",
            [r - d for r, d in zip(prefect["render"], prefect["gx docs"], strict=True)],
        ),
        ("validation (GX checks + Data Docs)", prefect["gx"]),
    ]
    compute = [
        s - m - r - g
        for s, m, r, g in zip(prefect["stages"], prefect["mlflow"], prefect["render"], prefect["gx"], strict=True)
    ]
    compute = [c + d for c, d in zip(compute, prefect["gx docs"], strict=True)]  # Data Docs counted once, in GX
    parts.append(("everything else: reading the pool, train, evaluate, select, ledger, export", compute))
    for label, values in parts:
        lines.append(f"| {label} | {mean(values):.2f} | {100 * mean(values) / wall:.0f} % |")
    lines.append(f"| flow wall time | {wall:.2f} | 100 % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default="round_overhead")
    args = parser.parse_args()
    load = {"start": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    results = {}
    with tempfile.TemporaryDirectory(prefix="alflow-round-overhead-") as tmp:
        template = Path(tmp) / "template"
        write_campaign(template, args.pool)
        for mode in ("library", "prefect"):
            folder = Path(tmp) / mode
            shutil.copytree(template, folder)
            code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import round_overhead; "
            code += f"print(json.dumps(round_overhead.run_mode({mode!r}, {str(folder)!r}, {args.rounds})))"
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{mode} failed:\n{done.stderr[-4000:]}")
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(results[mode]), flush=True)
    load["end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = f"python benchmarks/round_overhead.py --pool {args.pool} --rounds {args.rounds}"
    RESULTS.mkdir(exist_ok=True)
    document = {"command": command, "load_average": load, "results": results}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(document, indent=1))
    text = markdown(results, command, load, args.pool)
    (RESULTS / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
