"""Voucher checks for the audit (`pointsbank audit`, GET /v1/audit/reconciliation)."""
from ledger.audit import IN_REALM, register_sql_check

register_sql_check(
    "hold_equals_outstanding_vouchers",
    "per realm and asset, the hold account's balance = the sum of issued vouchers, recomputed "
    "from the vouchers (and the running outstanding total agrees)",
    f"""
    SELECT r.realm, r.asset, r.hold_account_id, r.hold_balance, r.outstanding,
           coalesce(o.amount, 0) AS outstanding_total_kept
      FROM hold_reconciliation r
      LEFT JOIN voucher_outstanding o ON o.realm = r.realm AND o.asset = r.asset
     WHERE (r.difference <> 0 OR r.outstanding <> coalesce(o.amount, 0))
       AND {IN_REALM.format(column="r.realm")}""")

register_sql_check(
    "vouchers_closed_once",
    "a redeemed voucher has exactly one redemption of its captured amount and a capture "
    "entry; any other voucher has none",
    f"""
    SELECT v.realm, v.id AS voucher_id, v.status, v.captured_amount,
           r.id AS redemption_id, r.amount AS redeemed, e.kind AS entry_kind
      FROM vouchers v
      LEFT JOIN redemptions r ON r.realm = v.realm AND r.voucher_id = v.id
      LEFT JOIN entries e ON e.realm = r.realm AND e.id = r.entry_id
     WHERE {IN_REALM.format(column="v.realm")}
       AND CASE WHEN v.status IN ('redeemed', 'partially_redeemed')
                THEN r.id IS NULL OR r.amount <> v.captured_amount OR e.kind IS DISTINCT FROM 'capture'
                ELSE r.id IS NOT NULL END""")
