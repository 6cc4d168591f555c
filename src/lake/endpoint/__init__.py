"""The built-in storage endpoint: HTTP/WebDAV over a local directory, WLCG tokens, HTTP-TPC pull."""

from lake.endpoint.app import create_app

__all__ = ["create_app"]
