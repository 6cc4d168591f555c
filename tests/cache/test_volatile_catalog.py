"""Caches in the catalog: volatile RSEs of a site. They never hold rule copies nor feed transfers; their cached
replicas are listed as cached; a client at the site gets the cache URL first, with a token for both hops."""

from __future__ import annotations

import random
from types import SimpleNamespace

import jwt
import pytest
from sqlalchemy import select

from lake.core.errors import InsufficientTargetRSEs, InvalidInput, PermissionDenied
from lake.core.models import DIDRef, ProtocolDomains, ProtocolIn, RSEIn
from lake.core.replication import RuleIn
from lake.db import schema as t
from lake.db.schema_replication import transfers
from lake.logic.access import downloads, listings
from lake.logic.cache import replicas as cached
from lake.logic.cache.routing import site_caches
from lake.logic.catalog import rses
from lake.logic.rules import rules
from lake.logic.transfers.sources import SourceRanker, Topology, available_replicas
from lake.testing.factories import ALICE, ROOT, add_dataset

FILE = DIDRef(scope="user.alice", name="f")
READ_ONLY = ProtocolDomains(read=1)


def add_cache(conn, name="DESY-CACHE", site="DESY", scheme="http", port=9100, **attributes):
    rses.add_rse(conn, ROOT, RSEIn(name=name, volatile=True, attributes={"site": site, **attributes}))
    protocol = ProtocolIn(scheme=scheme, hostname="cache.test", port=port, prefix="/", lan=READ_ONLY, wan=READ_ONLY)
    rses.add_protocol(conn, ROOT, name, protocol)


@pytest.fixture
def sites():
    return {"CERN-DISK": {"site": "CERN"}, "DESY-DISK": {"site": "DESY"}}


@pytest.fixture
def conn(conn):
    """The plugin's transaction with the sites, a cache at DESY for CERN-DISK and alice's dataset `ds` on CERN."""
    add_cache(conn, cache_for="CERN-DISK")
    add_dataset(conn, "ds", ["f"], "CERN-DISK")
    return conn


def test_rule_never_places_on_a_volatile_rse_even_when_the_expression_names_it(conn):
    with pytest.raises(InsufficientTargetRSEs):
        rules.add_rule(conn, ALICE, RuleIn(scope="user.alice", name="ds", rse_expression="DESY-CACHE", copies=1))
    created = rules.add_rule(
        conn, ALICE, RuleIn(scope="user.alice", name="ds", rse_expression="site=DESY", copies=1), rng=random.Random(1)
    )
    assert {lock.rse for lock in rules.rule_locks(conn, created.id)} == {"DESY-DISK"}


def test_cached_replica_is_no_rule_copy_and_no_transfer_source(conn):
    assert cached.add_cached_replicas(conn, ROOT, "DESY-CACHE", [FILE]) == 1
    created = rules.add_rule(conn, ALICE, RuleIn(scope="user.alice", name="ds", rse_expression="site=DESY", copies=1))
    assert created.state == "REPLICATING"  # the cached copy does not satisfy the rule
    [transfer] = conn.execute(select(transfers).where(transfers.c.rule_id == created.id)).all()
    ranker = SourceRanker(conn, Topology.load(conn))
    available = available_replicas(conn, [("user.alice", "f")])[("user.alice", "f")]
    assert len(available) == 2  # the origin and the cached copy
    assert [s.rse.name for s in ranker.rank(SimpleNamespace(**transfer._asdict()), available)] == ["CERN-DISK"]
    cache_row = conn.execute(select(t.replicas).where(t.replicas.c.rse_id == rses.rse_id(conn, "DESY-CACHE"))).one()
    assert cache_row.lock_cnt == 0


def test_cached_replicas_are_listed_as_cached_and_forgotten_on_eviction(conn):
    cached.add_cached_replicas(conn, ROOT, "DESY-CACHE", [FILE])
    listed = {r.rse: r.cached for r in listings.list_replicas(conn, FILE)}
    assert listed == {"CERN-DISK": False, "DESY-CACHE": True}
    assert cached.remove_cached_replicas(conn, ROOT, "DESY-CACHE", [FILE]) == 1
    assert [r.rse for r in listings.list_replicas(conn, FILE)] == ["CERN-DISK"]


def test_cached_replicas_need_a_volatile_rse_an_admin_and_known_files(conn):
    with pytest.raises(InvalidInput):
        cached.add_cached_replicas(conn, ROOT, "DESY-DISK", [FILE])
    with pytest.raises(PermissionDenied):
        cached.add_cached_replicas(conn, ALICE, "DESY-CACHE", [FILE])
    with pytest.raises(Exception, match="no file"):
        cached.add_cached_replicas(conn, ROOT, "DESY-CACHE", [DIDRef(scope="user.alice", name="nope")])


def test_listing_at_the_site_puts_the_cache_url_first(conn):
    [origin] = listings.list_replicas(conn, FILE)
    at_desy = list(listings.list_replicas(conn, FILE, site="DESY"))
    assert [(r.rse, r.cached) for r in at_desy] == [("DESY-CACHE", True), ("CERN-DISK", False)]
    assert at_desy[0].pfn == (origin.pfn or "").replace("127.0.0.1:9000", "cache.test:9100")
    assert [r.rse for r in listings.list_replicas(conn, FILE, site="CERN")] == ["CERN-DISK"]


def test_download_plan_at_the_site_reads_through_the_cache_with_a_token_for_both(conn, services):
    [plain] = downloads.download_plan(conn, ALICE, FILE, None, services.issuer)
    [at_desy] = downloads.download_plan(conn, ALICE, FILE, None, services.issuer, site="DESY")
    assert [s.rse for s in plain.sources] == ["CERN-DISK"]
    assert [(s.rse, s.cached_from) for s in at_desy.sources] == [("DESY-CACHE", "CERN-DISK"), ("CERN-DISK", None)]
    through, direct = at_desy.sources
    assert through.pfn.startswith("http://cache.test:9100/user/alice/")
    assert through.pfn.split(":9100", 1)[1] == direct.pfn.split(":9000", 1)[1]
    claims = jwt.decode(through.token or "", options={"verify_signature": False})
    assert sorted(claims["aud"]) == ["http://127.0.0.1:9000", "http://cache.test:9100"]
    assert claims["scope"] == "storage.read:/user/alice"


def test_cache_fronts_only_its_cache_for_rses(conn, services):
    add_dataset(conn, "ds2", ["g"], "DESY-DISK")
    g = DIDRef(scope="user.alice", name="g")
    [plan] = downloads.download_plan(conn, ALICE, g, None, services.issuer, site="DESY")
    assert [s.rse for s in plan.sources] == ["DESY-DISK"]


def test_a_cache_without_cache_for_fronts_every_non_volatile_rse_of_any_site(conn):
    add_cache(conn, name="CERN-CACHE", site="CERN", port=9101)
    [route] = site_caches(conn, "CERN")
    assert route.origins is None
    assert route.serves(rses.get_rse(conn, "DESY-DISK")) and not route.serves(rses.get_rse(conn, "DESY-CACHE"))
    assert site_caches(conn, None) == [] and site_caches(conn, "PIC") == []
