"""One local Prefect server for every round on this host: started in the background by the first round
that finds none, reused by every later round, whatever the process or the campaign.

It is `prefect server start` as Prefect runs it (uvicorn over Prefect's app and the SQLite database in
PREFECT_HOME, its UI and services), on a free loopback port, in a session of its own so that it
outlives the round that started it. Its files are in PREFECT_HOME/alflow-server/: `server.json` (its
PID, port and URL), `server.log` (its output; the previous server's is `server.log.1`) and
`start.lock`. Rounds started together take that lock (an advisory `flock`, released by the kernel when
a process dies): the first starts the server and waits for it to answer, the others wait for the lock,
then find it answering. A recorded server whose process is gone, whose PID now belongs to another
program, or that does not answer in time is replaced. Its PID also goes to Prefect's own
PREFECT_HOME/server.pid when that file is free, so `prefect server stop` stops it as well as
`alflow server stop` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from alflow.errors import ServiceUnavailableError

FOLDER = "alflow-server"
PREFECT_PID_FILE = "server.pid"  # prefect.cli._server_utils.SERVER_PID_FILE_NAME: what `prefect server stop` reads
APP = "prefect.server.api.server:create_app"
ATTEMPTS = 2
"""A server that does not answer in time is stopped and another started, once."""


class LocalServerUnavailableError(ServiceUnavailableError):
    """alflow's local Prefect server could not be started, or did not answer in time; nothing was written."""

    reason = "prefect_unavailable"


