"""What the `alflow` client pays on the hand-off path, and what a warm runner costs to keep:

    python benchmarks/handoff_cost.py [--repeats 5]

In a fresh PREFECT_HOME, starts alflow's warm runner (cli.runner.start_runner) and waits for it, then,
REPEATS times each, interleaved:
- hand-off: `alflow round missing.yaml` through the console script pip writes for `cli:main`, handed
  to the runner (the round fails at once on the missing file: what is left is the client's own cost
  and the round process's start); the client's CPU seconds, and the round process's (sent back);
- in-process: the same with ALFLOW_RUNNER=off (the CLI's and the round's imports in a process of its own).
Also `python -X importtime -c "import cli.handoff"`'s cumulative microseconds for `cli.handoff` and the
modules it loads, the runner's own CPU seconds (its preload) and resident memory once ready, each
preloaded module's CPU seconds (from the runner's log), and what a round's process would still pay
for the modules the runner does not preload (Great Expectations, Prefect, the flow, the CLI: imported
after the preload in a fresh process, in that order).
Writes benchmarks/results/handoff_cost.{json,md}.
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

sys.path.insert(0, str(Path(__file__).parent))
from served_overhead import entry_point, runner_figures

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one(script: Path, folder: Path, env: dict[str, str]) -> dict[str, float]:
    usage = folder / "usage.json"
    usage.unlink(missing_ok=True)
    before, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [script, "round", "missing.yaml"], cwd=folder, env={**env, "ALFLOW_RUNNER_USAGE_FILE": str(usage)},
        capture_output=True, text=True,
    )  # fmt: skip
    wall, client = time.perf_counter() - started, _children_cpu() - before
    assert done.returncode == 1 and "cannot read the campaign file" in done.stderr, done.stderr
    child = json.loads(usage.read_text()) if usage.exists() else None
    return {"wall": wall, "client": client, "round": child["user"] + child["system"] if child else 0.0}


AFTER_PRELOAD = (
    "import json, resource, sys\n"
    "from cli.runner import preload\n"
    "preload()\n"
    "def cpu():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    return r.ru_utime + r.ru_stime\n"
    "spent = {}\n"
    "for name in ('great_expectations', 'prefect', 'flows.round', 'cli.main'):\n"
    "    before = cpu()\n"
    "    __import__(name)\n"
    "    spent[name] = round(cpu() - before, 3)\n"
    "print(json.dumps(spent))\n"
)


def not_preloaded(env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", AFTER_PRELOAD], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def import_time(env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import cli.handoff"], env=env, capture_output=True, text=True
    )
    rows = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    return next(int(r[1]) for r in rows if r[2].strip() == "cli.handoff")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from cli.runner import answers, start_runner, stop_runner

    loads = [", ".join(f"{v:.2f}" for v in os.getloadavg())]
    with tempfile.TemporaryDirectory(prefix="alflow-handoff-") as tmp:
        folder = Path(tmp)
        script = entry_point(folder)
        home = folder / "prefect-home"
        env = {**os.environ, "PREFECT_HOME": str(home), "PYTHONPATH": str(ROOT)}
        env.pop("ALFLOW_RUNNER", None)
        start_runner(home, environment=env)
        try:
            while answers(home) is None:
                time.sleep(0.5)
            runner = runner_figures(home)
            ready = next(
                line for line in (home / "alflow-server" / "runner.log").read_text().splitlines() if "ready" in line
            )
            preloaded = json.loads(ready.split("ready: ", 1)[1])
            rest = not_preloaded(env)
            ways: dict[str, list[dict[str, float]]] = {"hand-off": [], "in-process": []}
            for _ in range(args.repeats):
                ways["hand-off"].append(one(script, folder, env))
                ways["in-process"].append(one(script, folder, {**env, "ALFLOW_RUNNER": "off"}))
            imports = [import_time(env) for _ in range(args.repeats)]
        finally:
            stop_runner(home)
    loads.append(", ".join(f"{v:.2f}" for v in os.getloadavg()))
    command = f"python benchmarks/handoff_cost.py --repeats {args.repeats}"
    result = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "loads": loads,
        "runner": runner,
        "preloaded": preloaded,
        "not preloaded": rest,
        "ways": ways,
        "import_us": imports,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "handoff_cost.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (RESULTS / "handoff_cost.md").write_text(text)
    print(text)


def markdown(result: dict) -> str:
    def med(way: str, key: str) -> float:
        return statistics.median(r[key] for r in result["ways"][way])

    lines = [
        "# The `alflow` client's cost on the hand-off path, and the warm runner's",
        "",
        f"Produced by `{result['command']}` on {result['date']} (its docstring says how); load average (1, 5, 15 "
        f"min) before and after: {'; '.join(result['loads'])}. Medians of the repeats; CPU = user + system.",
        "",
        "| `alflow round missing.yaml` | wall s | client CPU s | round process CPU s (sent back) |",
        "|---|---|---|---|",
    ]
    for way in ("hand-off", "in-process"):
        lines.append(f"| {way} | {med(way, 'wall'):.3f} | {med(way, 'client'):.3f} | {med(way, 'round'):.3f} |")
    imports = statistics.median(result["import_us"]) / 1e6
    runner = result["runner"]
    lines += [
        "",
        f'`python -X importtime -c "import cli.handoff"`: {imports:.4f} s cumulative for cli.handoff (the '
        "standard library's socket, json, signal, hashlib and cli.runner; no alflow, typer, rich, pandas or Prefect).",
        "",
        f"The runner once ready: {runner['cpu']:.2f} CPU s of its own (the one-off preload), resident memory "
        f"{runner['rss_mb']:.0f} MB. Each preloaded module's CPU seconds (the runner's log; a module's "
        "figure leaves out what an earlier one imported):",
        "",
        "| preloaded | CPU s |",
        "|---|---|",
        *(f"| {name} | {spent:.3f} |" for name, spent in result["preloaded"].items()),
        "",
        "Not preloaded, imported after the preload in a fresh process (what a round's process pays for them; "
        "Great Expectations only when a rule fails or Data Docs are asked for):",
        "",
        "| not preloaded | CPU s |",
        "|---|---|",
        *(f"| {name} | {spent:.3f} |" for name, spent in result["not preloaded"].items()),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
