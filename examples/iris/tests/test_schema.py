"""The input contract: field names, derivation from data, and validation of every bad input."""

import math

import pandas as pd
import pytest

from iris_classifier.forms import default_texts, describe_field, make_controls
from iris_classifier.schema import (
    INTEGER_LIMIT,
    MAX_ERRORS,
    NUMBER_LIMIT,
    TEXT_EXAMPLE,
    TEXT_MAX_LENGTH,
    Field,
    Schema,
    derive_field,
    safe_names,
    too_large,
)


def test_safe_names_turn_any_column_name_into_an_identifier():
    names = safe_names(["Petal length (cm)", "2nd try", "Größe", "price $", "日本", "a", "A"])
    assert names == ["petal_length_cm", "f_2nd_try", "grosse", "price", "feature_5", "a", "a_2"]
    assert all(name.isidentifier() for name in names)


def test_a_field_name_is_never_another_columns_label():
    columns = ["a b", "a_b", "A", "a", "__class__", "class", "x y", "X Y", "x_y_2"]
    names = ["a_b_2", "a_b", "a_2", "a", "class_2", "class", "x_y", "x_y_3", "x_y_2"]
    assert safe_names(columns) == names


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


@pytest.mark.parametrize(
    "number",
    [2**1024 - 1, 10**400, 1.7e308, 3.5e38, -1e39, NUMBER_LIMIT * 1.000001],
    ids=["2**1024-1", "10**400", "1.7e308", "3.5e38", "-1e39", "just-over"],
)
def test_a_number_beyond_the_limit_is_refused_before_any_arithmetic(schema, number):
    """2**1024 - 1 is too large for a float; 3.5e38 too large for ONNX's 32-bit floats."""
    for name, kind in (("size", "number"), ("count", "integer")):
        _, errors, _ = schema.validate({**GOOD, name: number})
        assert errors == {name: too_large(kind)}


def test_a_number_at_the_limit_is_accepted(schema):
    for number in (NUMBER_LIMIT, -NUMBER_LIMIT, 1e38, 10**38 - 1, 5e-324):
        values, errors, _ = schema.validate({**GOOD, "size": number})
        assert errors == {} and values["size"] == float(number)


def test_a_whole_number_is_limited_to_what_a_float_holds_exactly(schema):
    """2**53: a float (what models read) and int64 (a notebook model's column) hold it."""
    for number in (INTEGER_LIMIT, -INTEGER_LIMIT, float(INTEGER_LIMIT)):
        values, errors, _ = schema.validate({**GOOD, "count": number})
        assert errors == {} and values["count"] == int(number)
    _, errors, _ = schema.validate({**GOOD, "count": INTEGER_LIMIT + 1})
    assert errors == {"count": too_large("integer")}
    assert "9,007,199,254,740,992" in errors["count"]


def test_the_limits_are_exactly_the_ones_the_json_schema_states(schema):
    """JSON Schema compares numbers exactly: 10**38 - 1 is below its maximum of 1e38."""
    spec = schema.json_schema()["properties"]
    assert spec["size"]["maximum"] == 10**38 and isinstance(spec["size"]["maximum"], int)
    assert spec["count"]["maximum"] == 2**53
    assert schema.validate({**GOOD, "size": 10**38 - 1})[1] == {}
    assert schema.validate({**GOOD, "size": 10**38 + 1})[1] == {"size": too_large("number")}


@pytest.mark.parametrize(
    ("text", "message"),
    [("1" + "0" * 400, too_large("number")), ("-inf", "finite")],
    ids=["10**400", "-inf"],
)
def test_a_typed_number_beyond_the_limit_is_refused(schema, text, message):
    _, errors, _ = schema.validate_text({"size": text, "count": "3", "shiny": "no"})
    assert message in errors["size"]


def test_many_unknown_fields_give_a_short_answer(schema):
    row = {**GOOD, **{f"extra_{number}": 1 for number in range(100_000)}}
    _, errors, _ = schema.validate(row)
    assert len(errors) == MAX_ERRORS
    assert list(errors)[:2] == ["extra_0", "extra_1"], "named in the order sent"
    assert errors["_row"] == f"100,000 unknown fields; the first {MAX_ERRORS - 1} are named"
    assert len(str(errors)) < 5_000


def test_long_names_and_values_are_cut_in_messages(schema):
    long = "x" * 1_000_000
    _, errors, _ = schema.validate({**GOOD, long: 1, "colour": long, "size": long})
    assert len(str(errors)) < 1_000
    assert "x" * 40 + "..." in errors
    assert errors["colour"].startswith("unknown category 'xxxx")
    assert errors["size"].endswith("... (1,000,000 characters)")
    assert errors["colour"].endswith("... (1,000,000 characters); expected one of 'blue', 'red'")
    _, errors, _ = schema.validate_text({"size": long, "count": "3", "shiny": long})
    assert len(str(errors)) < 1_000


