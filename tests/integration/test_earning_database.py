"""The database holds earning's invariants whatever the client does."""
from __future__ import annotations

import psycopg
import pytest

from earning import model
from tests.integration.earning_fixtures import make_place, past_activity


@pytest.fixture
async def awarded(earning, realm):
    place = await make_place(earning, realm)
    activity = await past_activity(earning, place)
    outcome = await earning.record_attendance(activity, [(place.residents[0], 60)], "t", "db")
    return place, activity, outcome.results[0]


async def test_awards_are_append_only(awarded, app_conn):
    place, _, award = awarded
    for statement in ("UPDATE awards SET points = 1000 WHERE entry_id = %s",
                      "DELETE FROM awards WHERE entry_id = %s"):
        with pytest.raises(psycopg.errors.Error):
            app_conn.execute(statement, (award["entry_id"],))
        app_conn.rollback()


async def test_owner_cannot_rewrite_awards_either(awarded, owner_conn):
    _, _, award = awarded
    with pytest.raises(psycopg.errors.RaiseException, match="append_only"):
        owner_conn.execute("UPDATE awards SET points = 1000 WHERE entry_id = %s", (award["entry_id"],))


async def test_a_second_award_for_the_same_activity_is_refused(awarded, app_conn):
    place, activity, award = awarded
    with pytest.raises(psycopg.errors.UniqueViolation):
        app_conn.execute(
            "INSERT INTO awards (realm, activity_id, resident_id, entry_id, activity_type, rule_version, "
            "asset, minutes, points, award_day) VALUES (%s, %s, %s, %s, 'volunteering', 1, 'civic', 60, 22, "
            "current_date)", (place.realm, activity["id"], place.residents[0], award["entry_id"]))


async def test_a_second_award_for_the_same_activity_with_its_own_entry_is_refused(awarded, ledger, app_conn):
    """Even backed by an earn entry of its own, a resident is awarded once per activity."""
    from tests.integration.helpers import earn

    place, activity, award = awarded
    budget = await ledger.system_account(place.realm, "budget", "civic")
    wallet = await ledger.owned_account(place.realm, "resident", "civic", resident_id=place.residents[0])
    entry = await ledger.post(earn(place.realm, budget["id"], wallet["id"], award["points"]))
    with pytest.raises(psycopg.errors.UniqueViolation) as caught:
        app_conn.execute(
            "INSERT INTO awards (realm, activity_id, resident_id, entry_id, activity_type, rule_version, "
            "asset, minutes, points, award_day) SELECT realm, activity_id, resident_id, %s, activity_type, "
            "rule_version, asset, minutes, points, award_day FROM awards WHERE realm = %s AND entry_id = %s",
            (entry["id"], place.realm, award["entry_id"]))
    assert caught.value.diag.constraint_name == "awards_pkey"
    app_conn.rollback()


@pytest.mark.parametrize("entry", ["fund", "another award's"])
async def test_an_award_without_its_earn_entry_is_refused(awarded, app_conn, entry):
    place, activity, award = awarded
    entry_id = award["entry_id"] if entry != "fund" else app_conn.execute(
        "SELECT id FROM entries WHERE realm = %s AND kind = 'fund'", (place.realm,)).fetchone()[0]
    with pytest.raises(psycopg.errors.RaiseException, match="award_entry_mismatch"):
        app_conn.execute(
            "INSERT INTO awards (realm, activity_id, resident_id, entry_id, activity_type, rule_version, "
            "asset, minutes, points, award_day) VALUES (%s, %s, %s, %s, 'volunteering', 1, 'civic', 60, "
            "22, current_date)", (place.realm, activity["id"], place.residents[1], entry_id))


async def test_rules_are_versioned_not_rewritten(awarded, app_conn):
    place, _, _ = awarded
    with pytest.raises(psycopg.errors.Error):
        app_conn.execute("UPDATE activity_rules SET base_points = 99 WHERE realm = %s", (place.realm,))


MINUTES_CHECKS = ("activity_rules_creditable_minutes_max_check", "awards_minutes_check")
COPY_RULE_WITH_MINUTES = (
    "INSERT INTO activity_rules (realm, activity_type, version, asset, base_points, points_per_hour, "
    "creditable_minutes_max, daily_cap_points, created_by) "
    "SELECT realm, activity_type, version + 100, asset, base_points, points_per_hour, %s, "
    "daily_cap_points, created_by FROM activity_rules WHERE realm = %s LIMIT 1")


async def test_the_minutes_limit_is_one_constant_in_python_and_sql(awarded, owner_conn):
    """`earning_minutes_per_record_max()` is Python's MINUTES_PER_RECORD_MAX, and the
    CHECKs on minutes hold exactly that limit."""
    place, _, _ = awarded
    limit = model.MINUTES_PER_RECORD_MAX
    assert owner_conn.execute("SELECT earning_minutes_per_record_max()").fetchone()[0] == limit
    checks = owner_conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                "WHERE conname = ANY(%s)", (list(MINUTES_CHECKS),)).fetchall()
    assert sorted(name for name, _ in checks) == sorted(MINUTES_CHECKS)
    assert all("earning_minutes_per_record_max()" in check for _, check in checks)
    owner_conn.execute(COPY_RULE_WITH_MINUTES, (limit, place.realm))
    owner_conn.rollback()
    with pytest.raises(psycopg.errors.CheckViolation, match="creditable_minutes_max"):
        owner_conn.execute(COPY_RULE_WITH_MINUTES, (limit + 1, place.realm))
    owner_conn.rollback()


async def test_earning_cannot_push_a_budget_below_zero(earning, ledger, realm, app_conn):
    place = await make_place(earning, realm, fund=10)
    activity = await past_activity(earning, place)
    budget = await ledger.system_account(realm, "budget", "civic")
    account = await ledger.owned_account(realm, "resident", "civic", resident_id=place.residents[0])
    with pytest.raises(psycopg.errors.RaiseException, match="budget_exhausted"):
        app_conn.execute("SELECT ledger_post_entry(%s::jsonb)", (psycopg.types.json.Jsonb({
            "realm": realm, "kind": "earn", "created_by": "x",
            "postings": [{"account_id": budget["id"], "amount": -11},
                         {"account_id": account["id"], "amount": 11}]}),))
    assert activity["id"] > 0


async def test_an_earn_entry_paying_awards_is_not_reversed(awarded, ledger):
    """Reversing it would leave award rows claiming points the ledger took back."""
    from ledger import errors as ledger_errors

    _, _, award = awarded
    entry = await ledger.entry(award["entry_id"])
    with pytest.raises(ledger_errors.EntryNotReversible):
        await ledger.reverse(entry, "test", "reverse-award")
    assert (await ledger.entry(award["entry_id"]))["kind"] == "earn"
