"""Monitoring: the training profile, PSI by hand, /monitor and /monitor.json, the log report.

Traffic "like training" is made from the model's own profile (models/profile.json): for
each input, as many rows in each bin as training had, so every PSI is close to 0.
"""

import json
import math
import random

import numpy as np
import pytest
from markupsafe import escape

from iris_classifier import profile as profiles
from iris_classifier.app import create_app
from iris_classifier.model import model_dir
from iris_classifier.monitor_pages import CSV_SAMPLE_ROWS
from iris_classifier.monitor_report import main as monitor_report
from iris_classifier.monitoring import RecentTraffic, light, make_report, psi
from iris_classifier.schema import Schema

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
ROWS = 500


@pytest.fixture(scope="module")
def profile(model):
    if not (model_dir() / "profile.json").exists():
        pytest.skip("the live model has no training profile (trained before monitoring)")
    found, problem = profiles.load_profile(model_dir(), model.metadata)
    assert found is not None, problem
    return found


@pytest.fixture
def fresh_client(model):
    """A new app, so that its recent traffic holds only what the test sends."""
    app = create_app(model)
    return app, app.test_client()


def value_in_bin(field, trained, position):
    """A clean value that falls in bin `position` of an input's profile."""
    if "bins" in trained:
        return trained["bins"][position]
    edges = trained["edges"]
    number = edges[position] if position < len(edges) else None
    if number is None:  # above the last edge: the largest value seen in training
        number = field.maximum if field.kind != "text" else edges[-1] + 1
    if field.kind == "text":
        return "a" * int(number)
    return int(number) if field.kind == "integer" else float(number)


def rows_like_training(model, profile, count=ROWS, seed=0):
    """count JSON rows whose inputs have the training shares, each field shuffled apart."""
    randomly = random.Random(seed)
    columns = {}
    for field in model.schema.fields:
        trained = profile["fields"][field.name]
        shares = [*trained["shares"], trained["missing"]]
        counts = [round(share * count) for share in shares]
        counts[counts.index(max(counts))] += count - sum(counts)  # rounding: exactly count
        values = []
        for position, number in enumerate(counts):
            missing = position == len(shares) - 1
            values += [None if missing else value_in_bin(field, trained, position)] * number
        randomly.shuffle(values)
        columns[field.name] = values
    return [
        {name: values[row] for name, values in columns.items() if values[row] is not None}
        for row in range(count)
    ]


def shift(model, rows):
    """Move one input far from training in every row: -> its name."""
    fields = model.schema.fields
    field = next((f for f in fields if f.kind in ("number", "integer")), None)
    field = field or next((f for f in fields if f.kind == "text"), None) or fields[0]
    for row in rows:
        if field.kind == "text":
            row[field.name] = "a" * 3000
        elif field.kind in ("number", "integer"):
            far = field.maximum + 3 * (field.maximum - field.minimum) + 1
            row[field.name] = int(far) if field.kind == "integer" else far
        elif field.kind == "boolean":
            row[field.name] = not row.get(field.name, True)
        else:
            row[field.name] = field.categories[-1]
    return field.name


def post_rows(client, rows):
    response = client.post("/predict", json=rows)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


# --- the profile and PSI, by hand ---


def test_decile_edges_of_ten_numbers_make_ten_equal_bins():
    edges = profiles.decile_edges(list(range(1, 11)))
    assert edges == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # each bin: above one edge, up to the next
    schema = Schema.from_list([{"name": "x", "label": "x", "kind": "integer", "required": True}])
    rows = [{"x": x} for x in range(1, 11)]
    profile = profiles.make_profile(schema, "regression", None, rows, [1.0] * 10, None, 0.6)
    assert profile["fields"]["x"]["shares"] == [0.1] * 10
    assert profile["fields"]["x"]["missing"] == 0


def test_decile_edges_are_not_repeated():
    assert profiles.decile_edges([0] * 80 + [1] * 20) == [0, 1]  # 3 bins: 0 or less, 0 to 1, over 1


