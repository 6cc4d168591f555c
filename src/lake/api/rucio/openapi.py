"""The Rucio dialect's OpenAPI document, served at `/rucio/openapi.json`.

FastAPI describes the paths and the parameters it parses; `openapi_routes.ROUTES` adds what the routes read and
answer themselves, and every operation gets Rucio's errors: the `ExceptionClass` and `ExceptionMessage` headers
and the same two fields as a JSON body (sent as `application/octet-stream`, as upstream does).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from lake.api.openapi import add_parameter_examples
from lake.api.rucio.errors import RUCIO_ERRORS
from lake.api.rucio.openapi_routes import ROUTES, STR, JsonSchema, Op

# Every status a Rucio error has, besides those the dialect raises in its own words (a 500 is a bug).
ERROR_STATUSES = sorted({status for _, status in RUCIO_ERRORS.values()} - {500} | {400, 401, 404, 409})
ERROR_OUT = {
    "type": "object",
    "required": ["ExceptionClass", "ExceptionMessage"],
    "properties": {"ExceptionClass": STR, "ExceptionMessage": STR},
}
ERROR_HEADERS = {
    "ExceptionClass": {"required": True, "schema": STR, "description": "the exception the client raises"},
    "ExceptionMessage": {"required": True, "schema": STR, "description": "its message, cut to 125 characters"},
}
# Who may call: Rucio's session token, or a bearer JWT (Lake's tokens work in both dialects).
SECURITY: list[dict[str, list[str]]] = [{"rucio_token": []}, {"bearer": []}]
UNDECLARED_TOKEN = {"GET /auth/validate"}  # public routes (no `rucio_caller`) that read the token themselves


def error_responses() -> dict[str, Any]:
    content = {"application/octet-stream": {"schema": {"$ref": "#/components/schemas/RucioErrorOut"}}}
    return {
        str(status): {"description": "a Rucio error", "headers": ERROR_HEADERS, "content": content}
        for status in ERROR_STATUSES
    }


def _responses(op: Op) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, content in op.answers.items():
        response: dict[str, Any] = {"description": "success"}
        if content is not None:
            response["content"] = content
        if op.answer_headers:
            response["headers"] = {
                name: {"required": True, "schema": schema} for name, schema in op.answer_headers.items()
            }
        responses[str(status)] = response
    return responses | error_responses()


def _parameters(op: Op) -> list[dict[str, Any]]:
    query = [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in op.query.items()]
    headers = [
        {"name": name, "in": "header", "required": required, "schema": schema}
        for name, (schema, required) in op.headers.items()
    ]
    return query + headers


def describe(operation: dict[str, Any], op: Op) -> None:
    """Complete FastAPI's description of one operation with `op` (its 422 goes: errors are Rucio's 400)."""
    operation["responses"] = _responses(op)
    operation["parameters"] = operation.get("parameters", []) + _parameters(op)
    if not operation["parameters"]:
        del operation["parameters"]
    if op.body is not None:
        schema: JsonSchema = op.body
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": schema}}}


def rucio_openapi(app: FastAPI) -> dict[str, Any]:
    """The whole document; an operation `ROUTES` does not describe is a programming error (KeyError)."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path}"
            describe(operation, ROUTES[key])
            if key in UNDECLARED_TOKEN:
                operation["security"] = SECURITY
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["RucioErrorOut"] = ERROR_OUT
    components["schemas"].pop("HTTPValidationError", None)
    components["schemas"].pop("ValidationError", None)
    add_parameter_examples(document)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve `rucio_openapi(app)` (built once) at the app's `openapi_url`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = rucio_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
