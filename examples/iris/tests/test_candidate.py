"""A candidate version beside the live one: shadow (never changes or slows an answer) and
canary (its share of the requests, sticky per caller key, ended by promote and rollback)."""

import csv
import io
import json
import math
import shutil
import threading
import time
from collections import Counter

import pytest
from werkzeug.test import Client

import test_versions
from iris_classifier import candidate, metrics, shadow, train, versions
from iris_classifier.app import create_app
from iris_classifier.forms import default_texts
from iris_classifier.live_reload import LiveApp
from iris_classifier.model import live_version, load_model


@pytest.fixture(scope="module")
def trained_versions(tmp_path_factory):
    """A models folder with two versions: the live one and a candidate that always gives
    the same answer (or, when the data has no target to fit one, the same model again)."""
    folder = tmp_path_factory.mktemp("candidate") / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_DIR", str(folder))
        patch.setattr(versions, "TESTS_REFERENCE", folder.parent / "reference.json")
        live, _, _ = train.save(*test_versions.trained(1))
        try:
            second = test_versions.worse(test_versions.trained(2))
        except pytest.skip.Exception:
            second = test_versions.trained(2)
        other, _, _ = train.save(*second)
    return folder, live, other


@pytest.fixture(scope="module", autouse=True)
def the_project_model_is_served_again(model):
    """model_info (in /metrics) names the model of the last app made in this process: these
    tests make apps for other versions; the next tests' app serves the project's model."""
    yield
    metrics.MODEL.labels(model.version, model.metadata.get("created_at", "unknown")).set(1)


@pytest.fixture
def models(trained_versions, monkeypatch):
    """-> (live id, candidate id); the first version live, no shadow or canary yet."""
    folder, live, other = trained_versions
    monkeypatch.setenv("MODEL_DIR", str(folder))
    monkeypatch.setattr(versions, "TESTS_REFERENCE", folder.parent / "reference.json")
    versions.write_live(live)
    (folder / versions.CANDIDATE_FILE).unlink(missing_ok=True)
    return live, other


def rows_to_send():
    """The live version's reference rows: rows like the training data."""
    reference = versions.version_folder(live_version()) / versions.REFERENCE
    if not reference.exists():
        return [load_model().schema.defaults()]
    return json.loads(reference.read_text())["rows"][:60]


