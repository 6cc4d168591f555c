"""The FastAPI application factory for Lake's native API (v1)."""

from __future__ import annotations

from fastapi import FastAPI

from lake import __version__
from lake.api.errors import error_response, install_error_handlers
from lake.api.openapi import error_responses, install_openapi
from lake.api.request_limits import V1_BULK, BodyLimits
from lake.api.rucio.app import create_rucio_app
from lake.api.v1 import auth, caches, dids, groups, keys, oauth, replicas, rses, rules, transfers
from lake.core.settings import LimitSettings
from lake.logic.services import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="Lake", version=__version__)
    app.state.services = services
    install_error_handlers(app)
    for module in (auth, caches, dids, groups, keys, oauth, rses, replicas, rules, transfers):
        app.include_router(module.router, responses=error_responses())
    install_openapi(app)
    app.mount("/rucio", create_rucio_app(services))  # Rucio's REST dialect (docs/api.md)
    limits = services.settings.limits if services is not None else LimitSettings()
    app.add_middleware(BodyLimits, limits=limits, render=error_response, bulk=V1_BULK, skip="/rucio")
    return app
