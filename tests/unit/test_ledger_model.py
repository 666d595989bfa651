"""The ledger's pure rules."""
import pytest

from ledger import errors, model
from ledger.model import AccountMeta, EntryDraft, Line

REALM = "430104"
ACCOUNTS = {
    1: AccountMeta(REALM, 1, "budget", "civic", 0),
    2: AccountMeta(REALM, 2, "resident", "civic", 0),
    3: AccountMeta(REALM, 3, "resident", "agri", 0),
    4: AccountMeta(REALM, 4, "budget", "agri", 0),
    5: AccountMeta("430105", 5, "resident", "civic", 0),
    6: AccountMeta(REALM, 6, "funding", "civic", None),
}


def draft(*lines: tuple[int, int], kind: str = "earn", **extra) -> EntryDraft:
    return EntryDraft(realm=REALM, kind=kind, lines=tuple(Line(a, n) for a, n in lines),
                      created_by="test", **extra)


def test_a_balanced_earn_passes():
    model.check_draft(draft((1, -10), (2, 10)), ACCOUNTS)


@pytest.mark.parametrize("lines, error", [
    (((1, -10),), errors.TooFewPostings),
    (((1, -10), (2, 9)), errors.EntryUnbalanced),
    (((1, 0), (2, 0)), errors.ZeroAmount),
    (((1, -10), (1, 10)), errors.DuplicateAccount),
    (((1, -(10**12 + 1)), (2, 10**12 + 1)), errors.AmountOutOfRange),
])
def test_shape_errors(lines, error):
    with pytest.raises(error):
        model.check_draft(draft(*lines), ACCOUNTS)


@pytest.mark.parametrize("credited", [9, 11])
def test_an_unbalanced_draft_is_refused_before_its_accounts_are_read(credited):
    with pytest.raises(errors.EntryUnbalanced):
        model.check_shape(draft((1, -10), (2, credited)))


def test_too_many_postings():
    lines = [(1, -(model.POSTINGS_PER_ENTRY_MAX))] + [(100 + i, 1) for i in range(model.POSTINGS_PER_ENTRY_MAX)]
    with pytest.raises(errors.TooManyPostings):
        model.check_shape(draft(*lines))


def test_balanced_in_total_but_not_per_asset_is_refused():
    # civic budget pays an agri wallet: the sum is zero, each asset is not
    with pytest.raises(errors.EntryUnbalanced):
        model.check_draft(draft((1, -10), (3, 10), kind="earn"), ACCOUNTS)


def test_an_account_of_another_realm_is_unknown_here():
    with pytest.raises(errors.UnknownAccount):
        model.check_draft(draft((1, -10), (5, 10)), ACCOUNTS)


@pytest.mark.parametrize("kind, lines", [
    ("earn", ((2, -10), (1, 10))),      # points flowing back into a budget are not earning
    ("earn", ((6, -10), (2, 10))),      # points from the funding account skip the budget
    ("adjustment", ((6, -10), (2, 10))),
    ("settle", ((1, -10), (2, 10))),
])
def test_entry_kinds_only_touch_their_account_kinds(kind, lines):
    with pytest.raises(errors.PostingNotAllowed):
        model.check_draft(draft(*lines, kind=kind), ACCOUNTS)


def test_unknown_entry_kind():
    with pytest.raises(errors.EntryKindNotAllowed):
        model.check_draft(draft((1, -10), (2, 10), kind="gift"), ACCOUNTS)


@pytest.mark.parametrize("key", ["", " ", "a" * 201, "ключ", "a\nb"])
def test_bad_idempotency_keys(key):
    with pytest.raises(errors.InvalidIdempotencyKey):
        model.idempotency.check_key(key)


def test_floors_by_kind():
    assert model.check_floor("resident", None) == 0
    assert model.check_floor("funding", None) is None
    assert model.check_floor("funding", -500) == -500
    with pytest.raises(errors.InvalidFloor):
        model.check_floor("resident", -1)
    with pytest.raises(errors.InvalidFloor):
        model.check_floor("budget", -1000)
    with pytest.raises(errors.InvalidFloor):
        model.check_floor("clearing", 5)


def test_request_hash_ignores_line_order_and_author_but_not_amounts():
    a = draft((1, -10), (2, 10), idempotency_key="k")
    b = EntryDraft(REALM, "earn", (Line(2, 10), Line(1, -10)), created_by="someone else")
    c = draft((1, -11), (2, 11))
    assert model.request_hash(a) == model.request_hash(b)
    assert model.request_hash(a) != model.request_hash(c)


def test_mirror_undoes():
    lines = (Line(1, -10), Line(2, 10))
    assert model.mirror_lines(lines) == (Line(1, 10), Line(2, -10))


def test_realm_codes():
    assert model.check_realm_code("430104") == "430104"
    for bad in ("43010", "4301044", "abcdef", ""):
        with pytest.raises(errors.InvalidRealm):
            model.check_realm_code(bad)