def csv_body(rows, names):
    def text(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(names)
    writer.writerows([[text(row.get(name)) for name in names] for row in rows])
    return output.getvalue()


def requests_to_send(schema):
    """(method, path, keyword arguments) of valid and invalid requests of every kind."""
    rows = rows_to_send()
    first = schema.names[0]
    form = {k: v for k, v in default_texts(schema).items() if v != "false"}
    sent = [("post", "/predict", {"json": row}) for row in rows]
    sent += [
        ("post", "/predict", {"json": rows}),
        ("post", "/invocations", {"json": rows[0]}),
        ("post", "/predict", {"data": csv_body(rows, schema.names), "content_type": "text/csv"}),
        ("post", "/", {"data": form}),
        ("post", "/predict", {"json": {**rows[0], "no such field": 1}}),
        ("post", "/predict", {"json": {**rows[0], first: "not a value"}}),
        ("post", "/predict", {"json": [rows[0], {}]}),
        ("post", "/predict", {"data": "{not json", "content_type": "application/json"}),
        ("post", "/predict", {"data": "x,y\n1,2\n", "content_type": "text/csv"}),
        ("post", "/", {"data": {**form, first: "<not a value>"}}),
    ]
    return sent


def shadow_rows(client, version):
    shadow.scorer().wait()
    return client.get("/monitor.json").get_json()["versions"]["shadow"]


def test_shadow_never_changes_an_answer(models):
    live, other = models
    schema = load_model().schema
    plain = create_app(load_model()).test_client()
    candidate.start(other, "shadow")
    shadowed = create_app(load_model()).test_client()
    before = shadow_rows(shadowed, other)
    answers = 0
    for method, path, arguments in requests_to_send(schema) * 3:
        alone = getattr(plain, method)(path, **arguments)
        beside = getattr(shadowed, method)(path, **arguments)
        assert (beside.status_code, beside.data) == (alone.status_code, alone.data), path
        assert beside.headers["X-Model-Version"] == live
        answers += alone.status_code == 200
    assert answers >= 3 * 5
    found = shadow_rows(shadowed, other)
    assert found["version"] == other and found["errors"] == before["errors"]
    assert found["rows"] > before["rows"]  # the candidate did score them
    assert 0 <= found["agreement"] <= 1
    page = shadowed.get("/metrics").get_data(as_text=True)
    labels = "{" + 'version="' + other + '"}'  # no f-string: its braces would be doubled
    assert "shadow_rows_total" + labels in page and "shadow_agreement" + labels in page


class Slow:
    """A predictor that takes `seconds` for every batch, until `done` is set."""

    def __init__(self, predictor, seconds, done):
        self.predictor, self.seconds, self.done = predictor, seconds, done

    def predict(self, inputs):
        self.done.wait(self.seconds)
        return self.predictor.predict(inputs)

    def predict_proba(self, inputs):
        self.done.wait(self.seconds)
        return self.predictor.predict_proba(inputs)


class Failing:
    def predict(self, inputs):
        raise RuntimeError("the candidate is broken")

    predict_proba = predict


def test_a_slow_candidate_neither_slows_the_answers_nor_fills_memory(models):
    _, other = models
    candidate.start(other, "shadow")
    app = create_app(load_model())
    serving = app.extensions["serving"]
    done = threading.Event()
    serving.candidate.predictor = Slow(serving.candidate.predictor, 0.2, done)
    client = app.test_client()
    row = rows_to_send()[0]
    dropped_before = client.get("/monitor.json").get_json()["versions"]["shadow"]["dropped_batches"]
    times = []
    sent = shadow.QUEUE_BATCHES + 50
    began = time.perf_counter()
    try:
        for _ in range(sent):
            started = time.perf_counter()
            assert client.post("/predict", json=row).status_code == 200
            times.append(time.perf_counter() - started)
        found = client.get("/monitor.json").get_json()["versions"]["shadow"]
        elapsed = time.perf_counter() - began
    finally:
        done.set()  # the batches still queued go through at once
    times.sort()
    # In the response path each answer would wait 0.2 s for the candidate.
    assert times[len(times) // 2] < 0.05 and times[int(len(times) * 0.95)] < 0.1, times[-5:]
    assert found["waiting"] <= shadow.QUEUE_BATCHES
    # The one thread spends at least 0.2 s on each batch it takes: whatever it could not take
    # and the queue could not hold was dropped (and counted), however slow this machine is.
    taken_at_most = elapsed / 0.2 + 1
    dropped = found["dropped_batches"] - dropped_before
    assert dropped >= 1, elapsed
    assert dropped >= sent - shadow.QUEUE_BATCHES - taken_at_most, (dropped, elapsed)
    assert "shadow_dropped_batches_total" in client.get("/metrics").get_data(as_text=True)


def test_a_failing_candidate_is_counted_and_never_seen(models):
    live, other = models
    candidate.start(other, "shadow")
    app = create_app(load_model())
    app.extensions["serving"].candidate.predictor = Failing()
    client = app.test_client()
    errors_before = shadow_rows(client, other)["errors"]
    rows = rows_to_send()[:10]  # a notebook's sample may have fewer
    for row in rows:
        answer = client.post("/predict", json=row)
        assert answer.status_code == 200 and answer.headers["X-Model-Version"] == live
    assert shadow_rows(client, other)["errors"] - errors_before == len(rows)


def binomial_bounds(count, share, sigmas=4):
    spread = sigmas * math.sqrt(count * share * (1 - share))
    return count * share - spread, count * share + spread


def test_a_canary_answers_its_share_of_the_requests(models):
    live, other = models
    candidate.start(other, "canary", 0.2)
    client = create_app(load_model()).test_client()
    row = rows_to_send()[0]
    seen = Counter(
        client.post("/predict", json=row).headers["X-Model-Version"] for _ in range(2000)
    )
    assert set(seen) == {live, other}
    low, high = binomial_bounds(2000, 0.2)
    assert low <= seen[other] <= high, seen
    report = client.get("/monitor.json").get_json()["versions"]
    assert report["candidate"] == {"version": other, "mode": "canary", "share": 0.2}
    counted = {line["version"]: line for line in report["versions"]}
    assert counted[other]["requests"] == seen[other] and counted[other]["role"] == "canary"
    assert counted[live]["requests"] == seen[live] and counted[live]["rows"] == seen[live]
    page = client.get("/metrics").get_data(as_text=True)
    assert 'version_requests_total{role="canary",version="' + other + '"}' in page
    monitor = client.get("/monitor").get_data(as_text=True)
    assert "as a canary" in monitor and other in monitor


def test_a_caller_key_always_gets_the_same_version(models):
    live, other = models
    candidate.start(other, "canary", 0.2)
    client = create_app(load_model()).test_client()
    row = rows_to_send()[0]

    def version_for(headers):
        return client.post("/predict", json=row, headers=headers).headers["X-Model-Version"]

    chosen = {}
    for number in range(1000):
        key = f"caller-{number}"
        chosen[key] = version_for({"X-Caller-Key": key})
    low, high = binomial_bounds(1000, 0.2)
    assert low <= list(chosen.values()).count(other) <= high
    for key in list(chosen)[:40]:
        assert version_for({"X-Caller-Key": key}) == chosen[key]
        assert version_for({"Authorization": f"Bearer {key}"}) == chosen[key]
        assert version_for({"X-API-Key": key}) == chosen[key]


def test_promote_and_rollback_end_the_canary(models):
    live, other = models
    candidate.start(other, "canary", 0.5)
    service = Client(LiveApp(create_app(load_model()), create_app, check_seconds=0))
    row = rows_to_send()[0]

    def served(count=40):
        return {service.post("/predict", json=row).headers["X-Model-Version"] for _ in range(count)}

    assert served() == {live, other}
    versions.promote(other, force=True)
    assert candidate.read_plan() is None
    assert served() == {other}
    candidate.start(live, "shadow")
    versions.rollback()
    assert candidate.read_plan() is None and served() == {live}
    candidate.start(other, "canary", 1.0)
    assert served() == {other}
    assert candidate.main(["stop"]) == 0
    assert served() == {live}
    lines = (versions.models_root() / versions.HISTORY_FILE).read_text().splitlines()
    history = [line.split()[1:] for line in lines]
    assert history[-2:] == [["canary", other], ["stop", other]]
    assert versions.live_stack()[-1] == live  # shadow, canary and stop lines do not count


def test_a_candidate_with_other_inputs_is_refused(models, capsys):
    live, other = models
    changed = "20260103-120000-0123abcd"  # a copy of the candidate, with one input less
    shutil.copytree(versions.version_folder(other), versions.version_folder(changed))
    path = versions.version_folder(changed) / "model.json"
    metadata = json.loads(path.read_text())
    fields = metadata["schema"]
    metadata["schema"] = fields[1:] if len(fields) > 1 else [{**fields[0], "name": "other"}]
    path.write_text(json.dumps(metadata))
    with pytest.raises(versions.VersionError, match="one request must be valid for both"):
        candidate.start(changed, "shadow")
    assert candidate.read_plan() is None

    # Written by hand all the same: the service leaves it out and answers alone.
    (versions.models_root() / versions.CANDIDATE_FILE).write_text(f"{changed} canary 1\n")
    client = create_app(load_model()).test_client()
    answer = client.post("/predict", json=rows_to_send()[0])
    assert answer.status_code == 200 and answer.headers["X-Model-Version"] == live
    assert client.get("/monitor.json").get_json()["versions"]["candidate"] is None
    shutil.rmtree(versions.version_folder(changed))

    assert candidate.main(["shadow", live]) == 1
    assert candidate.main(["canary", other, "--share", "0"]) == 1
    assert candidate.main(["canary", other, "--share", "1.5"]) == 1
    assert candidate.main(["shadow", "20260101-120000-0123abcd"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 4 and all(line.startswith("error: ") for line in errors), errors


def test_regression_predictions_agree_within_a_relative_tolerance():
    assert shadow.agreeing("regression", [100.0, 0.0, -10.0], [104.0, 0.001, -11.0]) == [
        True,
        False,
        False,
    ]
    assert shadow.agreeing("classification", ["a", "b"], ["a", "c"]) == [True, False]
