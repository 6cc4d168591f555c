import pytest

from lake.core.errors import InvalidFilter
from lake.core.filters import Term, filters_from_dicts, parse_filters, typed_value


def test_docs_example_parses_into_or_of_and_groups():
    assert parse_filters("type=DATASET,run>=100;name=calib*") == [
        [Term("type", "=", "DATASET"), Term("run", ">=", 100)],
        [Term("name", "=", "calib*")],
    ]


@pytest.mark.parametrize("op", ["=", "!=", "<", ">", "<=", ">="])
def test_every_operator_is_recognised(op):
    assert parse_filters(f"run{op}5") == [[Term("run", op, 5)]]


def test_whitespace_around_keys_operators_and_values_is_ignored():
    assert parse_filters(" run >= 5 , project = data 24 ; x=1 ") == [
        [Term("run", ">=", 5), Term("project", "=", "data 24")],
        [Term("x", "=", 1)],
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("-3", -3),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("FALSE", False),
        ("abc", "abc"),
        ("1_000", "1_000"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("2024-01-01", "2024-01-01"),
    ],
)
def test_values_are_typed(text, value):
    typed = typed_value(text)
    assert typed == value
    assert type(typed) is type(value)


def test_did_columns_keep_text_values():
    [[name, kind]] = parse_filters("name=123,type=true")
    assert name.value == "123"
    assert kind.value == "true"


def test_wildcard_is_flagged_and_kept_as_text():
    [[term]] = parse_filters("run!=12*")
    assert term.is_wildcard
    assert term.value == "12*"
    assert not parse_filters("run=12")[0][0].is_wildcard


@pytest.mark.parametrize("op", ["<", ">", "<=", ">="])
def test_wildcard_with_ordering_operator_is_rejected(op):
    with pytest.raises(InvalidFilter, match="wildcard"):
        parse_filters(f"name{op}abc*")


def test_name_and_type_are_did_columns_and_other_keys_metadata():
    terms = parse_filters("name=a,type=FILE,run=1")[0]
    assert [t.is_did_column for t in terms] == [True, True, False]


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("run.gt=5", Term("run", ">", 5)),
        ("run.gte=5", Term("run", ">=", 5)),
        ("run.lt=5", Term("run", "<", 5)),
        ("run.lte=5", Term("run", "<=", 5)),
        ("name.ne=x*", Term("name", "!=", "x*")),
    ],
)
def test_rucio_suffix_operators_are_aliases(text, term):
    assert parse_filters(text) == [[term]]


def test_suffix_and_operator_together_are_rejected():
    with pytest.raises(InvalidFilter, match="already names the operator"):
        parse_filters("run.gt>5")


def test_unknown_suffix_is_part_of_the_key():
    assert parse_filters("conditions.tag=v1") == [[Term("conditions.tag", "=", "v1")]]


@pytest.mark.parametrize("text", ["run=>5", "run==5", "run<>5", "run!5", "run=!5", "run=<5"])
def test_unknown_operator_is_rejected(text):
    with pytest.raises(InvalidFilter, match="unknown operator"):
        parse_filters(text)


@pytest.mark.parametrize("text", ["=5", " >= 5", "run=1,=2"])
def test_empty_key_is_rejected(text):
    with pytest.raises(InvalidFilter, match="empty key"):
        parse_filters(text)


def test_term_without_operator_is_rejected():
    with pytest.raises(InvalidFilter, match="no operator"):
        parse_filters("run")


def test_empty_value_is_rejected():
    with pytest.raises(InvalidFilter, match="empty value"):
        parse_filters("run=")


@pytest.mark.parametrize("text", ["a=1,,b=2", "a=1,", ",a=1"])
def test_empty_term_is_rejected(text):
    with pytest.raises(InvalidFilter, match="empty term"):
        parse_filters(text)


@pytest.mark.parametrize("text", ["a=1;;b=2", "a=1;", ";a=1"])
def test_empty_group_is_rejected(text):
    with pytest.raises(InvalidFilter, match="empty OR-group"):
        parse_filters(text)


def test_invalid_key_characters_are_rejected():
    with pytest.raises(InvalidFilter, match="invalid filter key"):
        parse_filters("ru n=5")


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_text_means_no_filter(text):
    assert parse_filters(text) == []


def test_term_checks_its_own_operator():
    with pytest.raises(InvalidFilter, match="unknown operator"):
        Term("run", "~", 5)


def test_rucio_dicts_give_the_same_model_as_text():
    dicts = [{"type": "DATASET", "run.gte": "100"}, {"name": "calib*"}]
    assert filters_from_dicts(dicts) == parse_filters("type=DATASET,run>=100;name=calib*")


def test_dict_values_keep_python_types():
    assert filters_from_dicts([{"run_number.gte": 5, "valid": True, "ratio.lt": 0.5}]) == [
        [Term("run_number", ">=", 5), Term("valid", "=", True), Term("ratio", "<", 0.5)]
    ]


def test_single_dict_is_one_group():
    assert filters_from_dicts({"name": "x*"}) == [[Term("name", "=", "x*")]]


def test_empty_dict_is_an_empty_and_group():
    assert filters_from_dicts([{}]) == [[]]


@pytest.mark.parametrize("value", [None, [1, 2], {"a": 1}])
def test_dict_value_of_unsupported_type_is_rejected(value):
    with pytest.raises(InvalidFilter, match="unsupported value"):
        filters_from_dicts([{"run": value}])


def test_dict_wildcard_with_suffix_operator_is_rejected():
    with pytest.raises(InvalidFilter, match="wildcard"):
        filters_from_dicts([{"name.gt": "a*"}])


def test_non_dict_group_is_rejected():
    with pytest.raises(InvalidFilter, match="must be a dict"):
        filters_from_dicts(["name=x"])  # type: ignore[list-item]
