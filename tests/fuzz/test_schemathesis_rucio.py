"""Fuzzing the Rucio dialect from the OpenAPI document it serves at /rucio/openapi.json, with root's Rucio token
and anonymously."""

from __future__ import annotations

import schemathesis
from fuzzing import CHECKS, FuzzLake, fuzz_config
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext, CheckFunction
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import ignored_auth, unsupported_method

from lake.api.app import create_app

schema = schemathesis.openapi.from_asgi("/rucio/openapi.json", create_app(None), config=fuzz_config())
ONE_CATALOG_PER_OPERATION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

# DID names may contain `/` (as upstream), so the DID routes read `{name:path}`: a method a suffix path does not
# declare can still reach the bare DID route of that method, for a DID named `<name>/<suffix>`. POST
# /dids/{scope}/{name}/files is POST /dids/{scope}/{name} adding a DID `run42/files` (400 KeyError: no `type`),
# and GET /dids/{scope}/{name}/meta/{key} is GET /dids/{scope}/{name} (404 for a DID `run42/meta/tier`). That is
# Rucio's URL design, not a missing 405: these (path, method) probes of `unsupported_method` are not checked for a
# 405; every other probe is, and what the shadowing calls answer is checked like any call's (documented answer, no
# server error, nothing written when refused).
SHADOWED_METHODS = {
    "/dids/{scope}/dids/search": {"POST"},  # POST /dids/{scope}/{name:path}
    "/dids/{scope}/{name}/files": {"POST"},
    "/dids/{scope}/{name}/parents": {"POST"},
    "/dids/{scope}/{name}/rules": {"POST"},
    "/dids/{scope}/{name}/associated_rules": {"POST"},
    "/dids/{scope}/{name}/status": {"POST", "GET"},  # and GET /dids/{scope}/{name:path}
    "/dids/{scope}/{name}/meta/{key}": {"GET"},
}
assert set(SHADOWED_METHODS) <= set(schema.raw_schema["paths"]), "a shadowed path is no longer in the document"


def unsupported_method_unless_shadowed(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """`unsupported_method`, but for the probes of `SHADOWED_METHODS`."""
    if response.request.method in SHADOWED_METHODS.get(case.operation.path, set()):
        return None
    return unsupported_method(ctx, response, case)


def dialect_checks(checks: list[CheckFunction]) -> list[CheckFunction]:
    return [unsupported_method_unless_shadowed if check is unsupported_method else check for check in checks]


# Upstream answers a missing token with 400 `ValueError` ("Token must be set."), which `ignored_auth`'s probes
# (the call again without the token) read as a token not enforced; the anonymous run shows that it is.
AUTHENTICATED_CHECKS = dialect_checks([check for check in CHECKS if check is not ignored_auth])
ANONYMOUS_CHECKS = dialect_checks(CHECKS)


@schema.parametrize()
@ONE_CATALOG_PER_OPERATION
def test_rucio_dialect_with_a_root_token_answers_by_its_schema(case: Case, fuzz_lake: FuzzLake) -> None:
    fuzz_lake.check(case, fuzz_lake.rucio_headers, AUTHENTICATED_CHECKS)


@schema.parametrize()
@ONE_CATALOG_PER_OPERATION
def test_rucio_dialect_anonymously_is_refused_by_its_schema_and_writes_nothing(case: Case, fuzz_lake: FuzzLake) -> None:
    fuzz_lake.check(case, {}, ANONYMOUS_CHECKS)
