"""alflow's warm runner (cli.runner, cli.handoff): `alflow round` handed to it gives what the round in
its own process gives (stdout, exit code, --json, the error line), with the client's environment,
folder and sys.path; a client killed mid-round stops its round, and the next round goes on; a stale
record is replaced; `alflow server stop` stops it.

The suite switches the runner off (tests/conftest.py); these tests switch it on, in PREFECT_HOMEs of
their own, and run the console script as pip writes it for `alflow = "cli:main"`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alflow.operations.demo import write_demo_data
from cli import app
from cli.handoff import hand_off
from cli.rounds import warm_next_rounds
from cli.runner import (
    IMPORT_ENVIRONMENT,
    USAGE_FILE,
    Runner,
    RunnerFiles,
    answers,
    fingerprint,
    import_environment,
    is_running,
    recorded,
    refusal,
    running_runner,
    single_threaded,
    start_runner,
    stop_runner,
)

from helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]
OWN_RUNNER = pytest.mark.slow  # tests with a runner of their own (its preload: ~5 CPU s, once for the module's)
# What pip writes for `[project.scripts] alflow = "cli:main"` (this checkout's entry point, whatever
# the environment's installed script was generated from).
SCRIPT = (
    f"#!{sys.executable}\n"
    "import re\nimport sys\nfrom cli import main\n"
    "if __name__ == '__main__':\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit(main())\n"
)
# A classifier whose fit says it has begun, then waits for a file the test never writes: a round held mid-way.
GATED = (
    "import os, time\nfrom pathlib import Path\nfrom sklearn.linear_model import LogisticRegression\n\n\n"
    "class GatedLogistic(LogisticRegression):\n"
    "    def fit(self, X, y, sample_weight=None):\n"
    "        gate = Path(os.environ['GATE'])\n"
    "        gate.with_suffix('.fitting').write_text(str(os.getpid()))\n"
    "        while not gate.exists():\n"
    "            time.sleep(0.05)\n"
    "        return super().fit(X, y, sample_weight)\n"
)


def a_dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A runner answering in a PREFECT_HOME of its own, started without PREFECT_API_URL; yields
    (the `alflow` script, the environment a user's shell would give it, the runner)."""
    folder = tmp_path_factory.mktemp("runner")
    script = folder / "alflow"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    home = folder / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    for name in ("ALFLOW_RUNNER", "PREFECT_API_URL"):
        env.pop(name, None)
    started = start_runner(home, environment=env)
    assert started is not None
    wait_until(lambda: answers(home) == started.pid, what="the runner answering", detail=lambda: started.log)
    yield str(script), env, started
    stop_runner(home)
    assert not is_running(started, home)


def campaign(folder: Path, mlflow_template: Path) -> Path:
    folder.mkdir()
    shutil.copy(mlflow_template, folder / "mlflow.db")
    return write_demo_data(folder, bucket=None, max_labels=60, batch_size=10)


