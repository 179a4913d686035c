"""alflow's warm runner: a long-lived process that has imported the heavy third-party modules a round
uses, and forks a warm copy of itself for each `alflow round` handed to it (cli.handoff), as Rails'
Spring or Chromium's zygote do.

Lifecycle, as cli.local_server's for the local Prefect server: started detached (a session of its
own) by a round that ran in-process on alflow's local server (`start_runner`, no waiting for it) or
by `alflow server start`; its files are beside the server's in PREFECT_HOME/alflow-server/:
`runner.json` (its PID and fingerprint), `runner.sock` (the Unix socket it listens on, 0600, peers of
another uid refused), `runner.log` (its output) and `runner.lock` (rounds started together start
one). A recorded runner whose PID is gone or is another program's, or whose fingerprint (the Python,
the installed packages, alflow's source folder and this module) is not the caller's, is replaced;
`alflow server stop` stops it, and rounds then run in-process until the next one starts it again.

What it preloads (`PRELOAD`): third-party modules only, none of which reads the terminal, and whose
import-time reads of the environment (`IMPORT_ENVIRONMENT`: thread counts, locale, matplotlib's
folders) are compared with each round's: a round whose values differ runs in-process. Not Prefect
(its settings and logging are built from the environment at import) and not alflow's or the CLI's
modules (rich consoles detect the terminal when they are created): the round's process imports
them after it has taken the client's terminal, environment and folder.

Per round (`serve`): the runner accepts a connection (same uid) and forks a keeper; the keeper takes
the request (argv, environment, cwd, sys.path and the client's stdin/stdout/stderr), checks it, and
after the client's go forks the round's process, which takes them over (`become_round`), runs the
same Typer app and leaves with os._exit after Prefect's exit hooks (no teardown). The keeper passes
the client's signals on, SIGTERMs the round when the client is gone (socket EOF), and sends back the
exit status and the round's resource usage. The runner is single-threaded when it forks (checked
at start: no Python thread but the main one).

Only the standard library at module level: the client imports this module before handing off.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FOLDER = "alflow-server"  # cli.local_server.FOLDER: the runner's files sit beside the server's
SWITCH = "ALFLOW_RUNNER"
"""`off` (or 0, no, false): every `alflow round` runs in its own process, and none starts a runner."""
OFF = ("off", "0", "no", "false")
USAGE_FILE = "ALFLOW_RUNNER_USAGE_FILE"
"""When set, a round handed to the runner writes there, as JSON, the runner's PID, the round process's
PID and its resource usage (CPU seconds, peak RSS): for benchmarks and tests."""

PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "scipy",
    "sklearn",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.models",
    "mlflow.store.tracking.sqlalchemy_store",
    "skops.io",
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "sqlalchemy",
    "alembic",
    "httpx",
    "pydantic",
    "yaml",
    "boto3",
    "rich",
    "typer",
)
"""Third-party modules a round imports; the runner's log gives each one's CPU seconds when it starts
(benchmarks/handoff_cost.py tables them). Not Great Expectations (a round imports it only when a
rule fails or Data Docs are asked for)."""

IMPORT_ENVIRONMENT = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONHASHSEED",
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "MPLBACKEND",
    "MPLCONFIGDIR",
    "MLFLOW_DISABLE_TELEMETRY",
)
"""What the preloaded modules (or Python itself, for the streams' encoding) read at import."""
IMPORT_DEFAULTS = {"MLFLOW_DISABLE_TELEMETRY": "true"}
"""Set when unset before preloading, as cli.console.analytics_off sets them before a round imports MLflow."""

READY_SECONDS = 30.0
"""How long a keeper waits for its client's request, and the client for the keeper's answer."""

IN_RUNNER = False
"""True in a round's process forked by the runner (a round there starts no runner)."""


@dataclass(frozen=True)
class RunnerFiles:
    """Where the runner of one PREFECT_HOME keeps its record, socket, log and lock."""

    home: Path

    @property
    def folder(self) -> Path:
        return self.home / FOLDER

    @property
    def state(self) -> Path:
        return self.folder / "runner.json"

    @property
    def socket(self) -> Path:
        return self.folder / "runner.sock"

    @property
    def log(self) -> Path:
        return self.folder / "runner.log"

    @property
    def lock(self) -> Path:
        return self.folder / "runner.lock"


@dataclass(frozen=True)
class Runner:
    """A runner alflow started: its process, what it was started from, and its log."""

    pid: int
    fingerprint: str
    log: str
    started: str


SUPPORTED = sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "SO_PEERCRED")
"""The runner needs Linux's pidfd_open (the keeper's wait) and SO_PEERCRED (the peer's uid); elsewhere
every round runs in its own process, as with ALFLOW_RUNNER=off."""


