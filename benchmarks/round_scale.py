"""The whole round at scale (/work/shared/BENCHMARK.md): `alflow round` as a user runs it, in a
fresh process, on Parquet pools of growing size, against the one-pass floor measured in the same run.

    python benchmarks/round_scale.py --rows 100000 1000000 10000000 [--store local|s3] [--files 1] [--streamed]
                                     [--runner] [--out NAME]

For each size: a campaign in a fresh folder (benchmarks/scale_data.py: 20 float features, string
ids, 1,000 seed labels, a 2,000-row holdout; strategy auto, batch 100, LogisticRegression, MLflow on
SQLite copied from a template migrated once; with `--streamed`, the pools scale_data.write_streamed
draws file by file instead: 10 float32 features, for 10^8 rows), then

- the floor, in its own process: fit LogisticRegression on the seed labels, stream the pool's
  features in 50,000-row batches through predict_proba and keep the top 100 (np.argpartition);
- round 1 (`alflow round`, a fresh process: validation, training, scoring, MLflow, export), a
  simulated vendor labelling its batch, then round 2 (warm: the validation is reused).

The rounds run against a `prefect server` this script starts on loopback (PREFECT_API_URL set, as a
team runs it), so each stage's seconds are its Prefect task run's; each stage's peak RSS is the
highest of the round process's RSS sampled every 20 ms while that task ran, and the round's peak
RSS is its VmHWM (the kernel's high-water mark since exec; wait4's figure would count the pages of
this script it was forked from). With `--store s3` the pool (split into `--files` Parquet files under an
s3:// prefix when above 1) and the vendor bucket are on moto's S3 server on loopback, and each round
downloads into a fresh cache. Writes benchmarks/results/round_scale[_<store>].{json,md} (or NAME.{json,md}
with `--out NAME`).

With `--runner` the rounds go through alflow's warm runner (cli.runner, docs/ARCHITECTURE.md "The warm
runner"): the script starts it for its PREFECT_HOME (cli.runner.start_runner, with the rounds'
environment) and waits until it answers, runs the same `alflow` command, which hands each round to it,
and stops it at the end. The round's wall is the `alflow` client's, as without it; its CPU seconds and
peak RSS are the forked round process's as the runner reports them (ALFLOW_RUNNER_USAGE_FILE: wait4's
user + system and maxrss, which counts the preloaded pages the round shares with the runner). The
stages' seconds are still their Prefect task runs'; their peak RSS is not measured (the sampled
process is the client).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_data import data_root, load_average, pool_path, write_data, write_streamed

RESULTS = Path(__file__).parent / "results"
BATCH, CHUNK = 100, 50_000
STAGES = ["open_round", "claim_round", "train_model", "auto_label", "decide_round", "select_batch", "log_round"]
STAGES += ["commit_round", "export_batch", "publish_round_summary", "report_round"]
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_prefect(home: Path) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    env = {**os.environ, **QUIET, "PREFECT_HOME": str(home)}
    cli = str(Path(sys.executable).with_name("prefect"))
    server = subprocess.Popen(
        [cli, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return url, server
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    raise RuntimeError("prefect server did not start")


def mlflow_template(folder: Path) -> Path:
    import logging

    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    path = folder / "mlflow-template.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def _status(pid: int | str) -> dict[str, int]:
    """VmRSS and VmHWM (its high-water mark since the process's exec) of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def peak_rss() -> int:
    """This process's peak RSS since its exec (wait4's ru_maxrss would count the parent's pages it forked from)."""
    return _status("self")["VmHWM"]


class RssSampler(threading.Thread):
    """The RSS of one process every 20 ms, as (wall clock, bytes), and its high-water mark."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.done, self.high = pid, [], threading.Event(), 0

    def run(self) -> None:
        while not self.done.is_set():
            try:
                status = _status(self.pid)
            except (OSError, IndexError, ValueError):
                return
            self.samples.append((time.time(), status.get("VmRSS", 0)))
            self.high = max(self.high, status.get("VmHWM", 0))
            time.sleep(0.02)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside, default=0)


def run(command: list[str], env: dict, cwd: Path) -> tuple[float, int, RssSampler, str]:
    """(wall seconds, peak RSS bytes (VmHWM, sampled to within 20 ms of the end), the samples, output)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = RssSampler(process.pid)
    sampler.start()
    output = process.stdout.read().decode() if process.stdout else ""
    process.wait()
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return wall, sampler.high, sampler, output


def stage_times(api: str, sampler: RssSampler) -> dict[str, dict]:
    """Each stage of the latest flow run: its task run's seconds and the round's peak RSS while it ran."""
    os.environ["PREFECT_API_URL"] = api
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        [flow_run] = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
    stages: dict[str, dict] = {}
    for task in task_runs:
        if task.start_time is None or task.end_time is None:
            continue
        name = task.name.rsplit("-", 1)[0]
        start, end = task.start_time.timestamp(), task.end_time.timestamp()
        stages[name] = {"seconds": end - start, "peak_rss": sampler.peak(start, end)}
    return stages


def floor(pool: str, seed: str) -> dict:
    """The one-pass floor, in this process: fit on the seed labels, then predict_proba over the pool + top-k."""
    import numpy as np
    import pandas as pd
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    labels = pd.read_csv(seed, dtype=str)
    wanted = set(labels["id"])
    dataset = ds.dataset(pool, format="parquet")
    features = [name for name in dataset.schema.names if name != "id"]
    rows = dataset.to_table(columns=["id", *features], filter=ds.field("id").isin(list(wanted))).to_pandas()
    fit_started = time.perf_counter()
    y = labels.set_index("id").loc[rows["id"], "label"].to_numpy()
    model = LogisticRegression(max_iter=1000).fit(rows[features], y)
    fitted = time.perf_counter()
    best = np.zeros(0)
    files = sorted(Path(pool).glob("*.parquet")) if Path(pool).is_dir() else [Path(pool)]
    for path in files:
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=CHUNK, columns=features):
            proba = model.predict_proba(batch.to_pandas())
            part = np.sort(proba, axis=1)
            scores = part[:, -2] - part[:, -1]
            best = np.concatenate([best, scores[np.argpartition(-scores, BATCH - 1)[:BATCH]]])
            best = best[np.argpartition(-best, BATCH - 1)[:BATCH]]
    done = time.perf_counter()
    times = {"read_seed_rows": fit_started - started, "fit": fitted - fit_started, "pass": done - fitted}
    return {**times, "peak_rss_exact": peak_rss()}


