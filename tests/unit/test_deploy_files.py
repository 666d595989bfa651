"""The deployment files, checked without a Docker engine: the compose files load no demo
data without POINTSBANK_DEMO=1, the image holds every package, the proxy serves TLS, the
keys and backups have their volumes, and the systemd units verify."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NOT_SHIPPED = {"tests", "bench"}   # top-level packages the image need not hold


def compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def service_text(service: dict) -> str:
    return json.dumps([service.get("command"), service.get("entrypoint")])


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


# demo data only with the flag ---------------------------------------------------------------

def test_no_production_service_loads_demo_data():
    services = compose()["services"]
    for name, service in services.items():
        assert "demo" not in service_text(service), name
        assert environment(service).get("POINTSBANK_DEMO", "0") != "1", name
    for instruction in re.findall(r"^(?:CMD|ENTRYPOINT|RUN)\b.*$", dockerfile(), re.M):
        assert "demo" not in instruction


def test_the_demo_overlay_sets_the_flag():
    assert environment(compose("compose.demo.yml")["services"]["app"])["POINTSBANK_DEMO"] == "1"


def run_entrypoint(tmp_path: Path, **env: str) -> list[str]:
    """Run deploy/entrypoint.sh with a stand-in `pointsbank` that logs its arguments."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "pointsbank"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n'   # FAKE_HELP: what `serve --help` prints
                    'if [ "$*" = "serve --help" ]; then echo "${FAKE_HELP:-}"; fi\n')
    fake.chmod(0o755)
    base = {"PATH": f"{fake.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    calls.unlink(missing_ok=True)
    subprocess.run(["sh", str(DEPLOY / "entrypoint.sh")], env={**base, **env}, check=True)
    return calls.read_text().splitlines()


def test_the_entrypoint_loads_demo_data_only_with_the_flag(tmp_path):
    assert run_entrypoint(tmp_path) == ["db upgrade", "serve"]
    assert run_entrypoint(tmp_path, POINTSBANK_DEMO="1") == ["db upgrade", "demo", "serve"]
    assert run_entrypoint(tmp_path, POINTSBANK_DEMO="0") == ["db upgrade", "serve"]


def test_the_entrypoint_leaves_workers_to_serve(tmp_path):
    # `serve` reads POINTSBANK_WORKERS itself (Settings), so the entrypoint passes nothing
    assert run_entrypoint(tmp_path, POINTSBANK_WORKERS="3") == ["db upgrade", "serve"]


def test_the_entrypoint_runs_a_given_command_instead(tmp_path):
    run_entrypoint(tmp_path)
    subprocess.run(["sh", str(DEPLOY / "entrypoint.sh"), "pointsbank", "tokens", "create", "--role", "admin"],
                   env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}, check=True)
    assert (tmp_path / "calls").read_text().splitlines()[-1] == "tokens create --role admin"


# the image ----------------------------------------------------------------------------------

