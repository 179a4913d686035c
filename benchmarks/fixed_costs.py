"""A warm round's fixed costs, before and after a change: two code trees, interleaved.

    python benchmarks/fixed_costs.py BEFORE_TREE AFTER_TREE [--pool 100000] [--pairs 3]

The campaign is benchmarks/round_overhead.py's (a Parquet pool of 10^5 rows, batch 100, local bucket,
MLflow on SQLite). Its first round runs once, the simulated vendor delivers, and that state is the
template: each run copies it and runs round 2 (a warm round: inputs already validated, labels
delivered) as plain library calls in a fresh Python process with PYTHONPATH at one tree, the two
trees taking turns. Per run: the process's CPU time (user + system: what the work costs, little
changed by the machine's load) and wall time; the plain_round call's (stage imports
included); the time to import the flow's task module (`tasks`, what `alflow round` imports before
any stage runs: Prefect aside, what it pulls in); and which slow packages the round loaded (Great
Expectations, matplotlib) and whether MLflow scanned the installed distributions' files (its
requirements check). Writes benchmarks/results/fixed_costs.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import round_overhead
import served_overhead

RESULTS = Path(__file__).parent / "results"

ROUND = """
import json, sys, time
started = time.perf_counter()
import importlib_metadata
scans = []
real = importlib_metadata.packages_distributions
importlib_metadata.packages_distributions = lambda: scans.append(1) or real()
from alflow.operations.plain import plain_round
report = plain_round("campaign.yaml")
assert report.status == "exported", report.message()
loaded = [m for m in ("great_expectations", "matplotlib") if m in sys.modules]
print(json.dumps({"call": time.perf_counter() - started, "loaded": loaded, "environment_scans": len(scans)}))
"""
ROUND_ONE = (
    f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import served_overhead; "
    "from pathlib import Path; from alflow.operations.plain import plain_round; "
    "r = plain_round('campaign.yaml'); served_overhead.vendor(Path('.')).deliver(r.round); print(r.round)"
)
IMPORT = "import time; t = time.perf_counter(); import tasks; print(time.perf_counter() - t)"


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def _python(code: str, tree: Path, cwd: Path) -> tuple[float, float, str]:
    """Run `code` in a fresh process: (its wall seconds, its CPU seconds, its last line)."""
    env = {**os.environ, **served_overhead.ENV, "PYTHONPATH": str(tree)}
    started, cpu = time.perf_counter(), _cpu()
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return time.perf_counter() - started, _cpu() - cpu, done.stdout.splitlines()[-1]


def one_run(tree: Path, template: Path, folder: Path) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(template, folder)
    wall, cpu, line = _python(ROUND, tree, folder)
    _, import_cpu, imported = _python(IMPORT, tree, folder)
    return {"wall": wall, "cpu": cpu, **json.loads(line), "import_tasks": float(imported), "import_cpu": import_cpu}


def markdown(result: dict) -> str:
    lines = [
        "# A warm round's fixed costs, before and after",
        "",
        f"`{result['command']}` on {result['date']}: pool {result['pool']:,} rows, round 2 of the campaign as "
        "plain library calls in a fresh process, the two trees interleaved (docstring). Load average (1, 5, "
        f"15 min) {result['load']['start']} at the start, {result['load']['end']} at the end (2 cores shared "
        "with other engineers' work).",
        "",
        "CPU seconds (user + system, of the process and its children) are what the work costs, whatever the "
        "load; wall seconds stretch with the load.",
        "",
        "| tree | process CPU s (median) | `import tasks` CPU s (median) | process wall s (median) "
        "| plain_round call wall s (median) | `import tasks` wall s (median) | loaded "
        "| MLflow environment scans | process walls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("before", "after"):
        runs = result[name]
        keys = ("cpu", "import_cpu", "wall", "call", "import_tasks")
        median = {k: statistics.median(r[k] for r in runs) for k in keys}
        loaded = ", ".join(sorted({m for r in runs for m in r["loaded"]})) or "neither"
        scans = ", ".join(str(r["environment_scans"]) for r in runs)
        walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
        lines.append(
            f"| {name}: `{result['trees'][name]}` | {median['cpu']:.2f} | {median['import_cpu']:.2f} | "
            f"{median['wall']:.2f} | {median['call']:.2f} | {median['import_tasks']:.2f} | {loaded} | {scans} "
            f"| {walls} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    load = {"start": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    result: dict = {"before": [], "after": [], "pool": args.pool, "trees": {k: str(v) for k, v in trees.items()}}
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="alflow-fixed-") as tmp:
        template = Path(tmp) / "template"
        round_overhead.write_campaign(template, args.pool)
        _python(ROUND_ONE, trees["after"], template)  # round 1 and its delivery: the template
        for _ in range(args.pairs):
            for name, tree in trees.items():
                result[name].append(one_run(tree, template, Path(tmp) / "run"))
                print(name, result[name][-1], flush=True)
    load["end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    result["load"] = load
    result["command"] = f"python benchmarks/fixed_costs.py BEFORE AFTER --pool {args.pool} --pairs {args.pairs}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fixed_costs.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (RESULTS / "fixed_costs.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
