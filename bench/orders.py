"""The dispatch queue at a county's scale: 100,000 service requests and 5,000 approved
volunteers in one realm (most requests confirmed long ago, 5 % open), then the queue
page with its suggested volunteers, `GET /v1/dispatch-queue`, for the realm's organizer
and for a station's, through a served app. Target: p99 under 100 ms.

The book is generated in SQL (triggers off, as bench/book.py does): the residents, the
volunteers and their (station, skill) postings, ratings totals, and the requests with
states consistent with the loop's rules."""
from __future__ import annotations

import psycopg

from api.auth import create_token
from bench.harness import BenchContext, Result, http_load, http_request, served_app
from ledger.db import app_engine
from ledger.service import Ledger
from orders import model

BENCH_REALM = "439960"
STATIONS = 50
P99_TARGET_MS = 100.0
HTTP_CONCURRENCY = 4
OPEN_SHARE = 20          # one request in 20 is open (in the queue)


def generate(database_url: str, requests: int, volunteers: int, requesters: int) -> int:
    """Stations, residents, volunteers and requests in SQL; the station with the longest queue."""
    skills = list(model.DEFAULT_SKILLS)
    with psycopg.connect(database_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO towns (realm, name) VALUES (%s, 'bench town')", (BENCH_REALM,))
        stations = [row[0] for row in conn.execute(
            "INSERT INTO stations (realm, town_id, name, setting) "
            "SELECT %(r)s, (SELECT id FROM towns WHERE realm = %(r)s), 'station ' || n, 'rural' "
            "FROM generate_series(1, %(n)s) n RETURNING id", {"r": BENCH_REALM, "n": STATIONS})]
        conn.execute(
            "INSERT INTO residents (realm, station_id, code) "
            "SELECT %(r)s, (%(stations)s::bigint[])[1 + n %% %(count)s], 'Q' || lpad(n::text, 8, '0') "
            "FROM generate_series(1, %(n)s) n",
            {"r": BENCH_REALM, "stations": stations, "count": len(stations), "n": volunteers + requesters})
        conn.execute(
            "INSERT INTO volunteers (realm, resident_id, skills, station_ids, status, decided_by, decided_at) "
            "SELECT realm, id, ARRAY[(%(skills)s::text[])[1 + id %% 5], (%(skills)s::text[])[1 + (id / 50) %% 5]], "
            "ARRAY[station_id], 'approved', 'bench', now() FROM residents WHERE realm = %(r)s "
            "ORDER BY id LIMIT %(v)s", {"r": BENCH_REALM, "skills": skills, "v": volunteers})
        conn.execute(
            "INSERT INTO volunteer_postings (realm, station_id, skill, resident_id) "
            "SELECT DISTINCT v.realm, s, k, v.resident_id FROM volunteers v, unnest(v.station_ids) s, "
            "unnest(v.skills) k WHERE v.realm = %(r)s", {"r": BENCH_REALM})
        conn.execute(
            "INSERT INTO rating_totals (realm, subject_kind, subject_key, ratings, total, below) "
            "SELECT realm, 'volunteer', resident_id::text, 10, 30 + resident_id %% 20, false FROM volunteers "
            "WHERE realm = %(r)s", {"r": BENCH_REALM})
        _requests(conn, requests, volunteers)
        conn.execute("SET session_replication_role = origin")
        conn.commit()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE service_requests, volunteers, volunteer_postings, rating_totals, residents")
        return conn.execute(
            "SELECT station_id FROM service_requests WHERE realm = %s AND state = 'open' "
            "GROUP BY station_id ORDER BY count(*) DESC, station_id LIMIT 1", (BENCH_REALM,)).fetchone()[0]


def _requests(conn: psycopg.Connection, requests: int, volunteers: int) -> None:
    """Requests by the non-volunteer residents, oldest first; every OPEN_SHARE-th open
    (wanted tomorrow: nothing for the overdue job), the rest confirmed by a volunteer of
    their station (with their minutes)."""
    conn.execute(
        "INSERT INTO service_requests (realm, requester_id, station_id, category, description, urgent, "
        "wanted_from, wanted_until, state, volunteer_id, minutes, confirmed_at, rating, created_by, created_at) "
        "SELECT r.realm, r.id, r.station_id, (%(skills)s::text[])[1 + n %% 5], 'bench request ' || n, n %% 97 = 0, "
        "CASE WHEN n %% %(open)s = 0 THEN now() + interval '1 day' ELSE now() - (n || ' minutes')::interval END, "
        "CASE WHEN n %% %(open)s = 0 THEN now() + interval '1 day 2 hours' "
        "     ELSE now() - (n || ' minutes')::interval + interval '2 hours' END, "
        "CASE WHEN n %% %(open)s = 0 THEN 'open' ELSE 'confirmed' END, "
        "CASE WHEN n %% %(open)s = 0 THEN NULL ELSE v.resident_id END, "
        "CASE WHEN n %% %(open)s = 0 THEN NULL ELSE 60 END, "
        "CASE WHEN n %% %(open)s = 0 THEN NULL ELSE now() END, "
        "CASE WHEN n %% %(open)s = 0 THEN NULL ELSE 1 + n %% 5 END, 'bench', now() - (n || ' minutes')::interval "
        "FROM generate_series(1, %(n)s) n "
        "JOIN LATERAL (SELECT * FROM residents WHERE realm = %(r)s AND id = (SELECT min(id) FROM residents "
        "  WHERE realm = %(r)s) + %(v)s + n %% 1000 LIMIT 1) r ON true "
        "JOIN LATERAL (SELECT resident_id FROM volunteers WHERE realm = %(r)s AND station_ids[1] = r.station_id "
        "  LIMIT 1) v ON true",
        {"r": BENCH_REALM, "skills": list(model.DEFAULT_SKILLS), "open": OPEN_SHARE, "n": requests,
         "v": volunteers})


async def run(ctx: BenchContext) -> None:
    requests = ctx.scale(100_000, 5_000)
    volunteers = ctx.scale(5_000, 500)
    engine = app_engine(ctx.database_url)
    ledger = Ledger(engine)
    try:
        await ledger.open_realm(BENCH_REALM, "bench county")
        busiest = generate(ctx.database_url, requests, volunteers, requesters=1_000)
        realm_token = await create_token(engine, "organizer", BENCH_REALM, label="bench")
        station_token = await create_token(engine, "organizer", BENCH_REALM, station_id=busiest, label="bench")
    finally:
        await ledger.close()
        await engine.dispose()
    print(f"{requests:,} requests ({requests // OPEN_SHARE:,} open), {volunteers:,} volunteers, "
          f"{STATIONS} stations", flush=True)
    total = ctx.scale(1_000, 200)
    with served_app(ctx.database_url, ctx.key_dir) as port:
        whoami = http_request("GET", "/v1/whoami", Authorization=f"Bearer {realm_token}")
        await _measure(ctx, port, "orders.whoami", "GET /v1/whoami (the floor: an authenticated GET)", whoami,
                       total, HTTP_CONCURRENCY)
        for label, token in (("realm organizer", realm_token), ("station organizer", station_token)):
            page = http_request("GET", f"/v1/dispatch-queue?realm={BENCH_REALM}", Authorization=f"Bearer {token}")
            for concurrency in (1, HTTP_CONCURRENCY):
                result = await _measure(ctx, port, f"orders.queue.{label.split()[0]}.{concurrency}",
                                        f"queue page + suggestions, {label}, {concurrency} client(s)", page,
                                        total, concurrency)
                p99 = result.quantile_ms(0.99) or 0.0
                verdict = "met" if p99 < P99_TARGET_MS else "NOT met"
                print(f"{'  p99 target < %.0f ms' % P99_TARGET_MS:<58} {verdict}", flush=True)


async def _measure(ctx: BenchContext, port: int, key: str, name: str, request: bytes, total: int,
                   concurrency: int) -> Result:
    await http_load(port, lambda _: request, concurrency * 8, concurrency)     # warm up, not timed
    result, statuses = await http_load(port, lambda _: request, total, concurrency)
    assert set(statuses) == {200}, statuses
    result.name = name
    return ctx.report(key, result)
