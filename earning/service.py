"""Earning's services: each call owns one database transaction (`db.in_transaction`).

Scope (which organizer may touch which station) is the caller's business (the routes);
here every call names its realm and checks that what it touches lives there."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from earning import errors, model, repository
from ledger import db
from ledger import errors as ledger_errors
from ledger import idempotency, paging
from ledger import model as ledger_model
from ledger.assets import ASSETS
from ledger.require import require
from ledger.paging import Page
from ledger.service import Ledger

RESIDENTS_PER_BULK_MAX = 50_000


@dataclass(frozen=True)
class Attendance:
    """The outcome of a bulk attendance request: one result per record, in order."""
    activity_id: int
    results: list[dict[str, Any]]
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        awarded = [r for r in self.results if "error" not in r]
        return {"activity_id": self.activity_id, "results": self.results,
                "awarded": len(awarded), "refused": len(self.results) - len(awarded),
                "points": sum(r["points"] for r in awarded)}


class Earning:
    def __init__(self, engine: AsyncEngine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger

    # places ----------------------------------------------------------------------------

    async def create_town(self, realm: str, name: str) -> dict[str, Any]:
        name = model.check_name(name, "a town's name")
        await self.ledger.realm(realm)
        return await db.in_transaction(self.engine, lambda conn: repository.insert_town(conn, realm, name))

    async def towns(self, realm: str, cursor: str | None, limit: int | None) -> Page:
        after, size = model.decode_cursor(cursor) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.towns_page(conn, realm, after, paging.fetch_size(size)))
        return _id_page(rows, size)

    async def create_station(self, realm: str, town_id: int, name: str, setting: str) -> dict[str, Any]:
        name = model.check_name(name, "a station's name")
        model.check_setting(setting)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            if await repository.find_town(conn, realm, town_id) is None:
                raise errors.UnknownTown(f"no town {town_id} in realm {realm}", town_id=town_id)
            return await repository.insert_station(conn, realm, town_id, name, setting)

        return await db.in_transaction(self.engine, work)

    async def station(self, station_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_station(conn, station_id))
        if found is None:
            raise errors.StationNotFound(f"no station {station_id}")
        return found

    async def stations(self, realm: str, cursor: str | None, limit: int | None) -> Page:
        after, size = model.decode_cursor(cursor) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.stations_page(conn, realm, after, paging.fetch_size(size)))
        return _id_page(rows, size)

    # residents -------------------------------------------------------------------------

    async def register_resident(self, realm: str, station_id: int, code: str,
                                display_name: str | None = None,
                                phone: str | None = None) -> dict[str, Any]:
        """A resident and one account per asset, in one transaction."""
        model.check_resident_fields(code, display_name, phone)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            station = await repository.find_station(conn, station_id)
            if station is None or station["realm"] != realm:
                raise errors.UnknownStation(f"no station {station_id} in realm {realm}",
                                            station_id=station_id)
            resident = await repository.insert_resident(conn, realm, station_id, code,
                                                        display_name, phone)
            accounts = [await self.ledger.create_account_in(
                            conn, realm, "resident", asset, resident_id=resident["id"])
                        for asset in ASSETS]
            return {**resident, "accounts": [{"id": a["id"], "asset": a["asset"], "balance": 0}
                                             for a in accounts]}

        return await db.in_transaction(self.engine, work)

    async def register_residents(self, realm: str, station_id: int, codes: list[str]) -> list[int]:
        """Bulk registration (imports, demo, benchmarks): residents and their accounts in one
        transaction; ids in the order of `codes`."""
        require(len(codes) <= RESIDENTS_PER_BULK_MAX, "bulk registration is bounded")
        for code in codes:
            model.check_resident_fields(code, None, None)

        async def work(conn: AsyncConnection) -> list[int]:
            station = await repository.find_station(conn, station_id)
            if station is None or station["realm"] != realm:
                raise errors.UnknownStation(f"no station {station_id} in realm {realm}")
            return await repository.insert_residents(conn, realm, station_id, codes)

        return await db.in_transaction(self.engine, work)

    async def resident(self, resident_id: int) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any] | None:
            found = await repository.find_resident(conn, resident_id)
            if found is None:
                return None
            return {**found, "accounts": await repository.resident_accounts(conn, found["realm"], resident_id)}

        found = await db.read(self.engine, work)
        if found is None:
            raise errors.ResidentNotFound(f"no resident {resident_id}")
        return found

    async def resident_by_code(self, realm: str, code: str) -> dict[str, Any] | None:
        return await db.read(self.engine, lambda conn: repository.find_resident_by_code(conn, realm, code))

    async def residents(self, realm: str, station_id: int | None, cursor: str | None,
                        limit: int | None) -> Page:
        after, size = model.decode_cursor(cursor) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.residents_page(
            conn, realm, station_id, after, paging.fetch_size(size)))
        return _id_page(rows, size)

    # activity types and rules ----------------------------------------------------------

    async def activity_types(self, realm: str) -> list[dict[str, Any]]:
        return await db.read(self.engine, lambda conn: repository.activity_types(conn, realm))

    async def activity_type(self, realm: str, code: str) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any] | None:
            found = await repository.activity_types(conn, realm, code)
            if not found:
                return None
            return {**found[0], "versions": await repository.rule_versions(conn, realm, code)}

        found = await db.read(self.engine, work)
        if found is None:
            raise errors.ActivityTypeNotFound(f"no activity type {code!r} in realm {realm}")
        return found

    async def create_activity_type(self, realm: str, code: str, name: str, rule: model.Rule,
                                   created_by: str) -> dict[str, Any]:
        model.check_type_code(code)
        name = model.check_name(name, "an activity type's name", 100)
        model.check_rule(rule)
        await self.ledger.realm(realm)

        async def work(conn: AsyncConnection) -> None:
            await repository.insert_activity_type(conn, realm, code, name)
            await repository.insert_rule(conn, realm, code, rule, created_by)

        await db.in_transaction(self.engine, work)
        return await self.activity_type(realm, code)

    async def change_rule(self, realm: str, code: str, rule: model.Rule,
                          created_by: str) -> dict[str, Any]:
        """A new version of the type's rule; earlier awards keep theirs."""
        model.check_rule(rule)

        async def work(conn: AsyncConnection) -> None:
            if await repository.lock_activity_type(conn, realm, code) is None:
                raise errors.UnknownActivityType(f"no activity type {code!r} in realm {realm}")
            await repository.insert_rule(conn, realm, code, rule, created_by)

        await db.in_transaction(self.engine, work)
        return await self.activity_type(realm, code)

    # activities ------------------------------------------------------------------------

    async def create_activity(self, realm: str, activity_type: str, station_id: int, title: str,
                              starts_at: datetime, ends_at: datetime, created_by: str,
                              details: model.ActivityDetails | None = None) -> dict[str, Any]:
        title = model.check_name(title, "an activity's title", model.TITLE_LENGTH_MAX)
        model.check_activity_times(starts_at, ends_at)
        details = model.check_activity_details(details or model.ActivityDetails(), starts_at)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            if not await repository.activity_types(conn, realm, activity_type):
                raise errors.UnknownActivityType(f"no activity type {activity_type!r} in realm {realm}",
                                                 activity_type=activity_type)
            station = await repository.find_station(conn, station_id)
            if station is None or station["realm"] != realm:
                raise errors.UnknownStation(f"no station {station_id} in realm {realm}",
                                            station_id=station_id)
            return await repository.insert_activity(conn, realm, activity_type, station_id, title,
                                                    starts_at, ends_at, created_by, details)

        return await db.in_transaction(self.engine, work)

    async def set_activity_status(self, activity: dict[str, Any], status: str) -> dict[str, Any]:
        """Publish a draft or cancel an activity (closing is `Venue.close`)."""
        if status not in ("published", "cancelled"):
            raise errors.ActivityStatusInvalid("an activity is published or cancelled here; close it to award")

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            await repository.lock_activity(conn, activity["realm"], activity["id"])
            return await repository.set_activity_status(conn, activity["realm"], activity["id"], status)

        return await db.in_transaction(self.engine, work)

    async def upcoming(self, query: dict[str, Any], cursor: str | None, limit: int | None) -> Page:
        """Activities to come for the page: `query` has realm, statuses, ended_since and
        optionally station_id (ordering), only_station, resident_id, activity_type, day."""
        offset, size = model.decode_cursor(cursor) or 0, paging.check_page_size(limit)
        realm = await self.ledger.realm(query["realm"])
        rows = await db.read(self.engine, lambda conn: repository.upcoming_activities(
            conn, {**query, "timezone": realm["timezone"]}, offset, paging.fetch_size(size)))
        return _listed_page(rows, size, offset)

    async def resident_activities(self, resident: dict[str, Any], cursor: str | None,
                                  limit: int | None) -> Page:
        offset, size = model.decode_cursor(cursor) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.resident_activities(
            conn, resident["realm"], resident["id"], offset, paging.fetch_size(size)))
        return _listed_page(rows, size, offset)

    async def listed_activity(self, activity: dict[str, Any], resident_id: int | None) -> dict[str, Any]:
        row = await db.read(self.engine, lambda conn: repository.listed_activity(
            conn, activity["realm"], activity["id"], resident_id))
        require(row is not None, "an activity just read is listed")
        return _with_points(row)

    async def activity(self, activity_id: int) -> dict[str, Any]:
        found = await db.read(self.engine, lambda conn: repository.find_activity(conn, activity_id))
        if found is None:
            raise errors.ActivityNotFound(f"no activity {activity_id}")
        return found

    async def activities(self, realm: str, station_id: int | None, cursor: str | None,
                         limit: int | None) -> Page:
        after, size = model.decode_cursor(cursor) or 0, paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.activities_page(
            conn, realm, station_id, after, paging.fetch_size(size)))
        return _id_page(rows, size)

    # attendance ------------------------------------------------------------------------

    async def record_attendance(self, activity: dict[str, Any], attendees: list[tuple[int, int]],
                                created_by: str, idempotency_key: str) -> Attendance:
        """Award `(resident_id, minutes)` records for one activity, all in one transaction
        (one statement: the realm's budget is never locked across a round trip),
        idempotent under the key: a retry returns the first results. A request that
        awarded nothing (every record refused or already awarded) does not take its key:
        a retry is evaluated afresh."""
        model.check_record_count(len(attendees))
        idempotency.check_key(idempotency_key)
        if activity["starts_at"] > datetime.now(timezone.utc):
            raise errors.ActivityNotStarted("attendance is recorded once the activity has started",
                                            activity_id=activity["id"])
        request = attendance_request(activity, attendees, created_by, idempotency_key)
        stored = await db.in_one_statement(self.engine, lambda conn: repository.record_attendance(conn, request))
        return attendance_outcome(activity["id"], request, stored)

    async def _award(self, conn: AsyncConnection, realm: str, records: list[model.Record],
                     created_by: str) -> list[dict[str, Any]]:
        """Award the records set-based (`earning_award_chunk`: every per-record refusal,
        the formula, the daily cap and the budget are the database's); results in order."""
        awarded = await repository.award_chunk(conn, realm, records, created_by) if records else []
        by_n = {result.pop("n"): result for result in awarded}
        require(len(by_n) == len(records), "one award result per record")
        return [{"n": r.n, **by_n[r.n]} for r in records]

    async def import_chunk(self, rows: list[model.CsvRow], created_by: str) -> list[dict[str, Any]]:
        """One committed chunk of a CSV import: awards for its rows (several activities,
        possibly several realms), one result per row. Re-running awards nothing twice."""
        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            realms = await repository.activity_realms(conn, sorted(
                {row.record.activity_id for row in rows if row.record is not None}
                | {row.activity_id for row in rows if row.resident_code is not None}))
            resolved = await self._resolve_codes(conn, rows, realms)
            records = [row.record for row in resolved if row.record is not None]
            by_realm: dict[str, list[model.Record]] = {}
            for record in records:
                if record.activity_id in realms:
                    by_realm.setdefault(realms[record.activity_id], []).append(record)
            results: dict[int, dict[str, Any]] = {}
            for realm in sorted(by_realm):  # realms in order, accounts in (realm, id) order
                for result in await self._award(conn, realm, by_realm[realm], created_by):
                    results[result["n"]] = result
            return [_row_result(row, results) for row in resolved]

        return await db.in_transaction(self.engine, work)

    @staticmethod
    async def _resolve_codes(conn: AsyncConnection, rows: list[model.CsvRow],
                             realms: dict[int, str]) -> list[model.CsvRow]:
        """Rows naming residents by code get their ids, looked up in each activity's realm."""
        coded = [row for row in rows if row.resident_code is not None]
        if not coded:
            return rows
        pairs = sorted({(realms[row.activity_id], row.resident_code) for row in coded
                        if row.activity_id in realms})
        ids = await repository.resident_ids_by_code(conn, pairs)
        return [model.resolve_code(row, realms, ids) for row in rows]

    async def import_attendance(self, text: str, created_by: str,
                                on_chunk: Callable[[list[dict[str, Any]]], None]) -> dict[str, int]:
        """A decoded attendance CSV, committed chunk by chunk (never one transaction over
        the whole file); `on_chunk` gets each chunk's per-row results once committed.
        Re-running the same file awards nothing twice (the first awards come back)."""
        summary = {"rows": 0, "awarded": 0, "already_awarded": 0, "refused": 0, "points": 0}
        for chunk in model.chunks(model.parse_csv(text)):
            results = await self.import_chunk(chunk, created_by)
            for result in results:
                summary["rows"] += 1
                if "error" in result:
                    summary["refused"] += 1
                elif result["replayed"]:
                    summary["already_awarded"] += 1
                else:
                    summary["awarded"] += 1
                    summary["points"] += result["points"]
            on_chunk(results)
        return summary

    # history, totals, leaderboards -------------------------------------------------------

    async def awards(self, resident: dict[str, Any], cursor: str | None, limit: int | None) -> Page:
        before, size = model.decode_cursor(cursor), paging.check_page_size(limit)
        rows = await db.read(self.engine, lambda conn: repository.awards_page(
            conn, resident["realm"], resident["id"], before, paging.fetch_size(size)))
        return paging.page_of(rows, size, model.CURSOR.after("entry_id"))

    async def award_titles(self, resident: dict[str, Any], entry_ids: list[int]) -> dict[int, str]:
        """The activity titles of the resident's awards among `entry_ids` (for its history)."""
        if not entry_ids:
            return {}
        return await db.read(self.engine, lambda conn: repository.award_titles(
            conn, resident["realm"], resident["id"], entry_ids))

    async def realm_today(self, realm: str) -> date:
        found = await self.ledger.realm(realm)
        return datetime.now(ZoneInfo(found["timezone"])).date()

    async def totals(self, resident: dict[str, Any], period: str | None) -> dict[str, Any]:
        first, last = model.period_days(period, await self.realm_today(resident["realm"]))
        totals = await db.read(self.engine, lambda conn: repository.resident_totals(
            conn, resident["realm"], resident["id"], first, last))
        return {"resident_id": resident["id"], "first_day": first, "last_day": last, **totals,
                "hours": totals["minutes"] / model.MINUTES_PER_HOUR}

    async def leaderboard(self, realm: str, station_id: int | None, period: str | None,
                          order: str, cursor: str | None, limit: int | None) -> dict[str, Any]:
        if order not in model.LEADERBOARD_ORDERS:
            raise ledger_errors.InvalidInput(f"order by {' or '.join(model.LEADERBOARD_ORDERS)}")
        offset, size = model.decode_cursor(cursor) or 0, model.check_leaderboard_size(limit)
        first, last = model.period_days(period, await self.realm_today(realm))
        rows = await db.read(self.engine, lambda conn: repository.leaderboard(
            conn, realm, station_id, first, last, order, offset, paging.fetch_size(size)))
        page = paging.offset_page(rows, size, offset, model.CURSOR.kind)
        items = [{"rank": offset + i, **row} for i, row in enumerate(page.items, start=1)]
        return {"realm": realm, "station_id": station_id, "first_day": first, "last_day": last,
                "order": order, "items": items, "next_cursor": page.next_cursor}

    # budgets ---------------------------------------------------------------------------

    async def budgets(self, realm: str) -> list[dict[str, Any]]:
        await self.ledger.realm(realm)
        return await db.read(self.engine, lambda conn: repository.budgets(conn, realm))

    async def fund_budget(self, realm: str, asset: str, amount: int, created_by: str,
                          idempotency_key: str, memo: str | None = None) -> dict[str, Any]:
        """A `fund` entry from the realm's funding account to its budget of `asset`."""
        if asset not in ASSETS:
            raise errors.UnknownAsset(f"asset is one of {', '.join(ASSETS)}")
        if not isinstance(amount, int) or amount <= 0:
            raise ledger_errors.AmountOutOfRange("a budget is funded with a positive whole number of points")
        funding = await self.ledger.system_account(realm, "funding", asset)
        budget = await self.ledger.system_account(realm, "budget", asset)
        return await self.ledger.post(ledger_model.EntryDraft(
            realm=realm, kind="fund", created_by=created_by, idempotency_key=idempotency_key,
            memo=memo or "budget funding", lines=(ledger_model.Line(funding["id"], -amount),
                                                  ledger_model.Line(budget["id"], amount))))