def test_psi_of_numbers_by_hand():
    # Training: 25% up to 1, 50% from 1 to 2, 25% over 2. Recent, 10 rows: 1, 5 and 4.
    # PSI = (0.1 - 0.25) ln(0.1 / 0.25) + (0.5 - 0.5) ln(1) + (0.4 - 0.25) ln(0.4 / 0.25)
    #     = (-0.15)(-0.916291) + 0 + (0.15)(0.470004) = 0.137444 + 0.070501 = 0.207944
    assert psi([0.25, 0.5, 0.25], [0.1, 0.5, 0.4]) == pytest.approx(0.207944, abs=1e-6)
    metadata = {
        "task": "regression",
        "metrics": {},
        "schema": [{"name": "x", "label": "x", "kind": "number"}],
    }
    profile = {
        "model_sha256": "0" * 64,
        "fields": {
            "x": {
                "kind": "number",
                "edges": [1.0, 2.0],
                "shares": [0.25, 0.5, 0.25],
                "missing": 0.0,
            }
        },
        "output": {"kind": "numbers", "edges": [1.0], "shares": [0.5, 0.5], "missing": 0.0},
        "confidence": None,
    }
    traffic = RecentTraffic(metadata, window=10)
    values = [0.5, 1.5, 1.5, 1.5, 1.5, 1.5, 2.5, 2.5, 2.5, 2.5]
    traffic.record([{"x": value} for value in values], [1.0] * 10)
    (field,) = traffic.report(profile)["fields"]
    assert field["psi"] == pytest.approx(0.2079, abs=1e-4)  # no missing bin: none missing
    assert [b["recent"] for b in field["bins"]] == [0.1, 0.5, 0.4]
    assert field["light"] == "none", "10 rows are too few for a light"
    assert light(0.2079, 100) == "amber"


def test_psi_of_categories_by_hand_with_an_empty_bin():
    # Training: a 50%, b 50%, none missing. Recent: a 90%, b 0% (counts as 0.001), missing 10%.
    # (0.9 - 0.5) ln(0.9 / 0.5)       = 0.4 * 0.587787      = 0.235115
    # (0.001 - 0.5) ln(0.001 / 0.5)   = -0.499 * -6.214608  = 3.101089
    # (0.1 - 0.001) ln(0.1 / 0.001)   = 0.099 * 4.605170    = 0.455912   -> PSI 3.792116
    assert psi([0.5, 0.5, 0.0], [0.9, 0.0, 0.1]) == pytest.approx(3.792116, abs=1e-5)
    assert light(3.79, 100) == "red" and light(0.09, 100) == "green"


# --- the service ---


def test_training_like_traffic_is_green_and_a_shifted_input_is_red(model, profile, fresh_client):
    app, client = fresh_client
    post_rows(client, rows_like_training(model, profile))
    report = client.get("/monitor.json").get_json()
    assert report["rows"] == ROWS
    assert {f["name"]: f["light"] for f in report["fields"]} == {
        name: "green" for name in model.schema.names
    }

    client = create_app(model).test_client()
    rows = rows_like_training(model, profile, seed=1)
    shifted = shift(model, rows)
    post_rows(client, rows)
    lights = {f["name"]: f["light"] for f in client.get("/monitor.json").get_json()["fields"]}
    assert lights.pop(shifted) == "red"
    assert set(lights.values()) <= {"green"}


def test_monitor_json_is_the_report_of_the_recent_traffic(model, profile, fresh_client):
    app, client = fresh_client
    post_rows(client, rows_like_training(model, profile, count=150))
    answer = client.get("/monitor.json").get_json()
    assert answer.pop("problem") is None
    versions = answer.pop("versions")  # the figures of each model version (test_candidate.py)
    assert versions["live"] == model.version and versions["candidate"] is None
    expected = app.extensions["recent_traffic"].report(profile)
    expected["latency"] = answer["latency"]  # the same requests, measured the same way
    assert answer == json.loads(json.dumps(expected))
    assert answer["output"]["rows"] == 150 and answer["latency"]["requests"] == 1


def test_the_monitor_page_draws_svg_charts_without_script(model, profile, fresh_client):
    app, client = fresh_client
    post_rows(client, rows_like_training(model, profile, count=120))
    response = client.get("/monitor", headers=BROWSER)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<svg" in page and "<script" not in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    for field in model.schema.fields:
        assert f"<h3>{escape(field.label)}" in page


def test_the_form_and_csv_are_recorded_too(model, fresh_client, row):
    app, client = fresh_client
    texts = {name: "" if value is None else str(value) for name, value in row.items()}
    assert client.post("/", data=texts).status_code == 200
    header = ",".join(model.schema.names)
    line = ",".join(json.dumps(texts[name]) for name in model.schema.names)
    body = header + "\n" + (line + "\n") * 30
    assert client.post("/predict", data=body, content_type="text/csv").status_code == 200
    report = client.get("/monitor.json").get_json()
    assert report["rows"] == 31 and report["latency"]["requests"] == 2


