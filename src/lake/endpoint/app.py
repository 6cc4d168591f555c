"""The built-in storage endpoint: a raw ASGI app serving one directory over HTTP/WebDAV with tokens.

No framework: every request goes straight from the ASGI server to one handler, so large transfers run
at socket speed. Errors are LakeErrors, reported once here with their HTTP status.

Every request is authorized (token, then its scope for the path) before anything about the path is looked
at, so a token without rights on a path gets the same 403 whether something is there or not. The lifespan
runs the sweeps of crash leftovers (lake.endpoint.sweep).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from lake.core.errors import LakeError, StorageError
from lake.core.settings import EndpointSettings
from lake.core.tokens import KeySource
from lake.endpoint import bulk, dav, objects, tpc
from lake.endpoint.asgi import Receive, Request, Scope, Send
from lake.endpoint.auth import Authorizer
from lake.endpoint.context import Context, SourceClient
from lake.endpoint.store import Store
from lake.endpoint.sweep import TempSweep

log = logging.getLogger(__name__)

Handler = Callable[[Context, Request], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    "GET": objects.get,
    "HEAD": objects.get,
    "PUT": objects.put,
    "DELETE": dav.delete,
    "MKCOL": dav.mkcol,
    "PROPFIND": dav.propfind,
    "COPY": tpc.copy,
    "POST": bulk.bulk_pull,
}


class MethodNotSupported(LakeError):
    code, status = "UnsupportedOperation", 405


class EndpointApp:
    """ASGI entry point: lifespan (temporary-file sweeps, closes the TPC client) and one handler per method."""

    def __init__(self, context: Context, sweep: TempSweep | None = None) -> None:
        self.context = context
        self.sweep = sweep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(Request(scope, receive, send))
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, request: Request) -> None:
        handler = HANDLERS.get(request.method)
        try:
            if handler is None:
                raise MethodNotSupported(f"{request.method} is not supported")
            await handler(self.context, request)
        except LakeError as exc:
            await self._report(request, exc)
        except OSError as exc:
            log.warning("%s %s failed: %s", request.method, request.raw_path, exc)
            await self._report(request, StorageError(f"storage failure: {exc.strerror or exc}"))

    @staticmethod
    async def _report(request: Request, exc: LakeError) -> None:
        if request.started:
            raise exc
        await request.error(exc)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.sweep is not None:
                    self.sweep.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.sweep is not None:
                    await self.sweep.stop()
                await self.context.sources.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: EndpointSettings, keys: KeySource | None = None) -> EndpointApp:
    """The endpoint for `settings.root`. Tokens are checked with `keys` (a KeySet, or a callable returning
    the current one), else with keys from `settings.jwks_url`; with neither, every request is refused."""
    store = Store(settings.root)
    context = Context(store=store, authorizer=Authorizer.from_settings(settings, keys), sources=SourceClient())
    return EndpointApp(context, TempSweep(store.root, settings.stale_upload_seconds, settings.temp_sweep_seconds))
