"""Validation alone at scale: `alflow.round.inputs.validate_inputs` against a pass that reads the id column.

    python benchmarks/validation_scale.py --rows 100000 1000000 10000000 [--baseline] [--streamed --files N]

For each size, two pools (benchmarks/scale_data.py): the ids in order, as generated, and the same
ids shuffled (features zero there: only the id column is read). Each measurement runs in a fresh
process; seconds are the call's own (imports excluded), peak RSS is the process's (wait4):

- id pass: pyarrow reads the id column in 50,000-row batches and does nothing else;
- validate: a first validation (the streamed id check, the seed labels against the pool, GX on
  the seed labels and the holdout; recorded in the bucket), then the same call again (reused);
- with --baseline, the validation of alflow before this change (commit b52196e: the id column
  read whole, GX not-null and unique on it, `isin` on Arrow strings), ordered pool only.

With `--streamed --files N` the pools are benchmarks/round_scale.py's `--streamed` pools, N files
drawn file by file (10 float32 features: real features, so the feature check reads them), and the
second pool is the same files hard-linked under names in the reverse order ("files reversed"):
each file's ids still increase but the pool's fall at every file boundary, so from the second
file on every id is hashed and the hashes are spilled to disk and sorted (alflow.data.ids), at
no cost of disk or of shuffling 10^8 ids in memory.
Writes benchmarks/results/validation_scale[_streamed_Nfiles].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_data import FEATURES, data_root, load_average, pool_path, write_data, write_streamed

RESULTS = Path(__file__).parent / "results"
BASELINE = "b52196e"
REPO = Path(__file__).resolve().parent.parent


def shuffled_pool(data: Path) -> Path:
    """The pool's ids in a random order (seeded), with zero features: a file of the same rows and columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = data / "pool-shuffled.parquet"
    if path.exists():
        return path
    ids = pq.read_table(pool_path(data), columns=["id"]).column("id")
    order = np.random.default_rng(1).permutation(len(ids))
    zeros = pa.array(np.zeros(len(ids)))
    table = pa.table({"id": ids.take(pa.array(order)), **dict.fromkeys(FEATURES, zeros)})
    pq.write_table(table, path.with_suffix(".part"), row_group_size=1_000_000)
    path.with_suffix(".part").rename(path)
    return path


def reversed_pool(data: Path) -> Path:
    """The pool folder's files hard-linked under names in the reverse order (see the docstring)."""
    source = pool_path(data)
    path = data / "pool-files-reversed"
    if not path.exists():
        files = sorted(source.glob("*.parquet"))
        path.with_suffix(".part").mkdir(exist_ok=True)
        for i, file in enumerate(reversed(files)):
            os.link(file, path.with_suffix(".part") / f"part-{i:05d}.parquet")
        path.with_suffix(".part").rename(path)
    return path


def campaign(folder: Path, data: Path, pool: Path) -> Path:
    import yaml

    folder.mkdir(parents=True)
    raw = {
        "campaign": "validation",
        "pool": {"uri": str(pool), "id_column": "id", "chunk_size": 50_000},
        "seed_labels": {"uri": str(data / "seed.csv"), "label_column": "label"},
        "holdout": {"uri": str(data / "holdout.csv"), "label_column": "label"},
        "classes": [str(c) for c in range(10)],
        "budget": {"max_labels": 100_000},
        "vendor": {"bucket": str(folder / "bucket")},
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}"},
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


ID_PASS = """
import sys, time, pathlib, pyarrow.parquet as pq
started, rows = time.perf_counter(), 0
pool = pathlib.Path(sys.argv[1])
for path in sorted(pool.glob("*.parquet")) if pool.is_dir() else [pool]:
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=50_000, columns=["id"]):
        rows += batch.num_rows
print(time.perf_counter() - started)
print(next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""

VALIDATE = """
import os, sys, time
if os.environ.get("ALFLOW_BASELINE"):  # the editable install's finder would otherwise import today's alflow
    sys.meta_path = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
    sys.path.insert(0, os.environ["ALFLOW_BASELINE"])
