import pytest

from lake.core.errors import InvalidInput, InvalidName
from lake.core.names import (
    parse_did,
    validate_account,
    validate_attribute_key,
    validate_did_name,
    validate_rse_name,
    validate_scope,
)


@pytest.mark.parametrize("name", ["root", "jdoe", "svc-transfer_1", "a" * 25])
def test_valid_account_is_returned_unchanged(name):
    assert validate_account(name) == name


@pytest.mark.parametrize("name", ["", "JDoe", "j.doe", "j doe", "a" * 26, "jdoe@vo"])
def test_invalid_account_raises_invalid_name(name):
    with pytest.raises(InvalidName):
        validate_account(name)


def test_too_long_account_message_names_the_limit():
    with pytest.raises(InvalidName, match="limit 25"):
        validate_account("a" * 26)


def test_invalid_name_is_an_invalid_input_with_status_400():
    with pytest.raises(InvalidInput) as caught:
        validate_account("Bad")
    assert caught.value.status == 400
    assert caught.value.code == "InvalidName"


@pytest.mark.parametrize("scope", ["user.jdoe", "SKA_SKAO_TEAM", "group.phys-higgs", "data24_13p6TeV"])
def test_valid_scope_is_accepted(scope):
    assert validate_scope(scope) == scope


@pytest.mark.parametrize("scope", ["", "user/jdoe", "scope:x", "x" * 26, "with space"])
def test_invalid_scope_raises_invalid_name(scope):
    with pytest.raises(InvalidName):
        validate_scope(scope)


@pytest.mark.parametrize("name", ["file.root", "a", "9-x", "x" * 250])
def test_valid_did_name_is_accepted(name):
    assert validate_did_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "_x", "a:b", "a b", "x" * 251, "é.root"])
def test_invalid_did_name_raises_invalid_name(name):
    with pytest.raises(InvalidName):
        validate_did_name(name)


def test_did_name_error_says_which_characters_are_allowed():
    with pytest.raises(InvalidName, match="must start with a letter, a digit or '/'"):
        validate_did_name(".x")


@pytest.mark.parametrize("rse", ["CERN-EOSPILOT", "DESY_DCACHE", "X1", "A-B_C-1"])
def test_valid_rse_name_is_accepted(rse):
    assert validate_rse_name(rse) == rse


@pytest.mark.parametrize("rse", ["", "cern", "CERN--X", "CERN-", "-CERN", "CERN.X", "CERN_x"])
def test_invalid_rse_name_raises_invalid_name(rse):
    with pytest.raises(InvalidName, match="RSE name"):
        validate_rse_name(rse)


@pytest.mark.parametrize("key", ["tier", "QOS", "lfn2pfn_algorithm", "oidc.base-path", "CERN-EOSPILOT"])
def test_valid_attribute_key_is_accepted(key):
    assert validate_attribute_key(key) == key


@pytest.mark.parametrize("key", ["", "a=b", "a<b", "a|b", ".x", "with space", "k" * 256])
def test_attribute_key_with_expression_characters_is_rejected(key):
    with pytest.raises(InvalidName):
        validate_attribute_key(key)


def test_parse_did_splits_scope_and_name():
    assert parse_did("user.jdoe:run/001/f.root") == ("user.jdoe", "run/001/f.root")


def test_parse_did_without_colon_asks_for_scope_name():
    with pytest.raises(InvalidName, match="scope:name"):
        parse_did("user.jdoe")


@pytest.mark.parametrize("did", [":name", "scope:", "bad scope:x", "scope:.x", "s:a:b"])
def test_parse_did_validates_both_parts(did):
    with pytest.raises(InvalidName):
        parse_did(did)


def test_non_string_name_is_rejected():
    with pytest.raises(InvalidName, match="must be a string"):
        validate_scope(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a/../b", "a//b", "/a", "a/", "a/./b", ".."])
def test_did_names_that_would_make_unsafe_storage_paths_are_refused(name):
    with pytest.raises(InvalidName):
        validate_did_name(name)


def test_dot_scopes_are_refused():
    with pytest.raises(InvalidName):
        validate_scope("..")
