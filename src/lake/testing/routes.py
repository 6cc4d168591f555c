"""Walk an app's routes, for tests that check every route of an API (e.g. that each one has a policy)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute among `routes` (an app's `router.routes`) and, recursively, in the routers they mount."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        for attr in ("original_router", "routes"):
            inner = getattr(route, attr, None)
            if inner is not None and hasattr(inner, "routes"):
                yield from api_routes(inner.routes)


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    """The callables of a route's dependency tree (its `route.dependant`), the endpoint first."""
    yield dependant.call
    for sub in dependant.dependencies:
        yield from dependency_calls(sub)
