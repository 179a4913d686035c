"""Prefect's API for the rounds this process runs: the server the user named, answering, or
Prefect's temporary server, given time to start on a loaded machine. Either way, before the flow
runs: a round that cannot reach Prefect stops here, in one line, before anything is written.

Prefect starts its temporary server (a `uvicorn` subprocess over a SQLite database in
PREFECT_HOME) on the first client call of a process and waits for its `/health` for
PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (20 s by default), then raises `RuntimeError:
Timed out while attempting to connect to ephemeral Prefect API server` out of the flow call. The
first start on a fresh PREFECT_HOME also migrates that database, and a machine at load 15-20 can
take longer than 20 s for either. So unless the user set that timeout, alflow starts the server
itself, first, with STARTUP_SECONDS; a server that still does not answer is stopped and started
once more. The flow's own client then finds it running (one server per process, stopped at exit).

That temporary server is what a user gets by asking for it (ALFLOW_PREFECT_SERVER=temporary). By
default, without PREFECT_API_URL, rounds use alflow's local server instead (cli.local_server): one
server per PREFECT_HOME, started in the background by the first round that finds none and reused by
every later round of any process, so a round pays neither a server's start nor its stop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alflow.errors import ConfigError, ServiceUnavailableError
from cli.local_server import LocalServer, local_server, running_server

STARTUP_SECONDS = 180
"""How long a temporary server may take to answer when the user has not said (Prefect's own default: 20 s)."""

ATTEMPTS = 2
"""A temporary server that does not answer in time is stopped and started once more."""

RUN_A_SERVER = (
    "run `prefect server start` once and point rounds at it (PREFECT_API_URL=http://127.0.0.1:4200/api; docs/TEAM.md)"
)


CHOICE = "ALFLOW_PREFECT_SERVER"
"""Without PREFECT_API_URL: `local` (the default), alflow's local server; `temporary`, Prefect's, per process."""
CHOICES = ("local", "temporary")


class PrefectUnavailableError(ServiceUnavailableError):
    """Neither the Prefect API named by PREFECT_API_URL nor a temporary server answered; nothing was written."""

    reason = "prefect_unavailable"


@dataclass(frozen=True)
class PrefectApi:
    """The Prefect API a round uses: its URL, and alflow's local server when it is that one."""

    url: str
    local: LocalServer | None = None
    started: bool = False
    """This call started the local server (the round says so, once)."""


def server_choice() -> str:
    """ALFLOW_PREFECT_SERVER, `local` when unset; ConfigError for anything else."""
    choice = os.environ.get(CHOICE, "").strip().lower() or "local"
    if choice not in CHOICES:
        raise ConfigError(f"{CHOICE}={choice!r}: use one of {', '.join(CHOICES)} (local is the default)")
    return choice


def ensure_prefect_api() -> PrefectApi:
    """A Prefect API that answers: PREFECT_API_URL's, else alflow's local server (started when none
    runs), else, when ALFLOW_PREFECT_SERVER=temporary, a temporary server started here.

    Raises PrefectUnavailableError (one line: what failed and what to do) when there is none.
    """
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return PrefectApi(answering(str(settings.api.url)))
    if not settings.server.ephemeral.enabled:
        raise PrefectUnavailableError(
            "PREFECT_API_URL is not set and Prefect's temporary server is switched off "
            f"(PREFECT_SERVER_EPHEMERAL_ENABLED): {RUN_A_SERVER}; nothing was written"
        )
    if server_choice() == "temporary":
        return PrefectApi(temporary_server(startup_seconds(settings)))
    environment = settings.to_environment_variables(exclude_unset=True)
    server, started = local_server(Path(settings.home), timeout=startup_seconds(settings), environment=environment)
    return PrefectApi(server.api_url, server, started)


@contextmanager
def using(api: PrefectApi) -> Iterator[None]:
    """Prefect's clients in this block (the flow's, its log and event workers') talk to `api`: set
    for the local server; the user's PREFECT_API_URL and a temporary server are Prefect's own."""
    if api.local is None:
        yield
        return
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api.url}):
        # Prefect's worker threads may run in a context copied before this block: they read the
        # process-wide one, which prefect_test_harness replaces the same way (Prefect >= 3.6).
        replace = getattr(prefect.context, "_temporary_global_settings_context", None)
        context = prefect.context.SettingsContext.get()
        with replace(context) if replace is not None and context is not None else nullcontext():
            yield


def prefect_ui() -> tuple[str, LocalServer | None] | None:
    """Where the Prefect UI of this host's rounds is: PREFECT_API_URL's server, else the local
    server when it runs (and which); None when there is neither (a temporary server is gone with its round)."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return str(settings.ui_url or str(settings.api.url).removesuffix("/api")), None
    local = running_server(Path(settings.home))
    return (local.url, local) if local is not None else None


def startup_seconds(settings: Any) -> int:
    """PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS when the user set it (environment or profile),
    else STARTUP_SECONDS."""
    ephemeral = settings.server.ephemeral
    chosen = "startup_timeout_seconds" in ephemeral.model_fields_set
    return int(ephemeral.startup_timeout_seconds) if chosen else STARTUP_SECONDS


def temporary_server(timeout: int) -> str:
    """Start Prefect's temporary server (a no-op once it runs in this process), ATTEMPTS times at most."""
    from prefect.server.api.server import SubprocessASGIServer

    for _ in range(ATTEMPTS):
        server = SubprocessASGIServer()  # the instance the flow's client uses
        try:
            server.start(timeout=timeout)
            return server.api_url
        except RuntimeError:
            server.stop()  # no orphan left starting; the next attempt is a new process on a new port
    raise PrefectUnavailableError(
        f"Prefect's temporary server did not answer within {timeout} s, {ATTEMPTS} times (a loaded machine, "
        f"or a first start migrating its database): {RUN_A_SERVER}, or raise "
        f"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS; nothing was written"
    )


def answering(api_url: str, *, tries: int = 3, timeout: float = 10.0) -> str:
    """`api_url` once its `/health` answers (a few tries: a server may be busy for a moment)."""
    import time

    import httpx

    problem = ""
    for attempt in range(tries):
        try:
            response = httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout)
        except httpx.HTTPError as error:
            problem = type(error).__name__
        else:
            if response.status_code < 500:  # it answers (a Cloud workspace may want a key for /health)
                return api_url
            problem = f"HTTP {response.status_code}"
        if attempt < tries - 1:
            time.sleep(1.0 + attempt)
    raise PrefectUnavailableError(
        f"the Prefect API at {api_url} (PREFECT_API_URL) does not answer ({problem}): start that server "
        "(`prefect server start`), or unset PREFECT_API_URL to let alflow start a temporary one; nothing was written"
    )
