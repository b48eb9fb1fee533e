"""Configuration, read from the environment in this one place.

Nothing set means: a SQLite file under ./var/, a secret key generated into ./var/, mail kept in
the outbox, sessions in the database, cookies without the Secure flag (plain http on localhost).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = PROJECT_DIR / "templates"
STATIC_DIR = PROJECT_DIR / "static"


@dataclass(frozen=True)
class DatabaseURL:
    engine: str  # "sqlite" or "postgres"
    path: str = ""  # SQLite file
    dsn: str = ""  # PostgreSQL DSN


def parse_database_url(url: str, base_dir: Path) -> DatabaseURL:
    """`sqlite:///relative/file`, `sqlite:////absolute/file` or `postgresql://user@host:port/db`."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ValueError("PORTAL_DATABASE_URL: sqlite:/// needs a file name")
        file = Path(path) if path.startswith("/") else base_dir / path
        return DatabaseURL(engine="sqlite", path=str(file))
    scheme = urlsplit(url).scheme
    if scheme in {"postgresql", "postgres"}:
        return DatabaseURL(engine="postgres", dsn=url)
    raise ValueError(
        f"PORTAL_DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)"
    )


def _replica(database: DatabaseURL) -> DatabaseURL | None:
    """PORTAL_DATABASE_REPLICA_URL: a PostgreSQL streaming replica of the primary, or nothing."""
    url = os.environ.get("PORTAL_DATABASE_REPLICA_URL")
    if not url:
        return None
    if database.engine != "postgres":
        raise SystemExit(
            "PORTAL_DATABASE_REPLICA_URL is set, but PORTAL_DATABASE_URL is not PostgreSQL: a read"
            " replica needs a PostgreSQL primary (unset PORTAL_DATABASE_REPLICA_URL for SQLite)"
        )
    if urlsplit(url).scheme not in {"postgresql", "postgres"}:
        raise SystemExit("PORTAL_DATABASE_REPLICA_URL must be a postgresql:// URL")
    return DatabaseURL(engine="postgres", dsn=url)


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database: DatabaseURL
    replica: DatabaseURL | None  # read-only transactions go there (PostgreSQL only)
    replica_max_lag_seconds: float  # a replica further behind is passed over for the primary
    secret_key: str
    smtp_url: str | None
    mail_from: str
    base_url: str  # how people reach the portal, for links in emails
    redis_url: str | None
    secure_cookies: bool
    session_idle_seconds: int
    session_absolute_seconds: int
    argon2_profile: str  # "default" (RFC 9106 low-memory) or "fast" (tests only)
    db_wait_seconds: float  # longest wait for a connection or the write lock, then 503
    db_statement_seconds: float  # longest statement while serving (PostgreSQL)
    redis_timeout_seconds: float  # longest wait for Redis, then 503
    header_seconds: float  # longest a request's head may take to arrive
    access_log: bool  # `portal serve` logs a line per request (off behind a proxy that logs)
    body_seconds: float  # longest a request's body may take to arrive
    debug: bool
    development: bool  # PORTAL_ENV=development: defaults meant for a developer's own machine
    webhooks_in_server: bool  # `portal serve` delivers webhooks itself
    jobs_in_server: bool  # `portal serve` runs background jobs (imports, bulk actions) itself
    webhook_retry_seconds: float  # the first retry of a failed delivery; doubles each time
    webhook_max_attempts: int
    webhook_lease_seconds: float  # after this, a claim of a worker that stopped is taken over


def _secret_key(var_dir: Path) -> str:
    if key := os.environ.get("PORTAL_SECRET_KEY"):
        return key
    key_file = var_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    # Created exclusively and private to the owner: the key signs CSRF tokens and encrypts values.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def env_flag(name: str, default: bool = False) -> bool:
    """Whether the environment variable `name` says yes (1, true, yes, on); unset: `default`.
    Plugins read their own switches with it too, so every switch reads the same words."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        seconds = float(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= 3600:
        raise SystemExit(f"{name} must be between 0 and 3600 seconds")
    return seconds


def _count(name: str, default: int, maximum: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if not value.strip().isdigit() or not 1 <= int(value) <= maximum:
        raise SystemExit(f"{name} must be a whole number from 1 to {maximum}, not {value!r}")
    return int(value)


@cache
def get_settings() -> Settings:
    var_dir = Path(os.environ.get("PORTAL_VAR_DIR", "var")).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("PORTAL_DATABASE_URL")
    database = (
        parse_database_url(database_url, base_dir=Path.cwd())
        if database_url
        else DatabaseURL(engine="sqlite", path=str(var_dir / "portal.sqlite3"))
    )
    return Settings(
        var_dir=var_dir,
        database=database,
        replica=_replica(database),
        replica_max_lag_seconds=_seconds("PORTAL_DATABASE_REPLICA_MAX_LAG_SECONDS", 30),
        secret_key=_secret_key(var_dir),
        smtp_url=os.environ.get("PORTAL_SMTP_URL") or None,
        mail_from=os.environ.get("PORTAL_MAIL_FROM", "portal@localhost"),
        base_url=os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        redis_url=os.environ.get("PORTAL_REDIS_URL") or None,
        secure_cookies=env_flag("PORTAL_SECURE_COOKIES"),
        session_idle_seconds=int(os.environ.get("PORTAL_SESSION_IDLE_SECONDS", 2 * 3600)),
        session_absolute_seconds=int(os.environ.get("PORTAL_SESSION_ABSOLUTE_SECONDS", 12 * 3600)),
        argon2_profile=os.environ.get("PORTAL_ARGON2_PROFILE", "default"),
        db_wait_seconds=_seconds("PORTAL_DB_WAIT_SECONDS", 10),
        db_statement_seconds=_seconds("PORTAL_DB_STATEMENT_SECONDS", 15),
        redis_timeout_seconds=_seconds("PORTAL_REDIS_TIMEOUT_SECONDS", 2),
        header_seconds=_seconds("PORTAL_HEADER_SECONDS", 10),
        access_log=env_flag("PORTAL_ACCESS_LOG", default=True),
        body_seconds=_seconds("PORTAL_BODY_SECONDS", 30),
        debug=env_flag("PORTAL_DEBUG"),
        development=os.environ.get("PORTAL_ENV", "production").strip().lower() == "development",
        webhooks_in_server=env_flag("PORTAL_WEBHOOKS_IN_SERVER", default=True),
        jobs_in_server=env_flag("PORTAL_JOBS_IN_SERVER", default=True),
        webhook_retry_seconds=_seconds("PORTAL_WEBHOOKS_RETRY_SECONDS", 30),
        webhook_max_attempts=_count("PORTAL_WEBHOOKS_MAX_ATTEMPTS", 8, 20),
        webhook_lease_seconds=_seconds("PORTAL_WEBHOOKS_LEASE_SECONDS", 60),
    )
