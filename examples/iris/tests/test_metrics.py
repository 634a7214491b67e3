"""What the service tells about itself: /metrics, request ids, the access log, the
prediction log and POST /feedback."""

import copy
import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from iris_classifier import tracking
from iris_classifier.app import create_app
from iris_classifier.model import model_dir


def samples(client):
    """/metrics as {(name, labels as sorted tuple): value}."""
    reply = client.get("/metrics")
    assert reply.status_code == 200
    found = {}
    for family in text_string_to_metric_families(reply.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def change(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def outside(model, row):
    """row with its first ranged number far above the training range, or None."""
    for field in model.schema.fields:
        if field.kind in ("number", "integer") and field.maximum is not None:
            return {**row, field.name: field.maximum + abs(field.maximum) + 10}, field.name
    return None, None


def test_metrics_count_requests_predictions_and_problems(client, model, row):
    before = samples(client)
    for _ in range(3):
        assert client.post("/predict", json=row).status_code == 200
    listed = client.post("/predict", json=[row, row])
    assert client.post("/predict", json={**row, "no such field": 1}).status_code == 400
    after = samples(client)
    assert change(before, after, "http_requests_total", route="/predict", status="200") == 4
    assert change(before, after, "http_requests_total", route="/predict", status="400") == 1
    assert change(before, after, "http_request_duration_seconds_count", route="/predict") == 5
    assert change(before, after, "refused_values_total", field="(other)") == 1
    answers = [client.post("/predict", json=row).get_json()] + listed.get_json()["predictions"]
    if model.task == "classification":
        label = str(answers[0]["prediction"])
        assert change(before, after, "predictions_total", prediction=label) >= 3
        total = sum(v for (name, _), v in after.items() if name == "predictions_total")
        total -= sum(v for (name, _), v in before.items() if name == "predictions_total")
        assert total == 5
    else:
        assert change(before, after, "predicted_value_count") == 5
    labels = (("created_at", model.metadata["created_at"]), ("version", model.version))
    assert after[("model_info", labels)] == 1


def test_values_outside_the_training_range_are_counted_by_field(client, model, row):
    shifted, name = outside(model, row)
    if shifted is None:
        pytest.skip("no number input")
    before = samples(client)
    assert client.post("/predict", json=shifted).status_code == 200
    assert change(before, samples(client), "out_of_range_values_total", field=name) == 1


def test_a_request_id_is_returned_and_a_plain_one_is_kept(client, row):
    made = client.post("/predict", json=row).headers["X-Request-ID"]
    assert len(made) == 16 and made != client.get("/health").headers["X-Request-ID"]
    kept = client.post("/predict", json=row, headers={"X-Request-ID": "order-42"})
    assert kept.headers["X-Request-ID"] == "order-42"
    odd = client.get("/health", headers={"X-Request-ID": 'x"\\y'}).headers["X-Request-ID"]
    assert odd != 'x"\\y' and len(odd) == 16


def test_the_access_log_is_one_json_line_per_request_without_values(model, row, capfd, monkeypatch):
    monkeypatch.setenv("ACCESS_LOG", "1")  # conftest.py turns it off for the other tests
    client = create_app(copy.copy(model)).test_client()
    capfd.readouterr()
    client.post("/predict", json=row, headers={"X-Request-ID": "abc"})
    client.get("/nowhere", headers={"X-Request-ID": "abc-2"})
    time.sleep(3 * tracking.FLUSH_SECONDS)  # written by the access log's own thread
    # Other apps of this test session write their lines too: these two requests' only.
    lines = [line for line in capfd.readouterr().out.splitlines() if '"abc' in line]
    entries = [json.loads(line) for line in lines]
    assert [e["status"] for e in entries] == [200, 404]
    assert entries[0]["request_id"] == "abc" and entries[0]["route"] == "/predict"
    assert entries[0]["model"] == model.version and entries[0]["ms"] > 0
    for value in row.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in lines[0]


def test_access_log_and_metrics_can_be_turned_off(model, row, capfd, monkeypatch):
    monkeypatch.setenv("ACCESS_LOG", "0")
    monkeypatch.setenv("MONITORING", "0")
    own = copy.copy(model)  # create_app gives the model its observers: not the shared one
    client = create_app(own).test_client()
    capfd.readouterr()
    client.post("/predict", json=row, headers={"X-Request-ID": "quiet-1"})
    time.sleep(3 * tracking.FLUSH_SECONDS)
    assert "quiet-1" not in capfd.readouterr().out
    assert own.observers == []


@pytest.fixture
def logged(model, tmp_path, monkeypatch):
    """An app that writes the prediction log (values too) into tmp_path."""
    path = tmp_path / "logs" / "predictions.jsonl"
    monkeypatch.setenv("PREDICTION_LOG", str(path))
    monkeypatch.setenv("PREDICTION_LOG_INPUTS", "1")
    return create_app(copy.copy(model)).test_client(), path


def test_every_prediction_is_logged_and_feedback_finds_it(logged, model, row):
    client, path = logged
    reply = client.post("/predict", json=[row, row], headers={"X-Request-ID": "batch-1"})
    predicted = reply.get_json()["predictions"][1]["prediction"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["request_id"], e["row"]) for e in lines] == [("batch-1", 0), ("batch-1", 1)]
    assert lines[1]["prediction"] == predicted and lines[1]["model"] == model.version
    assert set(lines[1]["inputs"]) == set(model.schema.names)
    actual = model.classes[0] if model.classes else 1.5
    answer = client.post("/feedback", json={"request_id": "batch-1", "row": 1, "actual": actual})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["prediction"] == predicted
    outcome = json.loads(path.read_text().splitlines()[-1])
    assert outcome == {**outcome, "request_id": "batch-1", "row": 1, "actual": actual}


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"request_id": "never-made", "actual": 1}, 404, "no prediction"),
        ({"request_id": "batch-1", "row": 7, "actual": 1}, 404, "no prediction"),
        ({"request_id": "", "actual": 1}, 400, "request_id"),
        ({"request_id": "batch-1", "row": -1, "actual": 1}, 400, "row"),
        ({"request_id": "batch-1"}, 400, "actual is missing"),
        ({"request_id": "batch-1", "actual": 1, "extra": 2}, 400, "unknown keys"),
        ([], 400, "request_id"),
    ],
)
def test_feedback_that_cannot_be_used_says_why(logged, model, row, body, status, words):
    client, _ = logged
    client.post("/predict", json=row, headers={"X-Request-ID": "batch-1"})
    if isinstance(body, dict) and "actual" in body and model.classes:
        body["actual"] = model.classes[0]
    answer = client.post("/feedback", json=body)
    assert answer.status_code == status
    assert words in answer.get_json()["error"]


