"""`pointsbank`: the command line (serve, db upgrade, tokens create, demo, up, settle, ...)."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from api.settings import Settings

EXIT_CHECK_FAILED = 1   # audit or verify-bundle found a problem
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

log = logging.getLogger("pointsbank")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("alembic", "pgserver", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = Settings.from_env(host=getattr(args, "host", None), port=getattr(args, "port", None))
    try:
        return args.command(args, settings) or 0
    except Exception as exc:  # the database being away is a message, not a traceback
        from ledger.db import is_unreachable
        from ledger.errors import DomainError

        if isinstance(exc, DomainError):
            print(f"pointsbank: {exc.code}: {exc.detail}", file=sys.stderr)
            return EXIT_USAGE
        if is_unreachable(exc) or _is_psycopg_operational(exc):
            where = settings.database_url or f"embedded PostgreSQL under {settings.data_dir}"
            print(f"pointsbank: cannot reach the database ({_redacted(where)}): "
                  f"{str(exc).splitlines()[0]}", file=sys.stderr)
            return EXIT_UNREACHABLE
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pointsbank", description="Points Bank (文明积分银行)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API and pages")
    _add_listen_options(serve)
    serve.set_defaults(command=cmd_serve)

    up = commands.add_parser("up", help="migrate, load the demo data, then serve (make run)")
    _add_listen_options(up)
    up.set_defaults(command=cmd_up)

    database = commands.add_parser("db", help="database schema").add_subparsers(required=True, metavar="ACTION")
    database.add_parser("upgrade", help="apply all migrations").set_defaults(command=cmd_db_upgrade)

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(required=True, metavar="ACTION")
    create = tokens.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=("admin", "organizer", "merchant", "auditor", "resident"))
    create.add_argument("--realm", help="6-digit realm code (all realms for an admin without one)")
    create.add_argument("--station", type=int, help="station id (organizer scope)")
    create.add_argument("--merchant", type=int, help="merchant id (merchant role)")
    create.add_argument("--resident", type=int, help="resident id (resident role)")
    create.add_argument("--label")
    create.set_defaults(command=cmd_tokens_create)
    listing = tokens.add_parser("list", help="list tokens (newest first), never their secrets")
    listing.add_argument("--realm", help="6-digit realm code (default: every realm)")
    listing.add_argument("--resident", type=int, help="only this resident's tokens")
    listing.add_argument("--active", action="store_true", help="only tokens that still work")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(command=cmd_tokens_list)
    revoke = tokens.add_parser("revoke", help="revoke a token at once, in every server process")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(command=cmd_tokens_revoke)

    vouchers = commands.add_parser("vouchers", help="vouchers").add_subparsers(required=True, metavar="ACTION")
    vouchers.add_parser("expire", help="release every expired voucher to its resident").set_defaults(
        command=cmd_vouchers_expire)

    keys = commands.add_parser("keys", help="signing keys").add_subparsers(required=True, metavar="ACTION")
    rotate = keys.add_parser("rotate", help="retire the active key and make a new one")
    rotate.add_argument("--purpose", default="voucher", choices=("voucher", "ledger", "statement"))
    rotate.set_defaults(command=cmd_keys_rotate)

    attendance = commands.add_parser(
        "import-attendance", help="award attendance from a CSV (activity_id, resident_id, minutes)")
    attendance.add_argument("file", help="UTF-8 CSV, with or without BOM; Chinese headers accepted")
    attendance.add_argument("--report", help="write the per-row report here (default: stdout)")
    attendance.set_defaults(command=cmd_import_attendance)

    settle = commands.add_parser("settle", help="close a settlement period for one or all merchants")
    settle.add_argument("--realm", required=True, help="6-digit realm code")
    settle.add_argument("--merchant", type=int, help="one merchant (default: every merchant of the realm)")
    settle.add_argument("--to", help="last day of the period, YYYY-MM-DD (default: yesterday, realm time), "
                                     "or a cut-off timestamp with offset")
    settle.set_defaults(command=cmd_settle)

    demo = commands.add_parser("demo", help="load demo data and print what was made")
    demo.add_argument("--json", action="store_true", help="print realm, accounts and tokens as JSON")
    demo.set_defaults(command=cmd_demo)
    _add_audit_commands(commands)
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
    export.add_argument("--realm", required=True)
    export.add_argument("--from", dest="start", required=True, help="ISO 8601 with offset, inclusive")
    export.add_argument("--to", dest="end", required=True, help="ISO 8601 with offset, exclusive")
    export.add_argument("directory")
    export.set_defaults(command=cmd_export)

    verify = commands.add_parser("verify-bundle", help="check an exported bundle (no database, no network)")
    verify.add_argument("directory")
    verify.set_defaults(command=cmd_verify_bundle)


def _add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)


def database_url(settings: Settings) -> str:
    from api.database import resolve_database_url

    return resolve_database_url(settings.database_url, settings.data_dir)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from migrations.runner import upgrade

    upgrade(database_url(settings))
    print("database is up to date")
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    """Bootstrap (the first admin) and scripts; a token for a resident, merchant or
    station that does not exist is refused."""
    from access.model import Holder

    holder = Holder(args.role, args.realm, args.station, args.merchant, args.resident)
    token, _ = run_with_services(settings, lambda services: services.access.create_token(holder, args.label))
    print(token)
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

    key = KeyRing(settings.signing_key_dir).rotate(args.purpose)
    print(f"new {key.purpose} key {key.kid}; older {key.purpose} keys are retired (still published "
          "until what they signed has expired); restart `serve` to sign with the new key")
    return 0


def cmd_import_attendance(args: argparse.Namespace, settings: Settings) -> int:
    from api.importer import import_attendance

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
        if args.to is None:
            to: date | datetime = datetime.now(ZoneInfo(realm["timezone"])).date() - timedelta(days=1)
        elif len(args.to) == 10:
            to = date.fromisoformat(args.to)
        else:
            to = datetime.fromisoformat(args.to)
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
        if "refused" in result:
            print(f"merchant {result['merchant_id']}: not settled ({result['refused']}: {result['detail']})")
        else:
            again = " (already settled)" if result["replayed"] else ""
            print(f"merchant {result['merchant_id']}: settlement {result['id']} {result['points']} points = "
                  f"{result['statement']['totals']['amount_yuan']} yuan{again}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from api.demo import describe, load_demo

    demo = run_with_services(settings, load_demo)
    print(json.dumps(demo, ensure_ascii=False, indent=2, default=str) if args.json else describe(demo))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    url = database_url(settings)
    log.info("serving on http://%s:%d (OpenAPI at /schema)", settings.host, settings.port)
    uvicorn.run(create_app(settings, database_url=url), host=settings.host, port=settings.port,
                loop="uvloop", http="httptools", log_level="warning", access_log=False)
    return 0


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
    report = run_with_services(settings, lambda services: run_audit(
        services.engine, services.keys, args.realm, progress))
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
        await services.checkpoints.seal_current(args.realm)
        return await export(services.engine, services.keys, args.realm, start, end,
                            Path(args.directory), progress)

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


def _is_psycopg_operational(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.OperationalError)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


if __name__ == "__main__":
    sys.exit(main())
