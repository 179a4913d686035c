"""Peak memory of a text round against the pool's size: is it flat?

    python benchmarks/text_round_memory.py [--sizes 10000,100000,1000000]

For each size, a Parquet pool of generated support tickets (alflow.operations.corpus, text only), 200
seed labels (50 per class), a 2,000-ticket holdout, the TF-IDF preset, strategy `auto` (past cold
start: margin prefilter + weighted k-means), batch 100, a local bucket, MLflow on SQLite. One round
runs in a fresh process as plain library calls (the stages the flow runs, without Prefect), and
that process reports its peak RSS (`ru_maxrss`) and the seconds of each stage. Also measured: the
floor, one streamed pass of `predict_proba` over the pool's text plus a top-k, in its own process.
Writes benchmarks/results/text_round_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
NOTE = (
    "Memory grows with the pool by what is still read whole, not by the text: the id column, which "
    "validation reads whole and Great Expectations checks for uniqueness; every text pass (content "
    "checks, scoring, export) holds one chunk. The floor's own growth is its seed lookup, which "
    "reads the id and text columns whole."
)
SEED_PER_CLASS, HOLDOUT, BATCH, CHUNK = 50, 2000, 100, 50_000

ROUND = """
import json, resource, sys, time
from alflow.config import load_campaign
from alflow.intake.ingest import ingest_campaign
from alflow.reporting.round_run import log_round
from alflow.round import autolabel, commit, decide, export, opening, select, train

times, started = {}, time.perf_counter()
def stage(name, fn, *args):
    t = time.perf_counter(); value = fn(*args); times[name] = round(time.perf_counter() - t, 2); return value
ctx = stage("open (validate, ingest)", opening.open_round, sys.argv[1])
stage("claim", opening.claim_round, ctx)
trained = stage("train + evaluate", train.train_model, ctx)
auto = stage("auto-label", autolabel.auto_label, ctx, trained)
decision = stage("decide", decide.decide, ctx, trained, auto)
decision = stage("select", select.select_batch, ctx, trained, decision)
tracked = stage("log (MLflow)", log_round, ctx, trained, decision)
record = stage("commit", commit.commit_round, ctx, decision, tracked)
stage("export", export.export_batch, ctx, record)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_rss_mb": round(peak), "seconds": round(time.perf_counter() - started, 1),
                  "stages": times, "batch": len(record.batch_ids)}))
"""

FLOOR = """
import json, resource, sys, time
import numpy as np, pandas as pd, pyarrow.parquet as pq
from alflow.config import ModelConfig
from alflow.model import estimators
seed = pd.read_csv(sys.argv[2], dtype=str)
texts = pq.read_table(sys.argv[1], columns=["id", "text"], filters=[("id", "in", list(seed["id"]))]).to_pandas()
texts = texts.set_index("id").loc[seed["id"], "text"]
untrained = models.build_model(ModelConfig(preset="tfidf_logistic_regression"), seed=0)
model = models.train(untrained, texts, seed["label"].to_numpy())
started, best = time.perf_counter(), np.array([])
for batch in pq.ParquetFile(sys.argv[1], pre_buffer=False).iter_batches(batch_size=int(sys.argv[3]), columns=["text"]):
    proba = model.predict_proba(batch.column("text").to_pandas())
    margin = 1 - np.diff(np.sort(proba, axis=1)[:, -2:], axis=1).ravel()
    best = np.sort(np.concatenate([best, np.partition(margin, -100)[-100:]]))[-100:]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_rss_mb": round(peak), "seconds": round(time.perf_counter() - started, 1)}))
"""


def write_campaign(folder: Path, n: int) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from alflow.operations.corpus import support_tickets

    tickets = support_tickets(n + HOLDOUT, seed=0)
    pool, holdout = tickets.iloc[:n], tickets.iloc[n:]
    pq.write_table(pa.Table.from_pandas(pool[["id", "text"]], preserve_index=False), folder / "pool.parquet",
                   row_group_size=CHUNK)  # fmt: skip
    holdout[["text", "label"]].to_csv(folder / "holdout.csv", index=False)
    seed = pool.groupby("label").head(SEED_PER_CLASS)[["id", "label"]]
    seed.to_csv(folder / "seed.csv", index=False)
    campaign = {
        "campaign": "tickets",
        "pool": {"uri": "pool.parquet", "text_column": "text", "chunk_size": CHUNK},
        "seed_labels": {"uri": "seed.csv"},
        "holdout": {"uri": "holdout.csv"},
        "classes": ["billing", "shipping", "technical", "account"],
        "model": {"preset": "tfidf_logistic_regression"},
        "strategy": {"name": "auto", "batch_size": BATCH},
        "budget": {"max_labels": 10_000},
        "vendor": {"bucket": "bucket"},
        "tracking": {"uri": "sqlite:///mlflow.db"},
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path, folder / "seed.csv"


def child(code: str, *args: str) -> dict:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "MLFLOW_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    rows, started = [], time.time()
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="alflow-text-round-") as tmp:
            folder = Path(tmp)
            path, seed = write_campaign(folder, n)
            round_ = child(ROUND, str(path))
            floor = child(FLOOR, str(folder / "pool.parquet"), str(seed), str(CHUNK))
        rows.append({"pool": n, "round": round_, "floor": floor, "load_average": os.getloadavg()[0]})
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "seconds": round(time.time() - started),
        "rows": rows,
        "parent_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "text_round_memory.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# A text round's peak memory against the pool's size",
        "",
        f"`python benchmarks/text_round_memory.py --sizes {args.sizes}` on {result['machine']}, "
        f"{result['seconds']} s in all. Generated support tickets in Parquet (row groups of {CHUNK:,}), "
        f"TF-IDF preset, `auto` with {4 * SEED_PER_CLASS} seed labels (so margin + weighted k-means), "
        f"batch {BATCH}, chunks of {CHUNK:,}; one round as plain library calls in a fresh process. "
        "Floor: one streamed `predict_proba` pass over the texts plus a top-k, in its own process.",
        "",
        "| pool | round peak RSS (MB) | round s | open s | train s | select s | log s | export s "
        "| floor peak RSS (MB) | floor s | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        stages = r["round"]["stages"]
        lines.append(
            f"| {r['pool']:,} | {r['round']['peak_rss_mb']} | {r['round']['seconds']} | "
            f"{stages['open (validate, ingest)']} | {stages['train + evaluate']} | {stages['select']} | "
            f"{stages['log (MLflow)']} | {stages['export']} | {r['floor']['peak_rss_mb']} | {r['floor']['seconds']} | "
            f"{r['load_average']:.1f} |"
        )
    lines += ["", NOTE]
    (RESULTS / "text_round_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
