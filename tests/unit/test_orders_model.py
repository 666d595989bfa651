"""The service loop's pure rules: transitions, who may take each step, who reads notes,
minutes and ratings, the queue cursor, and feedback's crossings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from feedback import errors as feedback_errors
from feedback import model as feedback_model
from ledger import errors, paging
from orders import errors as order_errors
from orders import model

NOW = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
REQUEST = {"realm": "430104", "id": 7, "requester_id": 1, "volunteer_id": 2, "station_id": 10,
           "wanted_from": NOW, "wanted_until": NOW + timedelta(hours=2), "notes": "幸福路 8 号"}


def actor(role: str, resident_id: int | None = None, station_id: int | None = None,
          realm: str | None = "430104") -> model.Actor:
    return model.Actor(role, realm, f"{role}:1", resident_id, station_id)


def test_every_step_follows_a_transition_the_database_allows():
    for step, (sources, target) in model.STEPS.items():
        for source in sources:
            assert (source, target) in model.TRANSITIONS, step
    assert {pair for step in model.STEPS.values() for pair in ((s, step[1]) for s in step[0])} == model.TRANSITIONS


@pytest.mark.parametrize("step,state,error", [
    ("confirm", "accepted", order_errors.RequestNotDone), ("confirm", "confirmed", order_errors.RequestAlreadyConfirmed),
    ("accept", "open", order_errors.RequestNotDispatched), ("done", "dispatched", order_errors.RequestNotAccepted),
    ("cancel", "done", order_errors.RequestCannotCancel), ("dispatch", "accepted", order_errors.RequestNotOpen)])
def test_a_step_from_the_wrong_state_is_refused_with_its_code(step, state, error):
    with pytest.raises(error):
        model.check_transition(step, state)


def test_only_the_dispatched_volunteer_accepts_declines_and_marks_done():
    for step in ("accept", "decline", "done"):
        model.check_actor(step, actor("resident", 2), REQUEST)
        for other in (actor("resident", 1), actor("organizer"), actor("admin")):
            with pytest.raises(order_errors.NotDispatchedToYou):
                model.check_actor(step, other, REQUEST)


def test_the_requester_or_its_station_organizers_confirm_and_cancel():
    for step in ("confirm", "cancel"):
        for who in (actor("resident", 1), actor("organizer"), actor("organizer", station_id=10), actor("admin")):
            model.check_actor(step, who, REQUEST)
        for who in (actor("resident", 2), actor("organizer", station_id=11), actor("merchant"),
                    actor("organizer", realm="430105"), actor("auditor")):
            with pytest.raises(errors.Forbidden):
                model.check_actor(step, who, REQUEST)


def test_notes_are_for_the_requester_the_dispatchers_and_the_volunteer():
    readers = (actor("resident", 1), actor("resident", 2), actor("organizer"), actor("organizer", station_id=10))
    assert all(model.visible(who, REQUEST)["notes"] for who in readers)
    for who in (actor("resident", 3), actor("auditor"), actor("organizer", station_id=11), actor("merchant")):
        assert model.visible(who, REQUEST)["notes"] is None
    assert model.may_read(actor("auditor"), REQUEST) and not model.may_read(actor("resident", 3), REQUEST)


def test_minutes_are_required_positive_and_within_the_window():
    assert model.check_minutes(120, REQUEST) == 120
    with pytest.raises(order_errors.MinutesRequired):
        model.check_minutes(None, REQUEST)
    for minutes in (0, 121, -5, True):
        with pytest.raises(order_errors.MinutesBeyondWindow):
            model.check_minutes(minutes, REQUEST)


def test_a_rating_is_one_to_five():
    assert [model.check_rating(r) for r in (1, 5, None)] == [1, 5, None]
    for rating in (0, 6, True, 2.5):
        with pytest.raises(order_errors.RatingOutOfRange):
            model.check_rating(rating)
        with pytest.raises(feedback_errors.RatingOutOfRange):
            feedback_model.check_rating(rating)


def test_a_dispatch_goes_to_an_approved_volunteer_of_the_realm_not_the_requester():
    with pytest.raises(order_errors.VolunteerOtherRealm):
        model.check_dispatch_target(None, "430104", 1, 2)
    with pytest.raises(order_errors.VolunteerNotApproved):
        model.check_dispatch_target({"status": "pending"}, "430104", 1, 2)
    with pytest.raises(order_errors.VolunteerIsRequester):
        model.check_dispatch_target({"status": "approved"}, "430104", 1, 1)
    model.check_dispatch_target({"status": "approved"}, "430104", 1, 2)


def test_the_queue_cursor_round_trips_and_refuses_forgeries():
    row = {"urgent": True, "created_at": NOW, "id": 42}
    assert model.decode_queue_cursor(model.queue_cursor(row)) == (True, NOW, 42)
    for forged in ("x", "q1.zz", paging.encode_parts("q2", 3, 0, 1), paging.encode_parts("q2", 1, -5, 1),
                   paging.encode_parts("q2", 1, 0, 0), paging.encode_parts("q2", 1, 0),
                   paging.encode_parts("o1", 1, 0, 1), model.REQUESTS.encode(42)):
        with pytest.raises(errors.InvalidCursor):
            model.decode_queue_cursor(forged)


def test_settings_are_bounded():
    assert model.check_settings(model.Settings(("助老", " 助老 ", "法律"))).skills == ("助老", "法律")
    for bad in (model.Settings(()), model.Settings(rating_reward_points=-1), model.Settings(alert_ratings_min=0)):
        with pytest.raises(order_errors.InvalidServiceSettings):
            model.check_settings(bad)


def test_an_average_crosses_below_three_once():
    assert not feedback_model.is_below(2, 2, 3)          # too few ratings
    assert feedback_model.is_below(3, 8, 3) and not feedback_model.is_below(3, 9, 3)
    assert feedback_model.crossed(False, True)
    assert not feedback_model.crossed(True, True) and not feedback_model.crossed(True, False)


def test_a_rated_request_counts_for_its_volunteer_station_and_dispatcher():
    subjects = feedback_model.request_subjects({**REQUEST, "dispatched_by": "organizer:3"})
    assert {(s.kind, s.key) for s in subjects} == {("volunteer", "2"), ("station", "10"), ("organizer", "organizer:3")}
    assert all(s.station_id == 10 for s in subjects)


def test_a_step_hashes_what_it_asks_of_which_request():
    confirm = model.Step("confirm", rating=5)
    assert confirm.request_hash(7) == model.Step("confirm", rating=5).request_hash(7)
    assert len({confirm.request_hash(7), confirm.request_hash(8), model.Step("confirm", rating=4).request_hash(7),
                model.Step("cancel").request_hash(7)}) == 4


def test_the_averages_cursor_carries_any_subject_key():
    row = {"subject_kind": "organizer", "subject_key": "organizer:12 站:东"}
    assert feedback_model.decode_averages_cursor(feedback_model.averages_cursor(row)) == (
        "organizer", "organizer:12 站:东")
    for forged in ("x", paging.encode_parts("f2", "organizer"), paging.encode_parts("f2", "organizer", "zz"),
                   feedback_model.ALERTS.encode(3)):
        with pytest.raises(errors.InvalidCursor):
            feedback_model.decode_averages_cursor(forged)
