"""A real external OIDC issuer for tests: https on loopback with its own throwaway CA (tokens.md section 6.1).

It serves `/.well-known/openid-configuration` and `/jwks` from a thread (`http.server` behind TLS), counts the
requests per path, and mints WLCG-profile tokens with its own KeyStore. Tests can switch to a new key, stop it, or
change the discovery document it serves (a wrong `issuer`, a foreign `jwks_uri`).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lake.logic.auth.keystore import KeyStore
from lake.server.pki import ensure_pki

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks"


@dataclass
class LocalIssuer:
    """The running issuer: its URL, the CA that signed its certificate, its keys and what it was asked."""

    url: str
    ca_cert: Path
    keystore: KeyStore
    requests: Counter[str] = field(default_factory=Counter)
    document_changes: dict[str, Any] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    def document(self) -> dict[str, Any]:
        document = {"issuer": self.url, "jwks_uri": self.url + JWKS, "token_endpoint": self.url + "/token"}
        return document | self.document_changes

    def mint(
        self, subject: str, audience: str | Sequence[str], scopes: Sequence[str] = ("lake.api",), lifetime: int = 600
    ) -> str:
        return self.keystore.mint(self.url, subject, audience, scopes, lifetime)

    def new_key(self) -> str:
        """Sign from now on with a key never published before (emergency rotation): validators must refetch."""
        published = {key["kid"] for key in self.keystore.jwks()["keys"]}
        while self.keystore.current.kid in published:
            self.keystore.rotate()
        return self.keystore.current.kid

    @property
    def key_fetches(self) -> int:
        return self.requests[JWKS]

    def stop(self) -> None:
        """Take the issuer down (connections are refused from now on)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _handler(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            issuer.requests[self.path] += 1
            if self.path == DISCOVERY:
                self._json(issuer.document())
            elif self.path == JWKS:
                self._json(issuer.keystore.jwks())
            else:
                self.send_error(404)

        def _json(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "max-age=3600")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            """Quiet: tests count requests instead."""

    return Handler


@contextmanager
def running_issuer(directory: Path, algorithm: str = "ES256", tls: bool = True) -> Iterator[LocalIssuer]:
    """Serve an issuer on 127.0.0.1 (https with a CA in `directory/pki`, or plain http) until the block ends."""
    files = ensure_pki(directory / "pki")
    keystore = KeyStore.load_or_create(directory / "keys", algorithm=algorithm)
    issuer = LocalIssuer(url="", ca_cert=files.ca_cert, keystore=keystore)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.cert, files.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    issuer.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    issuer.server = server
    thread = threading.Thread(target=server.serve_forever, name=f"issuer-{issuer.url}", daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        issuer.stop()
        thread.join(timeout=10)
