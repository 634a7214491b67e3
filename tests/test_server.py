"""The production servers over real HTTP: waitress and gunicorn renders, started as a user does.

Each server starts once per module (`python -m <package>.serve` on a free port), answers
every route and every kind of bad input, and its OpenAPI document is checked against the
answers it really gives.
"""

import csv
import http.client
import io
import json
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml
from _service_helpers import running, serve_command
from conftest import DATA, free_port, live_dir, project_env
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("servers")]

SERVERS = {"waitress": {}, "gunicorn": {"server": "gunicorn"}}
# The categorical CSV render (the same answers as test_render's, so the render is shared).
BIRDS = {
    "dataset": "csv",
    "data_path": str(DATA / "birds.csv"),
    "target_column": "species",
    "model_type": "random_forest",
}
GOOD = {
    "sepal_length_cm": 5.1,
    "sepal_width_cm": 3.5,
    "petal_length_cm": 1.4,
    "petal_width_cm": 0.2,
}
FIELDS = list(GOOD)
LIMIT = 5 * 1024 * 1024  # MAX_CONTENT_LENGTH's default
TOO_LARGE = {"error": f"the request body is over the limit of {LIMIT} bytes (MAX_CONTENT_LENGTH)"}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request, render, tmp_path_factory):
    project = render(SERVERS[request.param])
    log = tmp_path_factory.mktemp("server") / f"{request.param}.log"
    with running(project, log) as started:
        started.kind = request.param
        yield started


@pytest.fixture(scope="module")
def openapi(server):
    reply = server.get("/openapi.json")
    assert reply.status == 200
    return reply.json()


def schema_validator(document, schema):
    """A JSON Schema validator for part of the OpenAPI document, its $refs resolved."""
    return Draft202012Validator({**schema, "components": document["components"]})


def response_schema(document, path, method, status):
    response = document["paths"][path][method]["responses"][str(status)]
    return schema_validator(document, response["content"]["application/json"]["schema"])


def csv_text(rows):
    output = io.StringIO()
    csv.writer(output).writerows(rows)
    return output.getvalue()


