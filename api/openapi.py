"""The OpenAPI document (`/schema/openapi.json`) and the docs pages that render it.

Each operation declares what it answers: its Struct return type gives the 2xx schema,
`responses=problems(...)` the domain errors it can refuse with. `document(app)` adds
what every operation shares, so no handler repeats it:

- 400 for a request that does not decode (`invalid_request`, `malformed_json`, a NUL
  character, a number beyond 64 bits, nesting too deep), replacing Litestar's own 400
  shape (the service never sends it);
- 401 and 403 and the bearer scheme on every operation that authenticates (it takes
  the `principal` dependency); public ones have none;
- 409/422 for the Idempotency-Key on operations that take one (its parameter is
  documented as required);
- 429 where a rate-limit guard sits, 503 everywhere (database unreachable, overloaded).

Each operation's 2xx JSON answer carries an example built from its return type
(`example_of`); request bodies (Structs with `forbid_unknown_fields=True`) say
`additionalProperties: false`.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from http import HTTPStatus
from typing import Any, TypeVar

import msgspec
from litestar import Litestar, Response
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, Example, SecurityScheme
from litestar.routes import HTTPRoute

from access import errors as access_errors
from api import decoding
from api import errors as api_errors
from api.limits import RATE_LIMITED_GUARD
from ledger import errors
from ledger.require import require

BEARER = "bearer"
SECURITY = [{BEARER: []}]
IDEMPOTENCY_PARAMETER = "idempotency_key"
PRINCIPAL_PARAMETER = "principal"

DECODING = (api_errors.InvalidRequest, api_errors.MalformedJson, decoding.InvalidText,
            decoding.NumberOutOfRange, decoding.JsonTooDeep)
AUTHENTICATION = (errors.Unauthorized, access_errors.TokenRevoked, access_errors.TokenExpired, errors.Forbidden)
IDEMPOTENCY = (errors.IdempotencyKeyRequired, errors.InvalidIdempotencyKey, errors.IdempotencyKeyReused)
OUTAGE = (api_errors.DatabaseUnavailable, errors.Overloaded)

VENDOR = "/static/vendor"
# The API docs pages load their scripts from the service's own vendored files (never a
# CDN: a page on this origin can read the tokens the web pages keep in localStorage, and
# a CDN may be unreachable offline or in much of mainland China). `/schema` is Redoc.
OPENAPI_CONFIG = OpenAPIConfig(
    title="Points Bank", version="0.1.0", path="/schema",
    description="Errors are `application/problem+json` with a stable `code`; "
                "authenticate with `Authorization: Bearer <token>`.",
    components=Components(security_schemes={BEARER: SecurityScheme(
        type="http", scheme="bearer", description="a device token (shown once when it is made)")}),
    render_plugins=[
        RedocRenderPlugin(js_url=f"{VENDOR}/redoc/redoc.standalone.js", google_fonts=False, path="/redoc",
                          favicon=""),
        SwaggerRenderPlugin(js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
                            css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
                            standalone_preset_js_url=f"{VENDOR}/swagger-ui/swagger-ui-standalone-preset.js",
                            path="/swagger", favicon=""),
    ])


class StrictStructSchema(StructSchemaPlugin):
    """A Struct that forbids unknown fields (every request body) says so in its schema."""

    def is_plugin_supported_field(self, field_definition: Any) -> bool:
        return (super().is_plugin_supported_field(field_definition)
                and msgspec.inspect.type_info(field_definition.type_).forbid_unknown_fields)

    def to_openapi_schema(self, field_definition: Any, schema_creator: Any) -> Any:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        component = schema_creator.schema_registry.from_reference(schema).schema if hasattr(schema, "ref") else schema
        component.additional_properties = False
        return schema


def declared_guards(handler: HTTPRouteHandler) -> list[Any]:
    """The guards a handler's layers declare (`guards_without_copies` runs them from its
    `before_request`, so Litestar's `resolve_guards` answers none)."""
    return [guard for layer in handler.ownership_layers for guard in layer.guards or []]


def authenticates(handler: HTTPRouteHandler) -> bool:
    """Whether the operation needs a bearer token: it takes the `principal` dependency
    (a `roles()` guard alone would not authenticate: it leaves 401 to that dependency)."""
    takes_principal = PRINCIPAL_PARAMETER in handler.parsed_fn_signature.parameters
    require(takes_principal or not any(getattr(guard, "needs_principal", False) for guard in declared_guards(handler)),
            f"{handler.handler_name}: a handler guarded by roles() takes `principal`")
    return takes_principal


def shared_answers(handler: HTTPRouteHandler) -> list[type[errors.DomainError]]:
    answers: list[type[errors.DomainError]] = [*DECODING, *OUTAGE]
    if authenticates(handler):
        answers.extend(AUTHENTICATION)
    if IDEMPOTENCY_PARAMETER in handler.parsed_fn_signature.parameters:
        answers.extend(IDEMPOTENCY)
    if any(getattr(guard, RATE_LIMITED_GUARD, False) for guard in declared_guards(handler)):
        answers.append(errors.RateLimited)
    return answers