def test_a_json_number_names_a_category_that_is_that_number():
    """A notebook's encoder may know Pclass as the numbers 1, 2, 3: JSON 3 means "3"."""
    pclass = Schema([Field("pclass", "Pclass", "category", categories=("1", "2", "3"))])
    assert pclass.validate({"pclass": 3})[:2] == ({"pclass": "3"}, {})
    assert pclass.validate({"pclass": 3.0})[:2] == ({"pclass": "3"}, {})
    assert "expected one of" in pclass.validate({"pclass": 4})[1]["pclass"]


def test_an_empty_category_string_is_a_missing_value_as_in_a_form_or_csv(schema):
    """A client filling a JSON body from a form sends "" for a category left unchosen."""
    values, errors, _ = schema.validate({**GOOD, "colour": ""})
    assert errors == {} and values["colour"] is None
    assert schema.validate({**GOOD, "colour": "  "})[:2] == ({**GOOD, "colour": None}, {})
    required = Schema([Field("colour", "Colour", "category", True, categories=("blue", "red"))])
    assert required.validate({"colour": ""})[1] == {"colour": "required"}
    blank_known = Schema([Field("mark", "Mark", "category", True, categories=("", "x"))])
    assert blank_known.validate({"mark": ""})[:2] == ({"mark": ""}, {})


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_string_for_a_number_or_yes_no_is_a_missing_value_too(blank):
    """The same row as CSV (an empty cell) and as JSON ("") gets the same answer."""
    fields = [
        Field("size", "Size (cm)", "number", False, 1.0, 10.0),
        Field("count", "Count", "integer", False, 0, 9),
        Field("shiny", "Shiny?", "boolean", False),
    ]
    optional = Schema(fields)
    row = {"size": blank, "count": blank, "shiny": blank}
    assert optional.validate(row)[:2] == (dict.fromkeys(row), {})
    assert optional.validate(row)[:2] == optional.validate_text(row)[:2]
    required = Schema([Field("size", "Size (cm)", "number", True, 1.0, 10.0)])
    assert required.validate({"size": blank})[1] == {"size": "required"}


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


@pytest.mark.parametrize("word", ["N/A", "NA", "-", "?", "null", "#N/A"])
def test_a_cell_that_means_missing_is_missing_in_a_csv_or_form(schema, word):
    """pandas read these as no value in the training data (a survey's "-" and "?" too):
    the same rows sent as CSV are scored, not refused as an unknown category."""
    text = {"size": "2.5", "count": word, "colour": word, "shiny": "yes"}
    values, errors, _ = schema.validate_text(text)
    assert errors == {"count": "required"}
    values, errors, _ = schema.validate_text({**text, "count": "3"})
    assert errors == {} and values["colour"] is None
    answers = Schema([Field("answer", "Answer", "category", True, categories=("none", "some"))])
    assert answers.validate_text({"answer": "none"})[:2] == ({"answer": "none"}, {})


def test_json_schema_describes_the_same_contract(schema):
    spec = schema.json_schema()
    assert spec["required"] == ["size", "count", "shiny"]
    assert spec["additionalProperties"] is False
    assert spec["properties"]["colour"]["enum"] == ["blue", "red", None]
    assert spec["properties"]["count"]["type"] == "integer"
    assert spec["properties"]["size"]["title"] == "Size (cm)"


def test_json_schema_numbers_have_the_limit(schema):
    spec = schema.json_schema()["properties"]
    assert (spec["size"]["minimum"], spec["size"]["maximum"]) == (-NUMBER_LIMIT, NUMBER_LIMIT)
    assert (spec["count"]["minimum"], spec["count"]["maximum"]) == (-INTEGER_LIMIT, INTEGER_LIMIT)


def test_the_schema_round_trips_through_json(schema):
    assert Schema.from_list(schema.to_list()).fields == schema.fields


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("not a list", "a list of one or more fields"),
        ([], "a list of one or more fields"),
        ([3], "field 1: expected an object, got 3"),
        ([{"name": "x"}], "field 1: 'label' must be text"),
        ([{"name": "x", "label": "x", "kind": "colour"}], "kind 'colour' is not one of"),
        ([{"name": "x", "label": "x", "kind": "number", "size": 3}], "unknown keys ['size']"),
        ([{"name": "x", "label": "x", "kind": "number", "minimum": "1"}], "'minimum' must be"),
        ([{"name": "x", "label": "x", "kind": "category"}], "needs a list of categories"),
        ([{"name": "x", "label": "x", "kind": "category", "categories": [1]}], "must be text"),
        ([{"name": "x", "label": "x", "kind": "integer", "default": "a"}], "the default 'a'"),
    ],
)
def test_a_damaged_schema_says_what_is_wrong(change, message):
    with pytest.raises(ValueError) as raised:
        Schema.from_list(change)
    assert message in str(raised.value)


