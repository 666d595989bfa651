"""How the schema spreads over a Citus cluster: the plan `docs/scale.md` explains.

Every table whose rows belong to one realm carries a NOT NULL `realm` column and is
distributed by it, all co-located with `accounts`, so that every key, every foreign key
and every posting path stays inside one shard group (one realm on one worker). The few
global tables are reference tables (copied to every worker): the realm list, the asset
and entry-rule vocabularies, the signing-key registry, and the credentials looked up
before the realm is known (a bearer token by its hash, an enrolment code by its
selector). Points cross realms only through clearing accounts (`counterpart_realm`):
one entry per realm, never one statement over two.

`tests/integration/test_citus_ready.py` reads the catalog and fails when a table is in
neither list, or a per-realm key or foreign key leaves `realm` out.
"""
from __future__ import annotations

DISTRIBUTION_COLUMN = "realm"
COLOCATE_WITH = "accounts"

# Global tables, replicated to every worker: small, read on every request or looked up
# before a realm is known; written rarely.
REFERENCE_TABLES = (
    "realms", "assets", "entry_rules",
    "signing_keys", "signing_key_retirements",
    "api_tokens", "enrolments", "enrolment_claim_failures",
    "event_types", "indicator_metrics",   # catalogues the outbox and rollup triggers check every write against
)
# Bookkeeping of the migrations and of the SQL objects applied: stays on the coordinator.
LOCAL_TABLES = ("alembic_version", "schema_objects")


def citus_plan(distributed: list[str]) -> list[str]:
    """The statements that distribute a migrated database (run on the coordinator, after
    `CREATE EXTENSION citus` and adding the workers): reference tables first, then the
    per-realm tables, `accounts` first so the others co-locate with it."""
    ordered = sorted(distributed, key=lambda table: (table != COLOCATE_WITH, table))
    return ([f"SELECT create_reference_table('{table}');" for table in REFERENCE_TABLES]
            + [f"SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}'"
               + ("" if table == COLOCATE_WITH else f", colocate_with => '{COLOCATE_WITH}'") + ");"
               for table in ordered])
