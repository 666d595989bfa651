"""Settings from the environment, read once at start. A bad value stops the command with
one line naming the variable (`SettingsError`)."""
from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from api.limits import PUBLIC_BURST, PUBLIC_RATE_PER_S, RENDER_BURST, RENDER_RATE_PER_S
from access.model import DEVICE_TOKEN_LIFETIME_S_DEFAULT
from ledger.checkpoints import SEAL_INTERVAL_S
from ledger.group_commit import QUEUE_DEPTH_MAX
from orders.model import AUTO_CONFIRM_S_DEFAULT, DISPATCH_TIMEOUT_S_DEFAULT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = ".pointsbank"
DB_POOL_SIZE = 20
DB_POOL_OVERFLOW = 20            # connections opened beyond the pool under load, closed when idle
DB_POOL_TIMEOUT_S = 3.0          # a request waits this long for a connection, then 503 overloaded
SERVICE_JOBS_INTERVAL_S = 60.0  # `serve` runs the service loop's jobs this often; 0: never
DB_STATEMENT_TIMEOUT_S = 30.0    # PostgreSQL cancels a longer statement (503 overloaded); 0: never

PORT_MAX = 65_535
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
PATH_LENGTH_MAX = 4096
PATH_SHOWN_MAX = 80
HOST_PATTERN = re.compile(r"[A-Za-z0-9._:\-\[\]%]{1,253}")
DATABASE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")

