"""The pools the scale benchmarks read (/work/shared/BENCHMARK.md, "The whole round at scale").

make_classification(n + 2,000, n_features=20, n_informative=12, n_classes=10, random_state=0):
the first n rows are the pool (string ids `item-00000000`, in order), the last 2,000 the holdout;
1,000 seed labels drawn by np.random.default_rng(0). Written once per size under a data folder
(default: the system's temporary folder, `alflow-scale/`) and reused by later runs; the answer key
is kept as a NumPy array (`labels.npy`) so that a simulated vendor can label any batch.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

SEED_LABELS, HOLDOUT, FEATURES = 1000, 2000, [f"f{i}" for i in range(20)]
ROW_GROUP = 1_000_000  # pyarrow's default row group size (1 Mi rows), rounded


def data_root() -> Path:
    return Path(os.environ.get("ALFLOW_SCALE_DATA") or Path(tempfile.gettempdir()) / "alflow-scale")


def item_id(i: int) -> str:
    return f"item-{i:08d}"


def write_data(n: int, *, files: int = 1) -> Path:
    """The folder holding `pool.parquet` (files == 1) or `pool/part-NNNNN.parquet`, seed.csv,
    holdout.csv and labels.npy for a pool of `n` rows; written unless it is there already."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import make_classification

    folder = data_root() / f"pool-{n}-{files}"
    if (folder / "_COMPLETE").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    X, y = make_classification(n + HOLDOUT, n_features=20, n_informative=12, n_classes=10, random_state=0)
    np.save(folder / "labels.npy", y[:n].astype(np.int8))
    pd.DataFrame(X[n:], columns=FEATURES).assign(label=y[n:].astype(str)).to_csv(folder / "holdout.csv", index=False)
    seed = np.sort(np.random.default_rng(0).choice(n, SEED_LABELS, replace=False))
    pd.DataFrame({"id": [item_id(i) for i in seed], "label": y[seed].astype(str)}).to_csv(
        folder / "seed.csv", index=False
    )
    schema = pa.schema([("id", pa.string()), *((c, pa.float64()) for c in FEATURES)])
    bounds = np.linspace(0, n, files + 1).astype(int)
    if files > 1:
        (folder / "pool").mkdir(exist_ok=True)
    for f in range(files):
        path = folder / "pool.parquet" if files == 1 else folder / "pool" / f"part-{f:05d}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(bounds[f], bounds[f + 1], ROW_GROUP):
                stop = min(start + ROW_GROUP, bounds[f + 1])
                columns = {"id": pa.array([item_id(i) for i in range(start, stop)])}
                columns |= {c: X[start:stop, j] for j, c in enumerate(FEATURES)}
                writer.write_table(pa.table(columns, schema=schema))
    (folder / "_COMPLETE").write_text(f"{time.perf_counter() - started:.1f} s\n")
    return folder


def pool_path(folder: Path) -> Path:
    return folder / "pool" if (folder / "pool").is_dir() else folder / "pool.parquet"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