def switched_off(environment: Mapping[str, str]) -> bool:
    return not SUPPORTED or environment.get(SWITCH, "").strip().lower() in OFF


def prefect_home(environment: Mapping[str, str]) -> Path:
    """PREFECT_HOME as Prefect resolves it from the environment (~/.prefect when unset)."""
    return Path(environment.get("PREFECT_HOME") or "~/.prefect").expanduser()


def source_root() -> Path:
    """The folder holding this checkout's `cli` package (what a round process imports alflow from)."""
    return Path(__file__).resolve().parents[1]


def fingerprint() -> str:
    """What a runner's preloaded modules and its own code come from: the Python, its installed
    packages (their folders change when a package is installed or upgraded), alflow's source folder
    and this module. Cheap: a few stat calls."""
    parts: list[Any] = [os.path.realpath(sys.executable), sys.version, str(source_root())]
    for path in [*sorted(p for p in sys.path if p.endswith("-packages")), __file__]:
        with contextlib.suppress(OSError):
            stat = os.stat(path)
            parts.append([path, stat.st_mtime_ns, stat.st_size])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def import_environment(environment: Mapping[str, str]) -> dict[str, str | None]:
    """The values of IMPORT_ENVIRONMENT a process started with `environment` imports under."""
    return {name: environment.get(name, IMPORT_DEFAULTS.get(name)) for name in IMPORT_ENVIRONMENT}


# --- its record and process ----------------------------------------------------------------------


def recorded(files: RunnerFiles) -> Runner | None:
    try:
        return Runner(**json.loads(files.state.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_running(runner: Runner, home: Path) -> bool:
    """Its process is alive and is the runner of `home` (a PID reused by another program is not)."""
    try:
        os.kill(runner.pid, 0)
        state = Path(f"/proc/{runner.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        command = Path(f"/proc/{runner.pid}/cmdline").read_bytes()
    except (ProcessLookupError, PermissionError, FileNotFoundError, IndexError):
        return False
    if state == b"Z":
        return False  # ended, not yet reaped by the process that started it
    if not command:
        return True  # its command line is not readable yet: it is being started
    return b"cli.runner" in command.split(b"\0") and str(home).encode() in command.split(b"\0")


def running_runner(home: Path) -> Runner | None:
    """The runner of `home` when its process runs (it may still be preloading), else None."""
    runner = recorded(RunnerFiles(home))
    return runner if runner is not None and is_running(runner, home) else None


@contextlib.contextmanager
def runner_lock(files: RunnerFiles, *, wait: float) -> Iterator[bool]:
    """Hold `runner.lock`, waiting at most `wait` s; yields False (not held) when another holds it longer."""
    import fcntl

    files.folder.mkdir(parents=True, exist_ok=True)
    with files.lock.open("a") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.1)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_runner(home: Path, *, environment: Mapping[str, str] | None = None) -> Runner | None:
    """Start the runner of `home` in the background unless one runs from this fingerprint (None then,
    or when another process is starting one). A stale one (another fingerprint) is stopped first.
    Does not wait for it to preload."""
    files = RunnerFiles(home)
    with runner_lock(files, wait=0) as held:
        if not held:
            return None  # rounds started together: the lock's holder starts it
        current = recorded(files)
        if current is not None and is_running(current, home):
            if current.fingerprint == fingerprint():
                return None
            stop_process(current, home)
        forget(files)
        return launch(files, environment if environment is not None else os.environ)


def launch(files: RunnerFiles, environment: Mapping[str, str]) -> Runner:
    import subprocess
    from datetime import UTC, datetime

    if files.log.exists():
        files.log.replace(files.log.with_name("runner.log.1"))
    root = str(source_root())
    path = os.pathsep.join(p for p in (root, environment.get("PYTHONPATH", "")) if p)
    with files.log.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.runner", str(files.home)],
            env={**environment, "PYTHONPATH": path},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=files.folder,  # holds no campaign's or project's folder open
            start_new_session=True,  # outlives this process, untouched by its Ctrl-C
        )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    runner = Runner(pid=process.pid, fingerprint=fingerprint(), log=str(files.log), started=started)
    partial = files.state.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(runner)))
    partial.replace(files.state)
    return runner


