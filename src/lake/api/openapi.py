"""What the native API's OpenAPI document says besides FastAPI's defaults: Lake's error answers (a malformed
request is 400 `InvalidInput`, never FastAPI's 422), NDJSON listings, form bodies and parameter examples."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel

from lake.core.errors import ERRORS_BY_CODE

NDJSON = "application/x-ndjson"
# Every status a Lake error has (a 500 is a bug, never a documented answer).
ERROR_STATUSES = sorted({error.status for error in ERRORS_BY_CODE.values()} - {500})


class ErrorOut(BaseModel):
    """Every Lake error: a stable `code` (the client raises the class of that name), a message, and whether a
    retry may help."""

    code: str
    message: str
    retryable: bool
    details: dict[str, Any] | None = None


def error_responses() -> dict[int | str, dict[str, Any]]:
    """The error answers every route may give (`include_router(..., responses=...)`): JSON, even where the
    route's own answer is not (an NDJSON listing, an HTML page)."""
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    return {status: {"description": HTTPStatus(status).phrase, "content": content} for status in ERROR_STATUSES}


class OAuthErrorOut(BaseModel):
    """An RFC 6749 error (the OAuth endpoints' refusals)."""

    error: str
    error_description: str


def oauth_responses() -> dict[int | str, dict[str, Any]]:
    """An OAuth endpoint's answers: a JSON object, RFC 6749 errors on 400 and 401, Lake's errors otherwise."""
    either = {"anyOf": [{"$ref": "#/components/schemas/OAuthErrorOut"}, {"$ref": "#/components/schemas/ErrorOut"}]}
    oauth = {"content": {"application/json": {"schema": either}}}
    answer = {
        "description": "The endpoint's JSON answer",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    return {200: answer, 400: {"description": "Bad Request", **oauth}, 401: {"description": "Unauthorized", **oauth}}


def html_responses() -> dict[int | str, dict[str, Any]]:
    """A web page's error answers: the page again, with the error's message."""
    page = {"text/html": {"schema": {"type": "string"}}}
    return {status: {"description": HTTPStatus(status).phrase, "content": page} for status in ERROR_STATUSES}


def form_body(fields: str, required: tuple[str, ...] = (), **special: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` of a route that parses a form-encoded body itself: string `fields` (space-separated names),
    some with a `special` schema."""
    properties = {name: {"type": "string"} for name in fields.split()}
    properties |= {name: {"type": "string"} | spec for name, spec in special.items()}
    schema = {"type": "object", "properties": properties} | ({"required": list(required)} if required else {})
    return {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}}


class NDJSONResponse(Response):
    """Only documents a listing: routes return `deps.ndjson`'s stream, which has this media type."""

    media_type = NDJSON


def ndjson_of(model: type[BaseModel]) -> dict[str, Any]:
    """Route arguments for a listing streamed as NDJSON, one `model` per line: its `schema` is the stream read as
    an array (as OpenAPI 3.2 reads a sequential media type's `schema`)."""
    description = f"One {model.__name__} per line (none: an empty body)."
    listing = list[model]  # type: ignore[valid-type]
    return {"response_class": NDJSONResponse, "responses": {200: {"model": listing, "description": description}}}


# Examples of the parameters many routes take, named as in the README (`make up` creates the RSEs, alice and her
# scope): they show the expected shape, and a fuzzer's examples phase calls each operation with them.
PARAMETER_EXAMPLES = {
    "scope": "user.alice",
    "name": "run42",
    "rse": "CERN-DISK",
    "account": "alice",
    "key": "tier",
    "scheme": "http",
    "expression": "tier=1",
    "rse_expression": "tier=1",
    "source": "CERN-DISK",
    "destination": "DESY-DISK",
}


def add_parameter_examples(document: dict[str, Any]) -> None:
    """`PARAMETER_EXAMPLES` on every parameter of those names without an example of its own (a `name` outside a
    `{scope}` path names an account)."""
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                name = parameter["name"]
                if name in PARAMETER_EXAMPLES and "example" not in parameter and "examples" not in parameter:
                    account = name == "name" and "{scope}" not in path
                    parameter["example"] = PARAMETER_EXAMPLES["account" if account else name]


def install_openapi(app: FastAPI) -> None:
    """Generate the document once, with Lake's error schemas and the parameters' examples (the bearer scheme comes
    from `deps.current_caller`, on every route that needs a token)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas |= {model.__name__: model.model_json_schema() for model in (ErrorOut, OAuthErrorOut)}
            add_parameter_examples(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
