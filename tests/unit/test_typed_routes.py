"""Every documented operation answers a typed body: a msgspec Struct, a page or list of
them, or bytes (a rendering); never a dict. Every timestamp (`*_at`) a body carries is
a `datetime` field, so the document says `format: date-time` and msgspec encodes it."""
from __future__ import annotations

import asyncio
import dataclasses
import types
from datetime import datetime
from typing import Any, Union, get_args, get_origin, get_type_hints

import msgspec
import pytest
from litestar import Response
from litestar.datastructures import MultiDict

from api.app import create_app
from api.auth import Principal
from api.settings import Settings
from ledger import errors

NO_DATABASE = "postgresql://unused@127.0.0.1:1/unused"   # building the app connects to nothing
APP = create_app(Settings(), database_url=NO_DATABASE)
HANDLERS = sorted(((route.path, handler) for route in APP.routes for handler in getattr(route, "route_handlers", [])
                   if handler.resolve_include_in_schema()), key=lambda pair: (pair[0], pair[1].fn.__name__))
UNIONS = (Union, types.UnionType)


def is_struct(kind: Any) -> bool:
    shape = get_origin(kind) or kind
    return isinstance(shape, type) and issubclass(shape, msgspec.Struct)


def typed_answer(kind: Any) -> bool:
    """A Struct (or a generic one), a dataclass, bytes, or Response/list/union of those."""
    if kind is bytes or is_struct(kind) or dataclasses.is_dataclass(kind):
        return True
    if get_origin(kind) in (Response, list, *UNIONS):
        return all(typed_answer(arg) for arg in get_args(kind))
    return False


def structs_in(kind: Any, seen: set[type]) -> set[type]:
    """Every Struct reachable from `kind` (fields, lists, unions, generics)."""
    shape = get_origin(kind) or kind
    if isinstance(shape, type) and issubclass(shape, msgspec.Struct) and shape not in seen:
        seen.add(shape)
        for hint in get_type_hints(shape).values():
            structs_in(hint, seen)
    for arg in get_args(kind):
        structs_in(arg, seen)
    return seen


def without_absence(kind: Any) -> set[Any]:
    """A field's types once None and UNSET are set aside."""
    choices = get_args(kind) if get_origin(kind) in UNIONS else (kind,)
    return {choice for choice in choices if choice not in (type(None), msgspec.UnsetType)}


def test_the_app_documents_its_operations():
    assert len(HANDLERS) > 70


@pytest.mark.parametrize("path, handler", HANDLERS, ids=lambda value: getattr(getattr(value, "fn", None),
                                                                                  "__name__", value))
def test_every_operation_answers_a_typed_body(path, handler):
    answer = handler.parsed_fn_signature.return_type.annotation
    assert typed_answer(answer), f"{path} {handler.fn.__name__} answers {answer}"


def test_every_timestamp_in_an_answer_is_a_datetime():
    structs: set[type] = set()
    for _, handler in HANDLERS:
        structs_in(handler.parsed_fn_signature.return_type.annotation, structs)
    timestamps = {(struct.__name__, name): hint for struct in structs
                  for name, hint in get_type_hints(struct).items() if name.endswith("_at")}
    assert len(timestamps) > 20
    wrong = {key: hint for key, hint in timestamps.items() if without_absence(hint) != {datetime}}
    assert not wrong


def test_a_dict_answer_is_caught():
    assert not typed_answer(dict[str, Any])
    assert not typed_answer(Response[dict[str, Any]])
    assert not typed_answer(Any)


def test_every_handler_resolves_its_dependencies_one_at_a_time():
    """No task group per request (`resolve_dependencies_in_turn`): every batch holds one
    dependency, and a handler's service and caller are among them."""
    models = [model for route in APP.routes for _, model in getattr(route, "route_handler_map", {}).values()]
    assert models
    for model in models:
        assert all(len(batch) == 1 for batch in model.dependency_batches)
    keys = {dependency.key for model in models for batch in model.dependency_batches for dependency in batch}
    assert {"principal", "ledger", "merchants", "vouchers"} <= keys


def guarded_handlers() -> list[Any]:
    """Every handler whose declaration names guards (its own, its controller's or router's)."""
    return [handler for route in APP.routes for handler, _ in getattr(route, "route_handler_map", {}).values()
            if any(layer.guards for layer in handler.ownership_layers)]


class Connection:
    """What `roles(...)` and the app's `before_request` read of a GET whose caller is
    already known."""

    def __init__(self, role: str) -> None:
        self.state = {"principal": Principal(token_id=1, role=role, realm="430102")}
        self.scope = {"type": "http", "method": "GET", "path_params": {}}
        self.query_params = MultiDict()
        self.path_params: dict[str, Any] = {}


def test_guards_run_on_the_handler_itself_before_the_request_is_read(monkeypatch):
    """`guards_without_copies`: no `copy(handler)` per guard per request; the guards run
    in the handler's `before_request` (still before its parameters and body are read),
    and the role guard answers as it did: the roles it names pass, another is refused."""
    import litestar.handlers.base

    def no_copy(_: Any) -> Any:
        raise AssertionError("a guard was handed a copy of its handler")

    monkeypatch.setattr(litestar.handlers.base, "copy", no_copy)
    handlers = guarded_handlers()
    assert len(handlers) > 50
    for handler in handlers:
        assert handler.resolve_guards() == [], handler
        assert handler.resolve_before_request() is not None, handler
    entry = next(handler for handler in handlers if handler.fn.__name__ == "read_entry")
    for role in ("admin", "auditor"):
        asyncio.run(entry.resolve_before_request()(Connection(role)))
    with pytest.raises(errors.Forbidden):
        asyncio.run(entry.resolve_before_request()(Connection("merchant")))


def test_a_guarded_write_looks_its_caller_up_once():
    """The role guard, the auditor rule and the handler's `principal` share one look-up
    (the request's state), not one each."""
    from types import SimpleNamespace

    from litestar.datastructures import State

    class Counting:
        calls = 0

        async def principal(self, authorization: str | None) -> Principal:
            self.calls += 1
            return Principal(token_id=1, role="admin", realm="430102")

    authenticator = Counting()
    request = SimpleNamespace(state=State(), scope={"type": "http", "method": "POST", "path_params": {}},
                              headers={"authorization": "Bearer t"}, path_params={}, query_params=MultiDict(),
                              app=SimpleNamespace(state=SimpleNamespace(authenticator=authenticator)))
    entries = next(handler for handler in guarded_handlers() if handler.fn.__name__ == "create_entry")
    asyncio.run(entries.resolve_before_request()(request))
    assert authenticator.calls == 1