def test_feedback_with_a_wrong_outcome_is_refused(logged, model, row):
    client, _ = logged
    client.post("/predict", json=row, headers={"X-Request-ID": "one"})
    wrong = "no such class" if model.classes else "not a number"
    answer = client.post("/feedback", json={"request_id": "one", "actual": wrong})
    assert answer.status_code == 400


def test_feedback_without_a_prediction_log_is_404_and_says_how(client):
    answer = client.post("/feedback", json={"request_id": "x", "actual": 1})
    assert answer.status_code == 404
    assert "PREDICTION_LOG" in answer.get_json()["error"]


# Windows has no fcntl: one waitress process rotates under its threads' lock alone.
@pytest.mark.parametrize("has_fcntl", [True, False], ids=["posix", "windows"])
def test_the_prediction_log_rotates_and_feedback_reads_the_old_file(
    model, row, tmp_path, monkeypatch, has_fcntl
):
    from iris_classifier import predictions_log
    from iris_classifier.predictions_log import PredictionLog

    if not has_fcntl:
        monkeypatch.setattr(predictions_log, "fcntl", None)
    path = tmp_path / "predictions.jsonl"
    log = PredictionLog(path, 1, False, model)
    log.max_bytes = 2000  # a few lines
    inputs = model.inputs(model.validate([row])[0])
    for number in range(100):
        log.record(f"r{number}", 1, inputs, ["x"], None)
    assert path.exists() and (tmp_path / "predictions.jsonl.1").exists()
    assert not (tmp_path / "predictions.jsonl.4").exists()
    assert all(f.stat().st_size <= 2000 for f in tmp_path.iterdir() if f.suffix != ".lock")
    assert log.find_prediction("r99", 0)["request_id"] == "r99"
    older = json.loads((tmp_path / "predictions.jsonl.1").read_text().splitlines()[0])
    assert log.find_prediction(older["request_id"], 0) is not None
    assert log.find_prediction("r0", 0) is None  # rotated away


def test_the_drift_figures_of_monitor_are_in_metrics_too(client, row):
    for _ in range(3):
        client.post("/predict", json=row)
    found = samples(client)
    report = client.get("/monitor.json").get_json()
    assert found[("monitor_window_rows", ())] == report["rows"] >= 3
    if not (model_dir() / "profile.json").exists():
        pytest.skip("the live model has no training profile (trained before monitoring)")
    assert report["fields"], "the trained model has a profile"
    for field in report["fields"]:
        assert found[("drift_psi", (("field", field["name"]),))] == pytest.approx(field["psi"])
