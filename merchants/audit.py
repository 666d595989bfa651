"""Merchant checks for the audit (`pointsbank audit`, GET /v1/audit/reconciliation)."""
from ledger.audit import IN_REALM, register_sql_check

register_sql_check(
    "merchant_balances_equal_captures_minus_settlements",
    "every merchant account's balance = what it received (captures, clears) - what was "
    "settled, and what was settled = what its statements state",
    f"""
    SELECT realm, account_id, merchant_id, asset, balance, received, settled, stated, difference
      FROM merchant_reconciliation WHERE {IN_REALM.format(column="realm")}""")
