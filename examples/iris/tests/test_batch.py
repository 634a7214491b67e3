"""CSV scoring: the fast column-at-once path and the line-by-line checks agree."""

import csv
import io
import random

import pytest

from iris_classifier import batch

# Free text as people write it: the CSV must quote these and read them back whole.
TEXTS = ("Fine.", 'Great, "really" great', "First line\nsecond line", "none")


def make_csv(model, rows=200, seed=0):
    """A valid CSV of the model's inputs, some of them outside the training range."""
    rng = random.Random(seed)
    lines = [list(model.schema.names)]
    for _ in range(rows):
        line = []
        for field in model.schema.fields:
            if field.kind == "category":
                line.append(rng.choice(field.categories))
            elif field.kind == "boolean":
                line.append(rng.choice(["yes", "no"]))
            elif field.kind == "text":
                line.append(rng.choice(TEXTS))
            else:
                low, high = field.minimum, field.maximum
                # Whole numbers step out by at least 1, or rounding keeps them in range.
                margin = 0.1 * (high - low) + (1 if field.kind == "integer" else 0)
                value = rng.uniform(low - margin, high + margin)
                line.append(str(round(value)) if field.kind == "integer" else f"{value:.3f}")
        lines.append(line)
    output = io.StringIO()
    csv.writer(output).writerows(lines)
    return output.getvalue().encode()


def line_by_line(model, body):
    """What score_csv answers when the fast path is switched off."""
    original = batch.number_columns
    batch.number_columns = lambda *args: None
    try:
        return batch.score_csv(model, body)
    finally:
        batch.number_columns = original


def test_both_ways_of_scoring_give_the_same_file(model):
    body = make_csv(model)
    fast = batch.score_csv(model, body)
    assert fast == line_by_line(model, body)
    scored = list(csv.DictReader(io.StringIO(fast)))
    assert len(scored) == 200
    if any(field.kind in ("number", "integer") for field in model.schema.fields):
        assert any(row["warnings"] for row in scored), "some values are outside the range"
    for field in model.schema.fields:
        if field.kind == "text":
            assert {row[field.name] for row in scored} <= set(TEXTS)


@pytest.mark.parametrize("text", ["", "NA", "nan", "inf", "-inf", "1e309", "abc", "1_0", " 2 "])
def test_unusual_numbers_get_the_line_by_line_answer(model, text):
    first = model.schema.fields[0]
    if first.kind not in ("number", "integer"):
        pytest.skip("the first input is not a number")
    records = list(csv.reader(io.StringIO(make_csv(model, rows=3).decode(), newline="")))
    records[2][0] = text
    output = io.StringIO()
    csv.writer(output).writerows(records)
    payload = output.getvalue().encode()
    try:
        expected = line_by_line(model, payload)
    except Exception as error:  # a 400: the same error must come from the fast path
        with pytest.raises(type(error)) as raised:
            batch.score_csv(model, payload)
        assert getattr(raised.value, "errors", None) == getattr(error, "errors", None)
    else:
        assert batch.score_csv(model, payload) == expected


def test_a_quoted_value_may_span_lines_and_its_record_keeps_its_first_line(model):
    text = 'review,stars\n"Good,\nreally ""good""",5\n\nBad,1\n'
    header, records, line_numbers = batch.read_records(model.schema, text)
    assert header == ["review", "stars"]
    assert records == [['Good,\nreally "good"', "5"], ["Bad", "1"]]
    assert line_numbers == [2, 5]


def test_a_label_that_is_another_fields_name_is_read_either_way():
    """Columns "a b" and "a_b" become the fields a_b and a_b_2: a header of labels and a
    header of names each find every field."""
    from iris_classifier.schema import Field, Schema

    schema = Schema([Field("a_b", "a b", "number"), Field("a_b_2", "a_b", "number")])
    assert batch.column_positions(schema, ["a b", "a_b"]) == {"a_b": 0, "a_b_2": 1}
    assert batch.column_positions(schema, ["a_b_2", "a_b"]) == {"a_b_2": 0, "a_b": 1}