def post_raw(server, head, pieces, path="/predict", timeout=60):
    """POST over a plain socket the way curl does: stop sending once the server answers.

    A server may refuse a body that is too large before it has read all of it, answer, and
    close the connection while the client is still sending; curl and browsers read that
    answer. `head` holds the header lines; `pieces` are the body's bytes, framed already.
    -> (status, headers, body)
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", *head]
        sock.sendall(("\r\n".join([*lines, "Connection: close", "", ""])).encode())
        for piece in pieces:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        while part := sock.recv(65536):
            answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def post_large(server, size, content_type="application/json"):
    """POST `size` bytes of spaces with a Content-Length -> (status, JSON answer)."""
    head = [f"Content-Type: {content_type}", f"Content-Length: {size}"]
    pieces = (b" " * min(65536, size - sent) for sent in range(0, size, 65536))
    status, _, body = post_raw(server, head, pieces)
    return status, json.loads(body)


def post_chunked(server, body, content_type="application/json", chunk=65536):
    """POST `body` with Transfer-Encoding: chunked, no Content-Length -> (status, headers, body)."""
    head = [f"Content-Type: {content_type}", "Transfer-Encoding: chunked"]
    pieces = [
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk]), body[i : i + chunk])
        for i in range(0, len(body), chunk)
    ]
    return post_raw(server, head, [*pieces, b"0\r\n\r\n"])


# --- the pages ---


def test_the_real_server_answers_and_said_where_in_one_line(server):
    reply = server.get("/health")
    assert reply.json() == {"status": "ok"}
    assert reply.headers["server"] == server.kind, "the production server, not Flask's"
    first_line = server.log().splitlines()[0]
    assert first_line.startswith(f"Iris classifier: serving on {server.url} with {server.kind}")


def test_the_form_page(server):
    reply = server.get("/", headers={"Accept": "text/html"})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    for name in FIELDS:
        assert f'<label for="f-{name}">' in reply.text
        assert f'<input type="number" id="f-{name}" name="{name}"' in reply.text
    css = server.get("/static/style.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")


def test_a_form_post_predicts_and_keeps_the_values(server):
    form = urllib.parse.urlencode({name: str(value) for name, value in GOOD.items()})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    reply = server.request("POST", "/", form, headers)
    assert reply.status == 200
    assert '<output id="prediction" for="predict-form">setosa</output>' in reply.text
    assert 'value="5.1"' in reply.text
    assert reply.text.count('class="bar-label"') == 3


def test_a_bad_form_post_shows_escaped_messages_at_the_fields(server):
    values = {**GOOD, "sepal_length_cm": "<script>alert(1)</script>", "petal_width_cm": ""}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    reply = server.request("POST", "/", urllib.parse.urlencode(values), headers)
    assert reply.status == 400
    assert "<script>alert(1)" not in reply.text
    assert "expected a number, got &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;" in reply.text
    assert '<p class="error" id="e-petal_width_cm">required</p>' in reply.text


def test_the_batch_page_scores_an_upload(server):
    boundary = "----boundary7MA4YWxk"
    content = csv_text([FIELDS, list(GOOD.values())])
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="flowers.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    reply = server.request("POST", "/batch", body, headers)
    assert reply.status == 200
    assert reply.headers["content-disposition"] == 'attachment; filename="flowers-scored.csv"'
    assert list(csv.reader(io.StringIO(reply.text)))[1][4] == "setosa"


def test_the_model_card_is_json_or_html(server):
    card = server.get("/model").json()
    assert card["target"]["classes"] == ["setosa", "versicolor", "virginica"]
    page = server.get("/model", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html") and "Model card" in page.text


def test_the_api_page_shows_a_curl_example_for_this_server(server):
    page = server.get("/api", headers={"Accept": "text/html"})
    assert f"curl {server.url}/predict -H 'Content-Type: application/json'" in page.text


# --- the JSON and CSV API ---


def test_one_row_and_a_list_of_rows(server, openapi):
    one = server.post_json(GOOD)
    assert one.status == 200
    body = one.json()
    assert body["prediction"] == "setosa" and body["warnings"] == []
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    response_schema(openapi, "/predict", "post", 200).validate(body)

    far = {**GOOD, "petal_width_cm": 30}
    many = server.post_json([GOOD, far])
    assert many.status == 200
    predictions = many.json()["predictions"]
    assert len(predictions) == 2
    assert "outside the range seen in training" in predictions[1]["warnings"][0]
    response_schema(openapi, "/predict", "post", 200).validate(many.json())


def test_a_csv_batch(server):
    body = csv_text([["id", *FIELDS], ["a", *GOOD.values()], ["b", 6.5, 3.0, 5.5, 2.0]])
    reply = server.request("POST", "/predict", body, {"Content-Type": "text/csv"})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(reply.text)))
    assert lines[0][5:] == [
        "prediction",
        "probability_setosa",
        "probability_versicolor",
        "probability_virginica",
        "warnings",
    ]
    assert [line[5] for line in lines[1:]] == ["setosa", "virginica"]


NOT_USABLE = [
    ("", "empty body"),
    ("{", "invalid JSON"),
    ("[]", "empty list"),
    ('"text"', "expected a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), NOT_USABLE)
def test_a_body_that_is_not_usable(server, openapi, body, message):
    reply = server.post_json(body)
    assert reply.status == 400
    assert message in reply.json()["error"]
    response_schema(openapi, "/predict", "post", 400).validate(reply.json())


BAD_VALUES = [
    ("string for a number", {"sepal_length_cm": "5.1"}, "expected a number, got the text '5.1'"),
    ("the text NaN", {"sepal_length_cm": "NaN"}, "expected a number, got the text 'NaN'"),
    ("null", {"sepal_length_cm": None}, "required"),
    ("a list", {"sepal_length_cm": [5.1]}, "expected a number, got a list"),
    ("html", {"sepal_length_cm": "<b>5</b>"}, "expected a number, got the text '<b>5</b>'"),
]


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in BAD_VALUES])
def test_a_bad_value_is_named(server, openapi, change, message):
    reply = server.post_json({**GOOD, **change})
    assert reply.status == 400
    assert reply.json() == {"errors": {"sepal_length_cm": message}}
    response_schema(openapi, "/predict", "post", 400).validate(reply.json())


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_numbers_are_refused(server, literal):
    body = json.dumps(GOOD).replace("5.1", literal)
    reply = server.post_json(body)
    assert reply.status == 400
    assert reply.json() == {
        "errors": {"sepal_length_cm": "expected a finite number, got NaN or infinity"}
    }


def strict_json(reply):
    """The body as JSON; NaN or Infinity in it fails the test, as it fails a JSON client."""

    def refuse(name):
        raise AssertionError(f"{name} in the answer: {reply.text[:200]}")

    return json.loads(reply.body, parse_constant=refuse)


@pytest.mark.parametrize("literal", [str(2**1024 - 1), "1.7e308", "3.5e38", "-1e39"])
def test_numbers_beyond_the_limit_are_refused(server, literal):
    """Once a 500 (2**1024 - 1), or NaN probabilities with a confident class from ONNX."""
    reply = server.post_json(json.dumps(GOOD).replace("5.1", literal))
    assert reply.status == 400
    assert reply.json() == {
        "errors": {"sepal_length_cm": "expected a number from -1e+38 to 1e+38, got one too large"}
    }


def test_numbers_at_the_limit_never_give_nan(server, openapi):
    for sign in (1, -1):
        for changed in ([FIELDS[0]], FIELDS):
            reply = server.post_json({**GOOD, **dict.fromkeys(changed, sign * 1e38)})
            body = strict_json(reply)
            assert reply.status in (200, 422), body
            response_schema(openapi, "/predict", "post", reply.status).validate(body)
            if reply.status == 200:
                assert all(math.isfinite(p) for p in body["probabilities"].values())


def test_a_key_given_twice_is_refused(server):
    reply = server.post_json('{"sepal_length_cm": 1, ' + json.dumps(GOOD)[1:])
    assert reply.status == 400
    assert reply.json() == {
        "error": "invalid JSON: the key 'sepal_length_cm' is given twice in one object"
    }


def test_half_a_million_unknown_keys_get_a_small_answer(server):
    """A 4.8 MB body of unknown keys once got a 48-56 MB answer after 3 s of CPU."""
    keys = {f"k{n}": 0 for n in range(400_000)}
    body = json.dumps({**GOOD, **keys}, separators=(",", ":"))
    started = time.monotonic()
    reply = server.post_json(body)
    assert reply.status == 400
    assert len(reply.body) < 10_000
    assert reply.json()["errors"]["_row"] == "400,000 unknown fields; the first 19 are named"
    assert time.monotonic() - started < 10


def test_cr_lf_in_a_path_or_a_field_name_cannot_forge_a_log_line(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"GET /x%0d%0aforged-line-6c1e%0a HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Connection: close\r\n\r\n"
        )
        while sock.recv(65536):
            pass
    server.post_json({**GOOD, "y\r\nforged-line-6c1e": 1})
    time.sleep(0.5)
    lines = [line for line in server.log().splitlines() if "forged-line-6c1e" in line]
    assert len(lines) == 2
    assert all(" INFO " in line for line in lines), "each is one whole line of the log"
    assert "GET /x\\r\\nforged-line-6c1e\\n -> 404" in lines[0]
    assert "y\\r\\nforged-line-6c1e: unknown field" in lines[1]


def test_empty_missing_and_unknown_fields(server):
    empty = server.post_json({})
    assert (empty.status, empty.json()) == (400, {"errors": dict.fromkeys(FIELDS, "required")})
    missing = server.post_json({k: v for k, v in GOOD.items() if k != "petal_width_cm"})
    assert missing.json() == {"errors": {"petal_width_cm": "required"}}
    unknown = server.post_json({**GOOD, "colour": "blue"})
    assert unknown.status == 400
    assert unknown.json()["errors"]["colour"].startswith("unknown field; expected one of:")
    in_a_list = server.post_json([GOOD, {**GOOD, "sepal_width_cm": "wide"}])
    assert list(in_a_list.json()["errors"]) == ["row 2: sepal_width_cm"]


def test_csv_with_a_missing_column_or_a_bad_row(server):
    headers = {"Content-Type": "text/csv"}
    missing = server.request("POST", "/predict", csv_text([FIELDS[:3], [5.1, 3.5, 1.4]]), headers)
    assert missing.status == 400
    assert missing.json() == {"errors": {"petal_width_cm": "column missing from the CSV header"}}
    rows = [FIELDS, list(GOOD.values()), [5.1, "wide", 1.4, 0.2]]
    bad = server.request("POST", "/predict", csv_text(rows), headers)
    assert bad.status == 400
    assert bad.json() == {"errors": {"line 3: sepal_width_cm": "expected a number, got 'wide'"}}


def test_a_wrong_content_type_is_415(server, openapi):
    reply = server.request("POST", "/predict", json.dumps(GOOD), {"Content-Type": "text/plain"})
    assert reply.status == 415
    assert reply.json() == {
        "error": "Content-Type text/plain is not supported: send application/json or text/csv"
    }
    response_schema(openapi, "/predict", "post", 415).validate(reply.json())


def test_a_50_mb_body_is_413(server, openapi):
    # Again and again: a server that closes with the rest of the body unread makes the
    # kernel reset the connection, and the client often loses the 413 it was sent.
    for _ in range(10):
        status, body = post_large(server, 50 * 1024 * 1024)
        assert (status, body) == (413, TOO_LARGE)
    response_schema(openapi, "/predict", "post", 413).validate(body)
    assert server.get("/ready").status == 200, "the server is still fine"


def padded_json(rows, size):
    """A JSON list of rows, padded with spaces to exactly `size` bytes."""
    text = json.dumps(rows).encode()
    return text + b" " * (size - len(text))


def test_a_chunked_body_is_read_whole_up_to_the_limit(server):
    rows = [GOOD] * 11
    status, headers, body = post_chunked(server, padded_json(rows, LIMIT))
    assert status == 200, body[:300]
    assert len(json.loads(body)["predictions"]) == 11, "every row, none cut off"
    text = csv_text([FIELDS, *[list(GOOD.values())] * 11]).encode()
    status, _, body = post_chunked(server, text, "text/csv", chunk=7)  # chunks split the rows
    assert status == 200
    assert [line[4] for line in csv.reader(io.StringIO(body.decode()))][1:] == ["setosa"] * 11


def test_a_chunked_body_one_byte_over_the_limit_is_413(server, openapi):
    status, headers, body = post_chunked(server, padded_json([GOOD] * 11, LIMIT + 1))
    assert (status, headers["content-type"]) == (413, "application/json")
    assert json.loads(body) == TOO_LARGE
    response_schema(openapi, "/predict", "post", 413).validate(json.loads(body))
    assert server.get("/ready").status == 200, "the server is still fine"


def test_a_body_one_byte_over_the_limit_is_413(server):
    assert post_large(server, LIMIT + 1) == (413, TOO_LARGE)


@pytest.mark.parametrize("size", [2 * LIMIT, 2 * 1024**3], ids=["twice-the-limit", "2-GiB"])
def test_a_content_length_far_over_the_limit_is_refused_from_the_headers(server, size):
    """The same 413 JSON from both servers, before the client sends any of the body."""
    head = ["Content-Type: application/json", f"Content-Length: {size}"]
    status, headers, body = post_raw(server, head, [], timeout=10)
    assert (status, headers["content-type"]) == (413, "application/json")
    assert json.loads(body) == TOO_LARGE


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_browser_form_post_over_the_limit_gets_the_error_page(server, framing):
    body = b"sepal_length_cm=" + b"5" * LIMIT
    head = ["Content-Type: application/x-www-form-urlencoded", "Accept: text/html"]
    if framing == "chunked":
        head.append("Transfer-Encoding: chunked")
        pieces = [b"%x\r\n%s\r\n" % (len(body), body), b"0\r\n\r\n"]
    else:
        head.append(f"Content-Length: {len(body)}")
        pieces = [body]
    status, headers, page = post_raw(server, head, pieces, path="/")
    assert (status, headers["content-type"]) == (413, "text/html; charset=utf-8")
    assert TOO_LARGE["error"] in page.decode()


def test_wrong_paths_and_methods_are_json(server):
    missing = server.get("/predict/nothing")
    assert missing.status == 404 and "nothing at /predict/nothing" in missing.json()["error"]
    wrong = server.get("/predict")
    assert wrong.status == 405
    assert wrong.json() == {"error": "GET is not allowed on /predict; use POST"}
    assert "POST" in wrong.headers["allow"]


def test_bad_requests_are_logged_once_and_nothing_leaks_a_traceback(server):
    server.post_json({**GOOD, "marker_field_7f3a": 1})
    time.sleep(0.5)
    log = server.log()
    assert log.count("marker_field_7f3a") == 1
    assert "Traceback" not in log


def predict_count(server):
    """http_requests_total for POST /predict answered 200, summed over the workers."""
    from prometheus_client.parser import text_string_to_metric_families

    reply = server.get("/metrics")
    assert reply.status == 200
    total = 0
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels == {
                "route": "/predict",
                "status": "200",
            }:
                total += sample.value
    return total


def test_metrics_count_every_request_whichever_worker_answers(server):
    before = predict_count(server)
    for _ in range(30):  # gunicorn spreads them over its 2 workers
        assert server.post_json(GOOD).status == 200
    assert predict_count(server) - before == 30


def test_each_request_has_an_id_and_one_access_log_line(server):
    reply = server.request(
        "POST",
        "/predict",
        json.dumps(GOOD),
        {"Content-Type": "application/json", "X-Request-ID": "trace-5d1e"},
    )
    assert reply.headers["x-request-id"] == "trace-5d1e"
    time.sleep(0.5)
    lines = [line for line in server.log().splitlines() if '"trace-5d1e"' in line]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["route"] == "/predict" and entry["status"] == 200
    assert str(GOOD["sepal_length_cm"]) not in lines[0]


# --- the OpenAPI document ---


def test_openapi_is_valid_and_describes_what_the_server_does(server, openapi):
    validate_openapi(openapi)
    assert openapi["openapi"] == "3.1.0"
    assert set(openapi["paths"]) == {"/predict", "/health", "/ready", "/model", "/openapi.json"}
    row = schema_validator(openapi, openapi["components"]["schemas"]["Row"])
    row.validate(GOOD)
    assert not row.is_valid({**GOOD, "sepal_length_cm": "5"})
    assert not row.is_valid({**GOOD, "colour": "blue"})
    request = openapi["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    for example in request["examples"].values():
        reply = server.post_json(example["value"])
        assert reply.status == 200
        response_schema(openapi, "/predict", "post", 200).validate(reply.json())
    for path in ("/health", "/ready", "/openapi.json"):
        reply = server.get(path)
        assert reply.status == 200
        response_schema(openapi, path, "get", 200).validate(reply.json())


# --- memory: what one request of the largest size costs, and what an instance holds ---

# Peak memory above the server at rest, in MB, for one request of MAX_CONTENT_LENGTH, as
# docs/service.md and the README state it (measured: a JSON list of 55,000 rows, refused
# for its length, about 25; 10,000 rows padded with spaces, about 20; a CSV body scored in
# chunks, about 22). The EB sizing below is made with these.
PEAK_MB = {"application/json": 50, "text/csv": 50}
# One server process at rest with the iris model, once it has scored a CSV (its first
# one loads pyarrow and pandas: from about 77 MB to 176). Its own memory (RssAnon,
# measured about 80), and the libraries mapped from files (RssFile, 97 to 113), which
# gunicorn's workers share.
PRIVATE_MB = 100  # measured 77 to 80
SHARED_MB = 130  # measured 97 to 113
SYSTEM_MB = 400  # Amazon Linux, Docker or the platform's agents, nginx (a generous guess)
INSTANCE_MB = {"t3.micro": 1024, "t3.small": 2048, "t3.medium": 4096}


def max_size_body(content_type, rows=None):
    """A body of just under MAX_CONTENT_LENGTH: as many iris rows as fit, or `rows` rows
    and spaces up to the limit."""
    if content_type == "text/csv":
        line = ",".join(map(str, GOOD.values())) + "\n"
        return (",".join(FIELDS) + "\n" + line * ((LIMIT - 100) // len(line))).encode()
    one = json.dumps(GOOD, separators=(",", ":"))
    text = "[" + ",".join([one] * (rows or (LIMIT - 2) // (len(one) + 1))) + "]"
    return text.ljust(LIMIT - 100).encode()


def memory_mb(pid, key):
    """VmRSS (now) or VmHWM (the peak so far) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} for process {pid}")