def test_a_csv_file_records_a_bounded_sample(model, monkeypatch, row):
    monkeypatch.setenv("MONITOR_WINDOW", "40")
    app = create_app(model)
    texts = {name: "" if value is None else str(value) for name, value in row.items()}
    header = ",".join(model.schema.names)
    line = ",".join(json.dumps(texts[name]) for name in model.schema.names)
    body = header + "\n" + (line + "\n") * 1000
    response = app.test_client().post("/predict", data=body, content_type="text/csv")
    assert response.status_code == 200
    assert app.extensions["recent_traffic"].rows_seen == 40  # the window
    monkeypatch.delenv("MONITOR_WINDOW")
    app = create_app(model)
    app.test_client().post("/predict", data=body, content_type="text/csv")
    assert app.extensions["recent_traffic"].rows_seen == CSV_SAMPLE_ROWS


def test_memory_is_bounded_by_the_window(model, row):
    traffic = RecentTraffic(model.metadata, window=1000)
    clean, _ = model.validate([row])
    rows, predictions = clean * 1000, [model.predict_clean(clean)[0]["prediction"]] * 1000
    probabilities = np.full((1000, len(model.classes)), 0.5) if model.has_probabilities else None
    for _ in range(100):  # 100,000 rows
        traffic.record(rows, predictions, probabilities, 0.001)
        traffic.record_outcome(predictions[0], predictions[0])
    assert traffic.rows_seen == 100_000
    assert traffic.sizes() == 1000


def test_a_profile_of_another_model_is_not_used(model, profile, tmp_path, monkeypatch, caplog):
    (tmp_path / "profile.json").write_text(json.dumps({**profile, "model_sha256": "f" * 64}))
    found, problem = profiles.load_profile(tmp_path, model.metadata)
    assert found is None
    assert (
        "another model (ffffffffffff" in problem
        and profiles.model_digest(model.metadata)[:12] in problem
    )
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    app = create_app(model)
    assert any("another model" in r.getMessage() for r in caplog.records)
    client = app.test_client()
    assert client.get("/monitor.json").get_json()["profile"] is None
    page = client.get("/monitor", headers=BROWSER).get_data(as_text=True)
    assert "No training profile" in page and "make train" in page


# --- the report from a prediction log ---


def test_monitor_report_writes_one_html_file_from_a_log(model, profile, tmp_path, capsys):
    digest = profiles.model_digest(model.metadata)[:12]
    rows = rows_like_training(model, profile, count=200)
    results = model.predict(rows)
    lines = []
    for number, (row, result) in enumerate(zip(rows, results, strict=True)):
        lines.append(
            {"request_id": f"r{number}", "row": 0, "model": digest, "inputs": row, **result}
        )
        lines.append({"request_id": f"r{number}", "row": 0, "actual": result["prediction"]})
    lines.append({"request_id": "x", "row": 0, "model": "0123456789ab", "prediction": 1})
    log = tmp_path / "predictions.log"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n")
    out = tmp_path / "report.html"
    assert monitor_report([str(log), str(out)]) == 0
    page = out.read_text()
    assert "<svg" in page and "<script" not in page and "<style>" in page
    assert "1 lines of another model left out" in page and "1 lines not understood" in page
    assert "200 answers sent back" in page
    printed = capsys.readouterr().out
    assert "200 predictions compared" in printed


def test_a_log_without_inputs_reports_outputs_only(model, profile, tmp_path):
    digest = profiles.model_digest(model.metadata)[:12]
    prediction = model.predict_clean(model.validate([model.schema.defaults()])[0])[0]
    log = tmp_path / "predictions.log"
    log.write_text(json.dumps({"request_id": "a", "row": 0, "model": digest, **prediction}))
    traffic = RecentTraffic(model.metadata)
    traffic.record(None, [prediction["prediction"]])
    report = make_report(traffic.snapshot(), profile, model.metadata, 1000, 1)
    assert report["fields"] == [] and report["output"]["rows"] == 1
    assert monitor_report([str(log), str(tmp_path / "r.html")]) == 0
    assert "not in the log" in (tmp_path / "r.html").read_text()
    assert not math.isnan(report["output"]["psi"])
