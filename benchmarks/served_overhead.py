"""A round's fixed overhead, four ways, on the same campaign (/work/shared/BENCHMARK.md, "Fixed overhead"):

    python benchmarks/served_overhead.py [--pool 100000] [--rounds 4]

The campaign is benchmarks/round_overhead.py's (a Parquet pool of 10^5 rows, 1,000 seed labels, a
10,000-row holdout, batch 100, local bucket, MLflow on SQLite). Each way runs ROUNDS rounds on its
own copy, a simulated vendor delivering every batch before the next round:

- library: the round's stages as plain calls in one process (the floor: no Prefect, no CLI);
- alflow round: `alflow round` typed once per round, without PREFECT_API_URL (each process starts
  Prefect's temporary server, as a user's first try does);
- alflow round + server: the same, with PREFECT_API_URL at a running `prefect server`;
- alflow serve: one long-lived `alflow serve` process on that server; the vendor's delivery is
  announced by its watcher (every second) and the round runs in the serving process, warm.

Seconds per round: for the first three, the wall time of the call or the process; for `alflow
serve`, the flow run's own time (its start to its end, from the Prefect API) and, beside it, the
time from the vendor's `_DONE` to the round's end. Warm figures are medians of rounds 2+. Writes
benchmarks/results/served_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import round_overhead

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def vendor(folder: Path):
    import pandas as pd

    from alflow.config import load_campaign
    from alflow.ledger.ledger import bucket
    from alflow.operations.demo import SimulatedVendor

    config = load_campaign(folder / "campaign.yaml")
    answers = pd.read_csv(folder / "data" / "answers.csv", dtype=str)
    return SimulatedVendor(bucket(config), config.campaign, dict(zip(answers["id"], answers["label"], strict=True)))


def library(folder: Path, rounds: int) -> list[float]:
    code = (
        f"import json, sys, time; sys.path.insert(0, {str(Path(__file__).parent)!r}); import os; "
        f"os.chdir({str(folder)!r}); import served_overhead; from alflow.operations.plain import plain_round; "
        f"v = served_overhead.vendor(__import__('pathlib').Path('.')); walls = []\n"
        f"for _ in range({rounds}):\n"
        "    t = time.perf_counter(); r = plain_round('campaign.yaml')\n"
        "    walls.append(time.perf_counter() - t); assert r.status == 'exported', r.message(); v.deliver(r.round)\n"
        "print(json.dumps(walls))"
    )
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **ENV}, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return json.loads(done.stdout.splitlines()[-1])


def cli_rounds(folder: Path, rounds: int, env: dict[str, str]) -> list[float]:
    walls = []
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run([BIN / "alflow", "round", "campaign.yaml"], cwd=folder, env=env, capture_output=True)
        walls.append(time.perf_counter() - started)
        if done.returncode or b"exported" not in done.stdout:
            sys.exit((done.stdout + done.stderr).decode()[-3000:])
        vendor(folder).deliver(int(done.stdout.split(b" round ")[1].split(b":")[0]))
    return walls


def _runs(env: dict[str, str]) -> list[dict]:
    out = subprocess.run(
        [BIN / "prefect", "flow-run", "ls", "--output", "json", "--limit", "50"],
        env=env,
        capture_output=True,
        text=True,
    )
    return [r for r in json.loads(out.stdout) if r["deployment_id"] and r["state_type"] == "COMPLETED"]


def served(folder: Path, rounds: int, env: dict[str, str]) -> list[dict[str, float]]:
    log = open(folder / "serve.log", "w")
    server = subprocess.Popen(
        [BIN / "alflow", "serve", "campaign.yaml", "--cron", "", "--poll", "1", "--watch-interval", "1"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        while "serving" not in (folder / "serve.log").read_text():
            time.sleep(0.5)
        subprocess.run([BIN / "prefect", "deployment", "run", "active-learning-round/round-overhead"], env=env)
        figures, delivered = [], None
        for n in range(1, rounds + 1):
            while len(done := _runs(env)) < n:
                time.sleep(0.5)
            run = max(done, key=lambda r: r["end_time"])
            start, end = (datetime.fromisoformat(run[k]) for k in ("start_time", "end_time"))
            figures.append(
                {
                    "run": (end - start).total_seconds(),
                    "since_done": (end - delivered).total_seconds() if delivered else None,
                }
            )
            vendor(folder).deliver(n)
            delivered = datetime.now(UTC)
        return figures
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=300)
        log.close()


def _warm(values: list[float]) -> float:
    return statistics.median(values[1:] or values)


def markdown(result: dict, command: str, load: dict[str, str]) -> str:
    library_warm = _warm(result["library"])
    rows = [
        ("plain library calls (the floor)", result["library"]),
        ("`alflow round`, Prefect's temporary server", result["alflow round"]),
        ("`alflow round`, PREFECT_API_URL at a running server", result["alflow round + server"]),
        ("`alflow serve`: the served flow run", [r["run"] for r in result["alflow serve"]]),
    ]
    lines = [
        "# A round's fixed overhead: bare `alflow round`, a running server, `alflow serve`, plain calls",
        "",
        f"Produced by `{command}` (its docstring says how). Pool {result['pool']:,} items",
        "(Parquet, 20 features, 10 classes), 1,000 seed labels, 10,000-row holdout, batch 100, local bucket,",
        "MLflow on SQLite; a simulated vendor delivered every batch before the next round. Seconds per round;",
        "warm = median of rounds 2+. For `alflow round` the figure is the whole process, as a user waits for it.",
        "",
        f"Load average (1, 5, 15 min): {load['start']} at the start, {load['end']} at the end "
        "(2 cores shared with other work).",
        "",
        "| how the round runs | warm (median, rounds 2+) | − plain calls | round 1 | every round |",
        "|---|---|---|---|---|",
    ]
    for label, values in rows:
        every = ", ".join(f"{v:.2f}" for v in values)
        lines.append(
            f"| {label} | {_warm(values):.2f} | {_warm(values) - library_warm:+.2f} | {values[0]:.2f} | {every} |"
        )
    since = [r["since_done"] for r in result["alflow serve"] if r["since_done"] is not None]
    if since:
        lines += [
            "",
            "Under `alflow serve`, from the vendor's `_DONE` to the end of the round it started: median "
            f"{statistics.median(since):.2f} s ({', '.join(f'{s:.2f}' for s in since)}); "
            "the watcher looks every second.",
        ]
    served_warm = _warm(rows[-1][1])
    verdict = "within" if served_warm - library_warm <= 1.5 else "NOT within"
    lines += ["", f"Target: a warm served round within 1.5 s of the plain-calls time: {verdict} "
              f"({served_warm - library_warm:+.2f} s)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from conftest import running_prefect_server

    load = {"start": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    result: dict = {"pool": args.pool}
    with tempfile.TemporaryDirectory(prefix="alflow-served-") as tmp:
        template = Path(tmp) / "template"
        round_overhead.write_campaign(template, args.pool)

        def copy(name: str) -> Path:
            return Path(shutil.copytree(template, Path(tmp) / name))

        result["library"] = library(copy("library"), args.rounds)
        print("library", result["library"], flush=True)
        bare = {**os.environ, **ENV, "PREFECT_HOME": str(Path(tmp) / "bare-home")}
        bare.pop("PREFECT_API_URL", None)
        result["alflow round"] = cli_rounds(copy("bare"), args.rounds, bare)
        print("alflow round", result["alflow round"], flush=True)
        with running_prefect_server(Path(tmp), **ENV) as env:
            result["alflow round + server"] = cli_rounds(copy("server"), args.rounds, env)
            print("alflow round + server", result["alflow round + server"], flush=True)
            result["alflow serve"] = served(copy("served"), args.rounds, env)
            print("alflow serve", result["alflow serve"], flush=True)
    load["end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = f"python benchmarks/served_overhead.py --pool {args.pool} --rounds {args.rounds}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "served_overhead.json").write_text(json.dumps({"command": command, "load": load, **result}, indent=1))
    text = markdown(result, command, load)
    (RESULTS / "served_overhead.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