@pytest.mark.parametrize(
    ("content_type", "rows", "status"),
    [("text/csv", None, 200), ("application/json", 10_000, 200), ("application/json", None, 400)],
    ids=["csv", "json-10k-rows", "json-too-many-rows"],
)
def test_a_max_size_request_stays_within_the_stated_memory(
    render, tmp_path, content_type, rows, status
):
    """The peak memory one request of the largest size adds to a server process that has
    answered a small JSON and a small CSV request (which load what they need once)."""
    project = render(SERVERS["waitress"])
    body = max_size_body(content_type, rows)
    assert LIMIT - 200 < len(body) <= LIMIT
    with running(project, tmp_path / "server.log", THREADS="1") as server:
        pid = server.process.pid
        assert server.post_json(GOOD).status == 200
        small = csv_text([FIELDS, list(GOOD.values())])
        assert server.request("POST", "/predict", small, {"Content-Type": "text/csv"}).status == 200
        at_rest = memory_mb(pid, "VmRSS")
        private, shared = memory_mb(pid, "RssAnon"), memory_mb(pid, "RssFile")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from here
        reply = server.request("POST", "/predict", body, {"Content-Type": content_type})
        assert reply.status == status
        peak = memory_mb(pid, "VmHWM") - at_rest
    print(f"{content_type}: {len(body):,} bytes, {at_rest:.0f} MB at rest, +{peak:.0f} MB peak")
    assert private < PRIVATE_MB and shared < SHARED_MB, (private, shared)
    assert peak < PEAK_MB[content_type], f"{peak:.0f} MB for one request"


