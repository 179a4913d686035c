"""Eight campaigns' rounds started at once, as cron jobs firing at the same minute on a shared host.

    python benchmarks/eight_campaigns.py [--campaigns 8] [--trials 5] [--pool 3000] [--hold-load N] [--out NAME]

Each campaign is benchmarks/round_overhead.py's, small (the point is the orchestrator's start-up,
not the work), in its own folder. A trial starts `alflow round --json` for every campaign at the
same moment, the README's way (no PREFECT_API_URL: alflow's local Prefect server, started by one
of the first trial's rounds while the others wait for it, and reused by every later round; one
PREFECT_HOME for all, as one user's cron jobs share it), waits for all, and counts the rounds
that failed: a non-zero exit, and the `--json` reason when one was given (`prefect_unavailable`
for an orchestrator that could not be reached or started) and the rounds that started a server
(their one stderr line says so: one in all is the goal), and the rounds the warm runner ran (cli.runner:
the first trial's rounds run in their own processes and start it, later ones are handed to it; a round
it ran writes ALFLOW_RUNNER_USAGE_FILE). Between trials the vendor delivers every
exported batch, so every trial's rounds have work to do. The load average is sampled before and
after each trial. With --hold-load N the script holds the machine's load itself: N busy loops (plain
Python processes spinning at normal priority, as other users' work would) run from before the first trial
to the end, so the run queue stays near N plus the rounds'. Writes benchmarks/results/NAME.{json,md}
(NAME: eight_campaigns unless --out says).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
USAGE = "runner-usage.json"  # written by a round the warm runner ran (ALFLOW_RUNNER_USAGE_FILE)


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def trial(folders: list[Path], env: dict[str, str]) -> list[dict]:
    """Every campaign's round at once: per campaign its exit code, seconds, `--json` reason, and whether
    the warm runner ran it (the usage file it writes for a round handed to it)."""
    for folder in folders:
        (folder / USAGE).unlink(missing_ok=True)
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [served_overhead.BIN / "alflow", "round", "campaign.yaml", "--json"],
            cwd=folder,
            env={**env, "ALFLOW_RUNNER_USAGE_FILE": str(folder / USAGE)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for folder in folders
    ]
    outcomes = []
    for folder, process in zip(folders, running, strict=True):
        out, err = process.communicate()
        seconds = time.perf_counter() - started
        try:
            report = json.loads(out.decode().strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            report = {}
        outcome = {"exit": process.returncode, "seconds": seconds, "reason": report.get("reason")}
        outcome["started_server"] = b"started alflow's local Prefect server" in err
        outcome["in_runner"] = (folder / USAGE).exists()
        if process.returncode:
            outcome["error"] = report.get("error") or err.decode()[-500:]
        elif report.get("status") == "exported":
            served_overhead.vendor(folder).deliver(int(report["round"]))
        outcomes.append(outcome)
    return outcomes


def markdown(result: dict) -> str:
    lines = [
        "# Eight campaigns' rounds started at once",
        "",
        f"`{result['command']}` on {result['date']} (its docstring says how): {result['campaigns']} campaigns of "
        f"{result['pool']:,} rows, `alflow round --json` for all at the same moment, the README's way (no "
        "PREFECT_API_URL: alflow's local Prefect server, started by one round of the first trial), one "
        "PREFECT_HOME. The machine has 2 cores; "
        + (
            f"{result['hold_load']} busy loops held its load throughout (docstring), "
            if result.get("hold_load")
            else "the load is what other work made it, "
        )
        + "sampled before and after each trial.",
        "",
        "| trial | load before | load after | rounds failed | reasons | servers started | rounds in the warm runner "
        "| slowest round s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    failed_total = 0
    for n, run in enumerate(result["trials"], start=1):
        failed = [o for o in run["outcomes"] if o["exit"]]
        failed_total += len(failed)
        reasons = ", ".join(sorted({str(o["reason"]) for o in failed})) or "-"
        slowest = max(o["seconds"] for o in run["outcomes"])
        lines.append(
            f"| {n} | {run['load_before']} | {run['load_after']} | {len(failed)} of {len(run['outcomes'])} "
            f"| {reasons} | {sum(o.get('started_server', 0) for o in run['outcomes'])} "
            f"| {sum(o.get('in_runner', 0) for o in run['outcomes'])} | {slowest:.1f} |"
        )
    rounds = sum(len(r["outcomes"]) for r in result["trials"])
    lines += ["", f"In all: {failed_total} of {rounds} rounds failed."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=8)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--pool", type=int, default=3000)
    parser.add_argument("--hold-load", type=int, default=0, help="busy loops holding the load (0: none)")
    parser.add_argument("--out", default="eight_campaigns")
    args = parser.parse_args()
    result: dict = {"campaigns": args.campaigns, "pool": args.pool, "trials": [], "hold_load": args.hold_load}
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="alflow-eight-") as tmp:
        template = Path(tmp) / "template"
        round_overhead.write_campaign(template, args.pool)
        folders = [Path(shutil.copytree(template, Path(tmp) / f"c{i}")) for i in range(args.campaigns)]
        env = {**os.environ, **served_overhead.ENV, "PREFECT_HOME": str(Path(tmp) / "prefect-home")}
        env.pop("PREFECT_API_URL", None)
        holders: list[subprocess.Popen] = []
        try:
            holders += [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hold_load)]
            if holders:
                time.sleep(60)  # the 1-minute load average rises to the held level before the first trial
            for _ in range(args.trials):
                before = _load()
                outcomes = trial(folders, env)
                result["trials"].append({"load_before": before, "load_after": _load(), "outcomes": outcomes})
                print(result["trials"][-1], flush=True)
        finally:
            for holder in holders:
                holder.kill()
            subprocess.run([served_overhead.BIN / "alflow", "server", "stop"], env=env, capture_output=True)
    result["command"] = (
        f"python benchmarks/eight_campaigns.py --campaigns {args.campaigns} --trials {args.trials} --pool {args.pool}"
        + (f" --hold-load {args.hold_load}" if args.hold_load else "")
        + (f" --out {args.out}" if args.out != "eight_campaigns" else "")
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (RESULTS / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
