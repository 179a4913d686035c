"""A campaign checked before any round runs: `alflow check`, and what `alflow round` checks before
it starts Prefect.

Each check uses the round's own rules (the campaign schema, `round.inputs.validate_inputs`, the
model's parameter constraints) or asks the service itself (the bucket, the tracking server, the
Prefect API), quickly: a service that does not answer fails its check in seconds. No Prefect,
no MLflow import.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import quote, urlparse

from alflow.config import CampaignConfig, load_campaign
from alflow.data import pools
from alflow.errors import AlflowError, AlreadyExistsError, ConfigError, ServiceUnavailableError
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.exchange.local import LocalStore
from alflow.intake.gold import check_gold, read_gold
from alflow.ledger.state import CampaignState
from alflow.model import targets
from alflow.model.estimators import check_model, model_name
from alflow.round.context import Inputs, RoundContext
from alflow.round.inputs import validate_inputs
from alflow.round.pool import pool_members

TIMEOUT = 5.0  # seconds a service has to answer a check
PROBE = b"alflow checks that it may write here (alflow check, alflow round)\n"
DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
DB_DRIVERS = {"postgresql": "psycopg2", "mysql": "MySQLdb", "mssql": "pyodbc"}


@dataclass(frozen=True)
class Finding:
    """One check's outcome: `message` says what was found, or what is wrong and what to do."""

    check: str  # campaign | inputs | model | bucket | tracking | work_pool
    ok: bool
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def _model(config: CampaignConfig) -> str:
    """The model's name once built and its parameters checked (for tags and numbers: alflow.model.targets)."""
    if config.label_kind.is_class:
        return model_name(check_model(config.model, seed=config.seed))
    return targets.check_model(config.model, config.label_kind, seed=config.seed)


def check_inputs(config: CampaignConfig) -> str:
    """The pool, seed labels and holdout, by the round's own rules."""
    inputs = validate_inputs(config, record=False)
    holdout = "" if inputs.holdout is None else f", a holdout of {len(inputs.holdout)}"
    kind = "" if config.label_kind.is_class else f"labels: {config.label_kind.describe()}; "
    gold = f"; {check_gold_file(config, inputs)}" if config.gold is not None else ""
    return kind + (
        f"pool {config.pool.uri}: {inputs.pool_size} items, {len(inputs.features)} feature column(s); "
        f"{len(inputs.seed_labels)} seed labels{holdout}; budget {config.budget.max_labels} labels{gold}"
    )


def check_gold_file(config: CampaignConfig, inputs: Inputs) -> str:
    """The gold file by the round's rules, its ids against the seed labels and the pool (one pass over its ids)."""
    ids = set(read_gold(config, inputs.features)[config.pool.id_column])
    hits = pool_members(RoundContext(config, inputs, CampaignState(config.campaign)), ids)
    return check_gold(config, inputs.features, set(inputs.seed_labels), hits)


