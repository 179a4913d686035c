"""What the log stage's first uses cost in a fresh process, and three ways of saving its figures.

    python benchmarks/first_use.py [--repeats 5]

Imports: in a fresh process per repeat, after what a round has imported before its log stage
(`alflow.operations.plain`, scikit-learn's logistic regression), the CPU seconds of each first use in the
log stage's order, the collector paused as the stage pauses it (alflow.collector): `import mlflow`; its
SQL tracking store's module; creating the tracking and the registry store for a SQLite URI whose
database exists, as a campaign's does after its first round (once per process: MLflow caches them per
URI); `import skops.io`, split into scikit-learn's `all_estimators()` (which skops calls when
imported; whether it imported dask) and the rest; matplotlib's Figure and Agg canvas.

Figures: a round's four figures (alflow.reporting.plots; ten classes, ten rounds) drawn and saved as
PNG in one process, median CPU seconds over `--repeats` after two unmeasured rounds: each through its
own canvas (`Figure.savefig`), through the renderers the log stage keeps for the process
(`plots.save_png`: matplotlib caches text metrics per renderer), and with `Figure.savefig` at PNG
compression level 1; their bytes, and whether their pixels are `Figure.savefig`'s.
Writes benchmarks/results/first_use.{json,md}.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

IMPORTS = r"""
import gc, json, sys, time
import alflow.operations.plain, sklearn.linear_model
clock = time.process_time
seconds = {}
gc.disable()
def step(name, action):
    started = clock(); action(); seconds[name] = clock() - started
step("import mlflow", lambda: __import__("mlflow"))
step("MLflow's SQL store module", lambda: __import__("mlflow.store.tracking.sqlalchemy_store"))
def stores():
    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=URI, registry_uri=URI)
    client._tracking_client.store, client._get_registry_client().store
step("creating the SQLite stores", stores)
had_dask = "dask" in sys.modules
def estimators():
    from sklearn.utils import all_estimators
    all_estimators()
step("skops: scikit-learn's all_estimators()", estimators)
dask = "dask" in sys.modules and not had_dask
step("skops: the rest of import skops.io", lambda: __import__("skops.io"))
def drawing():
    import matplotlib.figure, matplotlib.backends.backend_agg
step("matplotlib Figure and Agg", drawing)
gc.enable()
print(json.dumps({"seconds": seconds, "dask": dask}))
"""


CREATE = "from mlflow import MlflowClient; MlflowClient('{uri}', '{uri}')._tracking_client.store"


def imports(repeats: int) -> dict:
    runs = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="alflow-first-use-") as folder:
            uri = f"sqlite:///{folder}/mlflow.db"
            subprocess.run([sys.executable, "-c", CREATE.format(uri=uri)], env=env, check=True)  # as a campaign's
            code = f"URI = {uri!r}\n" + IMPORTS
            done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.splitlines()[-1]))
    return {"runs": runs}


def _figures() -> dict:
    import numpy as np

    from alflow.reporting import plots

    rng = np.random.default_rng(0)
    classes = [str(c) for c in range(10)]
    labels = list(range(100, 1100, 100))
    return {
        "learning_curve": plots.learning_curve(
            labels,
            [0.3 + 0.04 * i for i in range(10)],
            metric="accuracy",
            reference={"random": (labels, [0.28 + 0.035 * i for i in range(10)])},
            target=0.9,
        ),
        "class_balance": plots.class_balance(dict(zip(classes, map(int, rng.integers(50, 150, 10)), strict=True))),
        "budget_burndown": plots.budget_burndown(
            list(range(1, 11)), [9900 - 100 * i for i in range(1, 11)], max_labels=10_000, seed_labels=100
        ),
        "confusion_matrix": plots.confusion_matrix(rng.integers(0, 400, (10, 10)), classes),
    }


def figures(repeats: int) -> dict:
    from alflow.reporting import plots

    def saved(figure, **kwargs) -> bytes:
        out = io.BytesIO()
        figure.savefig(out, format="png", **kwargs)
        return out.getvalue()

    def kept(figure) -> bytes:
        out = io.BytesIO()
        plots.save_png(figure, out)
        return out.getvalue()

    ways = {
        "Figure.savefig (each figure its own canvas)": saved,
        "plots.save_png (renderers kept, as the log stage)": kept,
        "Figure.savefig, PNG compression level 1": lambda f: saved(f, pil_kwargs={"compress_level": 1}),
    }
    result: dict = {}
    for _ in range(2):
        for way in ways.values():
            for figure in _figures().values():
                way(figure)
    for name, way in ways.items():
        seconds, size, same = [], 0, True
        for _ in range(repeats):
            started = time.process_time()
            pngs = {key: way(figure) for key, figure in _figures().items()}
            seconds.append(time.process_time() - started)
            size = sum(len(p) for p in pngs.values())
        reference = {key: saved(figure) for key, figure in _figures().items()}
        same = _pixels(pngs) == _pixels(reference)
        result[name] = {"seconds": seconds, "bytes": size, "same_pixels": same}
    return result


def _pixels(pngs: dict) -> dict:
    import numpy as np
    from PIL import Image

    return {key: np.asarray(Image.open(io.BytesIO(png))).tobytes() for key, png in pngs.items()}


def markdown(result: dict) -> str:
    lines = [
        "# The log stage's first uses, and three ways of saving its figures",
        "",
        f"`{result['command']}` on {result['date']}. Load average (1, 5, 15 min) {result['load']['start']} at the "
        f"start, {result['load']['end']} at the end (2 cores shared with other engineers' work). CPU seconds.",
        "",
        "First uses in a fresh process, after what a round imports before its log stage, in the stage's order, "
        "the collector paused as the stage pauses it (median, min-max over the processes):",
        "",
        "| first use | CPU s (median) | min-max |",
        "|---|---|---|",
    ]
    runs = result["imports"]["runs"]
    for name in runs[0]["seconds"]:
        values = [r["seconds"][name] for r in runs]
        lines.append(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} |")
    dask = sum(r["dask"] for r in runs)
    lines += [
        "",
        f"scikit-learn's all_estimators() imported dask in {dask} of {len(runs)} processes.",
        "",
        "A round's four figures drawn and saved as PNG (median over the repeats, after two unmeasured rounds):",
        "",
        "| way | CPU s (median) | bytes | same pixels as Figure.savefig |",
        "|---|---|---|---|",
    ]
    for name, way in result["figures"].items():
        same = "yes" if way["same_pixels"] else "no"
        lines.append(f"| {name} | {statistics.median(way['seconds']):.3f} | {way['bytes']:,} | {same} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load = {"start": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    result["imports"] = imports(args.repeats)
    result["figures"] = figures(args.repeats)
    load["end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    result["load"] = load
    result["command"] = f"python benchmarks/first_use.py --repeats {args.repeats}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "first_use.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (RESULTS / "first_use.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
