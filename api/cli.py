"""`pointsbank`: the command line (serve, db upgrade, tokens create, demo, up, settle, ...)."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from api.settings import Settings, SettingsError

# Exit codes (README "The command line" lists them).
EXIT_CHECK_FAILED = 1   # audit or verify-bundle found a problem
EXIT_USAGE = 2          # a mistake in the command: bad option, missing file, refused input
EXIT_UNREACHABLE = 3    # the database cannot be reached
EXIT_ROWS_REFUSED = 4   # import-attendance ran and refused some rows (see its report)
EXIT_PORT_BUSY = 5      # serve: the address is in use or cannot be bound
EXIT_TOOL = 6           # backup/restore: no pg_dump/pg_restore of a fitting version, or it failed

log = logging.getLogger("pointsbank")
CHATTY_LOGGERS = ("alembic", "pgserver", "httpx", "fontTools")


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake told in one line (and where help is) instead of the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


class UserMistake(Exception):
    """A command's input is wrong in a way the user can fix: one line, exit EXIT_USAGE."""


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging()
    try:
        settings = Settings.from_env(host=getattr(args, "host", None), port=getattr(args, "port", None),
                                     workers=getattr(args, "workers", None))
    except SettingsError as exc:
        print(f"pointsbank: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.command(args, settings) or 0
    except Exception as exc:  # a user's mistake or an absent database is a line, not a traceback
        code, line = explain(exc, settings)
        if code is None:
            raise
        print(f"pointsbank: {line}", file=sys.stderr)
        return code


def explain(exc: Exception, settings: Settings) -> tuple[int | None, str]:
    """The exit code and the one line for an error a user can act on (None: a bug)."""
    from ledger.db import is_unreachable
    from ledger.errors import DomainError

    if isinstance(exc, DomainError):
        return EXIT_USAGE, f"{exc.code}: {exc.detail}"
    if isinstance(exc, UserMistake):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, PortBusy):
        return EXIT_PORT_BUSY, str(exc)
    if is_unreachable(exc):
        where = settings.database_url or f"embedded PostgreSQL under {settings.data_dir}"
        return EXIT_UNREACHABLE, (f"cannot reach the database ({_redacted(where)}): "
                                  f"{str(exc).splitlines()[0]}")
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_USAGE, f"{exc.filename}: {exc.strerror or exc}"
    return None, ""


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = Parser(prog="pointsbank", description="Points Bank (文明积分银行)")
    parser.add_argument("--version", action="version", version=f"pointsbank {version('pointsbank')}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API and pages")
    _add_listen_options(serve)
    serve.set_defaults(command=cmd_serve)

    up = commands.add_parser("up", help="migrate, load the demo data, then serve (make run)")
    _add_listen_options(up)
    up.set_defaults(command=cmd_up)

    database = commands.add_parser("db", help="database schema").add_subparsers(required=True, metavar="ACTION")
    database.add_parser("upgrade", help="apply all migrations").set_defaults(command=cmd_db_upgrade)
    database.add_parser("citus-plan", help="print the SQL that distributes this schema by realm on Citus "
                        "(docs/scale.md)").set_defaults(command=cmd_db_citus_plan)

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(required=True, metavar="ACTION")
    create = tokens.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=("admin", "organizer", "merchant", "auditor", "resident"),
                        help="what the token may do")
    create.add_argument("--realm", help="6-digit realm code (all realms for an admin without one)")
    create.add_argument("--station", type=int, help="station id (organizer scope)")
    create.add_argument("--merchant", type=int, help="merchant id (merchant role)")
    create.add_argument("--resident", type=int, help="resident id (resident role)")
    create.add_argument("--label", help="a note on who holds the token (shown in listings)")
    create.set_defaults(command=cmd_tokens_create)
    listing = tokens.add_parser("list", help="list tokens (newest first), never their secrets")
    listing.add_argument("--realm", help="6-digit realm code (default: every realm)")
    listing.add_argument("--resident", type=int, help="only this resident's tokens")
    listing.add_argument("--active", action="store_true", help="only tokens that still work")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.set_defaults(command=cmd_tokens_list)
    revoke = tokens.add_parser("revoke", help="revoke a token at once, in every server process")
    revoke.add_argument("token_id", type=int, help="the id `tokens list` shows (not the secret)")
    revoke.set_defaults(command=cmd_tokens_revoke)

    vouchers = commands.add_parser("vouchers", help="vouchers").add_subparsers(required=True, metavar="ACTION")
    vouchers.add_parser("expire", help="release every expired voucher to its resident").set_defaults(
        command=cmd_vouchers_expire)

    keys = commands.add_parser("keys", help="signing keys").add_subparsers(required=True, metavar="ACTION")
    rotate = keys.add_parser("rotate", help="retire the active key and make a new one")
    rotate.add_argument("--purpose", default="voucher", choices=("voucher", "ledger", "statement"),
                        help="which key: vouchers, ledger checkpoints or settlement statements")
    rotate.set_defaults(command=cmd_keys_rotate)
    keys.add_parser("list", help="the key registry: ledger keys that sign or verify checkpoints").set_defaults(
        command=cmd_keys_list)
    acknowledge = keys.add_parser(
        "acknowledge", help="register a stray ledger key so the checkpoints it signed verify (never seals)")
    acknowledge.add_argument("public_key", help="the stray key: its <kid>.json from the other key directory, "
                                                "or the raw key in base64url")
    acknowledge.add_argument("--reason", required=True, help="why (kept in the registry for auditors)")
    acknowledge.add_argument("--legacy-kid", type=int, help="the small id its checkpoints name (default: from the .json)")
    acknowledge.set_defaults(command=cmd_keys_acknowledge)

    attendance = commands.add_parser(
        "import-attendance", help="award attendance from a CSV (activity, resident id or code, minutes); "
                                  f"exit {EXIT_ROWS_REFUSED} when some rows were refused")
    attendance.add_argument("file", help="CSV in UTF-8 (with or without BOM), GBK or GB18030; Chinese "
                                         "headers accepted; residents by id or by code (居民代码)")
    attendance.add_argument("--report", help="write the per-row report here (default: stdout)")
    attendance.set_defaults(command=cmd_import_attendance)

    settle = commands.add_parser("settle", help="close a settlement period for one or all merchants")
    settle.add_argument("--realm", required=True, help="6-digit realm code")
    settle.add_argument("--merchant", type=int, help="one merchant (default: every merchant of the realm)")
    settle.add_argument("--to", type=cutoff_argument, help="last day of the period, YYYY-MM-DD (default: yesterday, realm time), "
                                     "or a cut-off timestamp with offset")
    settle.set_defaults(command=cmd_settle)

    demo = commands.add_parser("demo", help="load demo data and print what was made")
    demo.add_argument("--json", action="store_true", help="print realm, accounts and tokens as JSON")
    demo.set_defaults(command=cmd_demo)
    _add_audit_commands(commands)
    _add_backup_commands(commands)
    return parser


