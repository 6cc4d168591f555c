"""Run one endpoint with uvicorn (https when a certificate and key are configured)."""

from __future__ import annotations

import uvicorn

from lake.core.settings import EndpointSettings
from lake.core.tokens import KeySource
from lake.endpoint.app import create_app


def uvicorn_config(settings: EndpointSettings, keys: KeySource | None = None) -> uvicorn.Config:
    """The uvicorn configuration for an endpoint (also used by tests to serve in-process)."""
    tls = {}
    if settings.tls_cert and settings.tls_key:
        tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    return uvicorn.Config(
        create_app(settings, keys),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
        **tls,  # type: ignore[arg-type]
    )


def serve(settings: EndpointSettings, keys: KeySource | None = None) -> None:
    """Serve until interrupted."""
    uvicorn.Server(uvicorn_config(settings, keys)).run()