def forget(files: RunnerFiles) -> None:
    files.state.unlink(missing_ok=True)
    files.socket.unlink(missing_ok=True)


def stop_process(runner: Runner, home: Path, *, grace: float = 10.0) -> None:
    """SIGTERM the runner (rounds it is running finish: they are processes of their own), SIGKILL after `grace` s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(runner.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and is_running(runner, home):
            time.sleep(0.05)
        if is_running(runner, home):
            os.kill(runner.pid, signal.SIGKILL)


def stop_runner(home: Path) -> Runner | None:
    """Stop the runner of `home` (None: none was running) and forget it."""
    files = RunnerFiles(home)
    if not files.folder.exists():
        return None
    with runner_lock(files, wait=60):
        running = running_runner(home)
        if running is not None:
            stop_process(running, home)
        forget(files)
    return running


# --- the socket ----------------------------------------------------------------------------------


def socket_address(path: Path) -> tuple[str, int | None]:
    """An address for `path` within AF_UNIX's 107 bytes: the path, or /proc/self/fd/N/NAME through an
    open descriptor of its folder (returned, to be closed by the caller) when the path is longer."""
    if len(os.fsencode(path)) < 100 or not Path("/proc/self/fd").exists():
        return str(path), None
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{folder}/{path.name}", folder


def connect(path: Path, *, timeout: float) -> socket.socket:
    """A connection to the runner's socket (OSError when none listens)."""
    address, folder = socket_address(path)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(timeout)
        client.connect(address)
    except OSError:
        client.close()
        raise
    finally:
        if folder is not None:
            os.close(folder)
    return client


def send_message(connection: socket.socket, message: Mapping[str, Any], fds: list[int] | None = None) -> None:
    """One JSON message, length-prefixed; `fds` ride along on its first byte (SCM_RIGHTS)."""
    body = json.dumps(message).encode()
    head = len(body).to_bytes(4, "big")
    if fds:
        socket.send_fds(connection, [head[:1]], fds)
        connection.sendall(head[1:] + body)
    else:
        connection.sendall(head + body)


def receive_message(connection: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the descriptors that came with it; (None, []) at EOF."""
    first, fds, _, _ = socket.recv_fds(connection, 1, 3)
    if not first:
        return None, fds
    head = first + _exactly(connection, 3)
    return json.loads(_exactly(connection, int.from_bytes(head, "big"))), fds


def _exactly(connection: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = connection.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the other end closed the connection mid-message")
        chunks += chunk
    return chunks


def answers(home: Path, *, timeout: float = 5.0) -> int | None:
    """The PID of the runner answering on `home`'s socket, else None."""
    try:
        with connect(RunnerFiles(home).socket, timeout=timeout) as connection:
            send_message(connection, {"ping": True})
            reply, _ = receive_message(connection)
    except (OSError, ValueError):
        return None
    return int(reply["runner"]) if reply and "runner" in reply else None


# --- the runner's process ------------------------------------------------------------------------


class Stop(Exception):
    """SIGTERM, SIGINT or SIGHUP reached the runner."""


def preload() -> dict[str, float]:
    """Import PRELOAD (after IMPORT_DEFAULTS and matplotlib's Agg); CPU seconds per module imported
    (one that is not installed is left out)."""
    import importlib
    import resource

    for name, value in IMPORT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    spent = {}
    for name in PRELOAD:
        before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            importlib.import_module(name)
        except ImportError:  # not installed here (an optional dependency of a dependency): the round imports none
            continue
        after = resource.getrusage(resource.RUSAGE_SELF)
        spent[name] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3)
        if name == "matplotlib":
            sys.modules["matplotlib"].use("Agg")
    return spent


