"""The FastAPI application factory for Lake's native API (v1)."""

from __future__ import annotations

from fastapi import FastAPI

from lake import __version__
from lake.api.errors import install_error_handlers
from lake.api.rucio.app import create_rucio_app
from lake.api.v1 import auth, caches, dids, groups, keys, oauth, replicas, rses, rules, transfers
from lake.logic.services import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="Lake", version=__version__)
    app.state.services = services
    install_error_handlers(app)
    for module in (auth, caches, dids, groups, keys, oauth, rses, replicas, rules, transfers):
        app.include_router(module.router)
    app.mount("/rucio", create_rucio_app(services))  # Rucio's REST dialect (docs/api.md)
    return app