def _folder_writable(prefix: Path) -> None:
    """A folder bucket: the campaign's prefix, or the nearest folder above it that exists, may be
    written (asked of the file system, so that a check creates nothing)."""
    existing = next(p for p in (prefix, *prefix.parents) if p.exists())
    if not existing.is_dir():
        raise OSError(f"{existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OSError(f"{existing} is not writable by this user")


def check_bucket(config: CampaignConfig) -> str:
    """The bucket answers and the campaign's prefix takes a write: on S3 a fixed probe object, written
    once (the only way to ask S3); a folder is asked of the file system and nothing is written."""
    vendor = config.vendor
    store = open_store(vendor.bucket, sse=vendor.sse, kms_key_id=vendor.kms_key_id, max_attempts=2)
    try:
        if isinstance(store, LocalStore):
            _folder_writable(store.root / config.campaign)
        rounds = {layout.round_of(k) for k in store.list(f"{config.campaign}/ledger/")} - {None}
        if not isinstance(store, LocalStore):
            try:
                store.write_once(layout.probe_key(config.campaign), PROBE)
            except AlreadyExistsError:
                pass  # an earlier check's probe: the write was authorised, only the key was taken
    except OSError as error:  # a local folder that cannot be written
        raise ConfigError(f"{vendor.bucket}: cannot write the campaign's prefix ({error.strerror or error})") from None
    return f"{store.uri}/{config.campaign}/ writable; {len(rounds)} round(s) so far"


def _http_get(url: str, *, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of GET `url`; ServiceUnavailableError when nothing answers in TIMEOUT seconds."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ServiceUnavailableError(f"{url.split('?')[0]} did not answer ({reason})") from None


def _sqlite(uri: str) -> str:
    path = Path(uri.removeprefix("sqlite:///"))  # sqlite:////abs/path, or relative to where the round runs
    if not path.parent.is_dir():
        raise ConfigError(f"tracking.uri {uri}: folder {path.parent} does not exist: create it or fix the URI")
    if path.exists():
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                db.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise ConfigError(f"tracking.uri {uri}: {path} is not an SQLite database ({error})") from None
        return f"{uri}: SQLite database"
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(f"tracking.uri {uri}: cannot create {path.name} in {path.parent} (no write permission)")
    return f"{uri}: SQLite database (created by the first round)"


def _database(uri: str, scheme: str) -> str:
    parsed = urlparse(uri)
    driver = parsed.scheme.partition("+")[2] or DB_DRIVERS[scheme]
    if find_spec(driver) is None:
        raise ConfigError(f"tracking.uri: the {scheme} driver {driver!r} is not installed: pip install it")
    host, port = parsed.hostname or "localhost", parsed.port or DB_PORTS[scheme]
    try:
        socket.create_connection((host, port), timeout=TIMEOUT).close()
    except OSError as error:
        raise ServiceUnavailableError(f"tracking.uri: the database at {host}:{port} did not answer ({error})") from None
    return f"{scheme} database at {host}:{port} answers"


def check_tracking(config: CampaignConfig) -> str:
    """The tracking URI answers: an SQLite file that can be opened or created, a server, a database."""
    uri, tracking = config.tracking.uri, config.tracking
    if tracking.reference_curve and not Path(tracking.reference_curve).is_file():
        raise ConfigError(f"tracking.reference_curve: {tracking.reference_curve}: file not found")
    scheme = uri.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        return _sqlite(uri)
    if scheme in DB_PORTS:
        return _database(uri, scheme)
    if scheme == "databricks":
        return f"{uri}: not checked (Databricks)"
    status = _http_get(uri.rstrip("/") + "/health")
    if status != 200:
        raise ConfigError(f"tracking.uri {uri} answers {status} at /health: is it an MLflow tracking server?")
    return f"tracking server {uri} answers"


def check_work_pool(name: str, api_url: str | None) -> str:
    """The Prefect API answers and holds the work pool a deployment runs on."""
    if not api_url:
        raise ConfigError(f"--work-pool {name}: set PREFECT_API_URL to the Prefect server the deployment runs on")
    headers = {"Authorization": f"Bearer {os.environ['PREFECT_API_KEY']}"} if os.environ.get("PREFECT_API_KEY") else {}
    status = _http_get(f"{api_url.rstrip('/')}/work_pools/{quote(name)}", headers=headers)
    if status == 404:
        raise ConfigError(
            f"work pool {name!r} does not exist on {api_url}: prefect work-pool create {name} --type process"
        )
    if status != 200:
        raise ServiceUnavailableError(f"{api_url} answered {status} when asked for work pool {name!r}")
    return f"work pool {name!r} exists on {api_url}"


def _run(check: str, run: Callable[[], str]) -> list[Finding]:
    try:
        return [Finding(check, True, run())]
    except AlflowError as error:
        return [Finding(check, False, line) for line in str(error).splitlines()]


def check_config(config: CampaignConfig, *, work_pool: str | None = None, api_url: str | None = None) -> list[Finding]:
    """Every check of a loaded campaign, in order; each finding says ok or what is wrong."""
    findings = [
        *_run("inputs", lambda: check_inputs(config)),
        *_run("model", lambda: _model(config)),
        *_run("bucket", lambda: check_bucket(config)),
        *_run("tracking", lambda: check_tracking(config)),
    ]
    if work_pool:
        findings += _run("work_pool", lambda: check_work_pool(work_pool, api_url))
    return findings


def as_simulated(config: CampaignConfig, answers: str) -> CampaignConfig:
    """The campaign as `alflow simulate --answers` reads it: the pool's `answers` column holds the true
    labels, not a feature. ConfigError when the pool has no such column."""
    pool = config.pool
    header = pools.header_of(pools.open_pool(pool.uri))
    if answers not in header:
        raise ConfigError(f"{pool.uri}: no answers column {answers!r}; columns are {header}")
    if pool.reads != "table" or pool.feature_columns is not None:
        return config  # the model reads named columns only: the answers are not among them
    features = tuple(c for c in header if c not in (pool.id_column, answers))
    return config.model_copy(update={"pool": pool.model_copy(update={"feature_columns": features})})


def check_campaign(
    path: str | Path, *, work_pool: str | None = None, api_url: str | None = None, answers: str | None = None
) -> list[Finding]:
    """`check_config` of the campaign file at `path` (with `answers`: as `alflow simulate` reads it);
    a file that does not load is the only finding."""
    try:
        config = load_campaign(path)
        config = as_simulated(config, answers) if answers else config
    except AlflowError as error:
        return [Finding("campaign", False, line) for line in str(error).splitlines()]
    head = Finding(
        "campaign", True, f"{path}: campaign {config.campaign}" + (f", answers in {answers!r}" if answers else "")
    )
    return [head, *check_config(config, work_pool=work_pool, api_url=api_url)]


def report_payload(path: str | Path, findings: list[Finding]) -> dict:
    """The findings for CI's JSON: {"campaign": path, "ok": bool, "checks": [...]}."""
    ok = all(f.ok for f in findings)
    return {"campaign": str(path), "ok": ok, "checks": [f.to_dict() for f in findings]}