@pytest.mark.parametrize("kind", list(SERVERS))
def test_the_eb_instance_holds_every_request_it_scores_at_once(render, kind):
    """Instance memory >= system + servers + requests scored at once x the peak, + 10%."""
    project = render({**SERVERS[kind], "deploy": "docker-eb"}, train_model=False)
    ebextensions = project / ".ebextensions"
    env = yaml.safe_load((ebextensions / "01-environment.config").read_text())
    env = env["option_settings"]["aws:elasticbeanstalk:application:environment"]
    scaling = yaml.safe_load((ebextensions / "03-autoscaling.config").read_text())
    instance = scaling["option_settings"]["aws:ec2:instances"]["InstanceTypes"]
    processes = int(env.get("WEB_CONCURRENCY", 1)) if kind == "gunicorn" else 1
    at_once = processes * int(env["THREADS"])
    needed = SYSTEM_MB + SHARED_MB + processes * PRIVATE_MB + at_once * max(PEAK_MB.values())
    assert needed * 1.1 <= INSTANCE_MB[instance], (
        f"{instance}: {needed} MB needed for {at_once} requests at once"
    )
    assert int(env["GRACEFUL_TIMEOUT"]) < 10, "under the 10 s docker stop waits"


# --- schemathesis: requests written from the OpenAPI document ---


