"""SQLAlchemy Core descriptions of the ledger tables, for queries only.

The schema itself is made by the migrations (with its triggers and grants); never
`create_all` from these.
"""
from sqlalchemy import (BigInteger, Column, DateTime, LargeBinary, MetaData, SmallInteger,
                        Table, Text)

metadata = MetaData()

realms = Table(
    "realms", metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text),
    Column("timezone", Text),
    Column("created_at", DateTime(timezone=True)),
)

accounts = Table(
    "accounts", metadata,
    Column("realm", Text, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", Text),
    Column("asset", Text),
    Column("floor", BigInteger),
    Column("balance", BigInteger),
    Column("posting_count", BigInteger),
    Column("resident_id", BigInteger),
    Column("merchant_id", BigInteger),
    Column("counterpart_realm", Text),
    Column("label", Text),
    Column("created_at", DateTime(timezone=True)),
)

entries = Table(
    "entries", metadata,
    Column("realm", Text, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", Text),
    Column("idempotency_key", Text),
    Column("request_hash", LargeBinary),
    Column("reverses_entry_id", BigInteger),
    Column("reference", Text),
    Column("memo", Text),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("created_txid", BigInteger),
)

postings = Table(
    "postings", metadata,
    Column("realm", Text, primary_key=True),
    Column("entry_id", BigInteger),
    Column("account_id", BigInteger, primary_key=True),
    Column("account_seq", BigInteger, primary_key=True),
    Column("asset", Text),
    Column("amount", BigInteger),
    Column("balance_after", BigInteger),
    Column("created_at", DateTime(timezone=True)),
)

entry_rules = Table(
    "entry_rules", metadata,
    Column("entry_kind", Text, primary_key=True),
    Column("account_kind", Text, primary_key=True),
    Column("direction", SmallInteger, primary_key=True),
)
