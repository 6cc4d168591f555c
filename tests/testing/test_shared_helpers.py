"""The shared test helpers of `lake.testing` themselves: polling, loopback ports, NDJSON lines, the sites fixture."""

from __future__ import annotations

import socket
from itertools import count

import httpx
import pytest

from lake.logic.catalog import rses
from lake.testing.clients import lines
from lake.testing.net import accepts, free_port, free_ports, wait_refused
from lake.testing.waiting import eventually, wait_for


def test_wait_for_returns_the_first_truthy_answer_and_fails_naming_what_it_waited_for() -> None:
    calls = count()
    assert wait_for(lambda: next(calls) >= 3 and "done", timeout=5, step=0) == "done"
    with pytest.raises(AssertionError, match="timed out waiting for nothing"):
        wait_for(lambda: False, timeout=0.05, step=0.01, what="nothing")
    assert eventually(lambda: 0, timeout=0.05, step=0.01) == 0


def test_free_ports_are_consecutive_and_refuse_connections_until_bound() -> None:
    ports = free_ports(3, exclude=[free_port()])
    assert ports == list(range(ports[0], ports[0] + 3))
    assert not accepts(ports[0])
    with socket.create_server(("127.0.0.1", ports[0])):
        assert accepts(ports[0])
        with pytest.raises(AssertionError, match="the listener did not stop"):
            wait_refused(ports[0], "the listener", timeout=0.2)
    wait_refused(ports[0], "the listener")


def test_lines_parses_ndjson_and_checks_status_and_media_type() -> None:
    response = httpx.Response(200, text='{"a": 1}\n\n[2]\n', headers={"content-type": "application/x-ndjson"})
    assert lines(response, media_type="application/x-ndjson") == [{"a": 1}, [2]]
    with pytest.raises(AssertionError):
        lines(httpx.Response(404, text="{}"))
    with pytest.raises(AssertionError):
        lines(response, media_type="application/json")


@pytest.fixture
def sites() -> dict[str, dict[str, object]]:
    return {"SITE-A": {"tier": 1}, "SITE-B": {}}


def test_conn_holds_the_modules_sites_with_an_http_protocol_each(conn) -> None:
    ports = {name: [p.port for p in rses.get_rse(conn, name).protocols] for name in ("SITE-A", "SITE-B")}
    assert ports == {"SITE-A": [9000], "SITE-B": [9001]}
    assert rses.get_rse(conn, "SITE-A").attributes["tier"] == 1
