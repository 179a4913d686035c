"""What a process pays after its round has returned, before it exits, with and without the CLI's
`cheap_exit` (the collector's view of the heap frozen after the other exit handlers):

    python benchmarks/exit_cost.py [--pairs 3]

Each run is a fresh Python process that runs one plain round (alflow.operations.plain) of the demo
campaign (digits, a local bucket, MLflow on SQLite: the heap of a real round, imports included),
prints the wall clock, and exits; the parent notes when the process has gone. The two ways are
interleaved, pair by pair, so that the machine's load weighs on both alike; the load average is
written beside the table. Writes benchmarks/results/exit_cost.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).parent.parent

ROUND = """
import sys, tempfile, time
from pathlib import Path
from alflow.operations.demo import write_demo_data
from alflow.operations.plain import plain_round
if sys.argv[1] == "cheap_exit":
    from cli.console import cheap_exit
    cheap_exit()
path = write_demo_data(Path(sys.argv[2]), bucket=None, max_labels=60, batch_size=10)
plain_round(path)
print(f"{time.time():.6f}", flush=True)
"""


def exit_seconds(way: str, folder: Path) -> float:
    """Seconds from the round's return to the process's end, for one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", ROUND, way, str(folder)], env=env, capture_output=True, text=True, check=True
    )
    ended = time.time()
    return ended - float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    load = {"start": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    seconds: dict[str, list[float]] = {"default exit": [], "cheap_exit": []}
    with tempfile.TemporaryDirectory(prefix="exit-cost-") as tmp:
        for pair in range(args.pairs):
            for way in seconds:
                folder = Path(tmp) / f"{way.replace(' ', '-')}-{pair}"
                seconds[way].append(round(exit_seconds(way, folder), 3))
                print(f"pair {pair + 1}: {way}: {seconds[way][-1]:.2f} s", flush=True)
    load["end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average": load,
        "seconds": seconds,
        "median": {way: statistics.median(s) for way, s in seconds.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "exit_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(
        f"| {way} | {result['median'][way]:.2f} | {', '.join(f'{s:.2f}' for s in runs)} |"
        for way, runs in seconds.items()
    )
    (RESULTS / "exit_cost.md").write_text(
        f"# A process's exit after its round\n\n`python benchmarks/exit_cost.py --pairs {args.pairs}`, "
        f"{result['when']}, {result['cpus']} CPUs, load average (1, 5, 15 min) {load['start']} at the start "
        f"and {load['end']} at the end.\n\nSeconds from the plain round's return to the process's end "
        "(fresh process per run, the two ways interleaved):\n\n"
        f"| exit | median | runs |\n|---|---|---|\n{rows}\n\n"
        "`cheap_exit` (cli/console.py, registered by every `alflow` command) freezes the collector's view "
        "of the heap after the other exit handlers; without it the interpreter's collections during "
        "teardown walk every object the round's imports and work left.\n"
    )
    print((RESULTS / "exit_cost.md").read_text())


if __name__ == "__main__":
    main()