def _add_audit_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help="run every reconciliation check (exit 0 only if all pass)")
    audit.add_argument("--realm", help="6-digit realm code (default: every realm)")
    audit.add_argument("--json", action="store_true", help="print the report as JSON")
    audit.set_defaults(command=cmd_audit)

    checkpoint = commands.add_parser("checkpoint", help="seal newly committed entries into signed checkpoints")
    checkpoint.add_argument("--realm", help="6-digit realm code (default: every realm)")
    checkpoint.add_argument("--json", action="store_true", help="print the new heads as JSON")
    checkpoint.set_defaults(command=cmd_checkpoint)

    export = commands.add_parser("export", help="write a verifiable bundle of a realm's entries")
    export.add_argument("--realm", required=True, help="6-digit realm code")
    export.add_argument("--from", dest="start", required=True, help="ISO 8601 with offset, inclusive")
    export.add_argument("--to", dest="end", required=True, help="ISO 8601 with offset, exclusive")
    export.add_argument("directory", help="where to write the bundle (created if missing)")
    export.set_defaults(command=cmd_export)

    verify = commands.add_parser("verify-bundle", help="check an exported bundle (no database, no network)")
    verify.add_argument("directory", help="a bundle written by `pointsbank export`")
    verify.set_defaults(command=cmd_verify_bundle)


