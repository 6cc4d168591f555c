"""The Rucio-dialect application, mounted by the native app under `/rucio`.

Point a Rucio client at it with `rucio_host = auth_host = http://<lake>/rucio`.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from lake import __version__
from lake.api.rucio import accounts, auth, dids, meta, replicas, rses, rules
from lake.api.rucio.errors import install_error_handlers
from lake.logic.services import Services


class StripTrailingSlash:
    """Serve `/rses/` and `/rses` alike: routes are declared without the slash upstream puts on some."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/") or "/")
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def create_rucio_app(services: Services) -> FastAPI:
    """Routers in matching order: DID suffix routes (meta included) before the bare DID route."""
    app = FastAPI(title="Lake (Rucio dialect)", version=__version__, redirect_slashes=False, openapi_url=None)
    app.state.services = services
    install_error_handlers(app)
    for module in (auth, accounts, rses, meta, replicas, rules, dids):
        app.include_router(module.router)
    app.add_middleware(StripTrailingSlash)
    return app
