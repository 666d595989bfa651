"""Settings from the environment: every variable checked, a bad one is one line naming it,
and `pointsbank serve` with one stops with exit 2 before it starts anything."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from api import settings as settings_module
from api.settings import Settings, SettingsError

BAD = {  # every variable Settings reads, with a value it must refuse
    "DATABASE_URL": "mysql://user:secret@db/points",
    "POINTSBANK_DATA_DIR": __file__,                   # a file, not a directory
    "POINTSBANK_HOST": "local host",
    "POINTSBANK_PORT": "65536",
    "POINTSBANK_GROUP_COMMIT_WRITERS": "-1",
    "POINTSBANK_GROUP_COMMIT_QUEUE_MAX": "0",
    "POINTSBANK_DB_POOL_SIZE": "many",
    "POINTSBANK_DB_POOL_OVERFLOW": "2.5",
    "POINTSBANK_DB_POOL_TIMEOUT_S": "0",
    "POINTSBANK_DB_STATEMENT_TIMEOUT_S": "inf",
    "POINTSBANK_RENDER_RATE_PER_S": "nan",
    "POINTSBANK_RENDER_BURST": "0",
    "POINTSBANK_PUBLIC_RATE_PER_S": "-3",
    "POINTSBANK_PUBLIC_BURST": "1e3",
    "POINTSBANK_KEY_DIR": "keys\x00dir",
    "POINTSBANK_SEAL_INTERVAL_S": "soon",
    "POINTSBANK_ACCESS_LOG": "maybe",
    "POINTSBANK_DEVICE_TOKEN_LIFETIME_S": "59",
    "POINTSBANK_ACTIVITY_CLOSE_INTERVAL_S": "-0.5",
    "POINTSBANK_CJK_FONT": "/no/such/font.ttc",
    "POINTSBANK_PG_BIN": "/no/such/bin",
    "POINTSBANK_WORKERS": "0",
    "POINTSBANK_SERVICE_JOBS_INTERVAL_S": "-1",
    "POINTSBANK_SERVICE_DISPATCH_TIMEOUT_S": "59",
    "POINTSBANK_SERVICE_AUTO_CONFIRM_S": "a week",
    "POINTSBANK_OUTBOX_INTERVAL_S": "-1",
    "POINTSBANK_WEBHOOK_INTERVAL_S": "often",
    "POINTSBANK_WEBHOOK_PRIVATE_ALLOWED": "sometimes",
    "POINTSBANK_NOTICE_INTERVAL_S": "nan",
}


def test_every_variable_the_settings_read_has_a_bad_value_here():
    source = Path(settings_module.__file__).read_text()
    read = set(re.findall(r'"((?:POINTSBANK_[A-Z_]+)|DATABASE_URL)"', source))
    assert read == set(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_is_one_line_naming_the_variable(name):
    with pytest.raises(SettingsError) as bad:
        Settings.from_env({name: BAD[name]})
    message = str(bad.value)
    assert message.startswith(f"{name} must ") and "\n" not in message
    assert "secret" not in message                     # a database URL's password is never echoed


def test_good_values_are_read():
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://app@db:5432/points", "POINTSBANK_HOST": "::1",
        "POINTSBANK_PORT": "65535", "POINTSBANK_ACCESS_LOG": "Off",
        "POINTSBANK_DATA_DIR": str(Path(__file__).parent), "POINTSBANK_KEY_DIR": "/not/yet/made",
        "POINTSBANK_PG_BIN": str(Path(sys.executable).parent), "POINTSBANK_CJK_FONT": __file__})
    assert settings.database_url == "postgresql://app@db:5432/points"
    assert (settings.host, settings.port, settings.access_log) == ("::1", 65535, False)
    assert settings.key_dir == Path("/not/yet/made") and settings.data_dir == Path(__file__).parent
    assert Settings.from_env({"POINTSBANK_ACCESS_LOG": "yes"}).access_log is True
    assert Settings.from_env({}) == Settings()         # unset: every default


@pytest.mark.parametrize("name", ["POINTSBANK_PORT", "POINTSBANK_ACCESS_LOG", "DATABASE_URL"])
def test_serve_with_a_bad_setting_prints_one_line_and_exits_2(name, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("POINTSBANK_")}
    env.update({name: BAD[name], "POINTSBANK_DATA_DIR": str(tmp_path)})
    done = subprocess.run([sys.executable, "-m", "api.cli", "serve"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr.startswith(f"pointsbank: {name} must ")
    assert len(done.stderr.splitlines()) == 1