def run_schemathesis(server, tmp_path, examples):
    """schemathesis against the live /openapi.json: every check, a fixed seed, bounded.

    It writes requests from the document (valid ones, and ones that break it on purpose)
    and checks every answer: no 5xx, a status and a body the document describes, valid
    requests accepted and invalid ones refused. The output names any failure with a curl
    command that reproduces it.
    """
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{server.url}/openapi.json",
        "--checks=all",
        f"--max-examples={examples}",
        "--seed=10",
        "--generation-database=none",
        "--request-timeout=20",
        "--no-color",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout


def test_schemathesis_finds_no_failure(server, tmp_path):
    run_schemathesis(server, tmp_path, examples=40)


def test_schemathesis_finds_no_failure_in_a_categorical_render(birds, tmp_path):
    """Categories, a boolean, optional fields with gaps: the CSV render of the attack run."""
    run_schemathesis(birds, tmp_path, examples=60)


# --- slow clients ---


def test_slow_clients_do_not_take_the_server_down(server):
    """Clients dribble their headers (slowloris) or their bodies; /health still answers at once.

    gunicorn once went offline with 2 of them. Now waitress reads every request in its own
    loop before a thread sees it, and each gunicorn worker has THREADS threads (4 here, x 2
    workers): 6 slow clients leave threads free. docs/service.md states the limits.
    """
    headers = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    bodies = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    stop = threading.Event()

    def dribble():
        for sock in headers:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        for sock in bodies:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n[" + json.dumps(GOOD).encode()
            )
        while not stop.wait(0.5):
            for sock in headers:
                sock.sendall(b"z")  # one byte at a time, never the end of the headers
            for sock in bodies:
                sock.sendall(b" ")  # nor the end of the body

    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    try:
        time.sleep(1)  # the slow clients are in
        for _ in range(8):
            start = time.monotonic()
            assert server.get("/health", timeout=2).status == 200
            assert server.post_json(GOOD).status == 200
            assert time.monotonic() - start < 2
            time.sleep(0.5)
    finally:
        stop.set()
        dribbler.join()
        for sock in headers + bodies:
            sock.close()