def through_runner(warm, folder: Path, *args: str, **more: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    """`alflow ARGS` typed in `folder`: the process, and what the round's process reported (None: it ran in-process)."""
    script, env, _ = warm
    usage = folder / "usage.json"
    usage.unlink(missing_ok=True)
    done = subprocess.run(
        [script, *args], cwd=folder, env={**env, USAGE_FILE: str(usage), **more}, capture_output=True, text=True
    )
    return done, json.loads(usage.read_text()) if usage.exists() else None


@OWN_RUNNER
def test_a_round_through_the_runner_is_the_round_in_process(
    warm, prefect_server, tmp_path, mlflow_template, monkeypatch
):
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()  # the runner was started without it: the round's environment names it
    for name in ("a", "b"):
        campaign(tmp_path / name, mlflow_template)

    handed, usage = through_runner(warm, tmp_path / "a", "round", "campaign.yaml", "--json", PREFECT_API_URL=api)
    monkeypatch.chdir(tmp_path / "b")
    warmed = []
    monkeypatch.setattr("cli.rounds.warm_next_rounds", warmed.append)
    here = CliRunner().invoke(app, ["round", "campaign.yaml", "--json"])

    assert handed.returncode == here.exit_code == 0, handed.stderr + here.output
    assert usage is not None and usage["runner"] == warm[2].pid and usage["exit"] == 0  # the runner's child ran it
    assert usage["user"] > 0.5  # the round's CPU came back to the client (which ran none of it)
    ours, theirs = (json.loads(text) for text in (handed.stdout, here.stdout))
    assert ours.pop("mlflow_run_id") != theirs.pop("mlflow_run_id")
    assert json.dumps(ours).replace(str(tmp_path / "a"), "X") == json.dumps(theirs).replace(str(tmp_path / "b"), "X")
    assert ours["status"] == "exported" and handed.stderr == ""
    assert [api.local for api in warmed] == [None]  # `alflow round` in its own process asks to warm the next
    assert running_runner(Path(warm[1]["PREFECT_HOME"])) is not None
    assert not (Path(warm[1]["PREFECT_HOME"]) / "alflow-server" / "server.json").exists()  # PREFECT_API_URL used


@OWN_RUNNER
def test_a_bad_campaign_file_is_the_same_one_line(warm, tmp_path):
    (tmp_path / "bad.yaml").write_text("campaign: [not closed\n")
    args = ["round", "bad.yaml", "--json"]  # its stderr line, and the error as JSON on stdout

    handed, usage = through_runner(warm, tmp_path, *args)
    here, none = through_runner(warm, tmp_path, *args, ALFLOW_RUNNER="off")

    assert usage is not None and none is None
    assert (handed.returncode, handed.stdout, handed.stderr) == (here.returncode, here.stdout, here.stderr)
    assert here.returncode == 1
    assert here.stderr.startswith("error: ") and len(here.stderr.splitlines()) == 1
    assert json.loads(here.stdout)["error"] in here.stderr


@OWN_RUNNER
def test_a_round_in_another_import_environment_runs_in_its_own_process(warm, tmp_path):
    (tmp_path / "bad.yaml").write_text("campaign: [not closed\n")

    done, usage = through_runner(warm, tmp_path, "round", "bad.yaml", "--verbose", OMP_NUM_THREADS="3")

    assert usage is None and done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        "alflow: alflow's runner did not take the round (environment: OMP_NUM_THREADS); running it here"
    )


