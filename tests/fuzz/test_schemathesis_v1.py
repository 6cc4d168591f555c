"""Fuzzing the native API (v1) from the OpenAPI document it serves, as an administrator and anonymously."""

from __future__ import annotations

import schemathesis
from fuzzing import FuzzLake, fuzz_config
from hypothesis import HealthCheck, settings
from schemathesis.generation.case import Case

from lake.api.app import create_app

# The document is read from an app without services (describing routes needs none); each test then calls
# its own app, on a fresh seeded catalog (`fuzz_lake`).
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(None), config=fuzz_config())
ONE_CATALOG_PER_OPERATION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@schema.parametrize()
@ONE_CATALOG_PER_OPERATION
def test_v1_as_admin_answers_by_its_schema_without_server_errors(case: Case, fuzz_lake: FuzzLake) -> None:
    fuzz_lake.check(case, fuzz_lake.admin_headers)


@schema.parametrize()
@ONE_CATALOG_PER_OPERATION
def test_v1_anonymously_is_refused_by_its_schema_and_writes_nothing(case: Case, fuzz_lake: FuzzLake) -> None:
    fuzz_lake.check(case, {})