# --- free text (a review, a message): built here, the project's model may have none ---


@pytest.fixture
def reviews():
    return Schema(
        [
            Field("review", "Review", "text", True),
            Field("note", "Note", "text", False),
            Field("stars", "Stars", "integer", True, 1, 5, 4),
        ]
    )


def test_text_is_kept_as_typed(reviews):
    review = 'Great, "really" great.\nWould buy again <3'
    values, errors, warnings = reviews.validate({"review": review, "stars": 5})
    assert (errors, warnings) == ({}, [])
    assert values == {"review": review, "note": None, "stars": 5}


@pytest.mark.parametrize("word", ["none", "NA", "null", "n/a", "nan", "0", "no"])
def test_words_that_mean_missing_elsewhere_are_text_here(reviews, word):
    values, errors, _ = reviews.validate_text({"review": word, "note": word, "stars": "4"})
    assert errors == {} and values["review"] == word and values["note"] == word


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_empty_or_blank_text_is_missing(reviews, blank):
    _, errors, _ = reviews.validate({"review": blank, "note": blank, "stars": 4})
    assert errors == {"review": "required"}
    values, errors, _ = reviews.validate({"review": "ok", "note": blank, "stars": 4})
    assert errors == {} and values["note"] is None
    _, errors, _ = reviews.validate_text({"review": blank, "note": blank, "stars": "4"})
    assert errors == {"review": "required"}


@pytest.mark.parametrize(
    ("value", "message"),
    [(3, "expected text, got 3"), (True, "expected text, got true"), (["a"], "got a list")],
)
def test_a_value_that_is_not_text_is_refused(reviews, value, message):
    _, errors, _ = reviews.validate({"review": value, "stars": 4})
    assert list(errors) == ["review"] and message in errors["review"]


def test_text_over_the_limit_names_the_limit_and_the_length(reviews):
    longest = "a" * TEXT_MAX_LENGTH
    values, errors, _ = reviews.validate({"review": longest, "stars": 4})
    assert errors == {} and values["review"] == longest
    _, errors, _ = reviews.validate({"review": longest + "!", "stars": 4})
    assert errors == {"review": "text too long: 10,001 characters, the limit is 10,000"}


def test_text_from_a_form_or_csv_gives_the_same_value_as_json(reviews):
    row = {"review": "  Fine, thanks.  ", "note": "", "stars": 3}
    as_text = {"review": "  Fine, thanks.  ", "note": "", "stars": "3"}
    assert reviews.validate_text(as_text) == reviews.validate(row)
    values, _, _ = reviews.validate(row)
    assert values["review"] == "  Fine, thanks.  " and values["note"] is None


def test_text_in_the_json_schema(reviews):
    spec = reviews.json_schema()
    assert spec["required"] == ["review", "stars"]
    limits = {"minLength": 1, "maxLength": TEXT_MAX_LENGTH}
    assert spec["properties"]["review"] == {"title": "Review", "type": "string", **limits}
    assert spec["properties"]["note"] == {"title": "Note", "type": ["string", "null"], **limits}


def test_a_text_field_makes_the_matrix_hold_objects(reviews):
    assert not reviews.all_numeric
    values, _, _ = reviews.validate({"review": "ok", "stars": 4})
    assert reviews.to_matrix([values]).dtype == object


def test_text_defaults_are_an_example_never_training_data(reviews):
    assert reviews.defaults() == {"review": TEXT_EXAMPLE, "note": TEXT_EXAMPLE, "stars": 4}
    assert reviews.validate(reviews.defaults())[1] == {}
    own = Schema([Field("review", "Review", "text", True, default="Nice.")])
    assert own.defaults() == {"review": "Nice."}


def test_a_text_field_is_a_textarea_in_the_form(reviews):
    review, note, _ = make_controls(reviews)
    assert (review.widget, review.required, review.max_length) == ("textarea", True, "10000")
    assert (note.widget, note.required) == ("textarea", False)
    assert default_texts(reviews)["review"] == TEXT_EXAMPLE
    assert describe_field(reviews.fields[0]) == "free text, up to 10,000 characters"