def write_campaign(folder: Path, data: Path, pool_uri: str, bucket: str, template: Path) -> Path:
    import yaml

    folder.mkdir(parents=True)
    shutil.copy(template, folder / "mlflow.db")
    campaign = {
        "campaign": "scale",
        "pool": {"uri": pool_uri, "id_column": "id", "chunk_size": CHUNK},
        "seed_labels": {"uri": str(data / "seed.csv"), "label_column": "label"},
        "holdout": {"uri": str(data / "holdout.csv"), "label_column": "label"},
        "classes": [str(c) for c in range(10)],
        "model": {"preset": "logistic_regression"},
        "strategy": {"name": "auto", "batch_size": BATCH},
        "budget": {"max_labels": 100_000},
        "vendor": {"bucket": bucket, "format": "csv"},
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}"},
        "seed": 0,
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path


def deliver(bucket: str, data: Path, round_: int) -> None:
    """The simulated vendor: label the round's batch from the answer key, marker last."""
    import numpy as np

    from alflow.exchange import layout
    from alflow.exchange.bucket import open_store

    store = open_store(bucket)
    labels = np.load(data / "labels.npy", mmap_mode="r")
    lines = store.read(layout.batch_prefix("scale", round_) + "items.csv").decode().splitlines()[1:]
    ids = [line.split(",")[0] for line in lines]
    body = "id,label\n" + "".join(f"{i},{labels[int(i[5:])]}\n" for i in ids)
    store.write_once(layout.delivery_prefix("scale", round_) + "labels.csv", body.encode())
    store.write_once(layout.delivery_prefix("scale", round_) + layout.DONE, b"")


