"""Settings from the environment, read once at start."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from access.model import DEVICE_TOKEN_LIFETIME_S_DEFAULT
from ledger.checkpoints import SEAL_INTERVAL_S

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = ".pointsbank"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None   # None: an embedded PostgreSQL under data_dir
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    group_commit_writers: int = 2     # 0 turns group commit off (one commit per post)
    db_pool_size: int = 20
    key_dir: Path | None = None       # None: <data_dir>/keys
    seal_interval_s: float = SEAL_INTERVAL_S  # `serve` seals a checkpoint this often; 0 turns it off
    device_token_lifetime_s: int = DEVICE_TOKEN_LIFETIME_S_DEFAULT  # renewed on use
    activity_close_interval_s: float = 60.0   # `serve` closes ended activities this often; 0: never

    @property
    def signing_key_dir(self) -> Path:
        return self.key_dir or self.data_dir / "keys"

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("DATABASE_URL") or None,
            "data_dir": Path(env.get("POINTSBANK_DATA_DIR", DEFAULT_DATA_DIR)),
            "host": env.get("POINTSBANK_HOST", DEFAULT_HOST),
            "port": int(env.get("POINTSBANK_PORT", DEFAULT_PORT)),
            "group_commit_writers": int(env.get("POINTSBANK_GROUP_COMMIT_WRITERS", 2)),
            "db_pool_size": int(env.get("POINTSBANK_DB_POOL_SIZE", 20)),
            "key_dir": Path(env["POINTSBANK_KEY_DIR"]) if env.get("POINTSBANK_KEY_DIR") else None,
            "seal_interval_s": float(env.get("POINTSBANK_SEAL_INTERVAL_S", SEAL_INTERVAL_S)),
            "device_token_lifetime_s": int(env.get("POINTSBANK_DEVICE_TOKEN_LIFETIME_S",
                                                   DEVICE_TOKEN_LIFETIME_S_DEFAULT)),
            "activity_close_interval_s": float(env.get("POINTSBANK_ACTIVITY_CLOSE_INTERVAL_S", 60.0)),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
