"""The service loop's pure core: states and their transitions, who may take each step,
what a request and a volunteer look like, the realm's settings, and who may read a
request's private notes. No I/O here; the database holds the same transitions
(orders/sql/service_requests_check_transition.sql)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ledger import idempotency, paging
from ledger import errors as ledger_errors
from orders import errors

# Named limits and defaults.
DEFAULT_SKILLS = ("助老", "法律", "医疗", "农技", "家电维修")
RATING_REWARD_POINTS_DEFAULT = 2
RATING_REWARD_POINTS_MAX = 100
ALERT_RATINGS_MIN_DEFAULT = 3
ALERT_RATINGS_MIN_MAX = 1000
SKILLS_PER_REALM_MAX = 30
SKILL_LENGTH_MAX = 40
SKILLS_PER_VOLUNTEER_MAX = 10
STATIONS_PER_VOLUNTEER_MAX = 20
AVAILABILITY_LENGTH_MAX = 200
DESCRIPTION_LENGTH_MAX = 2000
NOTES_LENGTH_MAX = 1000
COMMENT_LENGTH_MAX = 500
WINDOW_S_MAX = 30 * 24 * 3600          # a wanted window longer than a month is a typing error
MINUTES_MAX = 24 * 60                   # a task is paid for at most a day
RATING_MIN, RATING_MAX = 1, 5
LOW_RATING_MAX = 2                      # a request rated this or lower alerts its dispatcher
SUGGESTIONS_PER_REQUEST = 3
QUEUE_PAGE_DEFAULT = 20
DISPATCH_TIMEOUT_S_DEFAULT = 2 * 3600
AUTO_CONFIRM_S_DEFAULT = 7 * 24 * 3600
JOB_BATCH_MAX = 500                     # requests one background round moves
TIMEOUT_NOTE = "not accepted in time: back in the queue"
DECLINE_NOTE = "declined by the volunteer: back in the queue"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

STATES = ("open", "dispatched", "accepted", "done", "confirmed", "cancelled")
OPEN_TASK_STATES = ("dispatched", "accepted")
TRANSITIONS: frozenset[tuple[str, str]] = frozenset({
    ("open", "dispatched"), ("dispatched", "accepted"), ("dispatched", "open"),
    ("accepted", "done"), ("done", "confirmed"),
    ("open", "cancelled"), ("dispatched", "cancelled"), ("accepted", "cancelled"),
})
# step -> (the state it leaves from, the state it goes to)
STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "dispatch": (("open",), "dispatched"),
    "accept": (("dispatched",), "accepted"),
    "decline": (("dispatched",), "open"),
    "done": (("accepted",), "done"),
    "confirm": (("done",), "confirmed"),
    "cancel": (("open", "dispatched", "accepted"), "cancelled"),
}
# the refusal for a step taken from the wrong state
_WRONG_STATE = {
    "dispatch": errors.RequestNotOpen, "accept": errors.RequestNotDispatched,
    "decline": errors.RequestNotDispatched, "done": errors.RequestNotAccepted,
    "confirm": errors.RequestNotDone, "cancel": errors.RequestCannotCancel,
}
DISPATCHERS = ("organizer", "admin")


@dataclass(frozen=True)
class Actor:
    """Who takes a step: a role with its scope (the route builds it from the token)."""
    role: str
    realm: str | None
    label: str                              # what the records name (e.g. "organizer:12")
    resident_id: int | None = None
    station_id: int | None = None

    @property
    def system(self) -> bool:
        return self.role == "system"


SYSTEM = Actor("system", None, "system:service-loop")


@dataclass(frozen=True)
class Settings:
    skills: tuple[str, ...] = DEFAULT_SKILLS
    rating_reward_points: int = RATING_REWARD_POINTS_DEFAULT
    alert_ratings_min: int = ALERT_RATINGS_MIN_DEFAULT


@dataclass(frozen=True)
class NewRequest:
    requester_id: int
    station_id: int
    category: str
    description: str
    wanted_from: datetime
    wanted_until: datetime
    notes: str | None = None
    urgent: bool = False

    def request_hash(self) -> bytes:
        """What this order asks for (`ledger.idempotency.request_hash`)."""
        return idempotency.request_hash({"step": "create", **asdict(self)})


@dataclass(frozen=True)
class Pay:
    """The realm's 志愿 rule as confirming pays the volunteer by it (the caller reads the
    rule and works out its formula): `points` for the minutes spent, before the daily
    cap; the confirming transaction pays what the cap leaves of them (`volunteer_points`)."""
    asset: str
    points: int                  # the rule's formula for the request's minutes
    daily_cap_points: int
    activity_type: str
    rule_version: int


def volunteer_points(pay: Pay, earned_that_day: int) -> int:
    """The volunteer's pay: the rule's points for the minutes, never past what its daily
    cap leaves after what the volunteer already earned under the rule that day
    (attendance and service awards alike); never negative."""
    return max(min(pay.points, pay.daily_cap_points - earned_that_day), 0)


@dataclass(frozen=True)
class Step:
    """One transition a caller asks for, with what it carries."""
    name: str
    volunteer_id: int | None = None         # dispatch
    minutes: int | None = None              # done
    rating: int | None = None               # confirm
    comment: str | None = None              # confirm
    extra: dict[str, Any] = field(default_factory=dict)

    def request_hash(self, request_id: int) -> bytes:
        """What this step asks of a request (`ledger.idempotency.request_hash`)."""
        return idempotency.request_hash({"step": self.name, "request_id": request_id,
                                         "volunteer_id": self.volunteer_id, "minutes": self.minutes,
                                         "rating": self.rating, "comment": self.comment})


# checks -------------------------------------------------------------------------------

def _text(value: str | None, what: str, length_max: int, required: bool = True) -> str | None:
    if value is None or not value.strip():
        if required:
            raise errors.InvalidServiceRequest(f"{what} is required")
        return None
    if len(value.strip()) > length_max:
        raise errors.InvalidServiceRequest(f"{what} is at most {length_max} characters")
    return value.strip()


def check_new_request(new: NewRequest, skills: tuple[str, ...]) -> NewRequest:
    if new.category not in skills:
        raise errors.UnknownSkill(f"a category is one of the realm's: {', '.join(skills)}",
                                  category=new.category)
    description = _text(new.description, "a description", DESCRIPTION_LENGTH_MAX)
    notes = _text(new.notes, "notes", NOTES_LENGTH_MAX, required=False)
    check_window(new.wanted_from, new.wanted_until)
    return NewRequest(new.requester_id, new.station_id, new.category, description or "",
                      new.wanted_from, new.wanted_until, notes, bool(new.urgent))


def check_window(starts: datetime, ends: datetime) -> None:
    if starts.tzinfo is None or ends.tzinfo is None:
        raise ledger_errors.InvalidTimestamp("timestamps carry a UTC offset")
    if ends <= starts:
        raise errors.WindowInvalid("the wanted window ends after it starts")
    if (ends - starts).total_seconds() > WINDOW_S_MAX:
        raise errors.WindowInvalid(f"the wanted window is at most {WINDOW_S_MAX // 86400} days")


def window_minutes(request: dict[str, Any]) -> int:
    return int((request["wanted_until"] - request["wanted_from"]).total_seconds()) // 60


def check_minutes(minutes: int | None, request: dict[str, Any]) -> int:
    """`done` carries whole minutes, at least one, no more than the window (nor a day)."""
    if minutes is None:
        raise errors.MinutesRequired("done carries the minutes spent")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
        raise errors.MinutesBeyondWindow("minutes are a whole number, at least 1")
    limit = min(window_minutes(request), MINUTES_MAX)
    if minutes > limit:
        raise errors.MinutesBeyondWindow(f"at most {limit} minutes: the wanted window", minutes_max=limit)
    return minutes


def check_rating(rating: int | None, required: bool = False) -> int | None:
    if rating is None:
        if required:
            raise errors.RatingOutOfRange(f"a rating is {RATING_MIN} to {RATING_MAX}")
        return None
    if not isinstance(rating, int) or isinstance(rating, bool) or not RATING_MIN <= rating <= RATING_MAX:
        raise errors.RatingOutOfRange(f"a rating is {RATING_MIN} to {RATING_MAX}", rating=str(rating))
    return rating


def check_comment(comment: str | None) -> str | None:
    if comment is None or not comment.strip():
        return None
    if len(comment.strip()) > COMMENT_LENGTH_MAX:
        raise errors.InvalidServiceRequest(f"a comment is at most {COMMENT_LENGTH_MAX} characters")
    return comment.strip()


def check_settings(settings: Settings) -> Settings:
    skills = tuple(dict.fromkeys(s.strip() for s in settings.skills if isinstance(s, str) and s.strip()))
    if not 1 <= len(skills) <= SKILLS_PER_REALM_MAX or any(len(s) > SKILL_LENGTH_MAX for s in skills):
        raise errors.InvalidServiceSettings(
            f"1 to {SKILLS_PER_REALM_MAX} skills, each 1 to {SKILL_LENGTH_MAX} characters")
    if not 0 <= settings.rating_reward_points <= RATING_REWARD_POINTS_MAX:
        raise errors.InvalidServiceSettings(f"the rating reward is 0 to {RATING_REWARD_POINTS_MAX} points")
    if not 1 <= settings.alert_ratings_min <= ALERT_RATINGS_MIN_MAX:
        raise errors.InvalidServiceSettings(f"alerts need 1 to {ALERT_RATINGS_MIN_MAX} ratings")
    return Settings(skills, settings.rating_reward_points, settings.alert_ratings_min)


def check_volunteer(skills: list[str], station_ids: list[int], availability: str | None,
                    realm_skills: tuple[str, ...]) -> tuple[list[str], list[int], str | None]:
    skills = list(dict.fromkeys(skills))
    station_ids = sorted(set(station_ids))
    if not 1 <= len(skills) <= SKILLS_PER_VOLUNTEER_MAX:
        raise errors.InvalidVolunteer(f"1 to {SKILLS_PER_VOLUNTEER_MAX} skills")
    unknown = [s for s in skills if s not in realm_skills]
    if unknown:
        raise errors.UnknownSkill(f"skills are among the realm's: {', '.join(realm_skills)}",
                                  skill=unknown[0])
    if not 1 <= len(station_ids) <= STATIONS_PER_VOLUNTEER_MAX:
        raise errors.InvalidVolunteer(f"1 to {STATIONS_PER_VOLUNTEER_MAX} stations served")
    if availability is not None and len(availability.strip()) > AVAILABILITY_LENGTH_MAX:
        raise errors.InvalidVolunteer(f"availability is at most {AVAILABILITY_LENGTH_MAX} characters")
    return skills, station_ids, (availability.strip() or None) if availability else None


# transitions and actors ---------------------------------------------------------------

def check_transition(step: str, state: str) -> str:
    """The state `step` leads to from `state`; a wrong state is refused with the step's code."""
    sources, target = STEPS[step]
    if state == "confirmed" and step == "confirm":
        raise errors.RequestAlreadyConfirmed("this request is already confirmed")
    if state not in sources:
        raise _WRONG_STATE[step](f"cannot {step} a request that is {state}", state=state)
    return target