def upload_pool(data: Path, n: int) -> str:
    import boto3

    s3 = boto3.client("s3")
    try:
        s3.create_bucket(Bucket="pools")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    source = pool_path(data)
    if source.is_dir():
        for path in sorted(source.iterdir()):
            s3.upload_file(str(path), "pools", f"{n}/pool/{path.name}")
        return f"s3://pools/{n}/pool/"
    s3.upload_file(str(source), "pools", f"{n}/pool.parquet")
    return f"s3://pools/{n}/pool.parquet"


def start_warm_runner(home: Path, env: dict) -> None:
    """Start alflow's warm runner for `home` with the rounds' environment and wait until it answers."""
    from cli.runner import answers, start_runner

    start_runner(home, environment=env)
    deadline = time.monotonic() + 300
    while answers(home) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"alflow's warm runner did not answer; see {home / 'alflow-server' / 'runner.log'}")
        time.sleep(0.5)


def runner_usage(path: Path) -> dict | None:
    """The round process's usage as the runner reported it (None: the round did not run in the runner)."""
    if not path.exists():
        return None
    usage = json.loads(path.read_text())
    return {"cpu": usage["user"] + usage["system"], "peak_rss": usage["maxrss_kb"] * 1024, "pid": usage["round"]}


def one_size(n: int, args, work: Path, api: str, template: Path) -> dict:
    data = write_streamed(n, files=args.files) if args.streamed else write_data(n, files=args.files)
    folder = work / f"campaign-{n}"
    env = {**os.environ, **QUIET, "PREFECT_API_URL": api, "ALFLOW_CACHE_DIR": str(folder / "cache")}
    if args.runner:
        env["PREFECT_HOME"] = str(work / "prefect-home")
    if args.store == "s3":
        pool_uri, bucket = upload_pool(data, n), f"s3://vendor/scale-{n}"
        from alflow.exchange.s3 import ensure_bucket

        ensure_bucket(bucket)
    else:
        pool_uri, bucket = str(pool_path(data)), str(folder / "bucket")
    config = write_campaign(folder, data, pool_uri, bucket, template)
    script = [sys.executable, __file__, "--floor-of", str(pool_path(data)), str(data / "seed.csv")]
    floor_wall, floor_rss, _, floor_out = run(script, env, folder)
    result: dict = {"rows": n, "store": args.store, "files": args.files, "streamed": args.streamed, "pool": pool_uri}
    result["runner"] = args.runner
    result["floor"] = {"wall": floor_wall, "peak_rss": floor_rss, **json.loads(floor_out.strip().splitlines()[-1])}
    alflow = str(Path(sys.executable).with_name("alflow"))
    result["rounds"] = []
    for round_ in (1, 2):
        load, usage_file = load_average(), folder / f"runner-usage-{round_}.json"
        round_env = {**env, "ALFLOW_RUNNER_USAGE_FILE": str(usage_file)} if args.runner else env
        wall, rss, sampler, output = run([alflow, "round", str(config)], round_env, folder)
        stages = stage_times(api, sampler)
        record = {"round": round_, "wall": wall, "peak_rss": rss, "stages": stages, "load": load}
        if args.runner:
            usage = runner_usage(usage_file)
            record["in_runner"] = usage is not None
            if usage is not None:
                record.update(cpu=usage["cpu"], peak_rss=usage["peak_rss"], client_peak_rss=rss)
                for stage in stages.values():
                    stage["peak_rss"] = None  # the sampler watched the client, not the round
            rss = record["peak_rss"]
        result["rounds"].append(record)
        print(f"  {n:,} rows, round {round_}: {wall:.1f} s, peak {rss / 2**20:.0f} MB ({output.strip()[-160:]})")
        if round_ == 1:
            deliver(bucket, data, 1)
    return result


def _mb(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def markdown(results: list[dict], command: str, loads: tuple[str, str]) -> str:
    if results[0].get("runner"):
        return runner_markdown(results, command, loads)
    lines = [
        "# The whole round at scale",
        "",
        f"Produced by `{command}` ({results[0]['store']} store"
        + (f", the pool in {results[0]['files']} Parquet files" if results[0]["files"] > 1 else "")
        + (
            "; pools drawn file by file by scale_data.write_streamed: 10 float32 features, uncompressed"
            if results[0].get("streamed")
            else ""
        )
        + "). Method in the script's docstring: `alflow round` in a fresh process against a `prefect server` "
        "on loopback, each stage's seconds from its Prefect task run, peak RSS as the process's VmHWM (round) and its "
        "RSS sampled every 20 ms (stages); the floor (fit on the seed labels + one streamed predict_proba pass + "
        "top-k) in its own process in the same run.",
        "",
        f"2-core machine: load average {loads[0]} at the start, "
        f"{loads[1]} at the end (1, 5, 15 min); each round's load at its start is in the JSON.",
        "",
        "| pool rows | floor s (seed rows read; pass) | floor peak MB | round 1 s | round 1 peak MB | round 2 (warm) s "
        "| round 2 peak MB | round 1 / floor | warm / floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        f, (one, two) = r["floor"], r["rounds"]
        lines.append(
            f"| {r['rows']:,} | {f['wall']:.1f} ({f['read_seed_rows']:.1f}; {f['pass']:.1f}) | {_mb(f['peak_rss'])} | "
            f"{one['wall']:.1f} | "
            f"{_mb(one['peak_rss'])} | {two['wall']:.1f} | {_mb(two['peak_rss'])} | {one['wall'] / f['wall']:.2f} | "
            f"{two['wall'] / f['wall']:.2f} |"
        )
    for r in results:
        one, two = r["rounds"]
        lines += [
            "",
            f"## {r['rows']:,} rows: stages (Prefect task runs)",
            "",
            f"Load average at each round's start: round 1 {one.get('load', '?')}, round 2 {two.get('load', '?')}.",
            "",
            "| stage | round 1 s | round 1 peak MB | round 2 s | round 2 peak MB |",
            "|---|---|---|---|---|",
        ]
        for stage in STAGES:
            a, b = one["stages"].get(stage), two["stages"].get(stage)
            if a or b:
                cells = [f"{x['seconds']:.2f} | {_mb(x['peak_rss'])}" if x else "- | -" for x in (a, b)]
                lines.append(f"| {stage} | {cells[0]} | {cells[1]} |")
        rest = [s for s in STAGES if s not in ("train_model", "select_batch")]
        other = [sum(x["stages"].get(s, {}).get("seconds", 0.0) for s in rest) for x in (one, two)]
        lines.append(f"| **all but train_model and select_batch** | {other[0]:.2f} | | {other[1]:.2f} | |")
        lines.append(f"| round wall (process, incl. imports) | {one['wall']:.2f} | | {two['wall']:.2f} | |")
    return "\n".join(lines) + "\n"


def runner_markdown(results: list[dict], command: str, loads: tuple[str, str]) -> str:
    """The `--runner` table: the round's wall (client), CPU and peak RSS (the runner's report) per round."""
    lines = [
        "# The whole round at scale, through alflow's warm runner",
        "",
        f"Produced by `{command}` ({results[0]['store']} store"
        + (f", the pool in {results[0]['files']} Parquet files" if results[0]["files"] > 1 else "")
        + ("; pools drawn file by file by scale_data.write_streamed" if results[0].get("streamed") else "")
        + "). Method in the script's docstring: the same "
        "rounds as benchmarks/results/round_scale.md, but `alflow round` hands each one to alflow's warm runner "
        "(started by the script for its PREFECT_HOME before the rounds, stopped after), which forks it from its "
        "preloaded process; the wall is the `alflow` client's, the CPU seconds (user + system) and peak RSS "
        "(maxrss, counting the preloaded pages it shares with the runner) the round process's as the runner "
        "reports them; the floor (fit on the seed labels + one streamed predict_proba pass + top-k) in its own "
        "process in the same run.",
        "",
        f"2-core machine: load average {loads[0]} at the start, "
        f"{loads[1]} at the end (1, 5, 15 min); each round's load at its start is in the table.",
        "",
        "| pool rows | floor s (seed rows read; pass) | floor peak MB | round | load at start | in runner | wall s "
        "| CPU s | peak MB | wall / floor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        f = r["floor"]
        for x in r["rounds"]:
            cpu = f"{x['cpu']:.1f}" if "cpu" in x else "-"
            lines.append(
                f"| {r['rows']:,} | {f['wall']:.1f} ({f['read_seed_rows']:.1f}; {f['pass']:.1f}) | "
                f"{_mb(f['peak_rss'])} | {x['round']}{' (warm)' if x['round'] == 2 else ''} | {x['load']} | "
                f"{'yes' if x.get('in_runner') else 'no'} | {x['wall']:.1f} | {cpu} | {_mb(x['peak_rss'])} | "
                f"{x['wall'] / f['wall']:.2f} |"
            )
    for r in results:
        one, two = r["rounds"]
        lines += [
            "",
            f"## {r['rows']:,} rows: stages (Prefect task runs, seconds)",
            "",
            "| stage | round 1 s | round 2 s |",
            "|---|---|---|",
        ]
        for stage in STAGES:
            cells = [f"{x['stages'][stage]['seconds']:.2f}" if stage in x["stages"] else "-" for x in (one, two)]
            if cells != ["-", "-"]:
                lines.append(f"| {stage} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--store", choices=["local", "s3"], default="local")
    parser.add_argument("--files", type=int, default=1, help="split the pool into this many Parquet files")
    parser.add_argument("--streamed", action="store_true", help="pools drawn file by file (scale_data.write_streamed)")
    parser.add_argument("--runner", action="store_true", help="hand the rounds to alflow's warm runner")
    parser.add_argument("--out", help="the results' file name (without .json/.md) in benchmarks/results/")
    parser.add_argument("--floor-of", nargs=2, metavar=("POOL", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_of:
        print(json.dumps(floor(*args.floor_of)))
        return
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    work = Path(tempfile.mkdtemp(prefix="alflow-round-scale-", dir=data_root().parent))
    moto = None
    if args.store == "s3":
        from moto.server import ThreadedMotoServer

        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL_S3"] = f"http://{host}:{port}"
    api, server = start_prefect(work / "prefect-home")
    if args.runner:
        start_warm_runner(work / "prefect-home", {**os.environ, **QUIET, "PREFECT_HOME": str(work / "prefect-home")})
    start_load, results = load_average(), []
    suffix = "" if args.store == "local" and args.files == 1 else f"_{args.store}_{args.files}files"
    suffix += "_streamed" if args.streamed else ""
    name = args.out or f"round_scale{suffix}"
    command = "python benchmarks/round_scale.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    try:
        template = mlflow_template(work)
        for n in args.rows:  # the tables are written after each size, so a long run keeps what it measured
            results.append(one_size(n, args, work, api, template))
            (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
            (RESULTS / f"{name}.md").write_text(markdown(results, command, (start_load, load_average())))
    finally:
        if args.runner:
            from cli.runner import stop_runner

            stop_runner(work / "prefect-home")
        os.killpg(server.pid, signal.SIGTERM)
        if moto is not None:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    print((RESULTS / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