from alflow.config import load_campaign
from alflow.round.inputs import validate_inputs
config = load_campaign(sys.argv[1])
seconds = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    inputs = validate_inputs(config)
    seconds.append(time.perf_counter() - started)
assert len(inputs.seed_labels) == 1000
import alflow
assert alflow.__file__.startswith(os.environ.get("ALFLOW_BASELINE", "")), alflow.__file__
print(" ".join(map(str, seconds)))
print(next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


def measure(code: str, *args: str, pythonpath: str | None = None) -> tuple[list[float], int]:
    """(the seconds the process printed, its peak RSS in bytes: VmHWM, the high-water mark since its exec)."""
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    if pythonpath:
        env["ALFLOW_BASELINE"] = pythonpath
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"measurement failed: {done.stdout}{done.stderr[-3000:]}")
    *seconds, peak = done.stdout.strip().splitlines()
    return [float(v) for v in " ".join(seconds).split()], int(peak)


def baseline_tree(work: Path) -> Path:
    tree = work / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BASELINE, "alflow"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--baseline", action="store_true", help=f"also time the validation of {BASELINE}")
    parser.add_argument("--streamed", action="store_true", help="round_scale's --streamed pools (see the docstring)")
    parser.add_argument("--files", type=int, default=1, help="with --streamed: the pool in this many files")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alflow-validation-scale-", dir=data_root().parent))
    results, start_load = [], load_average()
    tree = baseline_tree(work) if args.baseline else None
    for n in args.rows:
        data = write_streamed(n, files=args.files) if args.streamed else write_data(n)
        second = ("files reversed", reversed_pool(data)) if args.streamed else ("shuffled", shuffled_pool(data))
        for order, pool in (("in order", pool_path(data)), second):
            row: dict = {"rows": n, "ids": order, "load": load_average()}
            (row["id_pass"],), row["id_pass_rss"] = measure(ID_PASS, str(pool))
            config = campaign(work / f"{n}-{order.replace(' ', '-')}", data, pool)
            (row["validate"], row["reused"]), row["validate_rss"] = measure(VALIDATE, str(config), "2")
            if tree is not None and order == "in order":
                config = campaign(work / f"{n}-baseline", data, pool)
                (row["baseline"],), row["baseline_rss"] = measure(VALIDATE, str(config), "1", pythonpath=str(tree))
            results.append(row)
            print(row, flush=True)
    command = "python benchmarks/validation_scale.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    name = f"validation_scale_streamed_{args.files}files" if args.streamed else "validation_scale"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown(results, command, (start_load, load_average()), args.streamed))
    print((RESULTS / f"{name}.md").read_text())


def markdown(results: list[dict], command: str, loads: tuple[str, str], streamed: bool = False) -> str:
    mb = 2**20
    lines = [
        "# Validation at scale",
        "",
        f"Produced by `{command}`. Method in the script's docstring: each figure from a fresh process, seconds of "
        "the call alone, peak RSS of the whole process (VmHWM; imports included). The pools are those of "
        + (
            "benchmarks/round_scale.py --streamed (Parquet files, 10 float32 features, string ids; 'files reversed': "
            "the same files named in the reverse order, so every id after the first file is hashed)."
            if streamed
            else "benchmarks/round_scale.py (Parquet, 20 float features, string ids)."
        ),
        "",
        f"Shared 2-core machine: load average {loads[0]} at the start, {loads[1]} at the end (1, 5, 15 min).",
        "",
        "| pool rows | ids | id-column pass s | validate s | validate / pass | reused s | id pass peak MB "
        "| validate peak MB | before this change s | before, peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        before = f"{r['baseline']:.2f} | {r['baseline_rss'] / mb:,.0f}" if "baseline" in r else "- | -"
        lines.append(
            f"| {r['rows']:,} | {r['ids']} | {r['id_pass']:.2f} | {r['validate']:.2f} | "
            f"{r['validate'] / r['id_pass']:.1f} | {r['reused']:.3f} | {r['id_pass_rss'] / mb:,.0f} | "
            f"{r['validate_rss'] / mb:,.0f} | {before} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
