"""Scoring on a Dask cluster against scoring in one process, and a model of throughput beyond this machine.

    python benchmarks/dask_scale.py [--rows 10000000] [--workers 2]

Measured (benchmarks/scale_data.py pool; one Parquet part per 1,000,000-row row group; the round's
strategy auto and batch 100, on a model fit on the 1,000 seed labels): the same selection
(alflow.round.select.scoring_job, then the candidates of every part) in this process, and on a
`distributed.LocalCluster` of `--workers` single-threaded worker processes on loopback (its start-up
timed apart). The batches must be equal. From Dask's task stream: each part's compute seconds on its
worker; scheduling overhead = cluster wall - (sum of part seconds / workers).

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
from scale_data import data_root, load_average, pool_path, write_data

RESULTS = Path(__file__).parent / "results"
PART_ROWS = 1_000_000


def measure(n: int, workers: int) -> dict:
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

    data = write_data(n)
    work = Path(tempfile.mkdtemp(prefix="alflow-dask-scale-", dir=data_root().parent))
    template = work / "mlflow.db"
    template.touch()
    config = load_campaign(
        write_campaign(work / "campaign", data, str(pool_path(data)), str(work / "bucket"), template)
    )
    ctx = RoundContext(config, validate_inputs(config), campaign_state(config))
    trained = train_model(ctx)
    pool_parts = parts(ctx.pool)

    def job():
        return scoring_job(ctx, trained, k=100, skip=(), rng=np.random.default_rng([config.seed, ctx.round]))

    started = time.perf_counter()
    here = score_batches(job(), pool_batches(ctx))
    in_process = time.perf_counter() - started
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
        score_on_cluster(address, job(), pool_parts)  # fresh workers: their first parts pay the imports
        cold = time.perf_counter() - started
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
        "parts": len(pool_parts),
        "in_process": in_process,
        "cluster_start": cluster_start,
        "setup": setup,
        "cold": cold,
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
        f"{run['rows']:,} rows in {run['parts']} parts; LocalCluster of {run['workers']} single-threaded worker "
        "processes on loopback.",
        "",
        "| | seconds |",
        "|---|---|",
        f"| scoring in one process | {run['in_process']:.2f} |",
        f"| scoring on the cluster, fresh workers (their first parts import alflow) | {run['cold']:.2f} |",
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
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    start_load = load_average()
    run = measure(args.rows, args.workers)
    command = "python benchmarks/dask_scale.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dask_scale.json").write_text(json.dumps(run, indent=2))
    (RESULTS / "dask_scale.md").write_text(markdown(run, command, (start_load, load_average())))
    print((RESULTS / "dask_scale.md").read_text())


if __name__ == "__main__":
    main()
