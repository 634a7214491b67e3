"""The input contract: field names, derivation from data, and validation of every bad input."""

import math

import pandas as pd
import pytest

from iris_classifier.schema import Field, Schema, derive_field, safe_names


def test_safe_names_turn_any_column_name_into_an_identifier():
    names = safe_names(["Petal length (cm)", "2nd try", "Größe", "price $", "日本", "a", "A"])
    assert names == ["petal_length_cm", "f_2nd_try", "grosse", "price", "feature_5", "a", "a_2"]
    assert all(name.isidentifier() for name in names)


def test_derive_field_kinds_ranges_defaults_and_gaps():
    number = derive_field("x", "X (cm)", pd.Series([1.5, 2.5, None, 4.0]))
    assert (number.kind, number.minimum, number.maximum, number.required) == (
        "number",
        1.5,
        4.0,
        False,
    )
    assert number.default == 2.5 and number.label == "X (cm)"
    integer = derive_field("n", "n", pd.Series([1, 2, 3, 10]))
    assert (integer.kind, integer.default, integer.required) == ("integer", 2, True)
    category = derive_field("c", "c", pd.Series(["red", " blue", "red", None]))
    assert category.kind == "category" and category.categories == ("blue", "red")
    assert category.default == "red"
    flag = derive_field("b", "b", pd.Series(["yes", "no", "Yes"]))
    assert flag.kind == "boolean" and flag.default is True


@pytest.fixture
def schema():
    return Schema(
        [
            Field("size", "Size (cm)", "number", True, 1.0, 10.0, 5.0),
            Field("count", "Count", "integer", True, 0, 9, 3),
            Field("colour", "Colour", "category", False, default="red", categories=("blue", "red")),
            Field("shiny", "Shiny?", "boolean", True, default=False),
        ]
    )


GOOD = {"size": 2.5, "count": 3, "colour": "blue", "shiny": True}


def test_a_good_row_passes_unchanged(schema):
    values, errors, warnings = schema.validate(GOOD)
    assert (values, errors, warnings) == (GOOD, {}, [])


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"size": None}, "size", "required"),
        ({"size": "2.5"}, "size", "expected a number, got the text '2.5'"),
        ({"size": "NaN"}, "size", "expected a number"),
        ({"size": math.nan}, "size", "finite"),
        ({"size": math.inf}, "size", "finite"),
        ({"size": [1.0]}, "size", "expected a number, got a list"),
        ({"size": {"v": 1}}, "size", "expected a number, got an object"),
        ({"size": True}, "size", "expected a number, got true"),
        ({"count": 2.5}, "count", "whole number"),
        ({"colour": "green"}, "colour", "unknown category 'green'"),
        ({"colour": "Blue"}, "colour", "did you mean 'blue'"),
        ({"colour": 3}, "colour", "expected one of 'blue', 'red'"),
        ({"shiny": "yes"}, "shiny", "expected true or false"),
        ({"extra": 1}, "extra", "unknown field"),
    ],
)
def test_each_bad_value_is_named_with_a_clear_message(schema, change, field, message):
    values, errors, _ = schema.validate({**GOOD, **change})
    assert list(errors) == [field]
    assert message in errors[field]


def test_missing_required_fields_are_all_reported(schema):
    _, errors, _ = schema.validate({})
    assert errors == {"size": "required", "count": "required", "shiny": "required"}


def test_an_optional_field_may_be_missing(schema):
    values, errors, _ = schema.validate({k: v for k, v in GOOD.items() if k != "colour"})
    assert errors == {} and values["colour"] is None


def test_a_row_that_is_not_an_object_is_refused(schema):
    for row in ([], "text", 3, None):
        _, errors, _ = schema.validate(row)
        assert errors == {"_row": "expected an object of field: value pairs"}


def test_out_of_range_is_a_warning_not_an_error(schema):
    values, errors, warnings = schema.validate({**GOOD, "size": 99.0})
    assert errors == {} and values["size"] == 99.0
    assert warnings == [
        "size = 99 is outside the range seen in training (1 to 10); "
        "the prediction may be unreliable"
    ]


def test_text_rows_from_forms_and_csv_are_parsed(schema):
    text = {"size": " 2.5 ", "count": "3", "colour": "blue", "shiny": "yes"}
    values, errors, _ = schema.validate_text(text)
    assert (values, errors) == (GOOD, {})
    _, errors, _ = schema.validate_text({**text, "size": "big", "shiny": "maybe"})
    assert errors == {
        "size": "expected a number, got 'big'",
        "shiny": "expected yes or no, got 'maybe'",
    }
    _, errors, _ = schema.validate_text({**text, "size": "inf"})
    assert "finite" in errors["size"]


def test_json_schema_describes_the_same_contract(schema):
    spec = schema.json_schema()
    assert spec["required"] == ["size", "count", "shiny"]
    assert spec["additionalProperties"] is False
    assert spec["properties"]["colour"]["enum"] == ["blue", "red", None]
    assert spec["properties"]["count"]["type"] == "integer"
    assert spec["properties"]["size"]["title"] == "Size (cm)"


def test_the_schema_round_trips_through_json(schema):
    assert Schema.from_list(schema.to_list()).fields == schema.fields
