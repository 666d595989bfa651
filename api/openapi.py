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

Request bodies (Structs with `forbid_unknown_fields=True`) say `additionalProperties:
false`.
"""
from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
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


def authenticates(handler: HTTPRouteHandler) -> bool:
    """Whether the operation needs a bearer token: it takes the `principal` dependency
    (a `roles()` guard alone would not authenticate: it leaves 401 to that dependency)."""
    takes_principal = PRINCIPAL_PARAMETER in handler.parsed_fn_signature.parameters
    require(takes_principal or not any(getattr(guard, "needs_principal", False) for guard in handler.resolve_guards()),
            f"{handler.handler_name}: a handler guarded by roles() takes `principal`")
    return takes_principal


def shared_answers(handler: HTTPRouteHandler) -> list[type[errors.DomainError]]:
    answers: list[type[errors.DomainError]] = [*DECODING, *OUTAGE]
    if authenticates(handler):
        answers.extend(AUTHENTICATION)
    if IDEMPOTENCY_PARAMETER in handler.parsed_fn_signature.parameters:
        answers.extend(IDEMPOTENCY)
    if any(getattr(guard, RATE_LIMITED_GUARD, False) for guard in handler.resolve_guards()):
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


def document(app: Litestar) -> None:
    """Complete every documented operation with what all operations share (see the
    module docstring). Called once by `create_app`, before the document is first built."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            handler.responses = merged(dict(handler.responses or {}), api_errors.problems(shared_answers(handler)))
            if authenticates(handler):
                handler.security = SECURITY