@dataclass(frozen=True)
class LocalServer:
    """A Prefect server alflow started on this host: its process, its loopback port and its log."""

    pid: int
    port: int
    log: str
    started: str

    @property
    def url(self) -> str:
        """Its UI (the API is under /api)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


@dataclass(frozen=True)
class ServerFiles:
    """Where the local server of one PREFECT_HOME is recorded."""

    home: Path

    @property
    def folder(self) -> Path:
        return self.home / FOLDER

    @property
    def state(self) -> Path:
        return self.folder / "server.json"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def lock(self) -> Path:
        return self.folder / "start.lock"

    @property
    def prefect_pid(self) -> Path:
        return self.home / PREFECT_PID_FILE


def recorded(files: ServerFiles) -> LocalServer | None:
    """The server `server.json` records, or None (no file, or one that cannot be read)."""
    try:
        return LocalServer(**json.loads(files.state.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_running(server: LocalServer) -> bool:
    """Its process is alive and is that server (where /proc says: a PID taken by another program is not)."""
    try:
        os.kill(server.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's: /proc decides
    try:
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return Path("/proc/self").exists() is False  # no /proc on this system: the PID alone
    except OSError:
        return False
    return APP.encode() in command and str(server.port).encode() in command


def answers(server: LocalServer, *, timeout: float = 5.0) -> bool:
    """Its /api/health says `true` (a stranger on that port does not)."""
    import httpx

    try:
        response = httpx.get(f"{server.api_url}/health", timeout=timeout)
        return response.status_code == 200 and response.json() is True
    except (httpx.HTTPError, ValueError):
        return False


def running_server(home: Path) -> LocalServer | None:
    """The local server of `home` when it runs and answers, else None (nothing is started or changed)."""
    server = recorded(ServerFiles(home))
    return server if server is not None and is_running(server) and answers(server) else None


@contextlib.contextmanager
def start_lock(files: ServerFiles, *, wait: float) -> Iterator[None]:
    """Hold `start.lock` (waiting at most `wait` seconds for the process that holds it)."""
    import fcntl

    files.folder.mkdir(parents=True, exist_ok=True)
    with files.lock.open("a") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LocalServerUnavailableError(
                        f"another alflow process has been starting the local Prefect server for over {wait:.0f} s "
                        f"(its log: {files.log}); nothing was written"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def local_server(home: Path, *, timeout: int, environment: Mapping[str, str]) -> tuple[LocalServer, bool]:
    """The local server of `home`, answering, and whether this call started it.

    A server that runs and answers is reused (no lock taken). Otherwise, under `start.lock`: one that
    another process is starting gets `timeout` s to answer; one that is gone, or never answers, is
    replaced by a new one started with `environment` (Prefect's settings, as the temporary server gets
    them), which gets `timeout` s, ATTEMPTS times. Raises LocalServerUnavailableError when none answers.
    """
    found = running_server(home)
    if found is not None:
        return found, False
    files = ServerFiles(home)
    with start_lock(files, wait=ATTEMPTS * timeout + 30):
        server = recorded(files)
        if server is not None and is_running(server):
            if wait_until_answering(server, timeout=timeout):
                return server, False
            stop_process(server)
        forget(files, server)
        for _ in range(ATTEMPTS):
            server, process = launch(files, environment)
            if wait_until_answering(server, timeout=timeout, process=process):
                return server, True
            stop_process(server)
            forget(files, server)
    raise LocalServerUnavailableError(
        f"alflow's local Prefect server did not answer within {timeout} s, {ATTEMPTS} times (a loaded machine, or "
        f"a first start migrating its database; its log: {files.log}): raise "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or run `prefect server start` and point rounds at it "
        "(PREFECT_API_URL); nothing was written"
    )


def wait_until_answering(
    server: LocalServer, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> bool:
    """Whether `server` answers within `timeout` s (False at once when its process has ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = process.poll() is not None if process is not None else not is_running(server)
        if ended:
            return False
        if answers(server, timeout=min(5.0, max(deadline - time.monotonic(), 0.5))):
            return True
        time.sleep(0.2)
    return False


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(files: ServerFiles, environment: Mapping[str, str]) -> tuple[LocalServer, subprocess.Popen[bytes]]:
    """Start a server on a free loopback port, in a session of its own, and record it."""
    import prefect

    port = free_port()
    files.folder.mkdir(parents=True, exist_ok=True)
    if files.log.exists():
        files.log.replace(files.log.with_name("server.log.1"))
    api = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent)]
    command += ["--factory", APP, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "--lifespan", "on"]
    settings = {"PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    settings |= {"PREFECT_SERVER_UI_API_URL": api, "PREFECT__SERVER_FINAL": "1"}
    with files.log.open("ab") as log:
        process = subprocess.Popen(
            command,
            env={**os.environ, **environment, **settings},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=files.home,  # holds no campaign's or project's folder open
            start_new_session=True,  # outlives this process, untouched by its Ctrl-C
        )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    server = LocalServer(pid=process.pid, port=port, log=str(files.log), started=started)
    record(files, server)
    return server, process


def record(files: ServerFiles, server: LocalServer) -> None:
    """Write `server.json` whole (a reader never sees half of it), and Prefect's server.pid when it is free."""
    partial = files.state.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(server)))
    partial.replace(files.state)
    with contextlib.suppress(FileExistsError):
        with files.prefect_pid.open("x") as pid_file:
            pid_file.write(str(server.pid))


def forget(files: ServerFiles, server: LocalServer | None) -> None:
    """Remove `server.json`, and Prefect's server.pid when it holds that server's PID."""
    files.state.unlink(missing_ok=True)
    if server is not None:
        with contextlib.suppress(OSError):
            if files.prefect_pid.read_text().strip() == str(server.pid):
                files.prefect_pid.unlink()


def stop_process(server: LocalServer, *, grace: float = 10.0) -> None:
    """SIGTERM the server's process when it is that server, then SIGKILL after `grace` seconds."""
    if not is_running(server):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and is_running(server):
            time.sleep(0.1)
        if is_running(server):
            os.kill(server.pid, signal.SIGKILL)


def stop_server(home: Path) -> LocalServer | None:
    """Stop the local server of `home` (None: there was none running) and forget it."""
    files = ServerFiles(home)
    with start_lock(files, wait=60):
        server = recorded(files)
        running = server if server is not None and is_running(server) else None
        if running is not None:
            stop_process(running)
        forget(files, server)
    return running
