"""CSV scoring: the fast column-at-once path and the line-by-line checks agree."""

import csv
import io
import random

import pytest

from iris_classifier import batch


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
            else:
                low, high = field.minimum, field.maximum
                value = rng.uniform(low - 0.1 * (high - low), high + 0.1 * (high - low))
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
    assert any(row["warnings"] for row in scored), "some values are outside the training range"


def test_the_fast_path_is_taken_when_every_input_is_a_number(model):
    records = [line for line in csv.reader(io.StringIO(make_csv(model, rows=5).decode()))]
    positions = {name: i for i, name in enumerate(records[0])}
    result = batch.number_columns(model.schema, records[0], records[1:], positions)
    numeric = all(field.kind in ("number", "integer") for field in model.schema.fields)
    assert (result is not None) == (numeric and not model.input_columns)


@pytest.mark.parametrize("text", ["", "NA", "nan", "inf", "-inf", "1e309", "abc", "1_0", " 2 "])
def test_unusual_numbers_get_the_line_by_line_answer(model, text):
    first = model.schema.fields[0]
    if first.kind not in ("number", "integer"):
        pytest.skip("the first input is not a number")
    body = make_csv(model, rows=3).decode().splitlines()
    cells = body[2].split(",")
    cells[0] = f'"{text}"'
    body[2] = ",".join(cells)
    payload = ("\n".join(body) + "\n").encode()
    try:
        expected = line_by_line(model, payload)
    except Exception as error:  # a 400: the same error must come from the fast path
        with pytest.raises(type(error)) as raised:
            batch.score_csv(model, payload)
        assert getattr(raised.value, "errors", None) == getattr(error, "errors", None)
    else:
        assert batch.score_csv(model, payload) == expected