def attendance_request(activity: dict[str, Any], attendees: list[tuple[int, int]], created_by: str,
                       idempotency_key: str) -> dict[str, Any]:
    """The one attendance request the database awards (`earning_record_attendance`); the
    database refuses records one by one (minutes, repeats, residents, cap, budget)."""
    model.check_record_count(len(attendees))
    idempotency.check_key(idempotency_key)
    realm, activity_id = activity["realm"], activity["id"]
    records = [model.Record(n, activity_id, resident_id, minutes)
               for n, (resident_id, minutes) in enumerate(attendees, start=1)]
    return {
        "realm": realm, "idempotency_key": idempotency_key,
        "request_hash": model.attendance_hash(activity_id, records),
        "activity_id": activity_id, "created_by": created_by,
        "records": [{"n": r.n, "activity_id": r.activity_id, "resident_id": r.resident_id,
                     "minutes": r.minutes} for r in records]}


def attendance_outcome(activity_id: int, request: dict[str, Any], stored: dict[str, Any]) -> Attendance:
    if stored["replay"]:
        idempotency.check_same_request(stored["request_hash"], request["request_hash"], "a different attendance request")
        return Attendance(stored["activity_id"], stored["outcome"]["results"], replayed=True)
    results = stored["outcome"]["results"]
    require(len(results) == len(request["records"]), "one attendance result per record")
    return Attendance(activity_id, results)


def _with_points(row: dict[str, Any]) -> dict[str, Any]:
    """A listed activity with the points staying to the end earns under the rule in force."""
    rule = model.Rule(row.pop("asset"), row.pop("base_points"), row.pop("points_per_hour"),
                      row.pop("creditable_minutes_max"), row.pop("daily_cap_points"), row.pop("version"))
    return {**row, "asset": rule.asset, "rule_version": rule.version,
            "points_on_offer": model.points_on_offer(rule, row["starts_at"], row["ends_at"])}


def _id_page(rows: list[dict[str, Any]], size: int) -> Page:
    return paging.page_of(rows, size, model.CURSOR.after("id"))


def _listed_page(rows: list[dict[str, Any]], size: int, offset: int) -> Page:
    page = paging.offset_page(rows, size, offset, model.CURSOR.kind)
    return Page([_with_points(row) for row in page.items], page.next_cursor)


def _row_result(row: model.CsvRow, results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    if row.record is None:
        return {"n": row.n, "resident": row.resident, "error": row.error}
    found = results.get(row.n)
    if found is None:
        return {"n": row.n, "resident": row.resident, "error": "unknown_activity"}
    return {**found, "resident": row.resident}


