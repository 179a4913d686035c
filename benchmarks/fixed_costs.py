"""A warm round's fixed costs, before and after a change: two code trees, interleaved.

    python benchmarks/fixed_costs.py BEFORE_TREE AFTER_TREE [--pool 100000] [--pairs 3]

The campaign is benchmarks/round_overhead.py's (a Parquet pool of 10^5 rows, batch 100, local bucket,
MLflow on SQLite). Its first round runs once, the simulated vendor delivers, and that state is the
template: each run copies it (its data/ shared: `round_overhead.copy_template`) and runs round 2 (a warm round:
inputs already validated, labels delivered) as plain library calls in a fresh Python process with
PYTHONPATH at one tree, the two trees taking turns. Per run: the process's CPU time (user + system:
what the work costs, little changed by the machine's load) and wall time; the plain_round call's (stage imports
included); the time to import the flow's task module (`tasks`, what `alflow round` imports before
any stage runs: Prefect aside, what it pulls in); and which slow packages the round loaded (Great
Expectations, matplotlib) and whether MLflow scanned the installed distributions' files (its
requirements check). Stage by stage (`TIMED`: the round's stages and parts of its log stage, wall
and CPU seconds each): that round, whose stages pay their first-use imports, and, in a third process
per run, the next round after it in the same process (imports and first uses paid, as under `alflow
serve`), and, in a fourth, the round in a process forked as the warm runner forks a round's
(`forked`: cli.runner's own preload, gc.collect and gc.freeze as its serve does, then os.fork; the
forked child runs the round with the same timers, sends its timings back through a pipe and leaves
with os._exit). Writes benchmarks/results/fixed_costs.{json,md} (`--out NAME`: NAME.{json,md}).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import round_overhead
import served_overhead

RESULTS = Path(__file__).parent / "results"

ROUND = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import fixed_costs; fixed_costs.child()"
AGAIN = ROUND.replace("child()", "child(again=True)")
FORKED = ROUND.replace("child()", "forked()")
# The stages the plain round looks up when it starts (alflow.operations.plain), and parts of the log
# stage, each timed where it is defined: (module, function, name in the table; parts indented).
TIMED = [
    ("alflow.round.opening", "open_round", "open"),
    ("alflow.round.opening", "claim_round", "claim"),
    ("alflow.round.train", "train_model", "train"),
    ("alflow.round.autolabel", "auto_label", "auto_label"),
    ("alflow.round.decide", "decide", "decide"),
    ("alflow.round.select", "select_batch", "select (scoring)"),
    ("alflow.reporting.round_run", "log_round", "log"),
    ("alflow.reporting.tracking", "campaign_run", "  log: campaign run"),
    ("alflow.reporting.round_run", "round_view", "  log: round view"),
    ("alflow.reporting.round_run", "write_round_artifacts", "  log: tables and plots"),
    ("alflow.reporting.tracking", "log_round", "  log: MLflow round"),
    ("alflow.reporting.tracking", "_log_inputs", "    MLflow: params and dataset"),
    ("alflow.reporting.tracking", "_log_model", "    MLflow: model"),
    ("alflow.round.commit", "commit_round", "commit"),
    ("alflow.round.export", "export_batch", "export"),
    ("alflow.reporting.reports", "round_report", "report"),
]
WORK = ("train", "select (scoring)")  # the round's work: training (with its evaluation) and scoring the pool


def _timer(owner: Any, name: str, key: str, seconds: dict[str, list[float]]) -> None:
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent = seconds.setdefault(key, [0.0, 0.0])
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu

    setattr(owner, name, timed)


def child(*, again: bool = False) -> None:
    """In the fresh process: the warm round as plain calls, each stage timed (wall and CPU seconds,
    imports made inside a stage included); one JSON line. `again`: that round untimed, the vendor's
    delivery, then the next round timed in the same process (imports and first uses already paid,
    as in a long-lived process such as `alflow serve`)."""
    print(json.dumps(timed_round(again=again)))


def timed_round(*, again: bool = False) -> dict[str, Any]:
    """child()'s round (or rounds) and what it reports."""
    import importlib

    started, cpu = time.perf_counter(), time.process_time()
    import importlib_metadata

    scans: list[int] = []
    real = importlib_metadata.packages_distributions
    importlib_metadata.packages_distributions = lambda: scans.append(1) or real()  # type: ignore[assignment]
    from alflow.operations.plain import plain_round

    seconds: dict[str, list[float]] = {"import": [time.perf_counter() - started, time.process_time() - cpu]}
    for module, name, key in TIMED:
        _timer(importlib.import_module(module), name, key, seconds)
    report = plain_round("campaign.yaml")
    assert report.status == "exported", report.message()
    if again:
        served_overhead.vendor(Path(".")).deliver(report.round)
        seconds.clear()
        started = time.perf_counter()
        report = plain_round("campaign.yaml")
        assert report.status == "exported", report.message()
    loaded = [m for m in ("great_expectations", "matplotlib", "prefect") if m in sys.modules]
    call = time.perf_counter() - started
    return {"call": call, "loaded": loaded, "environment_scans": len(scans), "stages": seconds}


def warm_runner() -> float:
    """What the warm runner does before it forks a round (cli.runner.serve): its preload, the
    single-thread check, gc.collect and gc.freeze. The preload's CPU seconds."""
    import gc

    from cli import runner

    cpu = time.process_time()
    runner.preload()
    runner.single_threaded()
    gc.collect()
    gc.freeze()
    return time.process_time() - cpu