def merged(own: dict[int, ResponseSpec], shared: dict[int, ResponseSpec]) -> dict[int, ResponseSpec]:
    """The operation's own problems and the shared ones, one response per status."""
    result = dict(shared)
    for status, spec in own.items():
        if status in shared and spec.data_container is api_errors.Problem:
            result[status] = api_errors.problem_spec(status, sorted(set(_codes(spec)) | set(_codes(shared[status]))))
        else:
            result[status] = spec
    return result


def _codes(spec: ResponseSpec) -> list[str]:
    return [example.summary for example in spec.examples or [] if example.summary]


EXAMPLE_TIME = "2026-11-28T09:30:00+08:00"
EXAMPLE_DATE = "2026-11-28"
EXAMPLE_TEXTS = {"realm": "430104", "code": "430104", "asset": "civic", "timezone": "Asia/Shanghai",
                 "month": "2026-11", "alg": "Ed25519", "next_cursor": "MTI"}


def example_of(annotation: Any, name: str = "", bindings: dict[Any, Any] | None = None) -> Any:
    """A plausible value of `annotation` (a Struct, a dataclass, a list, ...), the same for
    every build of the document: what the docs pages show for an answer."""
    bindings = bindings or {}
    if isinstance(annotation, TypeVar):
        return example_of(bindings.get(annotation, Any), name)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        present = [arg for arg in args if arg not in (type(None), msgspec.UnsetType)]
        return example_of(present[0], name, bindings) if present else None
    if origin is list:
        return [example_of(args[0], name, bindings)]
    if origin is dict:
        return {"civic": example_of(args[1], name, bindings)}
    cls = origin or annotation
    if isinstance(cls, type) and (issubclass(cls, msgspec.Struct) or dataclasses.is_dataclass(cls)):
        return _object_example(cls, dict(zip(getattr(cls, "__parameters__", ()), args)))
    return _scalar_example(annotation, name)


def _object_example(cls: type, bindings: dict[Any, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    names = (cls.__struct_fields__ if issubclass(cls, msgspec.Struct)
             else tuple(field.name for field in dataclasses.fields(cls)))
    shown = getattr(cls, "__struct_encode_fields__", names)   # a renamed field (`from`) under its JSON name
    example = {key: example_of(hints[name], name, bindings) for name, key in zip(names, shown)
               if msgspec.UnsetType not in typing.get_args(hints[name])}
    config = getattr(cls, "__struct_config__", None)
    if config is not None and config.tag_field is not None:   # a tagged union's member says which
        example[config.tag_field] = config.tag
    return example


def _scalar_example(annotation: Any, name: str) -> Any:
    if annotation is bool:
        return True
    if annotation is int:
        return 1
    if annotation is float:
        return 0.5
    if annotation is datetime:
        return EXAMPLE_TIME
    if annotation is date:
        return EXAMPLE_DATE
    if annotation is type(None):
        return None
    return EXAMPLE_TEXTS.get(name, name or "text")


def example_value(annotation: Any) -> Any:
    """`example_of` as an instance of `annotation` when msgspec can build one: encoded as
    the service would encode it (a null field stays; Litestar drops None from dicts)."""
    value = example_of(annotation)
    try:
        return msgspec.convert(value, annotation)
    except (TypeError, msgspec.ValidationError):   # a union of Structs (a dataclass answer)
        return value


def success_example(handler: HTTPRouteHandler) -> dict[int, ResponseSpec]:
    """The handler's 2xx answer, with an example (binary answers are left as they are)."""
    returned = handler.parsed_fn_signature.return_type
    if returned.is_subclass_of(Response):
        returned = returned.inner_types[0] if returned.inner_types else returned
    if returned.annotation in (bytes, Any) or (handler.media_type and handler.media_type != "application/json"):
        return {}
    return {handler.status_code: ResponseSpec(
        data_container=returned.annotation, generate_examples=False,
        description=HTTPStatus(handler.status_code).phrase,
        examples=[Example(summary="an answer", value=example_value(returned.annotation))])}


def with_examples(responses: dict[int, ResponseSpec]) -> dict[int, ResponseSpec]:
    """Other 2xx answers an operation declared (`responses=`), given their example too."""
    return {status: dataclasses.replace(spec, examples=[Example(summary="an answer",
                                                                value=example_value(spec.data_container))])
            if 200 <= status < 300 and not spec.examples and spec.data_container is not None else spec
            for status, spec in responses.items()}


def document(app: Litestar) -> None:
    """Complete every documented operation with what all operations share (see the
    module docstring). Called once by `create_app`, before the document is first built."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            own = {**success_example(handler), **with_examples(dict(handler.responses or {}))}
            handler.responses = merged(own, api_errors.problems(shared_answers(handler)))
            if authenticates(handler):
                handler.security = SECURITY
