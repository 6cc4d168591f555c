"""What both dialects' fuzz tests share: the bounded configuration, the checks, and the lake under test.

Bounded for CI: a fixed seed, derandomized generation, `MAX_EXAMPLES` per operation and no example database,
so a run is the same every time and stops by itself.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field

import orjson
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlalchemy import select

from lake.db.schema import metadata
from lake.logic.services import Services

SEED = 20260214
MAX_EXAMPLES = 10
CONFIG = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
}
# No 5xx; status, media type, headers and body as documented; an undocumented method is 405 with `Allow`; a
# documented required header is required; a route that declares a token refuses calls without one (or with a bad
# one). Not used: `positive_data_acceptance` (a schema cannot say everything a name, an RSE expression or a filter
# must be, so a schema-valid request may be refused with 400) and `negative_data_rejection` (pydantic reads 0/1 as
# booleans and booleans as integers, which no schema can state).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, unsupported_method, missing_required_header, ignored_auth]  # fmt: skip
# Bookkeeping a refusal may write on purpose: a device poll's refusal (`slow_down`) records the poll time.
UNFINGERPRINTED = {"device_codes"}


@schemathesis.deserializer("application/x-ndjson", "application/x-json-stream")
def json_lines(_ctx: object, response: Response) -> list[object]:
    """A streamed listing, one JSON value per line, as the array its `schema` describes (`json`, not `orjson`:
    Rucio's usage rows may hold the token `Infinity`)."""
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]


@schemathesis.deserializer("application/octet-stream")
def rucio_error(_ctx: object, response: Response) -> object:
    """Rucio's errors: a JSON body sent as `application/octet-stream` (as upstream does)."""
    return orjson.loads(response.content)


def fuzz_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(CONFIG)


class Fingerprint:
    """A digest of every catalog row: equal before and after a call that wrote nothing.

    On SQLite, `PRAGMA data_version`, read on a connection of our own, changes when any other connection commits:
    the digest is recomputed only after a commit (most fuzzed calls commit nothing), which keeps the fuzz fast.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        path = services.db.engine.url.database if services.db.is_sqlite else None
        self.watch = sqlite3.connect(path, check_same_thread=False) if path else None
        self.version: int | None = None
        self.digest = ""

    def __call__(self) -> str:
        version = self._version()
        if version is None or version != self.version:
            self.version, self.digest = version, self._compute()
        return self.digest

    def _version(self) -> int | None:
        return None if self.watch is None else int(self.watch.execute("PRAGMA data_version").fetchone()[0])

    def _compute(self) -> str:
        digest = hashlib.sha256()
        with self.services.db.engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name in UNFINGERPRINTED:
                    continue
                rows = conn.execute(select(table).order_by(*table.primary_key.columns or table.columns)).all()
                digest.update(f"{table.name}:{rows!r}".encode())
        return digest.hexdigest()

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()


@dataclass
class FuzzLake:
    """The app under test, its services, and the headers an administrator sends in each dialect."""

    app: FastAPI
    services: Services
    admin_headers: dict[str, str]
    rucio_headers: dict[str, str]
    fingerprint: Fingerprint
    client: asgi.ASGIClient = field(init=False)

    def __post_init__(self) -> None:
        # One in-process client for every call, so that no call pays for a session of its own (the checks' probes,
        # `ignored_auth` calling again without the token, get this app by `transport_kwargs`).
        self.client = asgi.get_client(self.app).__enter__()
        self.client.trust_env = False

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        asgi.shutdown_lifespans()  # else every operation's app stays registered until the process ends
        self.fingerprint.close()

    def check(self, case: Case, headers: dict[str, str], checks: list[CheckFunction] = CHECKS) -> Response:
        """Call, run the `checks`, and check that a refused call (any non-2xx answer) wrote nothing."""
        before = self.fingerprint()
        response = case.call(session=self.client, headers=headers)
        case.validate_response(response, checks=checks, headers=headers, transport_kwargs={"app": self.app})
        if not 200 <= response.status_code < 300:
            assert self.fingerprint() == before, f"{case.method} {case.formatted_path} -> {response.status_code} wrote"
        return response
