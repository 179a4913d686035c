"""The pools the scale benchmarks read (/work/shared/BENCHMARK.md, "The whole round at scale").

make_classification(n + 2,000, n_features=20, n_informative=12, n_classes=10, random_state=0):
the first n rows are the pool (string ids `item-00000000`, in order), the last 2,000 the holdout;
1,000 seed labels drawn by np.random.default_rng(0). Written once per size under a data folder
(default: the system's temporary folder, `alflow-scale/`) and reused by later runs; the answer key
is kept as a NumPy array (`labels.npy`) so that a simulated vendor can label any batch.

make_classification draws every row at once (16 GB of float64 at 10^8 rows), so `write_streamed`
makes pools of any size file by file instead, holding one file's rows at a time: 10 float32
features (half make_classification's, so that 10^8 rows are 4 GB of features and a run fits a
shared 2-core machine), 10 classes, one Gaussian blob each (centres drawn once from
default_rng(0) on 6 informative dimensions, 4 pure noise dimensions, unit noise), file f drawn by
default_rng([0, f]), written uncompressed (random floats do not compress: Snappy saved under 1 %
and cost CPU); the same ids and seed-label draw, and a 2,000-row holdout from its own stream. Its
answer key is written through a memory map, a file's slice at a time.
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


STREAMED_FEATURES, CLASSES, INFORMATIVE, SPREAD = FEATURES[:10], 10, 6, 1.2
"""The streamed pools' classes, their informative dimensions and the spread of the class centres
(chosen so a logistic regression on the 1,000 seed labels is right about 3 times in 4)."""


def _blobs(rng: np.random.Generator, rows: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`rows` labels and float32 features drawn around the class `centres`, features as rows of X.T
    (each feature contiguous, as Parquet's columns are)."""
    y = rng.integers(0, CLASSES, rows).astype(np.int8)
    XT = rng.standard_normal((len(STREAMED_FEATURES), rows), dtype=np.float32)
    XT[:INFORMATIVE] += centres[y].T
    return y, XT


def id_array(start: int, stop: int):
    """`item_id(i)` for i in [start, stop) as an Arrow string array, built from digits without a
    Python string per id."""
    import pyarrow as pa

    width = len(item_id(0))
    digits = width - len("item-")
    block = np.empty((stop - start, width), np.uint8)
    block[:, : width - digits] = np.frombuffer(b"item-", np.uint8)
    numbers = np.arange(start, stop, dtype=np.int64)
    for place in range(digits):
        block[:, width - 1 - place] = ord("0") + numbers // 10**place % 10
    offsets = np.arange(0, (stop - start + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(stop - start, pa.py_buffer(offsets), pa.py_buffer(block.tobytes()))


def write_streamed(n: int, *, files: int = 1) -> Path:
    """`write_data`'s folder for a pool of `n` rows drawn file by file (float32; see the docstring):
    memory holds one file's rows, whatever `n`. Written unless it is there already."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = data_root() / f"streamed-{n}-{files}"
    if (folder / "_COMPLETE").exists():
        return folder
    (folder / "pool").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    centres = (np.random.default_rng(0).standard_normal((CLASSES, INFORMATIVE)) * SPREAD).astype(np.float32)
    key = np.lib.format.open_memmap(folder / "labels.npy", mode="w+", dtype=np.int8, shape=(n,))
    schema = pa.schema([("id", pa.string()), *((c, pa.float32()) for c in STREAMED_FEATURES)])
    bounds = np.linspace(0, n, files + 1).astype(int)
    for f in range(files):
        start, stop = int(bounds[f]), int(bounds[f + 1])
        y, XT = _blobs(np.random.default_rng([0, f]), stop - start, centres)
        key[start:stop] = y
        columns = {"id": id_array(start, stop)} | dict(zip(STREAMED_FEATURES, XT, strict=True))
        path = folder / "pool" / f"part-{f:05d}.parquet"
        pq.write_table(pa.table(columns, schema=schema), path, row_group_size=ROW_GROUP, compression="none")
        del XT, columns
    key.flush()
    y, XT = _blobs(np.random.default_rng([1, files]), HOLDOUT, centres)
    holdout = pd.DataFrame(XT.T, columns=STREAMED_FEATURES).assign(label=y.astype(str))
    holdout.to_csv(folder / "holdout.csv", index=False)
    seed = np.sort(np.random.default_rng(0).choice(n, SEED_LABELS, replace=False))
    pd.DataFrame({"id": [item_id(i) for i in seed], "label": key[seed].astype(str)}).to_csv(
        folder / "seed.csv", index=False
    )
    del key
    (folder / "_COMPLETE").write_text(f"{time.perf_counter() - started:.1f} s\n")
    return folder


def pool_path(folder: Path) -> Path:
    return folder / "pool" if (folder / "pool").is_dir() else folder / "pool.parquet"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