# --- start and stop ---


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("kind", list(SERVERS))
def test_ctrl_c_or_sigterm_stops_the_server_cleanly(render, tmp_path, kind, stop):
    project = render(SERVERS[kind])
    log = tmp_path / "server.log"
    with running(project, log, stop=stop) as server:
        assert server.get("/ready").status == 200
        process = server.process
    assert process.returncode == 0
    lines = log.read_text().splitlines()
    assert lines[0].startswith("Iris classifier: serving on http://127.0.0.1:")
    assert lines[-1] == "Stopped."
    assert "Traceback" not in log.read_text()


def assert_refused(port):
    """A new connection is refused at once, not left hanging until the server exits."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# Scoring a CSV of this many rows takes a few tenths of a second; its answer is about 2 MB.
DRAIN_ROWS = 30_000
DRAIN_GRACE = 20  # GRACEFUL_TIMEOUT for these tests: generous, for a busy CI machine


@pytest.mark.parametrize("kind", list(SERVERS))
def test_sigterm_answers_every_request_in_progress_then_exits(render, tmp_path, kind):
    """`docker stop`: once, waitress cut every response and gunicorn reset queued requests.

    Ten clients each send a CSV, more than the server has threads for (2, or 2 x 2), so
    some are being scored, some wait in the server's queue and some in the system's. The
    server gets SIGTERM while none has been answered, and the clients only start reading
    after it. Every client gets its whole answer; a new connection half a second after the
    signal is refused; the server exits 0, well within GRACEFUL_TIMEOUT.
    """
    project = render(SERVERS[kind])
    rows = [[*GOOD.values()] for _ in range(DRAIN_ROWS)]
    body = csv_text([FIELDS, *rows]).encode()
    env = {"THREADS": "2", "GRACEFUL_TIMEOUT": str(DRAIN_GRACE)}
    with running(project, tmp_path / "server.log", stop=signal.SIGTERM, **env) as server:
        sent = threading.Barrier(11)
        signalled = threading.Event()
        replies = []

        def client():
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            try:
                connection.request("POST", "/predict", body, {"Content-Type": "text/csv"})
                sent.wait()
                signalled.wait()
                response = connection.getresponse()
                replies.append((response.status, response.read()))
            except OSError as error:
                replies.append((None, repr(error)))
            finally:
                connection.close()

        clients = [threading.Thread(target=client) for _ in range(10)]
        for thread in clients:
            thread.start()
        sent.wait()  # every request is sent
        os.kill(server.process.pid, signal.SIGTERM)
        stopped = time.monotonic()
        time.sleep(0.5)
        assert_refused(server.port)
        signalled.set()
        for thread in clients:
            thread.join()
        server.process.wait(timeout=DRAIN_GRACE + 10)
        stop_took = time.monotonic() - stopped

    assert [status for status, _ in replies] == [200] * 10, replies
    for _, answer in replies:
        lines = answer.decode().splitlines()
        assert len(lines) == DRAIN_ROWS + 1 and lines[-1].split(",")[4] == "setosa"
    assert server.process.returncode == 0
    assert stop_took < DRAIN_GRACE, f"stopped after {stop_took:.1f} s"
    log = server.log()
    assert log.splitlines()[-1] == "Stopped."
    assert "unfinished" not in log and "Traceback" not in log, log


@pytest.mark.parametrize("kind", list(SERVERS))
def test_sigterm_stops_a_server_held_by_a_slow_client_after_the_grace_period(
    render, tmp_path, kind
):
    """A client that never finishes its request cannot keep the server from stopping."""
    project = render(SERVERS[kind])
    with (
        running(
            project, tmp_path / "server.log", stop=signal.SIGTERM, GRACEFUL_TIMEOUT="2"
        ) as server,
        socket.create_connection(("127.0.0.1", server.port)) as slow,
    ):
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.5)
        os.kill(server.process.pid, signal.SIGTERM)
        stopped = time.monotonic()
        server.process.wait(timeout=15)
        stop_took = time.monotonic() - stopped
    assert server.process.returncode == 0
    assert 1.5 < stop_took < 5, f"stopped after {stop_took:.1f} s"
    assert server.log().splitlines()[-1] == "Stopped."


@pytest.mark.parametrize("kind", list(SERVERS))
def test_without_a_model_the_server_stops_with_one_line(render, tmp_path, kind):
    project = render(SERVERS[kind])
    env = {**project_env(project), "MODEL_DIR": str(tmp_path), "PORT": "1"}
    result = subprocess.run(
        serve_command(project), cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {tmp_path}/model.json not found: train the model with `make train`"
    )


@pytest.mark.parametrize("kind", list(SERVERS))
def test_a_damaged_model_json_stops_the_server_with_one_line(render, tmp_path, kind):
    project = render(SERVERS[kind])
    models = tmp_path / "models"
    shutil.copytree(live_dir(project), models)  # one version, as MODEL_DIR may name
    metadata = json.loads((models / "model.json").read_text())
    (models / "model.json").write_text(json.dumps({**metadata, "schema": 3}))
    env = {**project_env(project), "MODEL_DIR": str(models), "PORT": "1"}
    result = subprocess.run(
        serve_command(project), cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {models}/model.json is damaged: 'schema' must be a list; retrain with `make train`"
    )


def as_a_plain_user(command):
    """The command without root's power to read any file (as a container's user runs)."""
    if os.geteuid() != 0:
        return command
    if not shutil.which("setpriv"):
        pytest.skip("running as root, and setpriv (util-linux) is not installed to drop that")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]


@pytest.mark.parametrize("name", ["model.pkl", "model.json"])
@pytest.mark.parametrize("kind", list(SERVERS))
def test_an_unreadable_model_file_is_named_with_its_cause(render, tmp_path, kind, name):
    project = tmp_path / "project"
    shutil.copytree(render(SERVERS[kind]), project)
    path = live_dir(project) / name
    path.chmod(0)
    env = {**project_env(project), "PORT": str(free_port())}
    result = subprocess.run(
        as_a_plain_user(serve_command(project)),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (
        1,
        f"error: cannot read {path}: Permission denied; "
        f"let the user the server runs as read it: `chmod a+r {path}`\n",
    )


def test_a_bad_setting_stops_the_server_with_one_line(render):
    project = render(SERVERS["waitress"])
    env = {**project_env(project), "PORT": "eighty"}
    result = subprocess.run(
        serve_command(project), cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (
        1,
        "error: PORT must be a whole number, got 'eighty'\n",
    )


def workers_of(master):
    """The pids of a gunicorn master's worker processes."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def wait_for_new_workers(master, old, count=2, timeout=30):
    """Wait until the master has `count` workers and none of the `old` ones."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = workers_of(master)
        if len(workers) == count and not workers & old:
            return workers
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not replace its workers {old}: now {workers_of(master)}")


def ready_answers(server, times=12):
    return {(reply.status, reply.body) for reply in (server.get("/ready") for _ in range(times))}


def test_gunicorn_keeps_serving_when_a_new_worker_cannot_load_the_model(render, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(render(SERVERS["gunicorn"]), project)
    model_file = live_dir(project) / "model.pkl"
    good = model_file.read_bytes()
    with running(project, tmp_path / "server.log") as server:
        master = server.process.pid
        model_file.write_bytes(b"not a model")
        not_ready = json.dumps(
            {
                "status": "not ready",
                "error": f"the model is not loaded: {model_file} is corrupt or truncated "
                "(not the file training wrote); retrain it with `make train`",
            },
            separators=(",", ":"),
        ).encode()

        # One worker stops (gunicorn starts another, which reads the broken file).
        workers = workers_of(master)
        stopped = min(workers)
        os.kill(stopped, signal.SIGTERM)
        wait_for_new_workers(master, {stopped})
        answers = ready_answers(server)
        assert answers <= {(200, b'{"status":"ready"}\n'), (503, not_ready + b"\n")}, answers
        assert server.get("/health").status == 200

        # SIGHUP: every worker is replaced; none can load the model, the master stays.
        workers = workers_of(master)
        os.kill(master, signal.SIGHUP)
        wait_for_new_workers(master, workers)
        assert ready_answers(server) == {(503, not_ready + b"\n")}
        assert server.get("/health").status == 200
        assert server.process.poll() is None, "the master is still running"

        # The model is fixed: SIGHUP again and every worker is ready.
        model_file.write_bytes(good)
        workers = workers_of(master)
        os.kill(master, signal.SIGHUP)
        wait_for_new_workers(master, workers)
        assert ready_answers(server) == {(200, b'{"status":"ready"}\n')}


# --- the categorical render ---


@pytest.fixture(scope="module")
def birds(render, tmp_path_factory):
    project = render(BIRDS)
    with running(project, tmp_path_factory.mktemp("birds") / "server.log") as started:
        yield started


def test_the_form_has_selects_with_the_categories(birds):
    page = birds.get("/", headers={"Accept": "text/html"}).text
    assert '<select id="f-island" name="island" required>' in page
    for island in ("Biscoe", "Dream", "Torgersen"):
        assert f'<option value="{island}"' in page
    assert '<input type="checkbox" id="f-ringed" name="ringed" value="true"' in page


def test_an_unknown_or_wrong_case_category_gets_a_clear_400(birds):
    row = birds.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
    good = row["content"]["application/json"]["examples"]["one"]["value"]
    assert birds.post_json(good).status == 200
    unknown = birds.post_json({**good, "island": "Atlantis"})
    assert unknown.status == 400
    assert unknown.json() == {
        "errors": {
            "island": "unknown category 'Atlantis'; expected one of 'Biscoe', 'Dream', 'Torgersen'"
        }
    }
    wrong_case = birds.post_json({**good, "island": "dream"})
    assert wrong_case.json() == {
        "errors": {"island": "unknown category 'dream': did you mean 'Dream'? (case matters)"}
    }


def test_a_server_started_twice_on_one_port_says_so(render, tmp_path):
    """The second server finds the port taken and stops with one line (waitress)."""
    project = render(SERVERS["waitress"])
    with running(project, tmp_path / "first.log") as first:
        env = {**project_env(project), "PORT": str(first.port)}
        result = subprocess.run(
            [sys.executable, "-m", serve_command(project)[-1]],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{first.port}:")


def test_a_huge_number_or_a_repeated_key_in_a_categorical_row(birds):
    row = birds.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
    good = row["content"]["application/json"]["examples"]["one"]["value"]
    number = next(name for name, value in good.items() if isinstance(value, float))
    huge = birds.post_json({**good, number: 1.7e308})
    assert huge.status == 400 and "too large" in huge.json()["errors"][number]
    at_limit = birds.post_json({**good, number: 1e38})
    assert at_limit.status in (200, 422)
    strict_json(at_limit)
    twice = birds.post_json('{"island": "Dream", ' + json.dumps(good)[1:])
    assert twice.status == 400 and "'island' is given twice" in twice.json()["error"]
