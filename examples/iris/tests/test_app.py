"""The web service through Flask's test client: every route and every kind of bad input.

The inputs come from the model's schema, so these tests fit whatever the model was
trained on; a test that needs a kind of field the model lacks is skipped.
"""

import csv
import io
import json
import logging
import math
import re
import time

import pytest
from markupsafe import escape

from iris_classifier.api import MAX_JSON_ROWS
from iris_classifier.app import create_app
from iris_classifier.forms import default_texts
from iris_classifier.schema import LIMITS, MAX_ERRORS, too_large
from iris_classifier.settings import Settings, SettingsError, from_env

NUMBERS = ("number", "integer")
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def first_field(model, kinds, required=None):
    for field in model.schema.fields:
        if field.kind in kinds and required in (None, field.required):
            return field
    pytest.skip(f"the model has no {' or '.join(kinds)} input")


def post_json(client, payload):
    """POST /predict with a JSON body (payload as text is sent as it is)."""
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    response = client.post("/predict", data=body, content_type="application/json")
    return response.status_code, response.get_json()


def strict_json(response):
    """The body as JSON, refusing NaN and Infinity as every other JSON reader does."""

    def refuse(name):
        raise AssertionError(f"{name} in a JSON answer: {response.get_data(as_text=True)[:200]}")

    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def to_csv(rows):
    output = io.StringIO()
    writer = csv.writer(output)
    for row in rows:
        writer.writerow(row)
    return output.getvalue()


def bad_text(field):
    return {"category": "no such thing", "boolean": "maybe"}.get(field.kind, "abc")


# --- the form ---


def test_the_form_has_a_labelled_control_per_field_with_defaults(client, model):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    texts = default_texts(model.schema)
    for field in model.schema.fields:
        assert f'<label for="f-{field.name}">' in page
        assert f'id="f-{field.name}" name="{field.name}"' in page
        if field.kind in NUMBERS:
            assert f'value="{texts[field.name]}"' in page
            assert f'min="{field.minimum!r}"' in page and f'step="{field.step}"' in page
        elif field.kind == "category":
            for category in field.categories[:5]:
                assert f'<option value="{escape(category)}"' in page
        elif field.kind == "text":
            assert f'<textarea id="f-{field.name}"' in page
            assert f"{escape(texts[field.name])}</textarea>" in page
        else:
            assert 'type="checkbox"' in page
    assert "https://" not in page.split("<main")[0], "no CDN: everything is served locally"