def _add_backup_commands(commands: Any) -> None:
    backup = commands.add_parser("backup", help="dump the whole database (pg_dump custom format) to FILE")
    backup.add_argument("file", help="where to write the backup (written beside it first, then renamed; mode 0600)")
    backup.add_argument("--keys", metavar="ARCHIVE", help="also write the signing-key directory here (mode 0600)")
    backup.set_defaults(command=cmd_backup)

    restore = commands.add_parser("restore", help="load a backup into an empty database, then migrate to head")
    restore.add_argument("file", help="a file written by `pointsbank backup`")
    restore.add_argument("--keys", metavar="ARCHIVE", help="also put these signing keys into the key directory")
    restore.set_defaults(command=cmd_restore)


def _add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default $POINTSBANK_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default $POINTSBANK_PORT or 8000)")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="server processes sharing the port (default $POINTSBANK_WORKERS or the machine's cores)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return value


def cutoff_argument(text: str) -> Any:
    """`--to`: a day YYYY-MM-DD, or a timestamp with its UTC offset."""
    from datetime import date, datetime

    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        cutoff = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a day (YYYY-MM-DD) or a timestamp with offset") from None
    if cutoff.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, like +08:00")
    return cutoff


def database_url(settings: Settings) -> str:
    from api.database import resolve_database_url

    return resolve_database_url(settings.database_url, settings.data_dir)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from migrations.runner import upgrade

    def waiting() -> None:
        print("another upgrade is running; waiting for it to finish", file=sys.stderr, flush=True)

    before, after = upgrade(database_url(settings), on_wait=waiting)
    registered = run_with_services(settings, lambda services: services.checkpoints.registry.register_local(
        "db upgrade"))
    print(("database is up to date" if before == after else
           f"database upgraded from {before or 'an empty schema'} to {after}")
          + (f"; registered the ledger keys of {settings.signing_key_dir}" if registered else ""))
    return 0


def cmd_db_citus_plan(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from migrations.distribution import LOCAL_TABLES, REFERENCE_TABLES, citus_plan

    with psycopg.connect(database_url(settings)) as conn:
        per_realm = [row[0] for row in conn.execute(
            "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
            "USING (table_schema, table_name) WHERE c.table_schema = 'public' AND c.column_name = 'realm' "
            "AND c.is_nullable = 'NO' AND t.table_type = 'BASE TABLE' ORDER BY 1")]
    global_tables = set(REFERENCE_TABLES) | set(LOCAL_TABLES)
    print("\n".join(citus_plan([table for table in per_realm if table not in global_tables])))
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    """Bootstrap (the first admin) and scripts; a token for a resident, merchant or
    station that does not exist is refused."""
    from access.model import Holder

    holder = Holder(args.role, args.realm, args.station, args.merchant, args.resident)

    async def work(services: Any) -> str:
        await check_token_scope(services, args)
        token, _ = await services.access.create_token(holder, args.label)
        return token

    print(run_with_services(settings, work))
    return 0


def cmd_tokens_list(args: argparse.Namespace, settings: Settings) -> int:
    scope = {"realm": args.realm, "resident_id": args.resident, "active": args.active}
    page = run_with_services(settings, lambda services: services.access.tokens(scope, None, args.limit))
    for row in page["items"]:
        state = ("revoked " + row["revoked_at"].isoformat(timespec="seconds") if row["revoked_at"]
                 else "expires " + row["expires_at"].isoformat(timespec="seconds") if row["expires_at"]
                 else "no expiry")
        holder = " ".join(f"{name}={row[key]}" for name, key in (
            ("realm", "realm"), ("station", "station_id"), ("merchant", "merchant_id"),
            ("resident", "resident_id")) if row[key] is not None)
        print(f"{row['id']:>8} {row['kind']:<6} {row['role']:<9} {holder:<40} {state}  {row['label'] or ''}")
    if not page["items"]:
        print("no tokens", file=sys.stderr)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    revoked = run_with_services(settings, lambda services: services.access.revoke(args.token_id, "cli"))
    print(f"token {revoked['id']} revoked at {revoked['revoked_at'].isoformat(timespec='seconds')}")
    return 0


async def check_token_scope(services: Any, args: argparse.Namespace) -> None:
    """The realm, station, merchant and resident a token names exist, in that realm."""
    if args.realm is not None:
        from ledger.model import check_realm_code

        check_realm_code(args.realm)
        await services.ledger.realm(args.realm)
    scoped = (("station", args.station, services.earning.station),
              ("merchant", args.merchant, services.merchants.get),
              ("resident", args.resident, services.earning.resident))
    for what, found_id, find in scoped:
        if found_id is None:
            continue
        found = await find(found_id)
        if args.realm is not None and found["realm"] != args.realm:
            raise UserMistake(f"{what} {found_id} belongs to realm {found['realm']}, not {args.realm}")


def cmd_vouchers_expire(args: argparse.Namespace, settings: Settings) -> int:
    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rreleased {done}/{total} expired vouchers", end="", file=sys.stderr, flush=True)

    released = run_with_services(settings, lambda services: services.vouchers.expire_due(progress))
    if sys.stderr.isatty() and released:
        print(file=sys.stderr)
    print(f"released {released} expired vouchers")
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.keys import KeyRing

    if args.purpose == "ledger":  # registered: the database says which ledger key seals
        key = run_with_services(settings, lambda services: services.checkpoints.registry.rotate("cli:keys rotate"))
        print(f"new ledger key {key.registry_id} registered; the old one is retired and still verifies "
              "what it signed; `serve` seals with the new key from its next round")
        return 0
    key = KeyRing(settings.signing_key_dir).rotate(args.purpose)
    print(f"new {key.purpose} key {key.kid}; older {key.purpose} keys are retired (still published "
          "until what they signed has expired); restart `serve` to sign with the new key")
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    keys = run_with_services(settings, lambda services: services.checkpoints.registry.keys())
    for key in keys:
        state = f"retired {key.retired_at.isoformat()}" if key.retired_at else "current"
        if key.kind == "acknowledged":
            state = f"acknowledged: {key.reason}"
        legacy = f" (legacy id {key.legacy_kid})" if key.legacy_kid else ""
        print(f"{key.key_id}{legacy} {key.purpose} {key.realm or 'all realms'} {state}")
    return 0


def cmd_keys_acknowledge(args: argparse.Namespace, settings: Settings) -> int:
    import base64
    from pathlib import Path

    text, legacy_kid = args.public_key, args.legacy_kid
    if Path(text).is_file():
        described = json.loads(Path(text).read_text())
        small_id = described.get("kid") if isinstance(described.get("kid"), int) and described["kid"] <= 0xFFFF else None
        text, legacy_kid = described["public_key"], legacy_kid or described.get("legacy_kid") or small_id
    public_key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    key = run_with_services(settings, lambda services: services.checkpoints.registry.acknowledge(
        public_key, args.reason, "cli:keys acknowledge", legacy_kid))
    print(f"acknowledged ledger key {key.key_id}" + (f" (legacy id {key.legacy_kid})" if key.legacy_kid else "")
          + ": the checkpoints it signed verify and `pointsbank audit` lists them as acknowledged")
    return 0


def cmd_import_attendance(args: argparse.Namespace, settings: Settings) -> int:
    from api.importer import import_attendance

    if args.report:
        open(args.report, "a").close()  # a report we cannot write is refused before any award
    return run_with_services(settings, lambda services: import_attendance(services, args.file, args.report))


def cmd_settle(args: argparse.Namespace, settings: Settings) -> int:
    """Settle through `--to`; running it again for the same period answers the same
    settlements (exactly once per merchant and period)."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rsettled {done}/{total} merchants", end="", file=sys.stderr, flush=True)

    async def work(services: Any) -> list[dict[str, Any]]:
        realm = await services.ledger.realm(args.realm)
        to: date | datetime = args.to
        if to is None:
            to = datetime.now(ZoneInfo(realm["timezone"])).date() - timedelta(days=1)
        if args.merchant is not None:
            merchant = await services.merchants.get(args.merchant)
            if merchant["realm"] != args.realm:
                from merchants.errors import MerchantNotFound

                raise MerchantNotFound(f"no merchant {args.merchant} in realm {args.realm}")
            return [await services.settlements.settle(args.merchant, to, "cli:settle")]
        return await services.settlements.settle_realm(args.realm, to, "cli:settle", progress=progress)

    results = run_with_services(settings, work)
    if sys.stderr.isatty() and results:
        print(file=sys.stderr)
    for result in results:
        print(settle_line(result))
    return 0


def settle_line(result: dict[str, Any]) -> str:
    """One merchant's outcome: its name, the period in the realm's local time, the totals."""
    if "refused" in result:
        return f"merchant {result['merchant_id']}: not settled ({result['refused']}: {result['detail']})"
    from datetime import datetime

    statement = result["statement"]
    start, end = (datetime.fromisoformat(statement["period"][side]) for side in ("start_local", "end_local"))
    offset = f"{end:%z}"
    again = " (already settled)" if result["replayed"] else ""
    return (f"merchant {result['merchant_id']} {statement['merchant']['name']}: settlement {result['id']}, "
            f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]}), "
            f"{result['points']} points = "
            f"{statement['totals']['amount_yuan']} yuan{again}")


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from api.demo import describe, load_demo

    demo = run_with_services(settings, load_demo)
    print(json.dumps(demo, ensure_ascii=False, indent=2, default=str) if args.json else describe(demo))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """One process, or `settings.workers` processes (uvicorn's supervisor) accepting on one
    socket bound here first. The workers connect to the database this process resolved
    (an embedded server it started stays up while it supervises); the background jobs run
    in whichever process leads (`api.leader`)."""
    import uvicorn

    listening = bound_socket(settings.host, settings.port)
    url = database_url(settings)
    log.info("serving on http://%s:%d with %d process%s (OpenAPI at /schema)", settings.host, settings.port,
             settings.workers, "" if settings.workers == 1 else "es")
    options: dict[str, Any] = dict(host=settings.host, port=settings.port, loop="uvloop", http="httptools",
                                   log_level="warning", access_log=False)
    if settings.workers == 1:
        config = uvicorn.Config(served_app(settings, url), **options)
        uvicorn.Server(config).run(sockets=[listening])
        return 0
    from uvicorn.supervisors import Multiprocess

    os.environ["DATABASE_URL"] = url    # what each worker's Settings.from_env reads
    config = uvicorn.Config(f"{__name__}:worker_app", factory=True, workers=settings.workers, **options)
    Multiprocess(config, sockets=[listening]).run()
    return 0


def served_app(settings: Settings, url: str) -> Any:
    from api.access_log import AccessLog
    from api.app import create_app

    app: Any = create_app(settings, database_url=url)
    return AccessLog(app) if settings.access_log else app


def worker_app() -> Any:
    """What each `serve --workers N` process serves (uvicorn imports this by name). It dies
    with its supervisor, even one killed with SIGKILL, so no orphan keeps the port."""
    _die_with_parent()
    settings = Settings.from_env()
    _configure_logging()
    return served_app(settings, settings.database_url or database_url(settings))


def _die_with_parent() -> None:
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):   # not Linux: the supervisor's SIGTERM still stops it
        pass


class PortBusy(Exception):
    pass


def bound_socket(host: str, port: int) -> Any:
    """The listening socket, bound before anything starts, so a busy port is one line and
    its own exit code (not the database's)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortBusy(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                       "(another program uses the port? try --port)") from None
    sock.set_inheritable(True)
    return sock


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    cmd_db_upgrade(args, settings)
    cmd_demo(argparse.Namespace(json=False), settings)
    return cmd_serve(args, settings)


class ProgressLine:
    """One line on stderr, rewritten in place on a terminal; plain lines otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._width = 0

    def __call__(self, message: str) -> None:
        if self._tty:
            print("\r" + message.ljust(self._width), end="", file=sys.stderr, flush=True)
            self._width = len(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self._tty and self._width:
            print(file=sys.stderr, flush=True)


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.audit import run_audit
    from ledger.model import check_realm_code

    if args.realm:
        check_realm_code(args.realm)
    progress = ProgressLine()
    report = run_with_services(settings, lambda services: run_audit(services.engine, args.realm, progress))
    progress.done()
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2, default=str))
    else:
        for result in report.results:
            print(f"{'ok    ' if result.ok else 'FAILED'} {result.name:<36} {result.seconds:7.2f}s")
            for row in result.offending:
                print(f"         {json.dumps(row, ensure_ascii=False, default=str)}")
            if result.truncated:
                print("         ... more")
            for row in result.notes:
                print(f"  note   {json.dumps(row, ensure_ascii=False, default=str)}")
        print("all checks pass" if report.ok else f"{len([r for r in report.results if not r.ok])} check(s) failed")
    return 0 if report.ok else EXIT_CHECK_FAILED


def cmd_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.checkpoints import head_line

    async def work(services: Any) -> list[dict[str, Any]]:
        if args.realm:
            head = await services.checkpoints.seal(args.realm)
            return [head] if head else []
        return await services.checkpoints.seal_all()

    heads = run_with_services(settings, work)
    for head in heads:
        print(json.dumps(head) if args.json else head_line(head))
    if not heads:
        print("nothing new to seal", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from api.routes.common import parse_timestamp
    from ledger.bundle import export
    from ledger.model import check_realm_code

    check_realm_code(args.realm)
    start, end = parse_timestamp(args.start), parse_timestamp(args.end)
    progress = ProgressLine()

    async def work(services: Any) -> dict[str, Any]:
        from ledger.errors import SealingKeyNotCurrent

        try:
            await services.checkpoints.seal_current(args.realm)
        except SealingKeyNotCurrent as refused:  # export what is sealed; say why no more
            print(f"pointsbank: not sealing first: {refused.detail}", file=sys.stderr)
        return await export(services.engine, args.realm, start, end, Path(args.directory), progress)

    manifest = run_with_services(settings, work)
    progress.done()
    print(f"exported {manifest['entries']} entries and {manifest['postings']} postings of realm "
          f"{args.realm} to {args.directory} (checkpoint {manifest['anchor_checkpoint']})")
    if manifest["unsealed_entries_omitted"]:
        print(f"{manifest['unsealed_entries_omitted']} entries of the window are not sealed yet "
              "and were left out", file=sys.stderr)
    return 0


def cmd_verify_bundle(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from ledger.bundle import verify_bundle

    problems = verify_bundle(Path(args.directory))
    for problem in problems:
        print(problem)
    print("bundle verifies" if not problems else "bundle does NOT verify", file=sys.stderr)
    return 0 if not problems else EXIT_CHECK_FAILED


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from api.backup import backup, write_key_archive

    def work(progress: ProgressLine | None) -> None:
        if args.keys:  # first: small, and a wrong key directory stops before the long part
            count = write_key_archive(settings.signing_key_dir, Path(args.keys))
            print(f"wrote {count} key files from {settings.signing_key_dir} to {args.keys} (mode 0600)")
        outcome = backup(database_url(settings), Path(args.file), progress)
        if progress:
            progress.done()
        print(f"backed up {outcome.tables} tables ({outcome.size_bytes} bytes) to {args.file} "
              f"with {outcome.tool}")

    return _backup_command(work)


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from api.backup import read_key_archive, restore

    def work(progress: ProgressLine | None) -> None:
        if args.keys:
            count = read_key_archive(Path(args.keys), settings.signing_key_dir)
            print(f"restored {count} key files to {settings.signing_key_dir}")
        outcome = restore(database_url(settings), Path(args.file), progress)
        if progress:
            progress.done()
        print(f"restored {outcome.tables} tables from {args.file} with {outcome.tool}; "
              "the schema is at head. Run `pointsbank audit` next.")

    return _backup_command(work)


def _backup_command(work: Callable[[Any], None]) -> int:
    """A mistake is one line and EXIT_USAGE; a missing or failing tool EXIT_TOOL."""
    from api.backup import BackupMistake, ToolProblem

    progress = ProgressLine() if sys.stderr.isatty() else None
    try:
        work(progress)
    except (BackupMistake, ToolProblem) as exc:
        if progress:
            progress.done()
        print(f"pointsbank: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, BackupMistake) else EXIT_TOOL
    return 0


def run_with_services(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from api.app import build_services

    url = database_url(settings)

    async def run() -> Any:
        services = build_services(url, settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(run())


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


if __name__ == "__main__":
    sys.exit(main())