def may_act_for_station(actor: Actor, request: dict[str, Any]) -> bool:
    """An organizer of the request's station, or of its whole realm; an admin of the realm."""
    if actor.role not in DISPATCHERS or actor.realm not in (None, request["realm"]):
        return False
    return actor.role == "admin" or actor.station_id in (None, request["station_id"])


def check_actor(step: str, actor: Actor, request: dict[str, Any]) -> None:
    """Who may take `step` on `request`: the dispatched volunteer accepts, declines and
    marks done; the requester (or an organizer on their behalf) confirms and cancels;
    organizers dispatch. The system (background jobs) confirms and returns to the queue."""
    if actor.system:
        return
    if actor.realm not in (None, request["realm"]):
        raise ledger_errors.Forbidden(f"this token is scoped to realm {actor.realm}")
    if step in ("accept", "decline", "done"):
        if actor.role != "resident" or actor.resident_id != request["volunteer_id"]:
            raise errors.NotDispatchedToYou("only the volunteer it was dispatched to does this")
        return
    if step == "dispatch":
        if not may_act_for_station(actor, request):
            raise ledger_errors.Forbidden("the request's station organizers dispatch it")
        return
    if actor.role == "resident":
        if actor.resident_id != request["requester_id"]:
            raise ledger_errors.Forbidden("only the requester (or an organizer for them) does this")
        return
    if not may_act_for_station(actor, request):
        raise ledger_errors.Forbidden("only the requester (or an organizer for them) does this")