def single_threaded() -> None:
    """Raise unless this process runs no Python thread but the main one (a fork copies only the
    caller's thread: another thread's locks would stay held in the copy). Native helper threads of
    the preloaded libraries (OpenBLAS's pool, jemalloc's background thread) take part in fork
    themselves (pthread_atfork); Polars' cleaner thread (MLflow imports Polars where it is installed)
    serves nothing a round calls."""
    import threading

    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if others:
        raise RuntimeError(f"the runner must fork single-threaded, but these threads run: {', '.join(others)}")


def listen(files: RunnerFiles) -> socket.socket:
    address, folder = socket_address(files.socket)
    files.socket.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mask = os.umask(0o177)  # 0600 from its creation: no moment where another user could connect
    try:
        listener.bind(address)
    finally:
        os.umask(mask)
        if folder is not None:
            os.close(folder)
    listener.listen(64)
    return listener


def peer_uid(connection: socket.socket) -> int:
    import struct

    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", credentials)[1])


def serve(home: Path) -> None:
    """The runner: preload, listen, and fork a keeper per connection until SIGTERM (or SIGINT, SIGHUP)."""
    import gc

    files = RunnerFiles(home)
    spent = preload()
    single_threaded()
    gc.collect()
    gc.freeze()  # the preloaded heap: never scanned by a round's collections, its pages left shared
    own = (fingerprint(), import_environment(os.environ))

    def stop(*_: object) -> None:
        raise Stop

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, stop)
    listener = listen(files)
    print(f"runner {os.getpid()} ready: {json.dumps(spent)}", flush=True)
    try:
        while True:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass  # reap finished keepers
            listener.settimeout(5.0)
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                if peer_uid(connection) != os.getuid():
                    continue
                single_threaded()
                if os.fork() == 0:
                    listener.close()
                    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                        signal.signal(number, signal.SIG_DFL)
                    keep(connection, own)  # never returns
    except Stop:
        pass
    finally:
        listener.close()
    print(f"runner {os.getpid()} stopped", flush=True)
    sys.stdout.flush()
    os._exit(0)  # no teardown of the preloaded heap


def refusal(request: Mapping[str, Any], own: tuple[str, dict[str, str | None]]) -> str | None:
    """Why this runner cannot run the request's round (None: it can)."""
    if request.get("fingerprint") != own[0]:
        return "stale"
    theirs = import_environment(request.get("env", {}))
    differing = sorted(name for name in IMPORT_ENVIRONMENT if theirs[name] != own[1][name])
    return f"environment: {', '.join(differing)}" if differing else None