def forked() -> None:
    """In the fresh process: warm_runner(), then the round (child()'s, timed) in a forked child that
    sends its report back through a pipe and leaves with os._exit, as the runner's round process
    does; one JSON line with the preload's CPU seconds and the forked process's CPU and wall."""
    preload = warm_runner()
    reading, writing = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        code = 1
        try:
            os.write(writing, json.dumps(timed_round()).encode())  # a few KB: within the pipe's buffer
            code = 0
        except BaseException:  # noqa: BLE001 - the round's failure, shown as the interpreter would
            import traceback

            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        sent = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"the forked round failed: {os.waitstatus_to_exitcode(status)}")
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({**json.loads(sent), "preload_cpu": preload, "round_cpu": cpu, "round_wall": wall}))


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
    round_overhead.copy_template(template, folder)
    wall, cpu, line = _python(ROUND, tree, folder)
    _, import_cpu, imported = _python(IMPORT, tree, folder)
    round_overhead.copy_template(template, folder)
    _, _, again = _python(AGAIN, tree, folder)
    round_overhead.copy_template(template, folder)
    fork = json.loads(_python(FORKED, tree, folder)[2])
    result = {"wall": wall, "cpu": cpu, **json.loads(line), "import_tasks": float(imported), "import_cpu": import_cpu}
    keys = ("preload_cpu", "round_cpu", "round_wall")
    return {**result, "again": json.loads(again)["stages"], "forked": fork["stages"], **{k: fork[k] for k in keys}}


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
        "| MLflow environment scans | process walls | forked: preload CPU s (median) "
        "| forked: round process CPU s (median) | forked: round process wall s (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("before", "after"):
        runs = result[name]
        keys = ("cpu", "import_cpu", "wall", "call", "import_tasks", "preload_cpu", "round_cpu", "round_wall")
        median = {k: f"{statistics.median(r[k] for r in runs):.2f}" if k in runs[0] else "-" for k in keys}
        loaded = ", ".join(sorted({m for r in runs for m in r["loaded"]})) or "neither"
        scans = ", ".join(str(r["environment_scans"]) for r in runs)
        walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
        lines.append(
            f"| {name}: `{result['trees'][name]}` | {median['cpu']} | {median['import_cpu']} | "
            f"{median['wall']} | {median['call']} | {median['import_tasks']} | {loaded} | {scans} "
            f"| {walls} | {median['preload_cpu']} | {median['round_cpu']} | {median['round_wall']} |"
        )
    return "\n".join([*lines, "", *stage_table(result)]) + "\n"


def _other(stages: dict[str, list[float]], which: int) -> float:
    """The seconds of the round's stages other than its work (no parts, no imports before the round)."""
    keys = [key for _, _, key in TIMED if not key.startswith(" ") and key not in WORK]
    return sum(stages.get(k, [0.0, 0.0])[which] for k in keys)


def stage_table(result: dict) -> list[str]:
    """Per stage, each tree's median wall and CPU seconds: in the fresh process (a stage's first-use
    imports included), in the next round of the same process (`again`) and in a process forked after
    the warm runner's preload (`forked`)."""
    names = ["import", *(key for _, _, key in TIMED)]
    columns = [(tree, which) for which in ("stages", "again", "forked") for tree in ("before", "after")]
    shown = {"stages": "fresh", "again": "again", "forked": "forked"}
    lines = [
        "Where the time goes, stage by stage (medians, wall / CPU seconds; parts of the log stage indented). "
        "*Fresh*: the warm round in a fresh process, a stage's first-use imports counted in it (`import` is "
        "`from alflow.operations.plain import plain_round`). *Again*: the next warm round in the same process "
        "(imports and first uses paid, as under `alflow serve`). *Forked*: the warm round in a process forked, "
        "as the warm runner forks a round's, from one that ran cli.runner.preload, gc.collect and gc.freeze "
        "(`import`: alflow's modules, which the runner does not preload).",
        "",
        "| stage | " + " | ".join(f"{tree}, {shown[w]}" for tree, w in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    runs = {column: [r[column[1]] for r in result[column[0]] if column[1] in r] for column in columns}

    def cell(column: tuple[str, str], key: str) -> str:
        values = [s[key] for s in runs[column] if key in s]
        if not values:
            return "-"
        return f"{statistics.median(v[0] for v in values):.2f} / {statistics.median(v[1] for v in values):.2f}"

    for key in names:
        label = key.replace(" ", "&nbsp;") if key.startswith(" ") else key
        lines.append(f"| {label} | " + " | ".join(cell(column, key) for column in columns) + " |")
    other = []
    for column in columns:
        values = [(_other(s, 0), _other(s, 1)) for s in runs[column]]
        other.append(
            f"{statistics.median(v[0] for v in values):.2f} / {statistics.median(v[1] for v in values):.2f}"
            if values
            else "-"
        )
    lines.append("| **stages other than train and select** | " + " | ".join(other) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", default="fixed_costs", help="results/OUT.json and results/OUT.md")
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
    out = "" if args.out == "fixed_costs" else f" --out {args.out}"
    result["command"] = f"python benchmarks/fixed_costs.py BEFORE AFTER --pool {args.pool} --pairs {args.pairs}{out}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (RESULTS / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
