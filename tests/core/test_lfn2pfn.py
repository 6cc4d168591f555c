import hashlib

import pytest

from lake.core.errors import InvalidInput
from lake.core.lfn2pfn import build_pfn, lfn2path, normalize_prefix


def test_hash_path_of_normal_scope_uses_md5_of_scope_colon_name():
    h = hashlib.md5(b"data24:run001.raw").hexdigest()
    assert lfn2path("data24", "run001.raw") == f"data24/{h[:2]}/{h[2:4]}/run001.raw"


def test_hash_path_of_user_scope_turns_dots_into_directories():
    h = hashlib.md5(b"user.jdoe:f.root").hexdigest()
    assert lfn2path("user.jdoe", "f.root", "hash") == f"user/jdoe/{h[:2]}/{h[2:4]}/f.root"


def test_hash_is_taken_before_scope_rewriting():
    # md5 of "group.phys.higgs:x" (the original scope), not of "group/phys/higgs:x"
    h = hashlib.md5(b"group.phys.higgs:x").hexdigest()
    assert lfn2path("group.phys.higgs", "x") == f"group/phys/higgs/{h[:2]}/{h[2:4]}/x"


def test_frozen_vectors_computed_with_coreutils_md5sum():
    # printf '%s' 'user.jdoe:f.root' | md5sum -> 307995c5ff7dde92cdc1bdeec97874b5
    assert lfn2path("user.jdoe", "f.root") == "user/jdoe/30/79/f.root"
    # printf '%s' 'mc16:EVNT.01.pool.root' | md5sum -> 74a75e1c2053480b8710cc1fd4ea89a4
    assert lfn2path("mc16", "EVNT.01.pool.root") == "mc16/74/a7/EVNT.01.pool.root"


@pytest.mark.parametrize("scope", ["username", "users.x.y", "groupies.a"])
def test_any_scope_starting_with_user_or_group_is_rewritten(scope):
    assert lfn2path(scope, "f", "identity") == scope.replace(".", "/") + "/f"


def test_other_scopes_keep_their_dots():
    h = hashlib.md5(b"mc.sim:f").hexdigest()
    assert lfn2path("mc.sim", "f") == f"mc.sim/{h[:2]}/{h[2:4]}/f"
    assert lfn2path("data.user", "f", "identity") == "data.user/f"


def test_identity_path_is_scope_slash_name():
    assert lfn2path("SKA_SKAO_TEAM", "obs/2024/f.ms", "identity") == "SKA_SKAO_TEAM/obs/2024/f.ms"


def test_default_algorithm_means_hash():
    assert lfn2path("s", "f", "default") == lfn2path("s", "f", "hash")


def test_unknown_algorithm_is_invalid_input():
    with pytest.raises(InvalidInput, match="unknown lfn2pfn algorithm 'belleii'"):
        lfn2path("s", "f", "belleii")


@pytest.mark.parametrize("prefix", ["data/vo", "/data/vo", "data/vo/", "/data/vo/"])
def test_prefix_is_normalised_to_leading_and_trailing_slash(prefix):
    assert normalize_prefix(prefix) == "/data/vo/"


def test_empty_prefix_becomes_root():
    assert normalize_prefix("") == "/"


def test_pfn_always_writes_the_port():
    pfn = build_pfn("davs", "se.example.org", 443, "data/vo", "user/jdoe/ab/cd/f.root")
    assert pfn == "davs://se.example.org:443/data/vo/user/jdoe/ab/cd/f.root"


def test_pfn_drops_a_leading_slash_of_the_path():
    assert build_pfn("root", "xrd.example.org", 1094, "/store/", "/a/b") == "root://xrd.example.org:1094/store/a/b"


def test_pfn_of_hash_path_end_to_end():
    h = hashlib.md5(b"user.jdoe:f.root").hexdigest()
    path = lfn2path("user.jdoe", "f.root")
    assert build_pfn("https", "h", 8443, "/lake", path) == f"https://h:8443/lake/user/jdoe/{h[:2]}/{h[2:4]}/f.root"
