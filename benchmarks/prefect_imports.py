"""What a fresh `alflow round` process imports beyond the plain round's, in CPU seconds:

    python benchmarks/prefect_imports.py [--repeats 5]

Each repeat is a fresh Python process that imports, in this order and timing each by
`time.process_time()` (CPU: less sensitive than wall time to a shared machine's load):
the plain round's modules (alflow.operations.plain, what a round needs without Prefect), then the
flow (flows.round: Prefect, the tasks), then the CLI (cli.main: typer and every command's module),
then the start-up path of a round (cli.orchestrator, cli.local_server). Medians over the repeats;
the load average is sampled before and after. Writes benchmarks/results/prefect_imports.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
STEPS = {
    "plain round's modules": "alflow.operations.plain",
    "flows.round (Prefect, the tasks)": "flows.round",
    "cli.main (typer, every command)": "cli.main",
    "cli.orchestrator, cli.local_server": "cli.orchestrator",
}
CODE = (
    "import importlib, json, sys, time\n"
    "seconds = []\n"
    "for name in sys.argv[1:]:\n"
    "    started = time.process_time()\n"
    "    importlib.import_module(name)\n"
    "    seconds.append(time.process_time() - started)\n"
    "print(json.dumps(seconds))\n"
)


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "load_before": _load(), "runs": []}
    for _ in range(args.repeats):
        done = subprocess.run(
            [sys.executable, "-c", CODE, *STEPS.values()], env=env, capture_output=True, text=True, check=True
        )
        result["runs"].append(json.loads(done.stdout.splitlines()[-1]))
    result["load_after"] = _load()
    result["command"] = f"python benchmarks/prefect_imports.py --repeats {args.repeats}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prefect_imports.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# A fresh `alflow round` process's imports beyond the plain round's (CPU seconds)",
        "",
        f"`{result['command']}` on {result['date']} (its docstring says how). Load average before "
        f"{result['load_before']}, after {result['load_after']} (2 cores shared with other engineers' work).",
        "",
        "| imported next, in one fresh process | CPU s (median) | every repeat |",
        "|---|---|---|",
    ]
    for i, label in enumerate(STEPS):
        values = [run[i] for run in result["runs"]]
        every = ", ".join(f"{v:.2f}" for v in values)
        lines.append(f"| {label} | {statistics.median(values):.2f} | {every} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "prefect_imports.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
