"""A hypothesis state machine books, cancels (as the booker or the provider), marks
attended and no-show and moves the clock, against the real database and a plain model of
places and points. After every step the balances, the slots' counts and the hold agree
with the model and the reservation and hold checks of the audit pass; after each run
the whole realm's audit passes."""
from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import merchants.audit  # noqa: F401  (the checks the app registers)
import redemption.audit  # noqa: F401
import resources.audit  # noqa: F401
from ledger import db, errors as ledger_errors
from ledger.audit import run_audit
from ledger.service import Ledger
from resources import errors, model
from resources.service import Resources
from tests.conftest import new_realm_code
from tests.resources_support import make_world

PRICE = 40
POINTS = 100            # each resident's, so the third priority booking is refused
CAPACITY = 2
SLOTS = 3
CUTOFF_H = 1
STEP = timedelta(minutes=30)
CHECKS = ["hold_equals_outstanding_vouchers", "reservation_holds_equal_held_reservations",
          "reservation_points_closed_once", "slot_places_equal_bookings"]


@dataclass
class Booking:
    id: int
    resident: int
    slot: int
    priority: bool
    status: str = "booked"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


class ReservationMachine(RuleBasedStateMachine):
    database_url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = db.app_engine(self.database_url, pool_size=2)
        self.ledger = Ledger(self.engine)
        self.clock = Clock()
        self.service = Resources(self.engine, self.ledger, self.clock)
        self.bookings: list[Booking] = []

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        try:
            if hasattr(self, "realm"):
                report = self.run(run_audit(self.engine, self.realm))
                assert report.ok, report.as_json()["failed"]
        finally:
            self.run(self.engine.dispose())
            self.loop.close()

    @initialize(forfeit=st.booleans())
    def open_books(self, forfeit: bool) -> None:
        self.realm = new_realm_code()
        self.run(self.ledger.open_realm(self.realm, "预约状态机"))
        self.world = self.run(make_world(self.engine, self.ledger, self.realm, residents=3, points=POINTS))
        provider = self.run(self.service.register_provider(
            self.realm, "卫生院", model.Provider(self.world.merchant_id, "service_provider", self.realm), "test"))
        self.forfeit = forfeit
        resource = self.run(self.service.create_resource(provider, {
            "kind": "health", "title": "体检", "scope": "realm", "station_id": self.world.home.id,
            "priority_price": PRICE, "priority_places": 1, "cancel_cutoff_h": CUTOFF_H,
            "no_show_forfeit": forfeit}, "test"))
        first = self.clock.now.replace(microsecond=0) + timedelta(hours=1)
        made = self.run(self.service.add_slots(resource, [first + timedelta(hours=k) for k in range(SLOTS)],
                                               timedelta(hours=1), CAPACITY, 1))
        self.slots = [(slot["id"], slot["starts_at"]) for slot in made]
        self.wallet = {r: POINTS for r in self.world.residents}
        self.provider_points = 0

    # the model's predictions -------------------------------------------------------------

    def booked_in(self, slot: int) -> list[Booking]:
        return [b for b in self.bookings if b.slot == slot and b.status == "booked"]

    def refusal_of_booking(self, resident: int, slot_index: int, priority: bool) -> type | None:
        slot, starts_at = self.slots[slot_index]
        taken = self.booked_in(slot)
        ordinary = sum(1 for b in taken if not b.priority)
        if any(b.resident == resident for b in taken):
            return errors.AlreadyBooked
        if starts_at <= self.clock.now:
            return errors.SlotPast
        if len(taken) >= CAPACITY or (not priority and ordinary >= CAPACITY - 1):
            return errors.SlotFull
        if priority and self.wallet[resident] < PRICE:
            return ledger_errors.InsufficientPoints
        return None

    def attempt(self, action, refusal: type | None):
        try:
            result = self.run(action)
        except ledger_errors.DomainError as refused:
            assert refusal is not None and isinstance(refused, refusal), (refused, refusal)
            return None
        assert refusal is None, f"expected {refusal.__name__}, got {result['status']}"
        return result

    def close(self, booking: Booking, status: str) -> None:
        booking.status = status
        if booking.priority:
            if status == "attended" or (status == "no_show" and self.forfeit):
                self.provider_points += PRICE
            else:
                self.wallet[booking.resident] += PRICE

    # rules -------------------------------------------------------------------------------

    @rule(who=st.integers(0, 2), slot_index=st.integers(0, SLOTS - 1), priority=st.booleans())
    def book(self, who: int, slot_index: int, priority: bool) -> None:
        resident = self.world.residents[who]
        refusal = self.refusal_of_booking(resident, slot_index, priority)
        booked = self.attempt(self.service.book(self.slots[slot_index][0], self.world.booker(resident), priority,
                                                f"k-{secrets.token_hex(6)}", f"resident:{resident}"), refusal)
        if booked is not None:
            self.bookings.append(Booking(booked["id"], resident, self.slots[slot_index][0], priority))
            if priority:
                self.wallet[resident] -= PRICE

    @rule(pick=st.integers(0, 1000), by_provider=st.booleans())
    def cancel(self, pick: int, by_provider: bool) -> None:
        if not self.bookings:
            return
        booking = self.bookings[pick % len(self.bookings)]
        starts_at = dict(self.slots)[booking.slot]
        if booking.status in ("cancelled", "provider_cancelled"):
            refusal = None
        elif booking.status != "booked":
            refusal = errors.ReservationClosed
        elif not by_provider and self.clock.now > starts_at - timedelta(hours=CUTOFF_H):
            refusal = errors.CancelCutoffPassed
        else:
            refusal = None
        closed = self.attempt(self.service.cancel(booking.id, by_provider, "test"), refusal)
        if closed is not None and booking.status == "booked":
            self.close(booking, "provider_cancelled" if by_provider else "cancelled")

    @rule(pick=st.integers(0, 1000), outcome=st.sampled_from(model.OUTCOMES))
    def mark(self, pick: int, outcome: str) -> None:
        if not self.bookings:
            return
        booking = self.bookings[pick % len(self.bookings)]
        starts_at = dict(self.slots)[booking.slot]
        opening = starts_at - timedelta(seconds=model.MARK_EARLY_S) if outcome == "attended" else starts_at
        if booking.status == outcome:
            refusal = None
        elif booking.status != "booked":
            refusal = errors.ReservationClosed
        elif self.clock.now < opening:
            refusal = errors.MarkTooEarly
        else:
            refusal = None
        marked = self.attempt(self.service.mark(booking.id, outcome, "test"), refusal)
        if marked is not None and booking.status == "booked":
            self.close(booking, outcome)

    @rule(steps=st.integers(1, 3))
    def time_passes(self, steps: int) -> None:
        self.clock.now += STEP * steps

    # what must hold after every step -----------------------------------------------------

    @invariant()
    def the_book_agrees_with_the_model(self) -> None:
        if not hasattr(self, "realm"):
            return
        for resident, points in self.wallet.items():
            account = self.run(self.ledger.owned_account(self.realm, "resident", "civic", resident_id=resident))
            assert account["balance"] == points, (resident, account["balance"], points)
        merchant = self.run(self.ledger.owned_account(self.realm, "merchant", "civic",
                                                      merchant_id=self.world.merchant_id))
        assert merchant["balance"] == self.provider_points
        held = sum(PRICE for b in self.bookings if b.priority and b.status == "booked")
        assert self.run(self.ledger.system_account(self.realm, "hold", "civic"))["balance"] == held
        for slot, _ in self.slots:
            assert self.run(self.service.slot(slot))["booked"] == len(self.booked_in(slot))
        report = self.run(run_audit(self.engine, self.realm, names=CHECKS))
        assert report.ok, report.as_json()["failed"]


@pytest.mark.db
def test_reservation_state_machine(database_url):
    ReservationMachine.database_url = database_url
    machine_test = ReservationMachine.TestCase
    machine_test.settings = settings(max_examples=15, stateful_step_count=30, deadline=None,
                                     suppress_health_check=list(HealthCheck))
    machine_test("runTest").runTest()
