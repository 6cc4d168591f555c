"""The built-in endpoint: token enforcement, safe uploads, ranges, WebDAV, digests, HTTP-TPC, traversal."""

import asyncio
import base64
import hashlib
import http.client
import json
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from lake.core.errors import StorageError
from lake.core.settings import EndpointSettings
from lake.endpoint import create_app
from lake.logic.auth.keystore import KeyStore
from lake.storage import get_backend
from lake.testing import waiting
from lake.testing.endpoint import TEST_ISSUER, running_endpoint
from lake.testing.endpoint import start_put as _raw_put

DATA = os.urandom(300_000)


@pytest.fixture(scope="module")
def origin(endpoint: EndpointSettings) -> str:
    return endpoint.origin()


@pytest.fixture(scope="module")
def admin(endpoint: EndpointSettings, mint) -> str:
    return mint("storage.read:/", "storage.modify:/", audience=endpoint.origin())


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(origin: str, path: str, token: str, data: bytes = DATA) -> httpx.Response:
    return httpx.put(f"{origin}{path}", content=data, headers=auth(token))


def no_temp_files(root: Path) -> bool:
    return not any(name.startswith(".lake.") for _, _, names in os.walk(root) for name in names)


wait_for = partial(waiting.eventually, timeout=3.0)


# tokens


def test_request_without_token_is_401(origin: str) -> None:
    response = httpx.get(f"{origin}/anything")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_token_for_another_audience_or_issuer_is_401(origin: str, mint) -> None:
    for token in (
        mint("storage.read:/", audience="https://other.example"),
        mint("storage.read:/", audience=origin, issuer="https://rogue.example"),
    ):
        assert httpx.get(f"{origin}/x", headers=auth(token)).status_code == 401


def test_endpoint_without_keys_refuses_everything(tmp_path: Path, mint) -> None:
    with running_endpoint(tmp_path, keys=None) as settings:
        token = mint("storage.read:/", "storage.modify:/", audience=settings.origin())
        assert upload(settings.origin(), "/f", token).status_code == 401
        assert httpx.get(f"{settings.origin()}/", headers=auth(token)).status_code == 401


def test_token_for_another_path_is_403(origin: str, admin: str, mint) -> None:
    assert upload(origin, "/other/f", admin).status_code == 201
    token = mint("storage.read:/data", audience=origin)
    assert httpx.get(f"{origin}/other/f", headers=auth(token)).status_code == 403


def test_scope_matches_whole_segments_data_is_not_database(origin: str, admin: str, mint) -> None:
    assert upload(origin, "/data/f", admin).status_code == 201
    assert upload(origin, "/database/f", admin).status_code == 201
    token = mint("storage.read:/data", audience=origin)
    assert httpx.get(f"{origin}/data/f", headers=auth(token)).status_code == 200
    assert httpx.get(f"{origin}/database/f", headers=auth(token)).status_code == 403


def test_create_cannot_overwrite(origin: str, mint) -> None:
    token = mint("storage.create:/create", "storage.read:/create", audience=origin)
    assert upload(origin, "/create/f", token, b"first").status_code == 201
    assert upload(origin, "/create/f", token, b"second").status_code == 403  # no right to overwrite
    assert httpx.get(f"{origin}/create/f", headers=auth(token)).content == b"first"
    assert httpx.delete(f"{origin}/create/f", headers=auth(token)).status_code == 403


def test_modify_overwrites_unless_if_none_match(origin: str, admin: str) -> None:
    assert upload(origin, "/modify/f", admin, b"first").status_code == 201
    response = httpx.put(f"{origin}/modify/f", content=b"x", headers={**auth(admin), "If-None-Match": "*"})
    assert response.status_code == 412
    assert upload(origin, "/modify/f", admin, b"second").status_code == 204
    assert httpx.get(f"{origin}/modify/f", headers=auth(admin)).content == b"second"


def test_stage_does_not_read_but_may_stat(origin: str, admin: str, mint) -> None:
    upload(origin, "/staged/f", admin)
    token = mint("storage.stage:/staged", audience=origin)
    assert httpx.get(f"{origin}/staged/f", headers=auth(token)).status_code == 403
    head = httpx.head(f"{origin}/staged/f", headers=auth(token))
    assert (head.status_code, head.headers["content-length"]) == (200, str(len(DATA)))


# uploads that must leave nothing behind


def test_interrupted_put_leaves_no_file(origin: str, admin: str, endpoint: EndpointSettings) -> None:
    sock = _raw_put(origin, "/cut/f", admin, declared=10_000_000, body=DATA)
    time.sleep(0.1)
    sock.close()
    assert wait_for(lambda: no_temp_files(endpoint.root))
    assert httpx.get(f"{origin}/cut/f", headers=auth(admin)).status_code == 404


