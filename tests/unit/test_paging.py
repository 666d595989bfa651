"""The one paging helper: page sizes, cursors, and a next cursor only when more follows."""
import pytest
from hypothesis import given, strategies as st

from ledger import errors, paging


def test_cursor_round_trip_and_garbage():
    cursor = paging.Cursor("p1")
    assert cursor.decode(cursor.encode(42)) == 42
    assert cursor.decode(None) is None and cursor.decode("") is None
    for garbage in ["x", "!!!", cursor.encode(0), "cDE6YWJj", paging.encode_parts("p1", 4, 5),
                    paging.Cursor("v1").encode(42)]:
        with pytest.raises(errors.InvalidCursor):
            cursor.decode(garbage)


def test_cursors_keep_their_wire_form():
    """Cursors handed out before this helper existed still decode (and look the same)."""
    assert paging.encode_cursor(42) == "cDE6NDI"
    assert paging.Cursor("e1", minimum=0).decode("ZTE6MA") == 0
    assert paging.decode_parts(paging.encode_parts("r1", 0, 7), "r1", 2) == ["0", "7"]


def test_page_size_limits():
    assert paging.check_page_size(None) == paging.PAGE_SIZE_DEFAULT
    assert paging.check_page_size(None, default=7, maximum=9) == 7
    for bad in (0, -1, paging.PAGE_SIZE_MAX + 1):
        with pytest.raises(errors.InvalidInput):
            paging.check_page_size(bad)
    with pytest.raises(errors.InvalidInput):
        paging.check_page_size(10, maximum=9)


def test_a_last_page_exactly_limit_long_has_no_next_cursor():
    cursor = paging.Cursor("p1")
    rows = [{"id": n} for n in (1, 2, 3)]
    assert paging.page_of(rows, 3, cursor.after("id")) == paging.Page(rows, None)
    more = paging.page_of(rows + [{"id": 4}], 3, cursor.after("id"))
    assert more.items == rows and cursor.decode(more.next_cursor) == 3


@given(total=st.integers(0, 60), size=st.integers(1, 12))
def test_walking_every_page_returns_each_item_once_and_never_an_empty_page(total, size):
    """A model of a repository (ids after the cursor, at most the fetch size) walked
    through `page_of` to the end."""
    ids = list(range(1, total + 1))
    cursor = paging.Cursor("p1")
    seen: list[int] = []
    after: str | None = None
    pages = 0
    while True:
        start = cursor.decode(after) or 0
        rows = [{"id": n} for n in ids if n > start][:paging.fetch_size(size)]
        page = paging.page_of(rows, size, cursor.after("id"))
        pages += 1
        assert len(page.items) <= size
        assert page.items or total == 0          # no empty page but the only one
        seen += [row["id"] for row in page.items]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == ids
    assert pages == max(1, -(-total // size))    # exactly as many pages as needed


@given(total=st.integers(0, 40), size=st.integers(1, 9))
def test_offset_pages_end_where_the_items_end(total, size):
    offset, seen = 0, []
    while True:
        rows = list(range(total))[offset:offset + paging.fetch_size(size)]
        page = paging.offset_page(rows, size, offset, "e1")
        seen += page.items
        if page.next_cursor is None:
            break
        offset = paging.decode_cursor(page.next_cursor, "e1", minimum=0)
    assert seen == list(range(total))