def keep(connection: socket.socket, own: tuple[str, dict[str, str | None]]) -> None:
    """The keeper of one connection: answer a ping, or fork the round's process and see it through."""
    code = 0
    connection.settimeout(READY_SECONDS)  # a client that connects and says nothing is not waited for forever
    try:
        request, fds = receive_message(connection)
        if request is None:
            pass
        elif request.get("ping"):
            send_message(connection, {"runner": os.getppid()})
        elif (why := refusal(request, own)) is not None:
            send_message(connection, {"refused": why})
            if why == "stale":
                os.kill(os.getppid(), signal.SIGTERM)  # the next in-process round starts a current one
        elif len(fds) != 3:
            send_message(connection, {"refused": f"{len(fds)} descriptors, not stdin, stdout and stderr"})
        else:
            send_message(connection, {"ready": True, "runner": os.getppid()})
            go, _ = receive_message(connection)
            if go is not None and go.get("go"):
                connection.settimeout(None)
                see_through(connection, request, fds)
    except Exception as error:  # noqa: BLE001 - a keeper's failure is its client's fallback, logged here
        print(f"keeper {os.getpid()}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        code = 1
    os._exit(code)


def see_through(connection: socket.socket, request: Mapping[str, Any], fds: list[int]) -> None:
    """Fork the round's process, pass signals on, SIGTERM it when the client is gone, report its end."""
    import select

    child = os.fork()
    if child == 0:
        connection.close()
        become_round(request, fds)  # never returns
    for fd in fds:
        os.close(fd)
    send_message(connection, {"started": child, "runner": os.getppid(), "keeper": os.getpid()})
    ended = os.pidfd_open(child)
    client_gone_at: float | None = None
    while True:
        ready, _, _ = select.select([ended] + ([connection] if client_gone_at is None else []), [], [], 1.0)
        if ended in ready:
            break
        if connection in ready:
            try:
                message, _ = receive_message(connection)
            except (OSError, ValueError):
                message = None
            if message is None:  # the client is gone: stop the round as a SIGTERM'd one stops
                client_gone_at = time.monotonic()
                os.kill(child, signal.SIGTERM)
            elif "signal" in message and int(message["signal"]) in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                os.kill(child, int(message["signal"]))
        if client_gone_at is not None and time.monotonic() - client_gone_at > 120:
            os.kill(child, signal.SIGKILL)  # a round that does not stop within two minutes of its SIGTERM
    _, status, usage = os.wait4(child, 0)
    with contextlib.suppress(OSError):
        send_message(
            connection,
            {
                "exit": os.waitstatus_to_exitcode(status),
                "usage": {"user": usage.ru_utime, "system": usage.ru_stime, "maxrss_kb": usage.ru_maxrss},
            },
        )


def become_round(request: Mapping[str, Any], fds: list[int]) -> None:
    """In the forked process: take the client's stdin/stdout/stderr, folder, environment, argv and
    sys.path, run the `alflow` app, and leave with os._exit (Prefect's exit hooks run first)."""
    global IN_RUNNER
    IN_RUNNER = True
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv[:] = request["argv"]
        sys.path[:] = request["path"]
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        renew_process_state()
        code = run_app()
    finally:
        leave(code)


def renew_process_state() -> None:
    """What a fresh interpreter would have built from the new environment and descriptors: the
    standard streams, the time zone, the temporary folder, MLflow's log level."""
    import tempfile

    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        stream = _stream(fd, "r" if fd == 0 else "w")
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)  # what a fresh interpreter's sys.__stdout__ would be
    time.tzset()
    tempfile.tempdir = None
    if "mlflow" in sys.modules:  # its loggers were set from the runner's environment at import
        from mlflow.utils.logging_utils import _configure_mlflow_loggers

        _configure_mlflow_loggers(root_module_name="mlflow")


def _stream(fd: int, mode: str) -> io.TextIOWrapper:
    """A text stream over `fd` as Python makes sys.stdin/stdout/stderr (line-buffered on a terminal,
    stderr always; stderr's errors `backslashreplace`)."""
    old = {0: sys.__stdin__, 1: sys.__stdout__, 2: sys.__stderr__}[fd]
    encoding = getattr(old, "encoding", None) or "utf-8"
    errors = "backslashreplace" if fd == 2 else getattr(old, "errors", None) or "strict"
    stream = io.TextIOWrapper(
        io.open(fd, mode + "b", closefd=False),  # noqa: UP020 - a descriptor, not a path
        encoding=encoding,
        errors=errors,
    )
    if mode == "w":
        stream.reconfigure(line_buffering=fd == 2 or os.isatty(fd))
    return stream


def run_app() -> int:
    """The `alflow` app on sys.argv, as the console script runs it: its exit code."""
    import traceback

    try:
        from cli import run

        run()
    except SystemExit as leaving:
        if leaving.code is None or isinstance(leaving.code, int):
            return leaving.code or 0
        print(leaving.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        return 130
    except BaseException:  # noqa: BLE001 - a bug: its traceback, as the interpreter prints it
        traceback.print_exc()
        return 1
    return 0


def leave(code: int) -> None:
    """Exit without the interpreter's teardown: threading's exit hooks (Prefect drains its log and
    event workers there) and the atexit handlers run first, then the streams are flushed."""
    import atexit
    import threading

    with contextlib.suppress(BaseException):
        shutdown = getattr(threading, "_shutdown", None)  # what the interpreter calls first at exit
        if shutdown is not None:
            shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