def held_round(warm, folder: Path, mlflow_template: Path) -> tuple[subprocess.Popen, int, Path, Path]:
    """`alflow round --verbose` handed to the runner on a campaign whose model waits in fit: the
    client, the round's PID, the round's claim and the gate, once the round is training."""
    from prefect.settings import PREFECT_API_URL

    script, env, _ = warm
    path = campaign(folder / "c", mlflow_template)
    (folder / "gated.py").write_text(GATED)
    path.write_text(path.read_text().replace("preset: logistic_regression", "estimator: gated.GatedLogistic"))
    gate = folder / "gate"
    more = {"PREFECT_API_URL": PREFECT_API_URL.value(), "GATE": str(gate), "PYTHONPATH": f"{folder}:{ROOT}"}
    client = subprocess.Popen(
        [script, "round", "campaign.yaml", "--verbose"],
        cwd=path.parent,
        env={**env, **more},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    said = client.stderr.readline()
    assert said.startswith("alflow: round running in alflow's runner"), said
    claim = path.parent / "bucket" / "digits-demo" / "ledger" / "round-0001" / "claim-0001.json"
    wait_until(
        lambda: claim.exists() and gate.with_suffix(".fitting").exists(), what="the round training", process=client
    )
    return client, int(said.split()[-1]), claim, gate


@OWN_RUNNER
def test_the_client_killed_mid_round_stops_its_round_and_the_next_goes_on(
    warm, prefect_server, tmp_path, mlflow_template, monkeypatch
):
    client, round_pid, claim, gate = held_round(warm, tmp_path, mlflow_template)

    client.kill()  # SIGKILL: the client says nothing; its socket closes and the keeper SIGTERMs the round
    client.wait()
    client.stderr.close()

    wait_until(lambda: not Path(f"/proc/{round_pid}").exists(), what="the round's process ending")
    assert not (claim.parent / "round.json").exists()  # nothing committed, nothing half-written
    gate.write_text("")
    path = claim.parents[4] / "campaign.yaml"
    path.write_text(path.read_text().replace("estimator: gated.GatedLogistic", "preset: logistic_regression"))
    monkeypatch.chdir(path.parent)
    following = CliRunner().invoke(app, ["round", "campaign.yaml", "--json"])
    assert following.exit_code == 0, following.output
    report = json.loads(following.stdout)
    assert (report["round"], report["status"]) == (1, "exported")  # the killed round's claim did not block it


@OWN_RUNNER
def test_a_sigterm_to_the_client_reaches_the_round(warm, prefect_server, tmp_path, mlflow_template):
    client, round_pid, claim, _ = held_round(warm, tmp_path, mlflow_template)

    client.terminate()  # passed on: the round stops as a SIGTERM'd round does, and the client with it
    client.wait()
    client.stderr.close()

    assert client.returncode != 0
    wait_until(lambda: not Path(f"/proc/{round_pid}").exists(), what="the round's process ending")
    assert not (claim.parent / "round.json").exists()


@OWN_RUNNER
def test_a_stale_record_is_replaced_and_server_stop_stops_the_runner(tmp_path, warm):
    script, env, _ = warm
    home = tmp_path / "prefect-home"
    files = RunnerFiles(home)
    files.folder.mkdir(parents=True)
    stale = Runner(pid=a_dead_pid(), fingerprint=fingerprint(), log="", started="2026-01-01T00:00:00+00:00")
    files.state.write_text(json.dumps(stale.__dict__))
    files.socket.write_text("")  # a dead runner's socket file
    env = {**env, "PREFECT_HOME": str(home)}

    started = start_runner(home, environment=env)
    assert started is not None and started.pid != stale.pid and recorded(files) == started
    assert start_runner(home, environment=env) is None  # one runs from this fingerprint: reused
    files.state.write_text(json.dumps({**started.__dict__, "fingerprint": "another-alflow"}))
    replaced = start_runner(home, environment=env)  # started from another Python or source: replaced
    assert replaced is not None and replaced.pid != started.pid and not is_running(started, home)

    stopped = subprocess.run([script, "server", "stop", "--json"], env=env, capture_output=True, text=True)

    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["runner"]["pid"] == replaced.pid
    assert not is_running(replaced, home) and recorded(files) is None and not files.socket.exists()


def test_a_round_on_the_local_server_starts_the_runner_and_others_do_not(tmp_path, monkeypatch):
    from cli.local_server import LocalServer
    from cli.orchestrator import PrefectApi

    home = tmp_path / "prefect-home"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.delenv("ALFLOW_RUNNER")
    local = LocalServer(pid=1, port=1, log="", started="")
    try:
        warm_next_rounds(PrefectApi("http://127.0.0.1:1/api"))  # PREFECT_API_URL's server: none
        assert recorded(RunnerFiles(home)) is None
        warm_next_rounds(PrefectApi(local.api_url, local))
        assert running_runner(home) is not None
    finally:
        stop_runner(home)
    monkeypatch.setenv("ALFLOW_RUNNER", "off")
    warm_next_rounds(PrefectApi(local.api_url, local))
    assert recorded(RunnerFiles(home)) is None


def test_without_a_runner_the_command_runs_here(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.delenv("ALFLOW_RUNNER")

    assert hand_off(["alflow", "round", "x.yaml"]) is None  # no socket
    assert hand_off(["alflow", "status", "x.yaml"]) is None  # not handed off


def test_the_hand_off_imports_nothing_heavy():
    code = "import sys\nimport cli.handoff\nprint(sorted(m.split('.')[0] for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, cwd=ROOT)
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert not loaded & {"alflow", "typer", "rich", "pandas", "numpy", "prefect", "click", "pydantic"}, loaded


def test_the_runner_forks_single_threaded_only():
    """A thread running makes the check fail (the runner checks it after preloading, and before each
    fork: the `warm` fixture's runner answers, so it passed there)."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="busy")
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="busy"):
            single_threaded()
    finally:
        stop.set()
        thread.join()


def test_a_request_from_another_source_or_import_environment_is_refused():
    own = (fingerprint(), import_environment(os.environ))
    env = dict(os.environ)

    assert refusal({"fingerprint": own[0], "env": env}, own) is None
    assert refusal({"fingerprint": "another", "env": env}, own) == "stale"
    changed = {**env, "OMP_NUM_THREADS": "7", "MPLCONFIGDIR": "/elsewhere"}
    assert refusal({"fingerprint": own[0], "env": changed}, own) == "environment: MPLCONFIGDIR, OMP_NUM_THREADS"
    assert {"OMP_NUM_THREADS", "LANG", "HOME"} <= set(IMPORT_ENVIRONMENT)
