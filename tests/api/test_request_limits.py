"""Limits on what a client may send: body sizes, items per bulk call, filter and expression complexity, name
lengths, slow senders and failed password logins; each refused with a clear 4xx and nothing written."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi.testclient import TestClient

from lake.api.app import create_app
from lake.core.errors import TooManyRequests, Unauthenticated
from lake.core.settings import LimitSettings, ServerSettings
from lake.logic.auth.throttle import LoginThrottle
from lake.logic.services import Services
from lake.testing import clients
from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD
from lake.testing.net import free_port

LIMITS = LimitSettings(max_json_bytes=8192, max_bulk_bytes=200_000, max_items=100, body_timeout=1.0)


@pytest.fixture
def settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"limits": LIMITS})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(services: Services) -> Clock:
    clock = Clock()
    services.throttle = LoginThrottle(per_account=3, per_address=5, window=60, clock=clock)
    return clock


@pytest.fixture
def lake(services: Services) -> Iterator[TestClient]:
    """Root's client, with two RSEs and the user's scope."""
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        clients.login(client, "root", ROOT_PASSWORD)
        for name in ("SITE-A", "SITE-B"):
            assert client.post("/v1/rses", json={"name": name}).status_code == 201
        yield client


def files(n: int, prefix: str = "f") -> list[dict[str, object]]:
    return [{"scope": "user.alice", "name": f"{prefix}{i}", "bytes": 1, "adler32": "1"} for i in range(n)]


def dids(lake: TestClient) -> list[str]:
    return lake.get("/v1/search/user.alice").text.splitlines()


def rucio_login(lake: TestClient) -> dict[str, str]:
    answer = lake.get("/rucio/auth/userpass", headers={"X-Rucio-Username": "root", "X-Rucio-Password": ROOT_PASSWORD})
    return {"X-Rucio-Auth-Token": answer.headers["X-Rucio-Auth-Token"]}


# body sizes and items


def test_a_body_over_the_json_limit_is_413_and_nothing_is_written(lake: TestClient) -> None:
    body = {"name": "SITE-C", "attributes": {"note": "x" * 10_000}}
    answer = lake.post("/v1/rses", json=body)
    assert answer.status_code == 413 and answer.json()["code"] == "PayloadTooLarge"
    assert "8192 bytes" in answer.json()["message"]
    assert lake.get("/v1/rses/SITE-C").status_code == 404


def test_a_bulk_route_takes_a_larger_body_up_to_its_own_limit(lake: TestClient) -> None:
    body = {"rse": "SITE-A", "files": files(100, prefix="long-name-" + "n" * 150)}
    assert 8192 < len(str(body)) < 200_000
    assert lake.post("/v1/replicas/register", json=body).json()["files"] == 100
    huge = {"rse": "SITE-A", "files": files(60, prefix="p" * 200) + [{"meta": "x" * 200_000}]}
    answer = lake.post("/v1/replicas/register", json=huge)
    assert answer.status_code == 413 and answer.json()["code"] == "PayloadTooLarge"
    assert len(dids(lake)) == 100


def test_more_items_than_allowed_in_one_bulk_call_is_400_and_nothing_is_registered(lake: TestClient) -> None:
    answer = lake.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files(101)})
    assert answer.status_code == 400 and answer.json()["code"] == "TooManyItems"
    assert "101 items" in answer.json()["message"] and "limit is 100" in answer.json()["message"]
    assert dids(lake) == []
    assert lake.post("/v1/uploads", json={"rse": "SITE-A", "files": files(101)}).json()["code"] == "TooManyItems"
    assert dids(lake) == []


def test_a_chunked_body_growing_past_the_limit_is_413(lake: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "SITE-D", "attributes": {"note": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}'

    answer = lake.post("/v1/rses", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert lake.get("/v1/rses/SITE-D").status_code == 404


def test_the_rucio_dialect_refuses_oversized_and_too_long_bodies_in_its_own_words(lake: TestClient) -> None:
    headers = rucio_login(lake)
    answer = lake.post("/rucio/rses/SITE-E", json={"note": "x" * 10_000}, headers=headers)
    assert answer.status_code == 413 and answer.headers["ExceptionClass"] == "InputValidationError"
    assert lake.get("/v1/rses/SITE-E").status_code == 404
    body = {"rse": "SITE-A", "files": files(101)}
    answer = lake.post("/rucio/replicas", json=body, headers=headers)
    assert answer.status_code == 400 and answer.headers["ExceptionClass"] == "InputValidationError"
    assert dids(lake) == []


# filters, expressions and names


def test_a_filter_with_too_many_terms_is_400_invalid_filter(lake: TestClient) -> None:
    answer = lake.get("/v1/search/user.alice", params={"filter": ",".join(f"k{i}=1" for i in range(65))})
    assert answer.status_code == 400 and answer.json()["code"] == "InvalidFilter"
    rucio = lake.get("/rucio/dids/user.alice/dids/search", params={"filters": "x" * 10_000}, headers=rucio_login(lake))
    assert rucio.status_code == 400 and rucio.headers["ExceptionClass"] == "DIDFilterSyntaxError"


@pytest.mark.parametrize(
    "expression",
    ["(" * 40 + "SITE-A" + ")" * 40, "|".join(["SITE-A"] * 300), "SITE-A|" + "B" * 5000],
    ids=["deep", "many-operators", "long"],
)
def test_an_overly_complex_rse_expression_is_400_and_no_rule_is_made(lake: TestClient, expression: str) -> None:
    lake.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files(1)})
    rule = {"scope": "user.alice", "name": "f0", "copies": 1, "rse_expression": expression}
    answer = lake.post("/v1/rules", json=rule)
    assert answer.status_code == 400 and answer.json()["code"] == "InvalidRSEExpression"
    assert lake.get("/v1/rses", params={"expression": expression}).status_code == 400
    assert lake.get("/v1/rules").text == ""


def test_a_did_name_over_250_characters_is_400(lake: TestClient) -> None:
    answer = lake.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files(1, prefix="n" * 251)})
    assert answer.status_code == 400 and answer.json()["code"] == "InvalidName"
    assert dids(lake) == []


# slow senders


@contextmanager
def serving(services: Services) -> Iterator[int]:
    """The API on a real socket (uvicorn in a thread): a slow sender needs one."""
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield config.port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_client_sending_its_body_too_slowly_gets_408_and_nothing_is_written(services: Services) -> None:
    with serving(services) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        body = b'{"username": "root", "password": "never finished"}'
        head = (
            f"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        )
        sock.sendall(head.encode() + b"\r\n\r\n" + body[:10])
        sock.settimeout(10)
        started = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"RequestTimeout" in answer and 0.9 < time.monotonic() - started < 5


# failed password logins


def login(lake: TestClient, password: str, username: str = USER) -> int:
    return lake.post("/v1/auth/token", json={"username": username, "password": password}).status_code


def test_failed_logins_of_an_account_are_throttled_with_retry_after_even_for_the_right_password(
    lake: TestClient, clock: Clock
) -> None:
    assert [login(lake, "wrong") for _ in range(3)] == [401, 401, 401]
    answer = lake.post("/v1/auth/token", json={"username": USER, "password": USER_PASSWORD})
    assert answer.status_code == 429 and answer.json()["code"] == "TooManyRequests"
    assert answer.headers["Retry-After"] == "60"
    clock.now += 30
    assert (
        lake.post("/v1/auth/token", json={"username": USER, "password": USER_PASSWORD}).headers["Retry-After"] == "30"
    )
    assert login(lake, ROOT_PASSWORD, "root") == 200  # another account is not locked out
    clock.now += 31
    assert login(lake, USER_PASSWORD) == 200
    assert login(lake, "wrong") == 401  # the success cleared the account's count


def test_every_password_route_shares_the_count(lake: TestClient, clock: Clock) -> None:
    assert login(lake, "wrong") == 401
    form = {"grant_type": "password", "username": USER, "password": "wrong"}
    assert lake.post("/v1/oauth/token", data=form).json()["error"] == "invalid_grant"
    rucio = {"X-Rucio-Username": USER, "X-Rucio-Password": "wrong"}
    assert lake.get("/rucio/auth/userpass", headers=rucio).status_code == 401
    for refused in (
        lake.post("/v1/oauth/token", data=form | {"password": USER_PASSWORD}),
        lake.get("/rucio/auth/userpass", headers=rucio | {"X-Rucio-Password": USER_PASSWORD}),
        lake.post("/v1/oauth/device", data={"username": USER, "password": USER_PASSWORD, "user_code": "X"}),
    ):
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "60", refused.text
    assert lake.get("/rucio/auth/userpass", headers=rucio).headers["ExceptionClass"] == "CannotAuthenticate"


def test_failed_logins_from_one_address_are_throttled_across_account_names(lake: TestClient, clock: Clock) -> None:
    assert [login(lake, "wrong", f"guess{i}") for i in range(5)] == [401] * 5
    assert login(lake, ROOT_PASSWORD, "root") == 429
    clock.now += 61
    assert login(lake, ROOT_PASSWORD, "root") == 200


def test_a_throttled_login_writes_nothing_and_costs_no_password_check(lake: TestClient, clock: Clock, monkeypatch):
    for _ in range(3):
        login(lake, "wrong")
    from lake.logic.auth import accounts

    def never(*_args: object) -> None:
        raise AssertionError("the password was checked")

    monkeypatch.setattr(accounts, "verify_password", never)
    assert login(lake, USER_PASSWORD) == 429


def test_the_throttle_forgets_the_oldest_names_beyond_its_bound(monkeypatch) -> None:
    monkeypatch.setattr("lake.logic.auth.throttle.MAX_KEYS", 10)
    clock = Clock()
    throttle = LoginThrottle(per_account=1, per_address=1000, window=60, clock=clock)
    for i in range(30):
        with pytest.raises(Unauthenticated), throttle.attempt(f"name{i}", "10.0.0.1"):
            raise Unauthenticated("wrong")
    assert len(throttle._failures) <= 10
    with pytest.raises(TooManyRequests), throttle.attempt("name29", "10.0.0.2"):
        pass  # the most recent names are still counted
