"""The Rucio-dialect application, mounted by the native app under `/rucio`.

Point a Rucio client at it with `rucio_host = auth_host = http://<lake>/rucio`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lake import __version__
from lake.api.request_limits import RUCIO_BULK, BodyLimits
from lake.api.rucio import accounts, admin_accounts, admin_rses, auth, dids, limits, meta, replicas, rses, rules
from lake.api.rucio.errors import RucioError, error_response, install_error_handlers
from lake.api.rucio.openapi import install_openapi
from lake.core.errors import LakeError
from lake.core.settings import LimitSettings
from lake.logic.services import Services


class NormalizeSlashes:
    """Serve `/rses/` and `/rses` alike (routes are declared without the slash upstream puts on some), and
    `//rules/` as `/rules/`: the JupyterLab extension joins `rucio_base_url` with `/rules/` by string concatenation
    but other paths with `urljoin`, which needs a trailing slash on a base URL that has a path (`.../rucio/`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            route = _normalized(scope.get("path", "")[len(root) :])
            scope = dict(scope, path=root + route)
            raw = scope.get("raw_path")
            if raw:
                raw_root = root.encode("latin-1")
                scope["raw_path"] = raw_root + _normalized(raw[len(raw_root) :].decode("latin-1")).encode("latin-1")
        await self.app(scope, receive, send)


def _normalized(route: str) -> str:
    """One leading slash, no trailing one (DID names may contain `//` further on: only the ends change)."""
    if route.startswith("//"):
        route = "/" + route.lstrip("/")
    if len(route) > 1 and route.endswith("/"):
        route = route.rstrip("/") or "/"
    return route


def create_rucio_app(services: Services) -> FastAPI:
    """Routers in matching order: DID suffix routes (meta included) before the bare DID route."""
    app = FastAPI(title="Lake (Rucio dialect)", version=__version__, redirect_slashes=False)
    app.state.services = services
    install_error_handlers(app)
    for module in (auth, accounts, admin_accounts, limits, rses, admin_rses, meta, replicas, rules, dids):
        app.include_router(module.router)
    install_openapi(app)  # at /rucio/openapi.json
    bounds = services.settings.limits if services is not None else LimitSettings()
    app.add_middleware(BodyLimits, limits=bounds, render=_render, bulk=RUCIO_BULK)
    app.add_middleware(NormalizeSlashes)  # outermost: the limits see normalized paths
    return app


def _render(error: LakeError) -> Response:
    return error_response(RucioError.from_lake(error))
