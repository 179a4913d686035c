"""alflow's local Prefect server: rounds started together start one (a file lock, not a race), a stale
record (its process gone, its port another program's) is replaced, and `alflow server stop` stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from cli.local_server import (
    LocalServer,
    LocalServerUnavailableError,
    ServerFiles,
    answers,
    is_running,
    record,
    recorded,
    start_lock,
)

ALFLOW = str(Path(sys.executable).parent / "alflow")
ROOT = Path(__file__).resolve().parents[1]
# A round's start-up path, in a process of its own, without the CLI's imports (seconds of CPU each).
START = (
    "import importlib.util, json, sys\n"
    "from pathlib import Path\n"
    "spec = importlib.util.spec_from_file_location('local_server', sys.argv[2])\n"
    "module = sys.modules['local_server'] = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "server, started = module.local_server(Path(sys.argv[1]), timeout=300, environment={})\n"
    "print(json.dumps({'pid': server.pid, 'port': server.port, 'started': started}))\n"
)


class Stranger(BaseHTTPRequestHandler):
    """Another program on a port: answers every GET with 200 and a body that is not Prefect's."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stranger():
    server = HTTPServer(("127.0.0.1", 0), Stranger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def a_dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.slow
def test_eight_starts_at_once_make_one_server_replacing_a_stale_record(prefect_home, stranger):
    files = ServerFiles(prefect_home)
    files.folder.mkdir(parents=True)
    stale = LocalServer(pid=a_dead_pid(), port=stranger, log=str(files.log), started="2026-01-01T00:00:00+00:00")
    record(files, stale)  # also Prefect's server.pid, as a real start writes it
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(prefect_home)}
    env.pop("PREFECT_API_URL", None)

    starts = [
        subprocess.Popen(
            [sys.executable, "-c", START, str(prefect_home), str(ROOT / "cli" / "local_server.py")],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [json.loads(process.communicate(timeout=600)[0]) for process in starts]

    assert len({(r["pid"], r["port"]) for r in results}) == 1, results
    assert sum(r["started"] for r in results) == 1
    server = recorded(files)
    assert server is not None and (server.pid, server.port) == (results[0]["pid"], results[0]["port"])
    assert server.pid != stale.pid and server.port != stranger
    assert is_running(server) and answers(server)
    assert files.prefect_pid.read_text() == str(server.pid)  # `prefect server stop` would stop this one

    stopped = subprocess.run([ALFLOW, "server", "stop", "--json"], env=env, capture_output=True, text=True)

    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["pid"] == server.pid
    assert not is_running(server)
    assert recorded(files) is None and not files.prefect_pid.exists()


def test_a_recorded_server_whose_pid_is_another_programs_is_not_running(tmp_path):
    mine = LocalServer(pid=os.getpid(), port=4200, log="", started="")  # alive, but pytest, not a server

    assert not is_running(mine)
    assert not is_running(LocalServer(pid=a_dead_pid(), port=4200, log="", started=""))


def test_another_program_on_the_port_is_not_the_server(stranger):
    assert not answers(LocalServer(pid=os.getpid(), port=stranger, log="", started=""), timeout=5)


@pytest.mark.parametrize("text", ["", "{not json", '{"pid": 1}', "[]"], ids=["empty", "broken", "partial", "list"])
def test_an_unreadable_record_is_no_server(tmp_path, text):
    files = ServerFiles(tmp_path)
    files.folder.mkdir()
    files.state.write_text(text)

    assert recorded(files) is None


def test_a_start_that_holds_the_lock_too_long_is_one_line_for_the_waiter(tmp_path):
    files = ServerFiles(tmp_path)
    with start_lock(files, wait=1):
        with pytest.raises(LocalServerUnavailableError, match="another alflow process has been starting") as caught:
            with start_lock(files, wait=0.5):
                pass

    assert "\n" not in str(caught.value) and caught.value.reason == "prefect_unavailable"
    with start_lock(files, wait=0.5):  # released by its holder
        pass
