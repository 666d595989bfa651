"""The schema can be distributed by realm (Citus), read off the catalog of a migrated
database: every table is either per-realm (NOT NULL `realm`, in every primary and unique
key, and in every foreign key to another per-realm table) or a listed global table, and
no global table points at a per-realm one (Citus refuses such a foreign key)."""
from __future__ import annotations

import psycopg
import pytest

from migrations.distribution import COLOCATE_WITH, LOCAL_TABLES, REFERENCE_TABLES, citus_plan

TABLES = """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"""
REALM_NOT_NULL = """SELECT table_name FROM information_schema.columns
                    WHERE table_schema = 'public' AND column_name = 'realm' AND is_nullable = 'NO'"""
CONSTRAINTS = """
SELECT cl.relname, con.conname, con.contype, ft.relname,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) k
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) k
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k)
FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace LEFT JOIN pg_class ft ON ft.oid = con.confrelid
WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'x', 'f')"""
UNIQUE_INDEXES = """
SELECT t.relname, i.relname, ARRAY(SELECT a.attname FROM unnest(x.indkey) k
                                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND x.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.oid)"""


@pytest.fixture(scope="module")
def catalog(database_url):
    with psycopg.connect(database_url) as conn:
        # a global table may carry a realm as data (an enrolment names its realm); it is
        # looked up without one, so it is global all the same
        listed = set(REFERENCE_TABLES) | set(LOCAL_TABLES)
        return {"tables": [row[0] for row in conn.execute(TABLES)],
                "per_realm": {row[0] for row in conn.execute(REALM_NOT_NULL)} - listed,
                "constraints": conn.execute(CONSTRAINTS).fetchall(),
                "unique_indexes": conn.execute(UNIQUE_INDEXES).fetchall()}


def test_every_table_is_per_realm_or_listed_global(catalog):
    listed = set(REFERENCE_TABLES) | set(LOCAL_TABLES)
    unplaced = [t for t in catalog["tables"] if t not in catalog["per_realm"] and t not in listed]
    assert unplaced == [], f"give these tables a NOT NULL realm or list them in migrations/distribution.py: {unplaced}"
    assert set(listed) <= set(catalog["tables"]), "a listed global table does not exist"
    assert COLOCATE_WITH in catalog["per_realm"]


def test_every_key_of_a_per_realm_table_includes_realm(catalog):
    keyless = [(table, name, columns) for table, name, kind, _, columns, _ in catalog["constraints"]
               if kind in ("p", "u", "x") and table in catalog["per_realm"] and "realm" not in columns]
    keyless += [(table, name, columns) for table, name, columns in catalog["unique_indexes"]
                if table in catalog["per_realm"] and "realm" not in columns]
    assert keyless == []


def test_foreign_keys_stay_inside_a_realm_or_point_at_global_tables(catalog):
    per_realm = catalog["per_realm"]
    crossing = []
    for table, name, kind, target, columns, target_columns in catalog["constraints"]:
        if kind != "f":
            continue
        if table in per_realm and target in per_realm:
            # co-located: the realm column on both sides, matched to each other
            if "realm" not in columns or target_columns[columns.index("realm")] != "realm":
                crossing.append((table, name))
        elif table not in per_realm and target in per_realm:
            crossing.append((table, name))   # a reference table cannot point into a shard
    assert crossing == []


def test_the_plan_distributes_every_per_realm_table_once(catalog):
    plan = citus_plan(sorted(catalog["per_realm"]))
    distributed = [line for line in plan if "create_distributed_table" in line]
    assert len(distributed) == len(catalog["per_realm"])
    assert distributed[0] == f"SELECT create_distributed_table('{COLOCATE_WITH}', 'realm');"
    assert all(f"colocate_with => '{COLOCATE_WITH}'" in line for line in distributed[1:])
    assert len([line for line in plan if "create_reference_table" in line]) == len(REFERENCE_TABLES)