def test_posting_the_form_predicts_and_keeps_the_values(client, model):
    texts = default_texts(model.schema)
    response = client.post("/", data={k: v for k, v in texts.items() if v != "false"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="prediction"' in page
    if model.has_probabilities:
        assert 'class="bars"' in page
        for name in model.classes:
            assert f'<span class="bar-label">{escape(name)}</span>' in page
    field = first_field(model, NUMBERS)
    assert f'value="{texts[field.name]}"' in page


def test_a_bad_form_value_is_shown_at_its_field_with_status_400(client, model):
    field = first_field(model, NUMBERS + ("category",))
    data = {**default_texts(model.schema), field.name: bad_text(field)}
    response = client.post("/", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'<p class="error" id="e-{field.name}">' in page
    assert 'aria-invalid="true"' in page
    assert f'href="#f-{field.name}"' in page, "the summary links to the field"
    assert 'id="prediction"' not in page


def test_an_empty_required_form_field_says_required(client, model):
    field = first_field(model, NUMBERS, required=True)
    response = client.post("/", data={**default_texts(model.schema), field.name: ""})
    assert response.status_code == 400
    assert f'<p class="error" id="e-{field.name}">required</p>' in response.get_data(as_text=True)


def test_typed_text_comes_back_escaped_after_a_prediction(client, model):
    field = first_field(model, ("text",))
    typed = 'Great, "really" <b>great</b> & cheap.\nSecond line.'
    data = {**default_texts(model.schema), field.name: typed.replace("\n", "\r\n")}
    response = client.post("/", data={k: v for k, v in data.items() if v != "false"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="prediction"' in page
    assert f"{escape(typed)}</textarea>" in page
    assert "<b>" not in page


@pytest.mark.parametrize(("typed", "message"), [("  ", "required"), ("a" * 10_001, "10,001")])
def test_blank_or_too_long_text_is_shown_at_its_field(client, model, typed, message):
    field = first_field(model, ("text",), required=True)
    response = client.post("/", data={**default_texts(model.schema), field.name: typed})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'<p class="error" id="e-{field.name}">' in page and message in page


def test_out_of_range_predicts_with_a_warning(client, model):
    field = first_field(model, NUMBERS)
    far = field.maximum + 10 * (field.maximum - field.minimum + 1)
    response = client.post("/", data={**default_texts(model.schema), field.name: str(far)})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="prediction"' in page
    assert "outside the range seen in training" in page


def test_an_unchecked_box_means_false(client, model):
    field = first_field(model, ("boolean",))
    data = {k: v for k, v in default_texts(model.schema).items() if k != field.name}
    assert client.post("/", data=data).status_code == 200
    assert client.post("/", data={**data, field.name: "true"}).status_code == 200


def test_html_typed_into_the_form_comes_back_escaped(client, model):
    field = first_field(model, NUMBERS + ("category",))
    script = "<script>alert(1)</script>"
    response = client.post("/", data={**default_texts(model.schema), field.name: script})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert script not in page
    assert "&lt;script&gt;" in page


# --- the JSON API ---


def test_one_row_gives_a_prediction_probabilities_and_warnings(client, model, row):
    status, body = post_json(client, row)
    assert status == 200
    assert body["warnings"] == []
    if model.has_probabilities:
        assert list(body) == ["prediction", "probabilities", "warnings"]
        assert body["prediction"] in model.classes
        assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    else:
        assert list(body) == ["prediction", "warnings"]


def test_a_list_of_rows_gives_one_prediction_each(client, model, row):
    field = first_field(model, NUMBERS)
    far = {**row, field.name: field.maximum + 1000}
    status, body = post_json(client, [row, far, row])
    assert status == 200
    assert len(body["predictions"]) == 3
    first, _, third = body["predictions"]
    assert first["prediction"] == pytest.approx(third["prediction"])
    assert first.get("probabilities") == pytest.approx(third.get("probabilities"), abs=1e-9)
    assert "outside the range seen in training" in body["predictions"][1]["warnings"][0]


def test_a_json_list_longer_than_the_row_limit_is_refused_and_points_to_csv(app, client, row):
    too_many = json.dumps([row] * (MAX_JSON_ROWS + 1))
    status, body = post_json(client, too_many)
    if len(too_many) > app.config["MAX_CONTENT_LENGTH"]:
        assert status == 413  # rows this wide reach the size limit before the row limit
        return
    assert status == 400
    assert f"at most {MAX_JSON_ROWS:,}" in body["error"]
    assert "CSV" in body["error"]
    status, _ = post_json(client, [row] * MAX_JSON_ROWS)
    assert status == 200


def test_a_csv_body_comes_back_with_prediction_columns(client, model):
    texts = default_texts(model.schema)
    names = list(texts)
    body = to_csv([["id", *names], ["a", *texts.values()], ["b", *texts.values()]])
    response = client.post("/predict", data=body, content_type="text/csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    expected = ["id", *names, "prediction"]
    if model.has_probabilities:
        expected += [f"probability_{c}" for c in model.classes]
    assert lines[0] == [*expected, "warnings"]
    assert [line[0] for line in lines[1:]] == ["a", "b"]


def test_csv_columns_may_use_the_original_labels(client, model):
    texts = default_texts(model.schema)
    labels = [field.label for field in model.schema.fields]
    response = client.post(
        "/predict", data=to_csv([labels, list(texts.values())]), content_type="text/csv"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty body"),
        ("   ", "empty body"),
        ("{", "invalid JSON"),
        ("{'single': 'quotes'}", "invalid JSON"),
        ("[]", "empty list"),
        ('"text"', "expected a JSON object"),
        ("42", "expected a JSON object"),
        ("null", "expected a JSON object"),
        ("[" * 100_000, "invalid JSON"),
        (b"\xff\xfe\x00", "invalid JSON"),
    ],
)
def test_a_body_that_is_not_usable_gets_400_and_a_message(client, body, message):
    status, answer = post_json(client, body)
    assert status == 400
    assert message in answer["error"]


def test_an_empty_object_names_every_required_field(client, model):
    status, body = post_json(client, {})
    required = [field.name for field in model.schema.fields if field.required]
    if not required:  # a model that copes with every input missing (XGBoost, say)
        assert status == 200
        return
    assert status == 400
    assert body["errors"] == {name: "required" for name in required}


def test_a_missing_field_is_named(client, model, row):
    field = first_field(model, NUMBERS + ("category", "boolean", "text"), required=True)
    del row[field.name]
    status, body = post_json(client, row)
    assert (status, body["errors"]) == (400, {field.name: "required"})


def test_an_unknown_field_is_named(client, row):
    status, body = post_json(client, {**row, "colour": "red"})
    assert status == 400
    assert body["errors"]["colour"].startswith("unknown field")


@pytest.mark.parametrize(
    ("kinds", "value", "message"),
    [
        (NUMBERS, "5", "expected a number"),
        (NUMBERS, "NaN", "expected a number"),
        (NUMBERS, "<script>alert(1)</script>", "expected a number"),
        (NUMBERS, None, "required"),
        (NUMBERS, [1, 2], "got a list"),
        (NUMBERS, {"value": 1}, "got an object"),
        (NUMBERS, True, "expected a number"),
        (NUMBERS, 10**400, "too large"),
        (("category",), "no such thing", "unknown category"),
        (("category",), 0.125, "expected one of"),  # a number that is no category
        (("category",), ["a"], "expected one of"),
        (("boolean",), "yes", "expected true or false"),
        (("boolean",), 1, "expected true or false"),
        (("text",), 3, "expected text"),
        (("text",), "   ", "required"),
        (("text",), "a" * 10_001, "the limit is 10,000"),
    ],
)
def test_a_bad_value_gets_400_naming_the_field(client, model, row, kinds, value, message):
    field = first_field(model, kinds, required=True if message == "required" else None)
    status, body = post_json(client, {**row, field.name: value})
    assert status == 400
    assert list(body["errors"]) == [field.name]
    assert message in body["errors"][field.name]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_numbers_are_refused(client, model, row, literal):
    """Python's json module reads NaN and Infinity; the service must not predict from them."""
    field = first_field(model, NUMBERS)
    body = json.dumps({**row, field.name: 0})
    body = body.replace(f'"{field.name}": 0', f'"{field.name}": {literal}')
    status, answer = post_json(client, body)
    assert status == 400
    assert "finite number" in answer["errors"][field.name]


HUGE = [str(2**1024 - 1), str(10**308), "1.7e308", "3.5e38", "-1e39", "1e38000"]


@pytest.mark.parametrize("literal", HUGE, ids=["2**1024-1", "10**308", *HUGE[2:]])
def test_numbers_beyond_the_limit_are_refused_in_json_csv_and_the_form(client, model, row, literal):
    """Too large for a float (2**1024 - 1), or for ONNX's 32-bit floats (3.5e38)."""
    field = first_field(model, NUMBERS)
    body = json.dumps({**row, field.name: 0})
    body = body.replace(f'"{field.name}": 0', f'"{field.name}": {literal}')
    status, answer = post_json(client, body)
    assert status == 400
    if literal == "1e38000":  # Python's json reads it as infinity
        assert answer["errors"] == {field.name: "expected a finite number, got NaN or infinity"}
        return
    assert answer["errors"] == {field.name: too_large(field.kind)}
    texts = {**default_texts(model.schema), field.name: literal}
    form = client.post("/", data={k: v for k, v in texts.items() if v != "false"})
    assert form.status_code == 400
    assert escape(too_large(field.kind)) in form.get_data(as_text=True)


def test_a_whole_number_beyond_2_53_is_refused(client, model, row):
    field = first_field(model, ("integer",))
    status, answer = post_json(client, {**row, field.name: 2**53 + 1})
    assert (status, answer["errors"]) == (400, {field.name: too_large("integer")})


def test_numbers_at_the_limit_get_a_finite_answer_or_422_never_nan(client, model, row):
    """Inputs at their limits, alone and together: the model may overflow, the answer never."""
    limits = {f.name: LIMITS[f.kind] for f in model.schema.fields if f.kind in NUMBERS}
    if not limits:
        pytest.skip("the model has no number input")
    rows = []
    for sign in (1, -1):
        rows.append({**row, **{name: sign * limit for name, limit in limits.items()}})
        rows.extend({**row, name: sign * limit} for name, limit in limits.items())
    for one in rows:
        response = client.post("/predict", json=one)
        body = strict_json(response)
        assert response.status_code in (200, 422), body
        if response.status_code == 422:
            assert "row 1" in body["error"]
            continue
        answers = [body["prediction"], *body.get("probabilities", {}).values()]
        assert all(math.isfinite(a) for a in answers if isinstance(a, float))
    response = client.post("/predict", json=rows)
    assert response.status_code in (200, 422)
    strict_json(response)


def test_a_nan_answer_is_a_422_naming_the_row_never_nan_in_json(client, model, row, nan_for_row):
    nan_for_row(2)
    response = client.post("/predict", json=[row, row, row])
    assert response.status_code == 422
    assert "NaN or infinity for row 2 (counting from 1)" in strict_json(response)["error"]
    texts = default_texts(model.schema)
    body = to_csv([list(texts), *[list(texts.values())] * 3])
    scored = client.post("/predict", data=body, content_type="text/csv")
    assert scored.status_code == 422 and "row 2" in strict_json(scored)["error"]


def test_the_form_never_shows_a_nan_answer(client, model, nan_for_row):
    nan_for_row(1)
    texts = default_texts(model.schema)
    page = client.post("/", data={k: v for k, v in texts.items() if v != "false"}, headers=BROWSER)
    assert page.status_code == 422
    assert "NaN or infinity" in page.get_data(as_text=True)


def test_json_answers_never_hold_nan_or_infinity(app):
    for value in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            app.json.dumps({"probability": value})


@pytest.mark.parametrize(
    "body",
    [
        '{"%s": 1, "%s": 2}',
        '[{"%s": 1}, {"%s": 1, "%s": 2}]',
        '{"colour": "red", "colour": "blue", "%s": 1}',
    ],
)
def test_a_key_given_twice_is_refused_naming_it(client, model, body):
    name = model.schema.fields[0].name
    status, answer = post_json(client, body.replace("%s", name))
    key = "colour" if "colour" in body else name
    assert status == 400
    assert answer == {"error": f"invalid JSON: the key {key!r} is given twice in one object"}


def test_many_unknown_fields_get_a_small_answer_quickly(client, row):
    """About 4.8 MB of unknown keys (the body limit is 5 MiB): once 48 MB of messages."""
    body = json.dumps({**row, **{f"k{n}": 0 for n in range(400_000)}}, separators=(",", ":"))
    started = time.perf_counter()
    status, answer = post_json(client, body)
    elapsed = time.perf_counter() - started
    assert status == 400
    assert len(answer["errors"]) == MAX_ERRORS
    named = MAX_ERRORS - 1
    assert answer["errors"]["_row"] == f"400,000 unknown fields; the first {named} are named"
    assert len(json.dumps(answer)) < 10_000
    assert elapsed < 10, "bounded CPU: the check stops after MAX_ERRORS names"


def test_a_list_of_rows_with_unknown_fields_gets_a_small_answer(client, row):
    with_unknown = {**row, **{f"k{n}": 0 for n in range(50)}}
    count = min(1000, 2_000_000 // len(json.dumps(with_unknown)))  # under the body limit
    status, answer = post_json(client, [with_unknown] * count)
    assert status == 400
    assert len(json.dumps(answer)) < 20_000


def test_long_keys_and_values_are_cut_in_the_answer(client, model, row):
    long = "x" * 1_000_000
    field = first_field(model, NUMBERS + ("category",))
    status, answer = post_json(client, {**row, long: 1, field.name: long})
    assert status == 400
    assert len(json.dumps(answer)) < 2_000
    assert "(1,000,000 characters)" in answer["errors"][field.name]


@pytest.mark.parametrize(
    "path",
    ["/nothing%0d%0a2030-01-01 00:00:00,000 INFO forged", "/x%0aforged%e2%80%a8forged%1b[31m"],
)
def test_control_characters_a_client_sends_are_escaped_in_the_log(client, row, caplog, path):
    caplog.set_level(logging.INFO)
    client.get(path)
    client.post("/predict", json={**row, "a\r\nforged line": 1})
    every = [record.getMessage() for record in caplog.records]
    for message in every:
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", message), message
    access = [record for record in caplog.records if record.name.endswith(".access")]
    assert all("forged" not in record.getMessage() for record in access), "no client text"
    messages = [r.getMessage() for r in caplog.records if not r.name.endswith(".access")]
    assert len(messages) == 2
    assert "\\n" in messages[0] and "a\\r\\nforged line" in messages[1]
    assert not any(line.startswith(("2030", "forged")) for line in caplog.text.splitlines())


def test_a_category_in_the_wrong_case_gets_a_hint(client, model, row):
    field = first_field(model, ("category",))
    changed = [c.swapcase() for c in field.categories if c.swapcase() not in field.categories]
    if not changed:
        pytest.skip("no category changes with its case")
    status, body = post_json(client, {**row, field.name: changed[0]})
    assert status == 400
    assert "did you mean" in body["errors"][field.name]


def test_errors_in_a_list_name_the_row(client, model, row):
    field = first_field(model, NUMBERS + ("category",))
    status, body = post_json(client, [row, {**row, field.name: bad_text(field)}])
    assert status == 400
    assert list(body["errors"]) == [f"row 2: {field.name}"]


def test_a_csv_without_a_required_column_names_it(client, model):
    field = first_field(model, NUMBERS + ("category", "boolean", "text"), required=True)
    texts = {k: v for k, v in default_texts(model.schema).items() if k != field.name}
    texts["id"] = "1"  # so that the header is not empty when the model has one input
    response = client.post(
        "/predict", data=to_csv([list(texts), list(texts.values())]), content_type="text/csv"
    )
    assert response.status_code == 400
    assert response.get_json()["errors"] == {field.name: "column missing from the CSV header"}


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_csv_separated_by_semicolons_or_tabs_says_how_to_save_it(client, model, separator):
    if len(model.schema.fields) < 2:
        pytest.skip("one input: a header of one name has no separator")
    texts = default_texts(model.schema)
    lines = [list(texts), list(texts.values())]
    body = "\r\n".join(separator.join(line) for line in lines).encode()
    response = client.post("/predict", data=body, content_type="text/csv")
    assert response.status_code == 400
    message = response.get_json()["errors"]["_header"]
    assert "separated by commas" in message and "CSV UTF-8 (comma delimited)" in message


def test_a_bad_csv_line_is_named_by_its_line_number(client, model):
    field = first_field(model, NUMBERS + ("category",))
    texts = default_texts(model.schema)
    bad = {**texts, field.name: bad_text(field)}
    too_long = ["1"] * (len(texts) + 1)
    body = to_csv([list(texts), list(texts.values()), list(bad.values()), too_long])
    response = client.post("/predict", data=body, content_type="text/csv")
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert list(errors) == [f"line 3: {field.name}", "line 4"]
    assert "the header has" in errors["line 4"]


@pytest.mark.parametrize("body", ["", "\n\n", "a,b\n"])
def test_an_empty_or_foreign_csv_gets_400(client, body):
    response = client.post("/predict", data=body, content_type="text/csv")
    assert response.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_wrong_content_type_gets_415(client, row, content_type):
    response = client.post("/predict", data=json.dumps(row), content_type=content_type)
    assert response.status_code == 415
    assert "application/json or text/csv" in response.get_json()["error"]


def test_a_50_mb_body_gets_413(client):
    body = b" " * (50 * 1024 * 1024)
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 413
    assert "MAX_CONTENT_LENGTH" in response.get_json()["error"]


def test_the_body_limit_comes_from_the_environment(model, row, monkeypatch):
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "100")
    client = create_app(model).test_client()
    small = client.post("/predict", data="[]", content_type="application/json")
    large = client.post("/predict", data=" " * 101, content_type="application/json")
    assert (small.status_code, large.status_code) == (400, 413)


def test_a_chunked_body_is_held_to_the_same_limit(model, row, monkeypatch):
    """A body sent in chunks has no Content-Length; one byte over the limit is still 413."""
    limit = len(json.dumps(row)) + 100  # a row of many inputs is longer than 1000 bytes
    monkeypatch.setenv("MAX_CONTENT_LENGTH", str(limit))
    client = create_app(model).test_client()

    def post_chunked(size):
        body = json.dumps(row).encode().ljust(size)  # padded with spaces
        return client.post(
            "/predict",
            input_stream=io.BytesIO(body),
            content_type="application/json",
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sends it
        )

    at_the_limit, over = post_chunked(limit), post_chunked(limit + 1)
    assert at_the_limit.status_code == 200 and "prediction" in at_the_limit.get_json()
    assert over.status_code == 413
    assert over.get_json() == {
        "error": f"the request body is over the limit of {limit} bytes (MAX_CONTENT_LENGTH)"
    }


def test_an_unexpected_error_is_a_500_without_a_traceback(client, model, row, monkeypatch):
    def broken(rows):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(model, "predict_clean", broken)
    response = client.post("/predict", json=row)
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret detail" not in text
    assert response.get_json() == {"error": "internal error: the server log has the details"}


# --- the other routes ---


def test_wrong_paths_and_methods_on_the_api_answer_json(client):
    missing = client.get("/predict/nothing")
    assert missing.status_code == 404 and "error" in missing.get_json()
    wrong = client.get("/predict")
    assert wrong.status_code == 405
    assert wrong.get_json() == {"error": "GET is not allowed on /predict; use POST"}
    assert "POST" in wrong.headers["Allow"]
    assert client.delete("/health").status_code == 405


def test_a_browser_gets_an_html_404_page(client):
    response = client.get("/nothing<b>", headers=BROWSER)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<b>" not in response.get_data(as_text=True)


def test_health_and_ready(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert (ready.status_code, ready.get_json()) == (200, {"status": "ready"})


def test_without_a_model_the_service_is_alive_but_not_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    client = create_app().test_client()
    assert client.get("/health").status_code == 200
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.get_json() == {
        "status": "not ready",
        "error": f"the model is not loaded: {tmp_path / 'model.json'} not found: "
        "train the model with `make train`",
    }
    assert client.post("/predict", json={}).status_code == 503
    assert client.get("/", headers=BROWSER).status_code == 503


def test_the_model_card_is_json_for_programs_and_html_for_people(client, model):
    # A model trained before versions has no "version" in its model.json: the card adds it.
    assert client.get("/model").get_json() == {**model.metadata, "version": model.version}
    page = client.get("/model", headers=BROWSER)
    assert page.mimetype == "text/html"
    assert "Model card" in page.get_data(as_text=True)


def test_openapi_describes_the_schema_and_the_routes(client, model):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["schemas"]["Row"] == model.schema.json_schema()
    assert {"/predict", "/health", "/ready", "/model", "/openapi.json"} <= set(document["paths"])
    example = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    status, answer = post_json(client, example["examples"]["one"]["value"])
    assert status == 200
    for name, spec in document["components"]["schemas"]["Row"]["properties"].items():
        if model.schema.by_name[name].kind in NUMBERS:
            limit = LIMITS[model.schema.by_name[name].kind]
            assert (spec["minimum"], spec["maximum"]) == (-limit, limit)
    assert "422" in document["paths"]["/predict"]["post"]["responses"]


@pytest.mark.parametrize("body", ["", "\n\n", "a,b\n", "a,b\n\n  \n", "\n1,2\n", "0\n0"])
def test_openapi_says_a_csv_needs_a_row_as_the_service_does(client, body):
    document = client.get("/openapi.json").get_json()
    csv_body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["text/csv"]
    assert re.search(csv_body["schema"]["pattern"], csv_body["example"])
    assert not re.search(csv_body["schema"]["pattern"], body)
    assert client.post("/predict", data=body, content_type="text/csv").status_code == 400


def test_the_api_page_shows_an_example_request(client):
    page = client.get("/api").get_data(as_text=True)
    assert "curl http://localhost/predict -H 'Content-Type: application/json' -d &#39;{" in page
    assert "/openapi.json" in page


def test_the_batch_page_scores_an_uploaded_csv(client, model):
    assert client.get("/batch").status_code == 200
    example = client.get("/batch/example.csv")
    assert example.mimetype == "text/csv"
    upload = {"file": (io.BytesIO(example.data), "my data.csv")}
    response = client.post("/batch", data=upload, content_type="multipart/form-data")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="my_data-scored.csv"'
    assert "prediction" in response.get_data(as_text=True).splitlines()[0]


def test_the_batch_page_explains_a_bad_file(client):
    missing = client.post("/batch", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400
    assert "choose a CSV file" in missing.get_data(as_text=True)
    upload = {"file": (io.BytesIO(b"colour\nred\n"), "colours.csv")}
    bad = client.post("/batch", data=upload, content_type="multipart/form-data")
    assert bad.status_code == 400
    assert "column missing from the CSV header" in bad.get_data(as_text=True)


def test_pages_are_never_in_debug_mode_and_carry_safety_headers(app, client):
    assert not app.debug
    page = client.get("/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/static/style.css").status_code == 200


def test_settings_come_from_the_environment():
    assert from_env({}) == Settings()
    settings = from_env({"HOST": "0.0.0.0", "PORT": "9000", "THREADS": "2"})
    assert (settings.address, settings.url) == ("0.0.0.0:9000", "http://127.0.0.1:9000")
    with pytest.raises(SettingsError, match="PORT must be a whole number"):
        from_env({"PORT": "eighty"})
    stopping = from_env({"GRACEFUL_TIMEOUT": "3", "CONNECTION_LIMIT": "500"})
    assert (stopping.graceful_timeout, stopping.connection_limit) == (3, 500)
    with pytest.raises(SettingsError, match="GRACEFUL_TIMEOUT must be 1 or more"):
        from_env({"GRACEFUL_TIMEOUT": "0"})