def test_body_shorter_than_content_length_leaves_no_file(origin: str, admin: str, endpoint: EndpointSettings) -> None:
    sock = _raw_put(origin, "/short/f", admin, declared=100, body=b"x" * 50)
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(5)
    sock.recv(1000)  # the server closes without publishing anything
    sock.close()
    assert wait_for(lambda: no_temp_files(endpoint.root))
    assert httpx.get(f"{origin}/short/f", headers=auth(admin)).status_code == 404


def test_put_answers_with_adler32_digest(origin: str, admin: str) -> None:
    response = upload(origin, "/digest/put", admin)
    assert response.headers["digest"] == f"adler32={zlib.adler32(DATA):08x}"


# reads


@pytest.mark.parametrize(
    ("header", "start", "end"), [("bytes=0-9", 0, 9), ("bytes=299990-", 299990, 299999), ("bytes=-5", 299995, 299999)]
)
def test_range_request_answers_206(origin: str, admin: str, header: str, start: int, end: int) -> None:
    upload(origin, "/range/f", admin)
    response = httpx.get(f"{origin}/range/f", headers={**auth(admin), "Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.content == DATA[start : end + 1]


def test_range_beyond_the_end_is_416(origin: str, admin: str) -> None:
    upload(origin, "/range416/f", admin)
    response = httpx.get(f"{origin}/range416/f", headers={**auth(admin), "Range": "bytes=400000-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


def test_want_digest_on_head_and_get(origin: str, admin: str) -> None:
    upload(origin, "/digest/f", admin)
    md5 = base64.b64encode(hashlib.md5(DATA).digest()).decode()
    for method in ("HEAD", "GET"):
        response = httpx.request(method, f"{origin}/digest/f", headers={**auth(admin), "Want-Digest": "adler32, md5"})
        assert response.headers["digest"] == f"adler32={zlib.adler32(DATA):08x},md5={md5}"


def test_propfind_lists_with_dav_properties_and_hides_temp_files(
    origin: str, admin: str, endpoint: EndpointSettings
) -> None:
    upload(origin, "/dav/file", admin)
    httpx.request("MKCOL", f"{origin}/dav/sub", headers=auth(admin))
    (endpoint.root / "dav" / ".lake.tmp.abc.partial").write_bytes(b"half")
    response = httpx.request("PROPFIND", f"{origin}/dav", headers={**auth(admin), "Depth": "1"})
    assert response.status_code == 207
    body = response.text
    assert f"<D:getcontentlength>{len(DATA)}</D:getcontentlength>" in body
    assert "<D:href>/dav/sub/</D:href>" in body and "<D:collection/>" in body
    assert "getlastmodified" in body and ".lake." not in body
    depth0 = httpx.request("PROPFIND", f"{origin}/dav", headers={**auth(admin), "Depth": "0"})
    assert depth0.text.count("<D:response>") == 1
    assert httpx.get(f"{origin}/dav/.lake.tmp.abc.partial", headers=auth(admin)).status_code == 404


def test_mkcol_needs_parent_and_refuses_existing(origin: str, admin: str) -> None:
    assert httpx.request("MKCOL", f"{origin}/nope/child", headers=auth(admin)).status_code == 409
    assert httpx.request("MKCOL", f"{origin}/mk", headers=auth(admin)).status_code == 201
    assert httpx.request("MKCOL", f"{origin}/mk", headers=auth(admin)).status_code == 405


# path traversal


def test_path_traversal_is_refused(origin: str, admin: str) -> None:
    host, port = origin.removeprefix("http://").split(":")
    for path in ("/../../etc/passwd", "/a/%2e%2e/%2e%2e/etc/passwd", "/a%2f..%2f..%2fetc/passwd"):
        conn = http.client.HTTPConnection(host, int(port))
        conn.request("GET", path, headers=auth(admin))
        assert conn.getresponse().status == 400, path
        conn.close()


def test_symlink_out_of_the_root_is_refused(origin: str, admin: str, endpoint: EndpointSettings) -> None:
    os.symlink("/etc", endpoint.root / "escape")
    assert httpx.get(f"{origin}/escape/passwd", headers=auth(admin)).status_code == 403


# HTTP third-party copy


@pytest.fixture(scope="module")
def second(keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointSettings]:
    with running_endpoint(tmp_path_factory.mktemp("second"), keystore.keyset()) as settings:
        yield settings


def test_tpc_pull_between_two_endpoints(origin: str, admin: str, second: EndpointSettings, mint) -> None:
    upload(origin, "/tpc/source", admin)
    read_a = mint("storage.read:/tpc", audience=origin)
    create_b = mint("storage.create:/in", audience=second.origin())
    response = httpx.request(
        "COPY",
        f"{second.origin()}/in/copy",
        headers={**auth(create_b), "Source": f"{origin}/tpc/source", "TransferHeaderAuthorization": f"Bearer {read_a}"},
    )
    assert response.status_code == 202
    assert response.text.strip().splitlines()[-1] == "success: Created"
    assert (second.root / "in" / "copy").read_bytes() == DATA


def test_tpc_through_the_http_backend(origin: str, admin: str, second: EndpointSettings, mint) -> None:
    upload(origin, "/tpc/backend", admin)
    read_a = mint("storage.read:/tpc", audience=origin)
    dest = mint("storage.create:/", "storage.read:/", audience=second.origin())
    seen: list[int] = []
    with get_backend(second.origin(), token=dest) as backend:
        result = backend.third_party_copy(
            f"{origin}/tpc/backend", f"{second.origin()}/via/backend", read_a, progress=seen.append
        )
        assert result.bytes_transferred == len(DATA) and seen[-1] == len(DATA)
        assert backend.checksum(f"{second.origin()}/via/backend") == f"{zlib.adler32(DATA):08x}"


def test_tpc_from_missing_source_reports_failure(origin: str, admin: str, second: EndpointSettings, mint) -> None:
    dest = mint("storage.create:/", "storage.read:/", audience=second.origin())
    response = httpx.request(
        "COPY",
        f"{second.origin()}/in/missing",
        headers={**auth(dest), "Source": f"{origin}/no/such/file", "TransferHeaderAuthorization": f"Bearer {admin}"},
    )
    assert response.status_code == 202
    assert response.text.strip().splitlines()[-1].startswith("failure:")
    assert not (second.root / "in" / "missing").exists() and no_temp_files(second.root)
    with get_backend(second.origin(), token=dest) as backend, pytest.raises(StorageError):
        backend.third_party_copy(f"{origin}/no/such/file", f"{second.origin()}/in/missing2", admin)


def test_tpc_needs_create_on_the_destination(origin: str, second: EndpointSettings, mint) -> None:
    read_only = mint("storage.read:/", audience=second.origin())
    response = httpx.request(
        "COPY", f"{second.origin()}/in/x", headers={**auth(read_only), "Source": f"{origin}/tpc/source"}
    )
    assert response.status_code == 403


# the ASGI zero-copy path


def test_full_get_uses_pathsend_when_the_server_offers_it(tmp_path: Path, keystore: KeyStore) -> None:
    settings = EndpointSettings(root=tmp_path, issuer=TEST_ISSUER)
    (tmp_path / "f").write_bytes(b"content")
    token = keystore.mint(TEST_ISSUER, "t", settings.origin(), ["storage.read:/"], 60)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": "/f", "raw_path": b"/f", "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "extensions": {"http.response.pathsend": {}},
    }  # fmt: skip
    asyncio.run(create_app(settings, keystore.keyset())(scope, receive, send))
    assert sent[0]["status"] == 200
    assert sent[1] == {"type": "http.response.pathsend", "path": str((tmp_path / "f").resolve())}


# keys from a JWKS URL (standalone endpoints)


@pytest.fixture
def jwks_server(keystore: KeyStore) -> Iterator[tuple[str, dict]]:
    """A tiny HTTP server publishing a JWKS document that the test may change."""
    document = {"jwks": keystore.jwks()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(document["jwks"]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks", document
    server.shutdown()
    thread.join()


def test_keys_come_from_jwks_url_and_unknown_kid_refetches(jwks_server, tmp_path: Path) -> None:
    url, document = jwks_server
    issuer_keys = KeyStore.load_or_create(tmp_path / "keys")
    document["jwks"] = issuer_keys.jwks()
    with running_endpoint(tmp_path / "root", keys=None, jwks_url=url) as settings:
        old = issuer_keys.mint(TEST_ISSUER, "t", settings.origin(), ["storage.read:/"], 60)
        assert httpx.get(f"{settings.origin()}/missing", headers=auth(old)).status_code == 404
        issuer_keys.rotate()
        document["jwks"] = issuer_keys.jwks()
        new = issuer_keys.mint(TEST_ISSUER, "t", settings.origin(), ["storage.read:/"], 60)
        assert httpx.get(f"{settings.origin()}/missing", headers=auth(new)).status_code == 404