def check_dispatch_target(volunteer: dict[str, Any] | None, realm: str, requester_id: int,
                          volunteer_id: int) -> None:
    if volunteer_id == requester_id:
        raise errors.VolunteerIsRequester("a request is not dispatched to its own requester")
    if volunteer is None:
        raise errors.VolunteerOtherRealm(f"no volunteer {volunteer_id} in realm {realm}",
                                         volunteer_id=volunteer_id)
    if volunteer["status"] != "approved":
        raise errors.VolunteerNotApproved("this volunteer is not approved yet", volunteer_id=volunteer_id)


def may_read_notes(actor: Actor, request: dict[str, Any]) -> bool:
    """The address or notes: the requester, its dispatchers, and the assigned volunteer."""
    if actor.role == "resident":
        return actor.resident_id in (request["requester_id"], request.get("volunteer_id"))
    return may_act_for_station(actor, request)


def may_read(actor: Actor, request: dict[str, Any]) -> bool:
    """Who may see a request at all: those who may read its notes, and the realm's auditors."""
    if actor.role == "auditor":
        return actor.realm in (None, request["realm"])
    return may_read_notes(actor, request)


def visible(actor: Actor, request: dict[str, Any]) -> dict[str, Any]:
    return request if may_read_notes(actor, request) else {**request, "notes": None}


