"""`alflow check` and the checks `alflow round` runs before it starts Prefect: every bad set-up input
gets one line (what is wrong, what to do), found by validation, before any work.

The table below is the fault suite: one bad input each, made from the demo campaign. Each is run
through `alflow check` (exit 1, one error line, no traceback) and through `alflow round`, which
must say the same line and never reach Prefect.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import cli.rounds
from alflow.operations.demo import write_demo_data
from cli import app

runner = CliRunner()
Mutation = Callable[[Path, dict], None]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


def edit_pool(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Mutation:
    def mutate(folder: Path, raw: dict) -> None:
        path = folder / "data" / "pool.csv"
        change(pd.read_csv(path, dtype={"id": str})).to_csv(path, index=False)

    return mutate


def edit_csv(name: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Mutation:
    def mutate(folder: Path, raw: dict) -> None:
        path = folder / "data" / name
        change(pd.read_csv(path, dtype=str)).to_csv(path, index=False)

    return mutate


def write_file(name: str, data: bytes) -> Mutation:
    def mutate(folder: Path, raw: dict) -> None:
        (folder / "data" / name).write_bytes(data)

    return mutate


def setting(section: str, key: str, value) -> Mutation:
    def mutate(folder: Path, raw: dict) -> None:
        raw.setdefault(section, {})[key] = value

    return mutate


def cell(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.loc[row, column] = value
    return frame


def to_parquet_garbage(folder: Path, raw: dict) -> None:
    (folder / "data" / "pool.parquet").write_bytes(b"not parquet at all")
    raw["pool"]["uri"] = "data/pool.parquet"


def bucket_is_a_file(folder: Path, raw: dict) -> None:
    (folder / "a-file").write_text("x")
    raw["vendor"]["bucket"] = "a-file"


def unreachable_s3(folder: Path, raw: dict) -> None:
    raw["vendor"]["bucket"] = "s3://team-bucket/campaigns"
    os.environ["AWS_ENDPOINT_URL_S3"] = f"http://127.0.0.1:{_closed_port()}"


def tracking_db_not_sqlite(folder: Path, raw: dict) -> None:
    (folder / "mlflow.db").write_text("this is not a database")


FAULTS: list[tuple[str, Mutation, str, str]] = [
    # id, mutation, the check that finds it, a fragment of its line
    ("unknown-key", setting("pool", "uri_typo", "x"), "campaign", "pool.uri_typo: unknown key 'uri_typo'"),
    ("unknown-strategy", setting("strategy", "name", "smartest"), "campaign", "unknown strategy 'smartest'"),
    ("gs-bucket", setting("vendor", "bucket", "gs://team/labels"), "campaign", "gs:// is not supported"),
    ("gs-pool", setting("pool", "uri", "gs://team/pool.csv"), "campaign", "gs:// is not supported"),
    ("s3-without-bucket", setting("vendor", "bucket", "s3:///x"), "campaign", "name the bucket"),
    ("tracking-no-scheme", setting("tracking", "uri", "mlflow.db"), "campaign", "not an MLflow tracking URI"),
    ("tracking-unknown-scheme", setting("tracking", "uri", "ftp://host/x"), "campaign", "not an MLflow tracking URI"),
    ("zero-batch", setting("strategy", "batch_size", 0), "campaign", "batch_size: Input should be greater than 0"),
    ("zero-in-flight", setting("vendor", "batches_in_flight", 0), "campaign", "batches_in_flight: Input should be"),
    ("wrong-pool-path", setting("pool", "uri", "data/nope.csv"), "inputs", "nope.csv: file not found"),
    ("missing-id-column", setting("pool", "id_column", "item"), "inputs", "required column 'item' is missing"),
    ("missing-feature", setting("pool", "feature_columns", ["px0", "px99"]), "inputs", "column 'px99' is missing"),
    ("duplicate-ids", edit_pool(lambda f: cell(f, 5, "id", f.loc[4, "id"])), "inputs", "must be unique"),
    ("empty-id", edit_pool(lambda f: cell(f, 5, "id", None)), "inputs", "column 'id' must not be empty"),
    ("nan-feature", edit_pool(lambda f: cell(f, 7, "px3", float("nan"))), "inputs", "'px3' has an empty value (NaN)"),
    ("string-feature", edit_pool(lambda f: cell(f, 9, "px5", "bright")), "inputs", "'px5' is not numeric"),
    ("infinite-feature", edit_pool(lambda f: cell(f, 2, "px1", float("inf"))), "inputs", "'px1' holds infinity"),
    ("empty-pool-file", write_file("pool.csv", b""), "inputs", "pool.csv: the file is empty"),
    ("header-only-pool", edit_pool(lambda f: f.iloc[:0]), "inputs", "the pool has no items"),
    ("pool-not-parquet", to_parquet_garbage, "inputs", "not a readable Parquet file"),
    ("wrong-seed-path", setting("seed_labels", "uri", "data/nope.csv"), "inputs", "nope.csv: file not found"),
    ("empty-seed-file", write_file("seed.csv", b""), "inputs", "seed.csv: the file is empty"),
    ("header-only-seed", edit_csv("seed.csv", lambda f: f.iloc[:0]), "inputs", "the seed labels are empty"),
    ("seed-not-csv", write_file("seed.csv", b"id,label\n\x00\xff\xfe,\xff\n"), "inputs", "seed.csv"),
    ("seed-label-column", setting("seed_labels", "label_column", "class"), "inputs", "required column 'class'"),
    ("seed-outside-classes", edit_csv("seed.csv", lambda f: cell(f, 0, "label", "11")), "inputs", "class set"),
    ("seed-not-in-pool", edit_csv("seed.csv", lambda f: cell(f, 0, "id", "digit-9999")), "inputs", "not in the pool"),
    ("holdout-nan", edit_csv("holdout.csv", lambda f: cell(f, 3, "px2", None)), "inputs", "'px2' has an empty value"),
    ("holdout-outside-classes", edit_csv("holdout.csv", lambda f: cell(f, 0, "label", "x")), "inputs", "class set"),
    ("budget-below-seeds", setting("budget", "max_labels", 10), "inputs", "fewer than the 20 seed labels"),
    ("estimator-path", lambda f, raw: raw.update(model={"estimator": "sklearn.svm.SVX"}), "model", "cannot import"),
    ("preset-param", setting("model", "params", {"C": -1}), "model", "The 'C' parameter of LogisticRegression"),
    ("preset-unknown-param", setting("model", "params", {"depth": 3}), "model", "unexpected keyword argument"),
    ("bucket-is-a-file", bucket_is_a_file, "bucket", "cannot write the campaign's prefix"),
    ("s3-unreachable", unreachable_s3, "bucket", "the S3 endpoint did not answer"),
    ("sqlite-folder", setting("tracking", "uri", "sqlite:///no/such/dir/mlflow.db"), "tracking", "does not exist"),
    ("sqlite-not-a-db", tracking_db_not_sqlite, "tracking", "is not an SQLite database"),
    ("tracking-down", setting("tracking", "uri", f"http://127.0.0.1:{_closed_port()}"), "tracking", "did not answer"),
    ("postgres-down", setting("tracking", "uri", f"postgresql://u@127.0.0.1:{_closed_port()}/x"), "tracking", "answer"),
    ("reference-curve", setting("tracking", "reference_curve", "curves.json"), "tracking", "file not found"),
]


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo-template")
    write_demo_data(folder, bucket=None, max_labels=60, batch_size=10)
    return folder


@pytest.fixture
def faulty(tmp_path, request, monkeypatch, demo_folder):
    """The demo campaign with one fault of FAULTS applied; yields (campaign file, check, fragment)."""
    _, mutate, check, fragment = request.param
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", os.environ.get("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9"))
    shutil.copytree(demo_folder, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "campaign.yaml"
    raw = yaml.safe_load(path.read_text())
    mutate(tmp_path, raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path, check, fragment


def errors_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error")]


def checked_line(path: Path, check: str, fragment: str) -> str:
    """`alflow check` on a faulty campaign: exit 1 and exactly one error line, from `check`."""
    checked = runner.invoke(app, ["check", str(path)])
    assert checked.exit_code == 1, checked.output
    [line] = errors_in(checked.output)
    assert line.startswith(f"error {check}: ") and fragment in line, checked.output
    assert "Traceback" not in checked.output
    return line


@pytest.mark.parametrize("faulty", FAULTS, ids=[f[0] for f in FAULTS], indirect=True)
def test_check_gives_each_bad_input_one_line(faulty):
    checked_line(*faulty)


# One fault per check: `alflow round` runs the same checks (cli.rounds.precheck) before Prefect.
BEFORE_ROUND = [
    "gs-bucket",
    "nan-feature",
    "header-only-seed",
    "budget-below-seeds",
    "preset-param",
    "s3-unreachable",
    "tracking-down",
]


@pytest.mark.parametrize("faulty", [f for f in FAULTS if f[0] in BEFORE_ROUND], ids=BEFORE_ROUND, indirect=True)
def test_round_says_the_same_line_before_prefect_starts(faulty, monkeypatch):
    line = checked_line(*faulty)

    def prefect_must_not_start(*args, **kwargs):
        raise AssertionError("the round reached Prefect")

    monkeypatch.setattr(cli.rounds, "run_round", prefect_must_not_start)
    rounded = runner.invoke(app, ["round", str(faulty[0])])

    assert rounded.exit_code == 1, rounded.output
    assert errors_in(rounded.output) == [line.replace("error ", "error: ", 1)], rounded.output


def test_a_missing_or_broken_campaign_file_is_one_line(tmp_path):
    missing = runner.invoke(app, ["check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and errors_in(missing.output) == [
        f"error campaign: {tmp_path / 'nope.yaml'}: cannot read the campaign file (No such file or directory)"
    ]
    (tmp_path / "bad.yaml").write_text("campaign: [unclosed\n")
    broken = runner.invoke(app, ["check", str(tmp_path / "bad.yaml")])
    assert broken.exit_code == 1 and "not valid YAML at line" in broken.output


def test_a_good_campaign_passes_every_check_and_json_says_so(campaign_file):
    human = runner.invoke(app, ["check", str(campaign_file)])
    assert human.exit_code == 0, human.output
    assert [line.split(":")[0] for line in human.output.splitlines()] == [
        "ok    campaign",
        "ok    inputs",
        "ok    model",
        "ok    bucket",
        "ok    tracking",
    ]
    assert "1257 items, 64 feature column(s); 20 seed labels, a holdout of 540; budget 60 labels" in human.output

    machine = runner.invoke(app, ["check", str(campaign_file), "--json"])
    report = json.loads(machine.stdout)
    assert machine.exit_code == 0 and report["ok"] is True
    assert [c["check"] for c in report["checks"]] == ["campaign", "inputs", "model", "bucket", "tracking"]


def test_checking_a_folder_bucket_writes_nothing_there(campaign_file, campaign):
    bucket = Path(campaign.vendor.bucket)
    assert not bucket.exists()
    assert runner.invoke(app, ["check", str(campaign_file)]).exit_code == 0
    assert not bucket.exists()  # a folder's writability is asked of the file system

    bucket.mkdir(parents=True)
    bucket.chmod(0o500)
    try:
        checked = runner.invoke(app, ["check", str(campaign_file)])
        if os.getuid() != 0:  # root writes anywhere: the file system says yes
            assert checked.exit_code == 1 and "is not writable by this user" in checked.output
        assert list(bucket.iterdir()) == []
    finally:
        bucket.chmod(0o700)


def test_several_problems_are_one_line_each_and_json_lists_them(tmp_path):
    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10)
    raw = yaml.safe_load(path.read_text())
    raw["pool"]["uri"] = "data/nope.csv"
    raw["model"]["params"] = {"C": 0}
    raw["tracking"]["uri"] = "sqlite:///missing/mlflow.db"
    path.write_text(yaml.safe_dump(raw))

    result = runner.invoke(app, ["check", str(path), "--json"])

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(c["check"], c["ok"]) for c in report["checks"]] == [
        ("campaign", True),
        ("inputs", False),
        ("model", False),
        ("bucket", True),
        ("tracking", False),
    ]


def test_work_pool_is_checked_on_the_prefect_api(campaign_file, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{_closed_port()}/api")
    result = runner.invoke(app, ["check", str(campaign_file), "--work-pool", "alflow-process"])
    assert result.exit_code == 1
    [line] = errors_in(result.output)
    assert line.startswith("error work_pool: http://127.0.0.1:") and "did not answer" in line


def test_check_starts_neither_prefect_nor_mlflow(campaign_file):
    code = (
        "import sys\n"
        "from alflow.operations.preflight import check_campaign\n"
        f"assert all(f.ok for f in check_campaign({str(campaign_file)!r}))\n"
        "print(sorted(m for m in ('prefect', 'mlflow') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_cli_switches_analytics_off_itself(monkeypatch, tmp_path):
    for name in ("PREFECT_SERVER_ANALYTICS_ENABLED", "GX_ANALYTICS_ENABLED", "MLFLOW_DISABLE_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)
    code = (
        "import os, sys\n"
        "from cli import app\n"
        f"sys.argv = ['alflow', 'init', 'x', '--path', {str(tmp_path / 'no-dir' / 'x.yaml')!r}]\n"
        "try:\n    app()\n"
        "except SystemExit:\n    pass\n"
        "print(os.environ['PREFECT_SERVER_ANALYTICS_ENABLED'], os.environ['GX_ANALYTICS_ENABLED'],"
        " os.environ['MLFLOW_DISABLE_TELEMETRY'])\n"
    )
    env = {k: v for k, v in os.environ.items() if "ANALYTICS" not in k and "TELEMETRY" not in k}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split()[-3:] == ["false", "false", "true"], done.stdout + done.stderr
    assert done.stderr.strip() == f"error: cannot write {tmp_path / 'no-dir' / 'x.yaml'}: No such file or directory"


def test_a_campaign_that_simulate_runs_passes_check_with_its_answers_column(campaign_file):
    """`alflow simulate --answers truth` reads the pool's truth column as the oracle, not a feature:
    `alflow check --answers truth` checks the same campaign the same way."""
    data = campaign_file.parent / "data"
    pool = pd.read_csv(data / "pool.csv", dtype={"id": str})
    answers = pd.read_csv(data / "answers.csv", dtype=str).rename(columns={"label": "truth"})
    pool.merge(answers, on="id").to_csv(data / "pool.csv", index=False)
    plain = runner.invoke(app, ["check", str(campaign_file)])
    assert plain.exit_code == 1 and "truth" in plain.output  # a round would read it as a feature
    checked = runner.invoke(app, ["check", str(campaign_file), "--answers", "truth"])
    assert checked.exit_code == 0, checked.output
    assert "answers in 'truth'" in checked.output and "64 feature column(s)" in checked.output
    wrong = runner.invoke(app, ["check", str(campaign_file), "--answers", "label"])
    assert wrong.exit_code == 1 and "no answers column 'label'" in wrong.output
