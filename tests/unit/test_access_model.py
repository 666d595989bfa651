"""Enrolment codes: the check character catches every single wrong character and every
swap of neighbours, at every position; typing is forgiving about case and dashes."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from access import errors, model

bodies = st.text(alphabet=model.CODE_ALPHABET, min_size=model.CODE_LENGTH - 1,
                 max_size=model.CODE_LENGTH - 1)


@given(bodies)
def test_every_single_wrong_character_is_caught(body: str) -> None:
    code = body + model.check_character(body)
    assert model.code_is_consistent(code)
    for position in range(len(code)):
        for symbol in model.CODE_ALPHABET:
            if symbol != code[position]:
                typo = code[:position] + symbol + code[position + 1:]
                assert not model.code_is_consistent(typo), (code, typo)


@given(bodies)
def test_every_swap_of_neighbours_is_caught(body: str) -> None:
    code = body + model.check_character(body)
    for position in range(len(code) - 1):
        if code[position] != code[position + 1]:
            swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
            assert not model.code_is_consistent(swapped), (code, swapped)


def test_codes_have_no_symbols_and_type_back_in_any_case() -> None:
    code = model.new_code()
    assert len(code) == model.CODE_LENGTH and code.isalnum()
    shown = model.formatted(code)
    assert shown.count("-") == 2
    assert model.normalize_code(" " + shown.lower() + " ") == code


@pytest.mark.parametrize("typed", ["", "ABCD", "0000-0000-0000", "x" * 100])
def test_a_mistyped_code_is_refused_before_any_look_up(typed: str) -> None:
    with pytest.raises(errors.EnrolmentCodeInvalid):
        model.normalize_code(typed)


def test_a_device_token_is_renewed_at_most_once_a_day() -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    lifetime = model.DEVICE_TOKEN_LIFETIME_S_DEFAULT
    assert not model.needs_renewal(now + timedelta(seconds=lifetime - 3600), now, lifetime)
    assert model.needs_renewal(now + timedelta(days=100), now, lifetime)
    assert not model.needs_renewal(None, now, lifetime)
