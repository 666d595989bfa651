"""`api.decoding.check_json`: what it refuses in a decoded body, and the place it names."""
from __future__ import annotations

import pytest

from api import decoding


def refusal(document) -> decoding.errors.DomainError:
    with pytest.raises(decoding.errors.DomainError) as raised:
        decoding.check_json(document)
    return raised.value


def test_an_ordinary_body_passes():
    decoding.check_json({"realm": "430102", "postings": [{"account_id": 7, "amount": -5}, {"amount": 5}],
                         "memo": "冬季", "flag": True, "ratio": 1.5, "none": None,
                         "edge": [decoding.BIGINT_MIN, decoding.BIGINT_MAX]})


@pytest.mark.parametrize("document, code, place", [
    ({"postings": [{"amount": 1}, {"amount": 2 ** 63}]}, "number_out_of_range", "$.postings[1].amount"),
    ([[-(2 ** 63) - 1]], "number_out_of_range", "$[0][0]"),
    ({"memo": "a\x00b"}, "invalid_text", "$.memo"),
    ({"lines": [{"k\x00ey": 1}]}, "invalid_text", "$.lines[0]"),
    ("\x00", "invalid_text", "$"),
])
def test_a_refusal_names_its_place(document, code, place):
    error = refusal(document)
    assert error.code == code
    assert error.context["field"] == place


def test_depth_is_bounded_whatever_the_input():
    deep: list = []
    for _ in range(decoding.JSON_DEPTH_MAX * 100):
        deep = [deep]
    assert refusal(deep).code == "json_too_deep"
    shallow: list = []
    for _ in range(decoding.JSON_DEPTH_MAX - 1):
        shallow = [shallow]
    decoding.check_json(shallow)


def test_a_boolean_is_not_an_integer_out_of_range():
    decoding.check_json({"yes": True, "no": False})
