import pytest

from lake.core.errors import InvalidRSEExpression
from lake.core.rse_expression import (
    AllRSEs,
    AttributeCompare,
    AttributeEquals,
    BinaryOp,
    parse,
    resolve,
)

RSES = {
    "CERN-EOSPILOT": {"tier": "1", "country": "CH", "site": "CERN", "QOS": "FAST", "freespace": 900},
    "DESY-DCACHE": {"tier": 2, "country": "DE", "site": "DESY", "QOS": "SAFE", "freespace": "300"},
    "LAPP-DCACHE": {
        "tier": "2",
        "country": "FR",
        "site": "FOO",
        "QOS": "FAST",
        "available_for_multihop": True,
    },
    "IN2P3-CC": {"tier": "2", "country": "FR", "site": "IN2P3", "istape": "True", "freespace": "1000"},
    "PIC-TAPE": {"tier": "1", "country": "ES", "istape": True, "type": "TEST", "freespace": "n/a"},
    "TEST-DISK": {
        "tier": "3",
        "country": "DE",
        "type": "TEST",
        "available_for_multihop": "true",
        "freespace": 600.5,
    },
}


def test_star_selects_every_rse():
    assert resolve("*", RSES) == set(RSES)


def test_bare_rse_name_selects_itself():
    assert resolve("CERN-EOSPILOT", RSES) == {"CERN-EOSPILOT"}


def test_explicit_name_attribute_true_is_honoured():
    assert resolve("X", {"A": {"X": True}, "B": {"X": "True"}, "C": {"X": "no"}}) == {"A", "B"}


def test_key_value_selects_tagged_rses():
    assert resolve("QOS=FAST", RSES) == {"CERN-EOSPILOT", "LAPP-DCACHE"}


def test_tier_in_germany_or_france():
    assert resolve("tier=2&(country=DE|country=FR)", RSES) == {"DESY-DCACHE", "LAPP-DCACHE", "IN2P3-CC"}


def test_difference_removes_matching_rses():
    assert resolve("tier=2&(country=DE|country=FR)\\site=FOO", RSES) == {"DESY-DCACHE", "IN2P3-CC"}


def test_istape_true_matches_boolean_and_string_values_case_insensitively():
    assert resolve("istape=true", RSES) == {"IN2P3-CC", "PIC-TAPE"}
    assert resolve("istape=True", RSES) == {"IN2P3-CC", "PIC-TAPE"}


def test_multihop_candidates_with_enough_free_space():
    assert resolve("available_for_multihop=true&freespace>500", RSES) == {"TEST-DISK"}


def test_everything_except_test_rses():
    assert resolve("*\\type=TEST", RSES) == {"CERN-EOSPILOT", "DESY-DCACHE", "LAPP-DCACHE", "IN2P3-CC"}


def test_values_compare_as_strings_so_int_attribute_matches_its_text():
    assert "DESY-DCACHE" in resolve("tier=2", RSES)


def test_numeric_comparison_skips_non_numeric_and_boolean_attributes():
    rses = {"A": {"size": "n/a"}, "B": {"size": True}, "C": {"size": "5"}, "D": {"size": 1.5}, "E": {}}
    assert resolve("size<10", rses) == {"C", "D"}
    assert resolve("size>2", rses) == {"C"}


def test_numeric_comparison_accepts_decimal_and_negative_numbers():
    assert resolve("freespace>600.25", RSES) == {"CERN-EOSPILOT", "IN2P3-CC", "TEST-DISK"}
    assert resolve("freespace>-1&freespace<301", RSES) == {"DESY-DCACHE"}


def test_operators_fold_left_without_precedence():
    # (CERN | DESY) & tier=2 == {DESY}; with precedence it would be CERN | (DESY & tier=2) == {CERN, DESY}
    assert resolve("CERN-EOSPILOT|DESY-DCACHE&tier=2", RSES) == {"DESY-DCACHE"}
    assert parse("A|B&C") == parse("(A|B)&C")


def test_parentheses_override_the_left_fold():
    assert resolve("CERN-EOSPILOT|(DESY-DCACHE&tier=2)", RSES) == {"CERN-EOSPILOT", "DESY-DCACHE"}


def test_difference_folds_left_too():
    assert resolve("*\\tier=2\\tier=3", RSES) == {"CERN-EOSPILOT", "PIC-TAPE"}


def test_empty_intermediate_set_is_fine_when_final_result_is_not():
    assert resolve("country=XX|QOS=SAFE", RSES) == {"DESY-DCACHE"}


def test_empty_result_is_an_error():
    with pytest.raises(InvalidRSEExpression, match="no RSE matches 'country=XX'"):
        resolve("country=XX", RSES)


def test_no_rses_at_all_is_an_empty_result():
    with pytest.raises(InvalidRSEExpression, match="no RSE matches"):
        resolve("*", {})


def test_parse_builds_a_left_folded_ast():
    assert parse("*\\tier>1|QOS=FAST") == BinaryOp(
        "|", BinaryOp("\\", AllRSEs(), AttributeCompare("tier", ">", 1.0)), AttributeEquals("QOS", "FAST")
    )


def test_bare_ident_parses_as_attribute_true():
    assert parse("CERN-EOSPILOT") == AttributeEquals("CERN-EOSPILOT", True)


def test_nested_parentheses_parse():
    assert parse("((A))") == AttributeEquals("A")
    assert resolve("((CERN-EOSPILOT|(DESY-DCACHE)))", RSES) == {"CERN-EOSPILOT", "DESY-DCACHE"}


def test_parse_results_are_cached():
    assert parse("tier=1|tier=2") is parse("tier=1|tier=2")


@pytest.mark.parametrize("expression", ["(A|B", "A|B)", ")A(", "(A))(", "((A)"])
def test_unbalanced_parentheses_are_rejected(expression):
    with pytest.raises(InvalidRSEExpression, match="unbalanced parentheses"):
        parse(expression)


@pytest.mark.parametrize("expression", ["A||B", "|A", "A|", "()", "A&()", "(|A)", "A\\"])
def test_empty_terms_are_rejected(expression):
    with pytest.raises(InvalidRSEExpression, match="term"):
        parse(expression)


@pytest.mark.parametrize("expression", ["A B", "A,B", "tier=2;x", "name=a/b", "A!B", "A^B", "tier=é"])
def test_bad_characters_are_rejected(expression):
    with pytest.raises(InvalidRSEExpression, match="invalid character"):
        parse(expression)


def test_empty_expression_is_rejected():
    with pytest.raises(InvalidRSEExpression, match="empty"):
        parse("")


@pytest.mark.parametrize("expression", ["istape", "cern-eos", "A*", "**", "a=b=c", "=x", "tier=", "a<b<1"])
def test_malformed_terms_are_rejected(expression):
    with pytest.raises(InvalidRSEExpression, match="invalid term"):
        parse(expression)


@pytest.mark.parametrize("expression", ["freespace>big", "tier<1a", "x>inf"])
def test_comparison_needs_a_number(expression):
    with pytest.raises(InvalidRSEExpression, match="not a number"):
        parse(expression)


@pytest.mark.parametrize("expression", ["(A)B", "(A)(B)", "A(B)"])
def test_missing_operator_between_terms_is_rejected(expression):
    with pytest.raises(InvalidRSEExpression):
        parse(expression)


def test_non_string_expression_is_rejected():
    with pytest.raises(InvalidRSEExpression, match="must be a string"):
        parse(["A"])  # type: ignore[arg-type]