def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for these patterns: the last matching pattern wins, `!` keeps,
    a pattern matching a parent directory excludes what is inside."""
    parts = path.split("/")
    verdict = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(c, glob) or fnmatch.fnmatchcase(c, glob.replace("**/", "")) for c in candidates):
            verdict = not keep
    return verdict


def top_level_packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")}


def test_every_package_is_in_the_build_context_and_installed():
    packages = top_level_packages() - NOT_SHIPPED
    assert {"ledger", "api", "migrations"} <= packages
    patterns = dockerignore_patterns()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    for package in packages:
        files = [f for f in tracked if f.startswith(f"{package}/")]
        assert files and not [f for f in files if ignored(f, patterns)], package
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    installed = set(find_packages(str(ROOT), include=find.get("include", ("*",)), exclude=find.get("exclude", ())))
    assert packages <= installed, packages - installed
    assert not installed & NOT_SHIPPED
    # one COPY of the whole context, installed as a package: no list of packages to forget
    assert re.findall(r"^COPY\s+(.*)$", dockerfile(), re.M) == [". /src"]
    assert "pip install --no-cache-dir /src" in dockerfile()


def test_the_image_has_a_cjk_font_a_user_a_healthcheck_and_the_entrypoint():
    text = dockerfile()
    assert re.search(r"apt-get install .*\b(fonts-wqy-microhei|fonts-noto-cjk)\b", text)
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert "install -m 0755 /src/deploy/entrypoint.sh /usr/local/bin/pointsbank-entrypoint" in text
    assert re.search(r'^ENTRYPOINT \["pointsbank-entrypoint"\]', text, re.M)
    assert "install -d -o pointsbank -g pointsbank -m 0700 /data /keys /backups" in text


# volumes, backups, proxy --------------------------------------------------------------------

def named_mounts(service: dict, volumes: dict) -> dict[str, str]:
    """target -> named volume (bind mounts left out)."""
    mounts = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        if source in volumes:
            mounts[target] = source
    return mounts


def test_database_keys_and_backups_have_named_volumes():
    spec = compose()
    services, volumes = spec["services"], spec["volumes"]
    assert services["db"]["image"] == "postgres:16"
    assert named_mounts(services["db"], volumes)["/var/lib/postgresql/data"] == "pgdata"
    key_dir = re.search(r"POINTSBANK_KEY_DIR=(\S+)", dockerfile()).group(1)
    assert named_mounts(services["app"], volumes)[key_dir] == "keys"
    assert "ports" not in services["app"]  # reached only through the proxy
    backup = services["backup"]
    assert backup["entrypoint"][0] == "pointsbank-backup"
    assert named_mounts(backup, volumes)["/backups"] == "backups"
    assert f"keys:{key_dir}:ro" in backup["volumes"]
    assert "pointsbank backup " in (DEPLOY / "backup.sh").read_text()
    assert "install -m 0755 /src/deploy/backup.sh /usr/local/bin/pointsbank-backup" in dockerfile()


def test_the_proxy_serves_tls_in_front_of_the_app():
    proxy = compose()["services"]["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert "443:443" in proxy["ports"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert re.search(r"^https://\{\$POINTSBANK_SITE\} \{$", caddyfile, re.M)
    assert "import tls_{$POINTSBANK_TLS:internal}" in caddyfile
    assert re.search(r"\(tls_internal\) \{\s*tls internal\s*\}", caddyfile)
    assert re.search(r"\(tls_provided\) \{\s*tls /certs/cert\.pem /certs/key\.pem\s*\}", caddyfile)
    assert "reverse_proxy {$POINTSBANK_UPSTREAM:app:8000}" in caddyfile
    assert compose()["services"]["app"]["expose"] == ["8000"]


@pytest.mark.parametrize("mode", ["internal", "provided"])
def test_caddy_reads_the_caddyfile(mode):
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("the caddy binary is not installed (Debian package `caddy`); the text checks above still ran")
    adapted = subprocess.run([caddy, "adapt", "--config", str(DEPLOY / "Caddyfile")], capture_output=True,
                             text=True, env={**os.environ, "POINTSBANK_SITE": "jifen.county.lan",
                                             "POINTSBANK_TLS": mode})
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    servers = config["apps"]["http"]["servers"]
    https = [s for s in servers.values() if ":443" in s["listen"]]
    assert https and "app:8000" in json.dumps(https)
    tls = json.dumps(config["apps"]["tls"])
    if mode == "internal":
        assert '"module": "internal"' in tls
    else:
        assert '"certificate": "/certs/cert.pem"' in tls


# the plain server ---------------------------------------------------------------------------

UNITS = ("pointsbank.service", "pointsbank-backup.service", "pointsbank-backup.timer")


def test_the_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (package `systemd`)")
    # the units name the documented install paths (/opt/pointsbank/...): give them a
    # stand-in tree so `verify` checks everything else, as on a server
    install = tmp_path / "opt" / "pointsbank"
    (install / "venv" / "bin").mkdir(parents=True)
    (install / "src" / "deploy").mkdir(parents=True)
    (install / "venv" / "bin" / "pointsbank").write_text("#!/bin/sh\n")
    (install / "venv" / "bin" / "pointsbank").chmod(0o755)
    shutil.copy(DEPLOY / "backup.sh", install / "src" / "deploy" / "backup.sh")
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        assert "/opt/pointsbank/" in text or unit.endswith(".timer")
        (units / unit).write_text(text.replace("/opt/pointsbank", str(install)))
    verified = subprocess.run([analyze, "verify", *UNITS], cwd=units, capture_output=True, text=True)
    ours = [line for line in (verified.stdout + verified.stderr).splitlines()
            if any(unit in line for unit in UNITS)]
    assert verified.returncode == 0 and not ours, verified.stdout + verified.stderr
    timer = (DEPLOY / "pointsbank-backup.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer
