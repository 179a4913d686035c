"""Scoring on a Dask cluster against scoring in one process, and a model of throughput beyond this machine.

    python benchmarks/dask_scale.py [--rows 10000000] [--workers 2] [--files 1] [--streamed] [--no-cold]

Measured (benchmarks/scale_data.py pool; one Parquet part per 1,000,000-row row group; the round's
strategy auto and batch 100, on a model fit on the 1,000 seed labels): the same selection
(alflow.round.select.scoring_job, then the candidates of every part) in this process, and on a
`distributed.LocalCluster` of `--workers` single-threaded worker processes on loopback (its start-up
timed apart). The batches must be equal. From Dask's task stream: each part's compute seconds on its
worker; scheduling overhead = cluster wall - (sum of part seconds / workers). Peak memory: each
worker process's VmHWM (its high-water mark since its exec) after the cluster's runs, and this
process's after validation, training and scoring in one process (the plain path). With `--files`
and `--streamed` the pool is the one benchmarks/round_scale.py reads with the same flags
(scale_data.write_streamed: 10 float32 features, file by file); `--no-cold` warms the fresh workers on
one part each instead of timing a whole pass on them (at 10^8 rows, minutes of a shared machine).

Modelled, not measured: a cluster of W workers on N rows, each worker as fast as one core of this
machine, parts of 10^6 rows: wall(N, W) = setup + ceil(N / 10^6 / W) x (part seconds + dispatch
per wave) + parts x merge seconds, with the setup (connect, send the model and the excluded ids to
every worker), the median part seconds, the dispatch per wave and the client-side merge seconds
per part all taken from the measured run on warm workers (their imports paid). It leaves out what
this machine cannot show: network transfer of parts (each worker reads its files from S3 or a
shared disk), stragglers and worker failures.
Writes benchmarks/results/dask_scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from round_scale import write_campaign
from scale_data import data_root, load_average, pool_path, write_data, write_streamed

RESULTS = Path(__file__).parent / "results"
PART_ROWS = 1_000_000


def _peak_rss() -> int:
    """This process's VmHWM in bytes (run on each worker by Client.run)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(n: int, workers: int, *, files: int = 1, streamed: bool = False, cold: bool = True) -> dict:
    import numpy as np
    from distributed import Client, LocalCluster

    from alflow.config import ClusterConfig, load_campaign
    from alflow.data.pools import parts
    from alflow.ledger.ledger import campaign_state
    from alflow.round.cluster import score_on_cluster
    from alflow.round.context import RoundContext
    from alflow.round.inputs import validate_inputs
    from alflow.round.scoring import merge_scored, score_batches
    from alflow.round.select import pool_batches, scoring_job
    from alflow.round.train import train_model

    data = write_streamed(n, files=files) if streamed else write_data(n, files=files)
    work = Path(tempfile.mkdtemp(prefix="alflow-dask-scale-", dir=data_root().parent))
    template = work / "mlflow.db"
    template.touch()
    config = load_campaign(
        write_campaign(work / "campaign", data, str(pool_path(data)), str(work / "bucket"), template)
    )
    started = time.perf_counter()
    ctx = RoundContext(config, validate_inputs(config), campaign_state(config))
    validation = time.perf_counter() - started
    started = time.perf_counter()
    validate_inputs(config)  # a later round's: the record of this version is read, nothing validated
    reused = time.perf_counter() - started
    started = time.perf_counter()
    trained = train_model(ctx)
    training = time.perf_counter() - started
    pool_parts = parts(ctx.pool)

    def job():
        return scoring_job(ctx, trained, k=100, skip=(), rng=np.random.default_rng([config.seed, ctx.round]))

    started = time.perf_counter()
    here = score_batches(job(), pool_batches(ctx))
    in_process = time.perf_counter() - started
    plain_peak = _peak_rss()
    local_job = job()
    merge_started = time.perf_counter()
    merge_scored([here] * len(pool_parts), local_job.scorer.m)
    merge_per_part = (time.perf_counter() - merge_started) / len(pool_parts)

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    cluster_start = time.perf_counter() - started
    address = ClusterConfig(address=cluster.scheduler_address)
    try:
        started = time.perf_counter()
        # fresh workers: their first parts pay the imports (with --no-cold, only one part per worker)
        score_on_cluster(address, job(), pool_parts if cold else pool_parts[:workers])
        cold_seconds = time.perf_counter() - started if cold else None
        started = time.perf_counter()
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            client.scatter([job()], broadcast=True, hash=False)
        setup = time.perf_counter() - started  # what every scoring pays once: connect, send the job
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            client.get_task_stream(start=time.time())  # start recording
            started = time.perf_counter()
            remote = score_on_cluster(address, job(), pool_parts)
            warm = time.perf_counter() - started
            stream = client.get_task_stream(start=started - 1)
            worker_peaks = sorted(client.run(_peak_rss).values())
    finally:
        cluster.close()
    part_seconds = [
        sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
        for task in stream
        if "score_part" in str(task["key"])
    ]
    same = here.candidates.ids.tolist() == remote.candidates.ids.tolist() and here.rows == remote.rows
    waves = math.ceil(len(pool_parts) / workers)
    median = sorted(part_seconds)[len(part_seconds) // 2]
    return {
        "rows": n,
        "workers": workers,
        "files": files,
        "streamed": streamed,
        "parts": len(pool_parts),
        "validation": validation,
        "validation_reused": reused,
        "training": training,
        "in_process": in_process,
        "plain_peak_rss": plain_peak,
        "worker_peak_rss": worker_peaks,
        "cluster_start": cluster_start,
        "setup": setup,
        "cold": cold_seconds,
        "warm": warm,
        "part_seconds": part_seconds,
        "part_median": median,
        "scheduling_overhead": warm - sum(part_seconds) / workers,
        "dispatch_per_wave": max(warm - setup - waves * median, 0.0) / waves,
        "merge_per_part": merge_per_part,
        "same_candidates": same,
        "load": load_average(),
    }


def modelled(run: dict, rows: int, workers: int) -> float:
    """Seconds to score `rows` on `workers` workers, by the model in the docstring."""
    part = run["part_median"] * PART_ROWS / (run["rows"] / run["parts"])
    n_parts = math.ceil(rows / PART_ROWS)
    waves = math.ceil(n_parts / workers)
    return run["setup"] + waves * (part + run["dispatch_per_wave"]) + n_parts * run["merge_per_part"]


def markdown(run: dict, command: str, loads: tuple[str, str]) -> str:
    parts = run["part_seconds"]
    lines = [
        "# Scoring on a Dask cluster",
        "",
        f"Produced by `{command}`; method in the script's docstring. Shared 2-core machine: load average "
        f"{loads[0]} at the start, {loads[1]} at the end (1, 5, 15 min).",
        "",
        "## Measured on this machine",
        "",
        f"{run['rows']:,} rows in {run['parts']} parts"
        + (f" of {run['files']} Parquet files" if run.get("files", 1) > 1 else "")
        + ("; pool drawn by scale_data.write_streamed (10 float32 features)" if run.get("streamed") else "")
        + f"; LocalCluster of {run['workers']} single-threaded worker processes on loopback.",
        "",
        "| | seconds |",
        "|---|---|",
        f"| validation of the pool and labels (first round; in one process) | {run['validation']:.2f} |",
        f"| validation again, as a later round (the record of this version reused) | {run['validation_reused']:.2f} |",
        f"| training on the seed labels (reads their rows from the pool) | {run['training']:.2f} |",
        f"| scoring in one process | {run['in_process']:.2f} |",
        "| scoring on the cluster, fresh workers (their first parts import alflow) | "
        + (f"{run['cold']:.2f} |" if run["cold"] is not None else "not timed (--no-cold) |"),
        f"| scoring on the cluster, warm workers ({run['parts']} tasks, merge) | {run['warm']:.2f} |",
        f"| of which scheduling overhead (warm wall - part seconds / workers) | {run['scheduling_overhead']:.2f} |",
        f"| of which setup: connect, send the job to every worker | {run['setup']:.2f} |",
        f"| dispatch per wave of parts (warm wall - setup - waves x median part, / waves) "
        f"| {run['dispatch_per_wave']:.3f} |",
        f"| one part on a worker (median of {len(parts)}) | {run['part_median']:.2f} |",
        f"| merging one part's candidates on the client | {run['merge_per_part']:.4f} |",
        f"| LocalCluster start (once) | {run['cluster_start']:.2f} |",
        f"| speed-up on this machine (warm) | {run['in_process'] / run['warm']:.2f}x |",
        "",
        "| peak memory | MB |",
        "|---|---|",
        f"| one process: validation, training, scoring (VmHWM) | {run['plain_peak_rss'] / 2**20:,.0f} |",
        *(f"| worker {i + 1} (VmHWM) | {peak / 2**20:,.0f} |" for i, peak in enumerate(run["worker_peak_rss"])),
        "",
        f"Same candidates (and so the same batch) as one process: **{run['same_candidates']}**.",
        "",
        "## Modelled beyond this machine (not measured)",
        "",
        "Seconds to score, by the model in the script's docstring from the figures above: each worker as fast as "
        "one core here, parts of 10^6 rows read locally by their worker. Network, stragglers and failures are "
        "not in it.",
        "",
        "| rows | 1 process | 4 workers | 8 workers | 16 workers | 32 workers | 64 workers |",
        "|---|---|---|---|---|---|---|",
    ]
    for rows in (10**8, 10**9):
        single = run["in_process"] * rows / run["rows"]
        cells = " | ".join(f"{modelled(run, rows, w):,.0f}" for w in (4, 8, 16, 32, 64))
        lines.append(f"| {rows:,} | {single:,.0f} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--files", type=int, default=1, help="the pool in this many Parquet files")
    parser.add_argument("--streamed", action="store_true", help="pools drawn file by file (scale_data.write_streamed)")
    parser.add_argument("--no-cold", action="store_true", help="warm fresh workers on one part each, not a timed pass")
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    start_load = load_average()
    run = measure(args.rows, args.workers, files=args.files, streamed=args.streamed, cold=not args.no_cold)
    command = "python benchmarks/dask_scale.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    name = "dask_scale" + (f"_{args.rows:.0e}".replace("+", "") if args.streamed else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(run, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown(run, command, (start_load, load_average())))
    print((RESULTS / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
