"""The short code's check character (GF(32) weighted sum) catches every single wrong
character and every swap of unequal neighbours, at every place, check character included."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redemption import codec, errors

serials = st.binary(min_size=16, max_size=16)


def refused(text: str) -> bool:
    try:
        codec.parse_short_code(text)
    except errors.ShortCodeInvalid:
        return True
    return False


@settings(max_examples=150, deadline=None)
@given(serials)
def test_every_single_substitution_at_every_place_is_caught(serial):
    stored = codec.short_code(serial)
    assert codec.parse_short_code(codec.format_short_code(stored)) == stored
    for place in range(len(stored)):
        for replacement in codec.CROCKFORD:
            if replacement != stored[place]:
                assert refused(stored[:place] + replacement + stored[place + 1:]), (stored, place, replacement)


@settings(max_examples=300, deadline=None)
@given(serials)
def test_every_adjacent_transposition_at_every_place_is_caught(serial):
    stored = codec.short_code(serial)
    for place in range(len(stored) - 1):
        swapped = stored[:place] + stored[place + 1] + stored[place] + stored[place + 2:]
        if swapped != stored:
            assert refused(swapped), (stored, place)


@pytest.mark.parametrize("place", range(13))
def test_every_pair_of_characters_at_every_place(place):
    """Exhaustive over the alphabet: for each place, each pair of distinct characters as
    the original and the typo (substitution), and as neighbours (transposition)."""
    base = list(codec.short_code(bytes(range(16))))
    for original in codec.CROCKFORD:
        for typo in codec.CROCKFORD:
            if typo == original:
                continue
            code = base[:12]
            if place < 12:
                code[place] = original
            digits = "".join(code)
            stored = digits + codec.check_character(digits)
            if typo != stored[place]:
                assert refused(stored[:place] + typo + stored[place + 1:])
            if place < 12:
                neighbour = list(stored)
                neighbour[place], neighbour[place + 1] = neighbour[place + 1], neighbour[place]
                if neighbour != list(stored):
                    assert refused("".join(neighbour))
