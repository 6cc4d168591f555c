"""The client's transport: bearer token, error classes from codes, NDJSON streaming, token file."""

from __future__ import annotations

import json
import stat

import httpx
import pytest

from lake.client import LakeClient
from lake.core.errors import DIDNotFound, LakeError, PermissionDenied, TemporaryFailure, Unavailable
from lake.core.models import DIDOut
from lake.core.settings import ClientSettings


def make_client(tmp_path, handler, token=None) -> LakeClient:
    settings = ClientSettings(url="http://lake.test", token=token, token_file=tmp_path / "token")
    http = httpx.Client(base_url=settings.url, transport=httpx.MockTransport(handler))
    return LakeClient(settings, http=http)


def did_line(name: str) -> str:
    return json.dumps({"scope": "user.alice", "name": name, "type": "FILE", "account": "alice"})


def test_requests_carry_the_stored_token(tmp_path):
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers.get("authorization")
        return httpx.Response(200, json={"name": "alice", "type": "USER", "status": "ACTIVE"})

    assert make_client(tmp_path, handler, token="abc").whoami().name == "alice"
    assert seen["auth"] == "Bearer abc"


def test_error_body_becomes_the_error_class_named_by_its_code(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "code": "DIDNotFound",
            "message": "no such DID",
            "retryable": False,
            "details": {"scope": "x"},
        }
        return httpx.Response(404, json=body)

    with pytest.raises(DIDNotFound) as info:
        make_client(tmp_path, handler).get_did("x", "y")
    assert info.value.message == "no such DID"
    assert info.value.details == {"scope": "x"}


def test_error_without_a_code_maps_from_the_status(tmp_path):
    client = make_client(tmp_path, lambda request: httpx.Response(403, text="go away"))
    with pytest.raises(PermissionDenied):
        client.whoami()
    client = make_client(tmp_path, lambda request: httpx.Response(504, text="gateway"))
    with pytest.raises(TemporaryFailure):
        client.whoami()


def test_connection_failure_is_unavailable(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = make_client(tmp_path, handler)
    with pytest.raises(Unavailable):
        client.whoami()
    with pytest.raises(Unavailable):
        list(client.list_scopes())


def test_ndjson_list_is_parsed_lazily_line_by_line(tmp_path):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        return httpx.Response(200, content=(did_line("a") + "\n\n" + did_line("b/c") + "\n").encode())

    client = make_client(tmp_path, handler)
    rows = client.search_dids("user.alice", filter="run>=1", type="FILE")
    assert calls == []
    assert [row.name for row in rows] == ["a", "b/c"]
    assert calls[0].params["filter"] == "run>=1"
    assert calls[0].params["type"] == "FILE"


def test_ndjson_error_raises_on_iteration(tmp_path):
    body = {"code": "ScopeNotFound", "message": "no scope"}
    client = make_client(tmp_path, lambda request: httpx.Response(404, json=body))
    with pytest.raises(LakeError) as info:
        next(iter(client.search_dids("nope")))
    assert info.value.code == "ScopeNotFound"


def test_names_with_slashes_stay_in_the_path(tmp_path):
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=json.loads(did_line("dir/f 1")))

    assert isinstance(make_client(tmp_path, handler).get_did("user.alice", "dir/f 1", meta=True), DIDOut)
    assert paths == ["/v1/dids/user.alice/dir/f%201?meta=true"]


def test_login_saves_the_token_readable_by_owner_only(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/token":
            assert json.loads(request.content) == {"username": "alice", "password": "pw"}
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 60, "account": "alice"})
        assert request.headers["authorization"] == "Bearer tok"
        return httpx.Response(200, json={"name": "alice", "type": "USER", "status": "ACTIVE"})

    client = make_client(tmp_path, handler)
    assert client.login("alice", "pw").account == "alice"
    token_file = tmp_path / "token"
    assert token_file.read_text().strip() == "tok"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert client.whoami().name == "alice"
    assert ClientSettings(token_file=token_file).stored_token() == "tok"
