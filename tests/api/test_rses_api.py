"""RSEs: names, attributes, expressions, availability, protocols, distances."""

import json

import pytest

SITES = {
    "CERN-DISK": {"site": "CERN", "country": "CH", "tier": 0},
    "DESY-DISK": {"site": "DESY", "country": "DE", "tier": 1},
    "KIT-DISK": {"site": "KIT", "country": "DE", "tier": 1},
    "PIC-TAPE": {"site": "PIC", "country": "ES", "tier": 1, "istape": True},
    "NAPOLI-DISK": {"site": "NAPOLI", "country": "IT", "tier": 2, "freespace": 500},
}


@pytest.fixture
def sites(root_api):
    for name, attributes in SITES.items():
        assert root_api.post("/v1/rses", json={"name": name, "attributes": attributes}).status_code == 201
    return root_api


def names(response):
    assert response.status_code == 200, response.text
    return {json.loads(line)["name"] for line in response.text.splitlines() if line}


def test_every_rse_gets_its_name_as_attribute(sites):
    assert sites.get("/v1/rses/KIT-DISK").json()["attributes"]["KIT-DISK"] is True


def test_rse_names_follow_the_rules(root_api):
    r = root_api.post("/v1/rses", json={"name": "lower-case"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidName"


def test_only_admins_manage_rses(user_api):
    assert user_api.post("/v1/rses", json={"name": "MINE"}).json()["code"] == "PermissionDenied"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*", set(SITES)),
        ("KIT-DISK", {"KIT-DISK"}),
        ("country=DE", {"DESY-DISK", "KIT-DISK"}),
        ("tier<1", {"CERN-DISK"}),
        ("tier>0&country=DE", {"DESY-DISK", "KIT-DISK"}),
        ("tier=1&(country=DE|country=ES)\\site=KIT", {"DESY-DISK", "PIC-TAPE"}),
        ("*\\istape=true", set(SITES) - {"PIC-TAPE"}),
        ("CERN-DISK|NAPOLI-DISK", {"CERN-DISK", "NAPOLI-DISK"}),
        ("freespace>400", {"NAPOLI-DISK"}),
    ],
)
def test_rse_expressions_select_rses(sites, expression, expected):
    assert names(sites.get("/v1/rses", params={"expression": expression})) == expected


@pytest.mark.parametrize("expression", ["country=XX", "(tier=1", "tier=1&", "a b"])
def test_bad_or_empty_expression_is_invalid(sites, expression):
    r = sites.get("/v1/rses", params={"expression": expression})
    assert r.status_code == 400 and r.json()["code"] == "InvalidRSEExpression"


def test_attributes_can_be_set_and_removed(sites):
    assert sites.put("/v1/rses/KIT-DISK/attributes/QOS", json={"value": "FAST"}).status_code == 200
    assert names(sites.get("/v1/rses", params={"expression": "QOS=FAST"})) == {"KIT-DISK"}
    sites.delete("/v1/rses/KIT-DISK/attributes/QOS")
    assert "QOS" not in sites.get("/v1/rses/KIT-DISK").json()["attributes"]


def test_availability_flags(sites):
    body = sites.patch("/v1/rses/KIT-DISK", json={"availability_write": False}).json()
    assert body["availability_write"] is False and body["availability_read"] is True


def test_protocols_have_priorities_per_operation(sites):
    protocol = {
        "scheme": "davs", "hostname": "kit.example.org", "port": 443, "prefix": "data/lake",
        "wan": {"read": 2, "write": 1, "delete": 1, "third_party_copy_read": 1, "third_party_copy_write": 1},
    }  # fmt: skip
    body = sites.post("/v1/rses/KIT-DISK/protocols", json=protocol).json()
    assert body["protocols"][0]["prefix"] == "/data/lake/"
    assert body["protocols"][0]["wan"]["read"] == 2
    assert sites.post("/v1/rses/KIT-DISK/protocols", json=protocol).json()["code"] == "AlreadyExists"
    bad = dict(protocol, hostname="other", wan={"read": 0})
    assert sites.post("/v1/rses/KIT-DISK/protocols", json=bad).json()["code"] == "InvalidInput"
    assert sites.delete("/v1/rses/KIT-DISK/protocols/davs").json()["protocols"] == []


def test_distances(sites):
    sites.put("/v1/distances", json={"source": "CERN-DISK", "destination": "KIT-DISK", "distance": 2})
    sites.put("/v1/distances", json={"source": "CERN-DISK", "destination": "KIT-DISK", "distance": 3})
    rows = [json.loads(x) for x in sites.get("/v1/distances?source=CERN-DISK").text.splitlines()]
    assert rows == [{"source": "CERN-DISK", "destination": "KIT-DISK", "distance": 3}]
    r = sites.put("/v1/distances", json={"source": "CERN-DISK", "destination": "NOPE", "distance": 1})
    assert r.status_code == 404 and r.json()["code"] == "RSENotFound"