WORKERS_DEFAULT = os.cpu_count() or 1   # `serve` runs a process per core

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """A setting the service cannot run with; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None   # None: an embedded PostgreSQL under data_dir
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    group_commit_writers: int = 2     # 0 turns group commit off (one commit per post)
    group_commit_queue_max: int = QUEUE_DEPTH_MAX  # waiting posts; past it: 503 overloaded
    db_pool_size: int = DB_POOL_SIZE
    db_pool_overflow: int = DB_POOL_OVERFLOW
    db_pool_timeout_s: float = DB_POOL_TIMEOUT_S      # then: 503 overloaded
    db_statement_timeout_s: float = DB_STATEMENT_TIMEOUT_S  # 0: no limit
    render_rate_per_s: float = RENDER_RATE_PER_S   # QR and PDF renderings per token
    render_burst: int = RENDER_BURST
    public_rate_per_s: float = PUBLIC_RATE_PER_S   # unauthenticated requests per client address
    public_burst: int = PUBLIC_BURST
    key_dir: Path | None = None       # None: <data_dir>/keys
    seal_interval_s: float = SEAL_INTERVAL_S  # `serve` seals a checkpoint this often; 0 turns it off
    access_log: bool = True           # `serve` logs one line per request
    device_token_lifetime_s: int = DEVICE_TOKEN_LIFETIME_S_DEFAULT  # renewed on use
    activity_close_interval_s: float = 60.0   # `serve` closes ended activities this often; 0: never
    cjk_font: Path | None = None      # checked here; ledger/fonts.py reads POINTSBANK_CJK_FONT itself
    pg_bin: Path | None = None        # checked here; api/backup.py reads POINTSBANK_PG_BIN itself
    workers: int = WORKERS_DEFAULT    # `serve` processes sharing the port
    service_jobs_interval_s: float = SERVICE_JOBS_INTERVAL_S
    service_dispatch_timeout_s: float = DISPATCH_TIMEOUT_S_DEFAULT   # not accepted: back to the queue
    service_auto_confirm_s: float = AUTO_CONFIRM_S_DEFAULT           # done, never confirmed: confirmed
    outbox_interval_s: float = 1.0    # `serve` fans events out to inboxes and webhooks this often; 0: never
    webhook_interval_s: float = 2.0   # `serve` sends due webhook deliveries this often; 0: never
    webhook_private_allowed: bool = False  # webhooks may post to this machine and private networks
    notice_interval_s: float = 600.0  # `serve` emits voucher.expiring and budget.low this often; 0: never

    @property
    def signing_key_dir(self) -> Path:
        return self.key_dir or self.data_dir / "keys"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Every variable checked: a bad one raises SettingsError naming it."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "database_url": _database_url(env, "DATABASE_URL"),
            "data_dir": _path(env, "POINTSBANK_DATA_DIR", "directory") or Path(DEFAULT_DATA_DIR),
            "host": _host(env, "POINTSBANK_HOST", DEFAULT_HOST),
            "port": _number(env, "POINTSBANK_PORT", int, DEFAULT_PORT, 1, PORT_MAX),
            "group_commit_writers": _number(env, "POINTSBANK_GROUP_COMMIT_WRITERS", int, 2, 0),
            "group_commit_queue_max": _number(env, "POINTSBANK_GROUP_COMMIT_QUEUE_MAX", int, QUEUE_DEPTH_MAX, 1),
            "db_pool_size": _number(env, "POINTSBANK_DB_POOL_SIZE", int, DB_POOL_SIZE, 1),
            "db_pool_overflow": _number(env, "POINTSBANK_DB_POOL_OVERFLOW", int, DB_POOL_OVERFLOW, 0),
            "db_pool_timeout_s": _number(env, "POINTSBANK_DB_POOL_TIMEOUT_S", float,
                                         DB_POOL_TIMEOUT_S, 0.01),
            "db_statement_timeout_s": _number(env, "POINTSBANK_DB_STATEMENT_TIMEOUT_S", float,
                                              DB_STATEMENT_TIMEOUT_S, 0),
            "render_rate_per_s": _number(env, "POINTSBANK_RENDER_RATE_PER_S", float, RENDER_RATE_PER_S, 0.001),
            "render_burst": _number(env, "POINTSBANK_RENDER_BURST", int, RENDER_BURST, 1),
            "public_rate_per_s": _number(env, "POINTSBANK_PUBLIC_RATE_PER_S", float, PUBLIC_RATE_PER_S, 0.001),
            "public_burst": _number(env, "POINTSBANK_PUBLIC_BURST", int, PUBLIC_BURST, 1),
            "key_dir": _path(env, "POINTSBANK_KEY_DIR", "directory"),
            "seal_interval_s": _number(env, "POINTSBANK_SEAL_INTERVAL_S", float, SEAL_INTERVAL_S, 0),
            "access_log": _flag(env, "POINTSBANK_ACCESS_LOG", True),
            "device_token_lifetime_s": _number(env, "POINTSBANK_DEVICE_TOKEN_LIFETIME_S", int,
                                               DEVICE_TOKEN_LIFETIME_S_DEFAULT, 60),
            "activity_close_interval_s": _number(env, "POINTSBANK_ACTIVITY_CLOSE_INTERVAL_S", float, 60.0, 0),
            "cjk_font": _path(env, "POINTSBANK_CJK_FONT", "file", must_exist=True),
            "pg_bin": _path(env, "POINTSBANK_PG_BIN", "directory", must_exist=True),
            "workers": _number(env, "POINTSBANK_WORKERS", int, WORKERS_DEFAULT, 1),
            "service_jobs_interval_s": _number(env, "POINTSBANK_SERVICE_JOBS_INTERVAL_S", float,
                                               SERVICE_JOBS_INTERVAL_S, 0),
            "service_dispatch_timeout_s": _number(env, "POINTSBANK_SERVICE_DISPATCH_TIMEOUT_S", float,
                                                  float(DISPATCH_TIMEOUT_S_DEFAULT), 60),
            "service_auto_confirm_s": _number(env, "POINTSBANK_SERVICE_AUTO_CONFIRM_S", float,
                                              float(AUTO_CONFIRM_S_DEFAULT), 60),
            "outbox_interval_s": _number(env, "POINTSBANK_OUTBOX_INTERVAL_S", float, 1.0, 0),
            "webhook_interval_s": _number(env, "POINTSBANK_WEBHOOK_INTERVAL_S", float, 2.0, 0),
            "webhook_private_allowed": _flag(env, "POINTSBANK_WEBHOOK_PRIVATE_ALLOWED", False),
            "notice_interval_s": _number(env, "POINTSBANK_NOTICE_INTERVAL_S", float, 600.0, 0),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], N], default: N, minimum: N,
            maximum: N | None = None) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {noun}, not {raw!r}") from None
    if not value >= minimum:  # also refuses nan
        raise SettingsError(f"{name} must be at least {minimum}, not {raw!r}")
    if maximum is not None and not value <= maximum:  # also refuses inf
        raise SettingsError(f"{name} must be at most {maximum}, not {raw!r}")
    if kind is float and not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, not {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in TRUE_WORDS + FALSE_WORDS:
        raise SettingsError(f"{name} must be one of {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}, "
                            f"not {env[name].strip()!r}")
    return raw in TRUE_WORDS


def _path(env: Mapping[str, str], name: str, kind: str, must_exist: bool = False) -> Path | None:
    """A directory or file path; None when unset. One that exists must be of its kind."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if "\0" in raw or len(raw) > PATH_LENGTH_MAX:
        raise SettingsError(f"{name} must be a path of at most {PATH_LENGTH_MAX} characters, "
                            f"without NUL, not {raw[:PATH_SHOWN_MAX]!r}")
    path = Path(raw).expanduser()
    if path.exists() or must_exist:
        right_kind = path.is_dir() if kind == "directory" else path.is_file()
        if not right_kind:
            raise SettingsError(f"{name} must name a {kind}, not {raw!r}")
    return path


def _host(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not HOST_PATTERN.fullmatch(raw):
        raise SettingsError(f"{name} must be a host name or IP address, not {raw!r}")
    return raw


def _database_url(env: Mapping[str, str], name: str) -> str | None:
    """A postgresql:// URL, or None (an embedded PostgreSQL). Never echoed: it may hold a password."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        scheme = make_url(raw).drivername
    except (ArgumentError, ValueError):
        raise SettingsError(f"{name} must be a URL like postgresql://user:password@host:5432/database") from None
    if scheme not in DATABASE_SCHEMES:
        raise SettingsError(f"{name} must be a postgresql:// URL, not {scheme}://")
    return raw
