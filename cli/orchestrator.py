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
"""

from __future__ import annotations

from typing import Any

from alflow.errors import ServiceUnavailableError

STARTUP_SECONDS = 180
"""How long a temporary server may take to answer when the user has not said (Prefect's own default: 20 s)."""

ATTEMPTS = 2
"""A temporary server that does not answer in time is stopped and started once more."""

RUN_A_SERVER = (
    "run `prefect server start` once and point rounds at it (PREFECT_API_URL=http://127.0.0.1:4200/api; docs/TEAM.md)"
)


class PrefectUnavailableError(ServiceUnavailableError):
    """Neither the Prefect API named by PREFECT_API_URL nor a temporary server answered; nothing was written."""

    reason = "prefect_unavailable"


def ensure_prefect_api() -> str:
    """The URL of a Prefect API that answers: PREFECT_API_URL's, else a temporary server started here.

    Raises PrefectUnavailableError (one line: what failed and what to do) when there is none.
    """
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return answering(str(settings.api.url))
    if not settings.server.ephemeral.enabled:
        raise PrefectUnavailableError(
            "PREFECT_API_URL is not set and Prefect's temporary server is switched off "
            f"(PREFECT_SERVER_EPHEMERAL_ENABLED): {RUN_A_SERVER}; nothing was written"
        )
    return temporary_server(startup_seconds(settings))


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
