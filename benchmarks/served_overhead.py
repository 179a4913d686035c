"""A round's fixed overhead, five ways, on the same campaign, interleaved (/work/shared/BENCHMARK.md, "Fixed overhead"):

    python benchmarks/served_overhead.py [--pool 100000] [--rounds 4]

The campaign is benchmarks/round_overhead.py's (a Parquet pool of 10^5 rows, 1,000 seed labels, a
10,000-row holdout, batch 100, local bucket, MLflow on SQLite). Each way runs ROUNDS rounds on its
own copy, a simulated vendor delivering every batch before the next round, and the ways take turns
round by round (round 1 of each, then round 2 of each, ...), so a change of the machine's load
falls on all five alike:

- library: the round's stages as plain calls (alflow.operations.plain.plain_round), a fresh Python
  process per round, as an `alflow round` is: its figure is the process's wall time (the call alone
  is reported beside it);
- alflow round: `alflow round` typed once per round, without PREFECT_API_URL (round 1 starts
  alflow's local Prefect server in a fresh PREFECT_HOME, later rounds reuse it), ALFLOW_RUNNER=off:
  each round in a process of its own (the README's way before the warm runner);
- alflow round, warm runner: the same on the same PREFECT_HOME and server with the runner on (the
  README's way): round 1 runs in its own process and starts alflow's warm runner (cli.runner) in the
  background, later rounds are handed to it (the runner is waited for before round 2, which it
  always is by then). Run through the console script pip writes for `alflow = "cli:main"` (written
  into the temporary folder: an environment installed before the entry point changed still has
  `cli:app`). Its CPU seconds are the client process's plus the round process's own usage, which
  the runner sends back (ALFLOW_RUNNER_USAGE_FILE); the runner's one-off CPU (its preload) and its
  idle memory are reported beside them;
- alflow round, temporary: the same with ALFLOW_PREFECT_SERVER=temporary (each process starts
  Prefect's temporary server and stops it at exit: the README's way before the local server);
- alflow round + server: the same, with PREFECT_API_URL at a running `prefect server`;
- alflow serve: one long-lived `alflow serve` process on that server; the vendor's delivery of the
  previous batch is made when its turn comes, its watcher (every second) starts the round, which
  runs in the serving process, warm. The serving process idles, polling, during the other ways' turns.

Seconds per round: the wall time of the process (or, for `alflow serve`, the flow run's own time,
its start to its end from the Prefect API, and beside it the time from the vendor's `_DONE` to the
round's end). Warm figures are medians of rounds 2+. The load average is sampled before every
turn. Writes benchmarks/results/served_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
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


def _cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and theirs: a way's cost
    whatever the load, which stretches wall times."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def library_round(folder: Path, cpu: list[float] | None = None) -> tuple[float, float]:
    """One plain round in a fresh process: (the process's wall time, the plain_round call's); its
    CPU seconds appended to `cpu`."""
    code = (
        "import json, time; t = time.perf_counter(); from alflow.operations.plain import plain_round; "
        "r = plain_round('campaign.yaml'); assert r.status == 'exported', r.message(); "
        "print(json.dumps([r.round, time.perf_counter() - t]))"
    )
    started, spent = time.perf_counter(), _cpu()
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env={**os.environ, **ENV}, capture_output=True)
    wall = time.perf_counter() - started
    if cpu is not None:
        cpu.append(_cpu() - spent)
    if done.returncode:
        sys.exit(done.stderr.decode()[-3000:])
    round_, call = json.loads(done.stdout.decode().splitlines()[-1])
    vendor(folder).deliver(round_)
    return wall, call


def cli_round(folder: Path, env: dict[str, str], cpu: list[float] | None = None) -> float:
    """One `alflow round` process: its wall time (its CPU seconds, and those of the temporary server
    it starts and stops, appended to `cpu`); the vendor then delivers the batch."""
    started, spent = time.perf_counter(), _cpu()
    done = subprocess.run([BIN / "alflow", "round", "campaign.yaml"], cwd=folder, env=env, capture_output=True)
    wall = time.perf_counter() - started
    if cpu is not None:
        cpu.append(_cpu() - spent)
    if done.returncode or b"exported" not in done.stdout:
        sys.exit((done.stdout + done.stderr).decode()[-3000:])
    vendor(folder).deliver(int(done.stdout.split(b" round ")[1].split(b":")[0]))
    return wall


CLI_MAIN = (
    "#!{python}\nimport re\nimport sys\nfrom cli import main\n"
    "if __name__ == '__main__':\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit(main())\n"
)


def entry_point(folder: Path) -> Path:
    """The `alflow` console script pip writes for `[project.scripts] alflow = "cli:main"`."""
    script = folder / "alflow"
    script.write_text(CLI_MAIN.format(python=sys.executable))
    script.chmod(0o755)
    return script


def warm_round(folder: Path, env: dict[str, str], script: Path, cpu: list[float]) -> tuple[float, bool]:
    """One `alflow round` with the runner on: its wall time, and whether the runner ran it; its CPU
    seconds (the client's, plus the round process's when the runner ran it) appended to `cpu`."""
    usage = folder.parent / "warm-usage.json"
    usage.unlink(missing_ok=True)
    started, spent = time.perf_counter(), _cpu()
    done = subprocess.run(
        [script, "round", "campaign.yaml"], cwd=folder, env={**env, "ALFLOW_RUNNER_USAGE_FILE": str(usage)},
        capture_output=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    child = json.loads(usage.read_text()) if usage.exists() else None
    cpu.append(_cpu() - spent + (child["user"] + child["system"] if child else 0.0))
    if done.returncode or b"exported" not in done.stdout:
        sys.exit((done.stdout + done.stderr).decode()[-3000:])
    vendor(folder).deliver(int(done.stdout.split(b" round ")[1].split(b":")[0]))
    return wall, child is not None


def runner_figures(home: Path) -> dict[str, float] | None:
    """The warm runner's own CPU seconds so far (its preload, then idling) and its resident memory, from /proc."""
    from cli.runner import running_runner

    runner = running_runner(home)
    if runner is None:
        return None
    stat = Path(f"/proc/{runner.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    rss = next(line for line in Path(f"/proc/{runner.pid}/status").read_text().splitlines() if line.startswith("VmRSS"))
    return {"cpu": (int(stat[11]) + int(stat[12])) / ticks, "rss_mb": int(rss.split()[1]) / 1024}


def _runs(env: dict[str, str]) -> list[dict]:
    out = subprocess.run(
        [BIN / "prefect", "flow-run", "ls", "--output", "json", "--limit", "50"],
        env=env,
        capture_output=True,
        text=True,
    )
    return [r for r in json.loads(out.stdout) if r["deployment_id"] and r["state_type"] == "COMPLETED"]


class Served:
    """`alflow serve` on one campaign: `start` it, then `turn(n)` starts round n and waits for its end."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env, self.delivered = folder, env, None
        self.log = open(folder / "serve.log", "w")
        self.process = subprocess.Popen(
            [BIN / "alflow", "serve", "campaign.yaml", "--cron", "", "--poll", "1", "--watch-interval", "1"],
            cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        while "serving" not in (folder / "serve.log").read_text():
            if self.process.poll() is not None:
                sys.exit((folder / "serve.log").read_text()[-3000:])
            time.sleep(0.5)

    def turn(self, n: int) -> dict[str, float | None]:
        if n == 1:
            subprocess.run([BIN / "prefect", "deployment", "run", "active-learning-round/round-overhead"], env=self.env)
        else:  # the previous batch's delivery: the watcher starts round n
            vendor(self.folder).deliver(n - 1)
            self.delivered = datetime.now(UTC)
        while len(done := _runs(self.env)) < n:
            time.sleep(0.5)
        run = max(done, key=lambda r: r["end_time"])
        start, end = (datetime.fromisoformat(run[k]) for k in ("start_time", "end_time"))
        since = (end - self.delivered).total_seconds() if self.delivered and n > 1 else None
        return {"run": (end - start).total_seconds(), "since_done": since}

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=300)
        self.log.close()


def _warm(values: list[float]) -> float:
    return statistics.median(values[1:] or values)


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def markdown(result: dict, command: str) -> str:
    library_warm = _warm(result["library"])
    temporary = result.get("alflow round temporary") or [math.nan]  # runs before it had this way
    rows = [
        ("plain library calls, a fresh process per round (the floor)", result["library"]),
        *(
            [("`alflow round`, the README's way: local server, warm runner (round 1 starts both)", result["warm"])]
            if result.get("warm")
            else []
        ),
        (
            "`alflow round`, the same local server, ALFLOW_RUNNER=off (each round in its own process)",
            result["alflow round"],
        ),
        ("`alflow round`, ALFLOW_PREFECT_SERVER=temporary (Prefect's temporary server)", temporary),
        ("`alflow round`, PREFECT_API_URL at a running server", result["alflow round + server"]),
        ("`alflow serve`: the served flow run", [r["run"] for r in result["alflow serve"]]),
    ]
    lines = [
        "# A round's fixed overhead: bare `alflow round`, a running server, `alflow serve`, plain calls",
        "",
        f"Produced by `{command}` on {result['date']} (its docstring says how). Pool {result['pool']:,}",
        "items (Parquet, 20 features, 10 classes), 1,000 seed labels, 10,000-row holdout, batch 100, local",
        "bucket, MLflow on SQLite; a simulated vendor delivered every batch before the next round. The",
        "ways took turns round by round. Seconds per round; warm = median of rounds 2+. For the library and",
        "`alflow round` the figure is the whole process, as a user waits for it.",
        "",
        f"Load average (1, 5, 15 min) before each round's turns: {'; '.join(result['loads'])}; at the end "
        f"{result['load_end']} (2 cores shared with other engineers' work: the machine was loaded throughout).",
        *(["", f"Note: {result['note']}"] if result.get("note") else []),
        "",
        "| how the round runs | warm (median, rounds 2+) | − plain calls | round 1 | every round |",
        "|---|---|---|---|---|",
    ]
    for label, values in rows:
        every = ", ".join(f"{v:.2f}" for v in values)
        lines.append(
            f"| {label} | {_warm(values):.2f} | {_warm(values) - library_warm:+.2f} | {values[0]:.2f} | {every} |"
        )
    calls = result["library call"]
    lines += ["", "The plain_round call alone, inside its process (imports of the stages included): "
              f"{', '.join(f'{c:.2f}' for c in calls)} s, warm median {_warm(calls):.2f} s."]  # fmt: skip
    since = [r["since_done"] for r in result["alflow serve"] if r["since_done"] is not None]
    if since:
        lines += [
            "",
            "Under `alflow serve`, from the vendor's `_DONE` to the end of the round it started: median "
            f"{statistics.median(since):.2f} s ({', '.join(f'{s:.2f}' for s in since)}); "
            "the watcher looks every second.",
        ]
    lines.append("")
    warm = result["library"][1:]
    spread = max(warm) - min(warm) if len(warm) > 1 else 0.0
    for label, values in rows[1:-1]:  # processes against the plain round's process; a served round pays no start
        gap = _warm(values) - library_warm
        verdict = "within" if gap <= 1.5 else "NOT within"
        if spread > 1.5:  # the same way's rounds differ by more than the goal: the load decides, not alflow
            verdict = f"not judged (the plain round's own warm rounds differ by {spread:.2f} s)"
        elif len(warm) < 2:
            verdict = "not judged (one warm round: no measure of the load's noise)"
        lines.append(f"Goal, a warm round within 1.5 s of the plain round's: {label}: {verdict} ({gap:+.2f} s).  ")
    return "\n".join(lines + cpu_lines(result)) + "\n"


def cpu_lines(result: dict) -> list[str]:
    """The process ways again in CPU seconds (user + system, the process and the children it waited
    for: `alflow round`'s temporary server included), which the load stretches far less than wall time."""
    cpu = result.get("cpu")
    if not cpu or not cpu["library"]:
        return []
    floor = _warm(cpu["library"])
    lines = [
        "",
        "The same rounds in CPU seconds (user + system of the process and the children it waited for, the "
        "temporary server included; a served round's CPU is not separable from its serving process):",
        "",
        "| how the round runs | warm CPU s (median, rounds 2+) | − plain calls | round 1 | every round |",
        "|---|---|---|---|---|",
    ]
    for way, values in cpu.items():
        every = ", ".join(f"{v:.2f}" for v in values)
        lines.append(f"| {way} | {_warm(values):.2f} | {_warm(values) - floor:+.2f} | {values[0]:.2f} | {every} |")
    lines.append("")
    for way in ("warm runner", "alflow round", "alflow round temporary", "alflow round + server"):
        if way not in cpu:
            continue
        gap = _warm(cpu[way]) - floor
        verdict = "within" if gap <= 1.5 else "NOT within"
        lines.append(f"Goal in CPU seconds, within 1.5 s of the plain round's: {way}: {verdict} ({gap:+.2f} s).  ")
    if runner := result.get("runner"):
        handed = ", ".join("yes" if h else "no" for h in result["warm handed"])
        lines += [
            "",
            f"The warm runner (ALFLOW_RUNNER on; rounds handed to it: {handed}): {runner['ready']['cpu']:.2f} CPU s "
            f"of its own when round 2 came (its one-off preload), {runner['end']['cpu']:.2f} at the end; resident "
            f"memory {runner['ready']['rss_mb']:.0f} MB idle before round 2, {runner['end']['rss_mb']:.0f} MB at "
            "the end (its rounds run in processes of their own, forked from it). A handed-off round's CPU above is "
            "the client's plus the round process's (ALFLOW_RUNNER_USAGE_FILE).",
        ]
    return lines


def rewrite() -> None:
    """The table again from the committed JSON (after a change of its wording)."""
    result = json.loads((RESULTS / "served_overhead.json").read_text())
    (RESULTS / "served_overhead.md").write_text(markdown(result, result["command"]))


def run(pool: int, rounds: int, tmp: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from conftest import running_prefect_server

    result: dict = {"pool": pool, "date": datetime.now(UTC).isoformat(timespec="seconds"), "loads": []}
    for way in (
        "library",
        "library call",
        "alflow round",
        "alflow round temporary",
        "alflow round + server",
        "alflow serve",
    ):
        result[way] = []
    result["warm"], result["warm handed"] = [], []
    cpu: dict[str, list[float]] = {
        "library": [],
        "warm runner": [],
        "alflow round": [],
        "alflow round temporary": [],
        "alflow round + server": [],
    }
    result["cpu"] = cpu
    template = tmp / "template"
    round_overhead.write_campaign(template, pool)
    folders = {name: Path(shutil.copytree(template, tmp / name)) for name in ("library", "bare", "server", "served")}
    folders["temporary"] = Path(shutil.copytree(template, tmp / "temporary"))
    folders["warm"] = Path(shutil.copytree(template, tmp / "warm"))
    script = entry_point(tmp)
    warm = {**os.environ, **ENV, "PREFECT_HOME": str(tmp / "bare-home")}
    warm.pop("PREFECT_API_URL", None)
    warm.pop("ALFLOW_RUNNER", None)
    bare = {**warm, "ALFLOW_RUNNER": "off"}
    temporary = {**bare, "PREFECT_HOME": str(tmp / "temporary-home"), "ALFLOW_PREFECT_SERVER": "temporary"}
    with running_prefect_server(tmp, **ENV, ALFLOW_RUNNER="off") as env:
        served = Served(folders["served"], env)
        try:
            for n in range(1, rounds + 1):
                result["loads"].append(_load())
                wall, call = library_round(folders["library"], cpu["library"])
                result["library"].append(wall)
                result["library call"].append(call)
                if n == 2:  # the runner round 1 started: preloaded by now (waited for, if not)
                    from cli.runner import answers

                    while answers(tmp / "bare-home") is None:
                        time.sleep(0.5)
                    result["runner"] = {"ready": runner_figures(tmp / "bare-home")}
                wall, handed = warm_round(folders["warm"], warm, script, cpu["warm runner"])
                result["warm"].append(wall)
                result["warm handed"].append(handed)
                result["alflow round"].append(cli_round(folders["bare"], bare, cpu["alflow round"]))
                result["alflow round temporary"].append(
                    cli_round(folders["temporary"], temporary, cpu["alflow round temporary"])
                )
                result["alflow round + server"].append(cli_round(folders["server"], env, cpu["alflow round + server"]))
                result["alflow serve"].append(served.turn(n))
                print(n, {k: v[-1] for k, v in result.items() if isinstance(v, list)}, cpu, flush=True)
        finally:
            if "runner" in result:
                result["runner"]["end"] = runner_figures(tmp / "bare-home")
            served.stop()
            subprocess.run([BIN / "alflow", "server", "stop"], env=bare, capture_output=True)  # the README's way's
    result["load_end"] = _load()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alflow-served-") as tmp:
        result = run(args.pool, args.rounds, Path(tmp))
    command = f"python benchmarks/served_overhead.py --pool {args.pool} --rounds {args.rounds}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "served_overhead.json").write_text(json.dumps({"command": command, **result}, indent=1))
    text = markdown(result, command)
    (RESULTS / "served_overhead.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
