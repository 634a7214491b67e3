"""What training decides each column is (template columns.py), on columns made here."""

import importlib.util
import sys
import uuid

import numpy as np
import pandas as pd
import pytest
from conftest import TEMPLATE

PACKAGE = TEMPLATE / "template" / "src" / "{{package_name}}"


@pytest.fixture(scope="module")
def columns():
    """The template's columns.py, imported as part of a package (it imports .schema)."""
    spec = importlib.util.spec_from_loader("template_pkg", loader=None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(PACKAGE)]
    sys.modules["template_pkg"] = package
    try:
        yield importlib.import_module("template_pkg.columns")
    finally:
        for name in [n for n in sys.modules if n.startswith("template_pkg")]:
            del sys.modules[name]


def kind(columns, values, name="column"):
    return columns.decide(pd.Series(values, name=name)).kind


DATES = pd.Series(pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(0, 400, 5), unit="D"))


def test_day_first_dates_are_read_day_first(columns):
    frame = pd.DataFrame(
        {"iso": DATES.dt.strftime("%Y-%m-%d"), "dmy": DATES.dt.strftime("%d/%m/%Y")}
    )
    inputs, decisions, _ = columns.expand(frame)
    assert [d.kind for d in decisions] == ["date", "date"]
    assert "day/month/year" in decisions[1].reason
    for part in ("year", "month", "day of week"):
        assert inputs[f"iso ({part})"].tolist() == inputs[f"dmy ({part})"].tolist()
    assert inputs["iso (month)"].tolist() == DATES.dt.month.tolist()


def test_month_first_dates_and_timestamps(columns):
    frame = pd.DataFrame(
        {
            "mdy": DATES.dt.strftime("%m/%d/%Y"),
            "stamp": DATES.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "german": DATES.dt.strftime("%d.%m.%Y 10:30"),
        }
    )
    inputs, decisions, _ = columns.expand(frame)
    assert [d.kind for d in decisions] == ["date", "date", "date"]
    for name in frame.columns:
        assert inputs[f"{name} (month)"].tolist() == DATES.dt.month.tolist(), name
        assert inputs[f"{name} (day of week)"].tolist() == DATES.dt.day_of_week.tolist(), name


def test_codes_and_long_numbers_are_identifiers_not_text(columns):
    rng = np.random.default_rng(0)
    uuids = [str(uuid.UUID(int=int(rng.integers(2**62)) << 64)) for _ in range(60)]
    assert kind(columns, uuids, "token") == "identifier"
    phones = rng.permutation(np.arange(4930100000, 4930100060))
    assert kind(columns, phones, "phone") == "identifier"
    assert kind(columns, rng.permutation(np.arange(1000, 1060)), "CustomerID") == "identifier"
    # A name that merely ends in "id" is not an id; unique amounts stay numbers.
    assert kind(columns, rng.permutation(np.arange(1000, 1060)), "amount_paid") == "integer"
    reviews = [f"great film, loved it {i}" for i in range(60)]
    assert kind(columns, reviews, "review") == "text"


def test_constant_and_empty_columns_are_left_out_with_the_right_words(columns):
    frame = pd.DataFrame({"same": ["x"] * 30, "empty": [None] * 30, "n": range(30, 0, -1)})
    _, decisions, _ = columns.expand(frame)
    assert [d.kind for d in decisions] == ["identifier", "identifier", "integer"]
    lines = columns.report(decisions)
    assert "same value in every row" in lines[0]
    assert lines[1].split() == ["empty", "left", "out:", "no", "values", "at", "all."]
    # A value or a gap may mean something: that column is kept.
    assert kind(columns, ["x", None] * 15) != "identifier"


def test_the_day_of_week_input_says_which_number_is_which_day(columns):
    inputs, _, kinds = columns.expand(pd.DataFrame({"Signup": DATES.dt.strftime("%Y-%m-%d")}))
    label = "Signup (day of week)"
    field = columns.make_field("signup_day_of_week", label, inputs[label], kinds[label])
    assert field.label == "Signup (day of week: 0 = Monday to 6 = Sunday)"
    assert (field.name, field.minimum, field.maximum) == ("signup_day_of_week", 0, 6)


def test_a_small_table_of_names_does_not_publish_them_as_categories(columns):
    names = ["Ann Lee", "Bo Kim", "Cy Young", "Di Park", "Ed Wu", "Flo Ng", "Gus Oh", "Hal Li"]
    assert kind(columns, names, "name") == "identifier"
    assert kind(columns, ["red", "blue", "red", "green", "blue", "red"], "colour") == "category"


def test_numbers_with_a_dash_or_question_mark_for_a_gap_are_numbers(columns):
    """A survey's export: "-" or "?" where there is no value (pandas reads "N/A" itself)."""
    values = [str(1.5 + n / 10) for n in range(40)] + ["-", "?", "N/A", None]
    decision = columns.decide(pd.Series(values, name="length"))
    assert decision.kind == "number"
    inputs, _, kinds = columns.expand(pd.DataFrame({"length": values}))
    assert kinds == {"length": "number"}
    assert inputs["length"].isna().sum() == 4 and inputs["length"].iloc[0] == 1.5
    assert kind(columns, [str(n % 5 + 1) for n in range(30)] + ["-"] * 3, "stars") == "integer"


@pytest.mark.parametrize(
    "values",
    [
        [f"${n * 37:,}.50" for n in range(30, 90)],
        [f"{n * 997:,}" for n in range(30, 90)],
        [f"{n % 40}%" for n in range(60)],
    ],
)
def test_numbers_written_for_people_are_left_out_with_how_to_use_them(columns, values):
    decision = columns.decide(pd.Series(values, name="price"))
    assert decision.kind == "identifier"
    advice = columns.how_to_include(decision)
    assert "write its values as plain numbers in the CSV" in advice and "$" not in advice[:40]


def test_a_number_kind_on_values_that_are_not_numbers_names_the_column(columns):
    frame = pd.DataFrame({"price": ["$1,200", "$3,400", "-", "15"]})
    with pytest.raises(ValueError, match=r"'price' is a number .* 2 of its 4 values are not"):
        columns.expand(frame, {"price": "number"})
    inputs, _, _ = columns.expand(pd.DataFrame({"price": ["12", "-", "15.5"]}), {"price": "number"})
    assert inputs["price"].isna().tolist() == [False, True, False]