def is_low_rating(rating: int | None) -> bool:
    return rating is not None and rating <= LOW_RATING_MAX


def timed_out_before(now: datetime, timeout_s: float) -> datetime:
    return now - timedelta(seconds=timeout_s)


# pages --------------------------------------------------------------------------------

VOLUNTEERS = paging.Cursor("o1", minimum=0)     # volunteers by resident id
REQUESTS = paging.Cursor("o1", minimum=0)       # requests, newest first, by id
QUEUE_CURSOR = "q2"


def queue_cursor(row: dict[str, Any]) -> str:
    """Where the queue's next page starts: after (urgent, created_at, id) of the last row
    (the time in whole microseconds since the epoch)."""
    at = row["created_at"]
    micros = (at - EPOCH) // timedelta(microseconds=1)
    return paging.encode_parts(QUEUE_CURSOR, int(row["urgent"]), micros, row["id"])


def decode_queue_cursor(cursor: str | None) -> tuple[bool, datetime, int] | None:
    if cursor is None or cursor == "":
        return None
    urgent, micros, last_id = paging.decode_parts(cursor, QUEUE_CURSOR, 3)
    if urgent not in ("0", "1"):
        raise ledger_errors.InvalidCursor("this cursor was not given by the queue")
    at = EPOCH + timedelta(microseconds=paging.whole_at_least(micros, 0))
    return urgent == "1", at, paging.whole_at_least(last_id, 1)


def check_queue_size(limit: int | None) -> int:
    return paging.check_page_size(limit, default=QUEUE_PAGE_DEFAULT)
