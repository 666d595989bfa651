"""Reservation checks for the audit (`pointsbank audit`, GET /v1/audit/reconciliation).
The hold account's own check (`hold_equals_outstanding_vouchers`, redemption/audit.py)
covers reservation holds through `hold_reconciliation`, which subtracts them."""
from ledger.audit import IN_REALM, register_sql_check

register_sql_check(
    "reservation_holds_equal_held_reservations",
    "per realm and asset, the running total of held reservation points = the sum of the "
    "prices of the priority reservations still booked, recomputed from the reservations",
    f"""
    SELECT coalesce(o.realm, h.realm) AS realm, coalesce(o.asset, h.asset) AS asset,
           coalesce(o.amount, 0) AS total_kept, coalesce(h.held, 0) AS held
      FROM reservation_outstanding o
      FULL JOIN (SELECT realm, asset, sum(price) AS held FROM reservations
                  WHERE points = 'held' GROUP BY realm, asset) h
             ON h.realm = o.realm AND h.asset = o.asset
     WHERE coalesce(o.amount, 0) <> coalesce(h.held, 0)
       AND {IN_REALM.format(column="coalesce(o.realm, h.realm)")}""")

register_sql_check(
    "reservation_points_closed_once",
    "a priority reservation has its hold entry, and once closed exactly one more entry "
    "under its reference: a capture (attended, forfeited no-show) or a release, of its price",
    f"""
    SELECT v.realm, v.id AS reservation_id, v.status, v.points, v.price, e.entries, e.kinds
      FROM reservations v
      LEFT JOIN LATERAL (SELECT count(*) AS entries, string_agg(x.kind, ',' ORDER BY x.id) AS kinds
                           FROM entries x WHERE x.realm = v.realm AND x.reference = 'reservation:' || v.id) e ON true
     WHERE v.priority AND {IN_REALM.format(column="v.realm")}
       AND e.kinds IS DISTINCT FROM CASE v.points WHEN 'held' THEN 'hold'
                                                  WHEN 'captured' THEN 'hold,capture'
                                                  ELSE 'hold,release' END""")

register_sql_check(
    "slot_places_equal_bookings",
    "every slot's booked places = its booked reservations (priority ones counted apart), "
    "within its capacity",
    f"""
    SELECT s.realm, s.id AS slot_id, s.capacity, s.booked, s.priority_booked,
           coalesce(c.booked, 0) AS counted, coalesce(c.priority_booked, 0) AS counted_priority
      FROM resource_slots s
      LEFT JOIN (SELECT realm, slot_id, count(*) AS booked, count(*) FILTER (WHERE priority) AS priority_booked
                   FROM reservations WHERE status = 'booked' GROUP BY realm, slot_id) c
             ON c.realm = s.realm AND c.slot_id = s.id
     WHERE {IN_REALM.format(column="s.realm")}
       AND (s.booked <> coalesce(c.booked, 0) OR s.priority_booked <> coalesce(c.priority_booked, 0)
            OR s.booked > s.capacity)""")
