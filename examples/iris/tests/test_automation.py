"""Degrees of automation (AUTOMATION) through the API, CSV and the form, and the review queue.

Each test makes its own app with the degree set in the environment and its own review
queue in a temporary folder.
"""

import csv
import io
import json
import re
import threading

import pytest
from markupsafe import escape

from iris_classifier import batch, config
from iris_classifier.app import create_app
from iris_classifier.automation import Automation
from iris_classifier.forms import default_texts
from iris_classifier.review import ReviewQueue, referred_share
from iris_classifier.settings import SettingsError, from_env

REFERENCE = json.loads((config.PROJECT_ROOT / "tests" / "data" / "reference.json").read_text())
ROWS = REFERENCE["rows"]
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def make_client(model, monkeypatch, tmp_path):
    """make_client(degree, **more settings) -> a test client of an app with that degree."""

    def make(degree, **settings):
        monkeypatch.setenv("AUTOMATION", degree)
        monkeypatch.setenv("REVIEW_QUEUE", str(tmp_path / "reviews" / "queue.jsonl"))
        for name, value in settings.items():
            monkeypatch.setenv(name, str(value))
        return create_app(model).test_client()

    return make


def needs_classes(model):
    if model.task != "classification" or not model.has_probabilities:
        pytest.skip("partial and assist need a classifier with class probabilities")


def predict(client, payload):
    response = client.post("/predict", json=payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def model_answers(model, rows):
    """-> [(prediction, {class: probability} or None)] for JSON rows, from the model itself
    (observed=False: not a request any app records)."""
    clean, _ = model.validate(rows, numbered=True)
    labels, probabilities = model.predict_matrix(model.inputs(clean), observed=False)
    if probabilities is None:
        return [(label, None) for label in labels]
    rows = [dict(zip(model.classes, row, strict=True)) for row in probabilities.tolist()]
    return list(zip(labels, rows, strict=True))


def confidences(model):
    """The highest probability of each reference row."""
    return [max(probabilities.values()) for _, probabilities in model_answers(model, ROWS)]


def threshold_between(values):
    """A threshold with some reference rows below it and some at or above it."""
    values = sorted(set(values))
    if len(values) < 2:
        pytest.skip("every reference row has the same confidence")
    middle = len(values) // 2
    return (values[middle - 1] + values[middle]) / 2


def form_page(client, model, **extra):
    response = client.post("/", data={**default_texts(model.schema), **extra})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def review_id_on(page):
    found = re.search(r'(?:id="review-id">|action="/review/)([0-9a-f]{16})', page)
    assert found, "the page names its review id"
    return found.group(1)


# A CSV line with every cell empty is a spreadsheet's empty row: it is skipped, not scored.
CSV_ROWS = [row for row in ROWS if any(value not in (None, "") for value in row.values())][:5]


def csv_body(model):
    names = model.schema.names
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(names)
    for row in CSV_ROWS:
        writer.writerow(["" if row[name] is None else json_text(row[name]) for name in names])
    return output.getvalue().encode()


def json_text(value):
    return json.dumps(value) if isinstance(value, bool) else str(value)


def header_of(response):
    return csv_rows(response)[0]


def csv_rows(response):
    """A scored CSV's rows, parsed as CSV: text cells may hold commas and quotes."""
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# --- full: nothing changes for existing clients ---


def test_full_answers_as_before_without_decision_or_review(model, make_client, row):
    client = make_client("full")
    answer = predict(client, row)
    assert "prediction" in answer and "decision" not in answer
    scored = client.post("/predict", data=csv_body(model), content_type="text/csv")
    assert "decision" not in header_of(scored)
    assert client.get("/review").status_code == 404
    assert 'id="prediction"' in form_page(client, model)


# --- partial ---


def test_partial_refers_the_less_confident_rows_and_queues_them(model, make_client):
    needs_classes(model)
    threshold = threshold_between(confidences(model))
    client = make_client("partial", REVIEW_THRESHOLD=threshold)
    answers = predict(client, ROWS)["predictions"]
    referred = [answer for answer in answers if answer["decision"] == "refer"]
    decided = [answer for answer in answers if answer["decision"] == "model"]
    assert referred and decided
    for answer in decided:
        assert max(answer["probabilities"].values()) >= threshold
        assert answer["prediction"] in model.classes and "review_id" not in answer
    for answer in referred:
        assert max(answer["probabilities"].values()) < threshold
        assert "prediction" not in answer, "a referred row has no prediction to act on"
        assert answer["suggestion"] in model.classes
    queue = client.get("/review.json").get_json()
    assert queue["open"] == len(referred)
    newest_first = [answer["review_id"] for answer in reversed(referred)]
    assert [item["id"] for item in queue["items"]] == newest_first[:20]


def test_partial_csv_has_a_decision_column_and_both_ways_of_scoring_agree(model, make_client):
    needs_classes(model)
    threshold = threshold_between(confidences(model))
    client = make_client("partial", REVIEW_THRESHOLD=threshold)
    body = csv_body(model)
    response = client.post("/predict", data=body, content_type="text/csv")
    header, *rows = csv_rows(response)
    assert header[header.index("prediction") + 1] == "decision"
    column = header.index("decision")
    answers = predict(client, CSV_ROWS)["predictions"]
    assert [row[column] for row in rows] == [a["decision"] for a in answers]
    decisions = Automation("partial", threshold, None, model).csv_decisions
    with batch.score_lines(model, body, decisions) as by_lines:
        assert by_lines.read() == response.get_data(), "line by line, the same file"


def test_partial_form_says_referred_with_a_review_id_a_person_resolves(model, make_client):
    needs_classes(model)
    _, probabilities = model_answers(model, [model.schema.defaults()])[0]
    if max(probabilities.values()) >= 0.9999999:
        pytest.skip("the default row is predicted with certainty")
    client = make_client("partial", REVIEW_THRESHOLD="0.9999999")
    page = form_page(client, model)
    assert "Referred to a person" in page and 'id="prediction"' not in page
    review_id = review_id_on(page)
    listed = client.get("/review", headers=BROWSER).get_data(as_text=True)
    assert review_id in listed
    answer = str(model.classes[-1])
    done = client.post(f"/review/{review_id}", data={"answer": answer}, headers=BROWSER)
    assert done.status_code == 200 and "Recorded" in done.get_data(as_text=True)
    assert client.get("/review.json").get_json()["open"] == 0
    again = client.post(f"/review/{review_id}", json={"answer": answer})
    assert again.status_code == 409
    outcomes = client.get("/monitor.json").get_json()["outcomes"]
    assert outcomes["count"] == 1, "the person's answer is feedback for the monitor"


def test_partial_form_shows_a_confident_prediction(model, make_client):
    needs_classes(model)
    client = make_client("partial", REVIEW_THRESHOLD="0.000001")
    page = form_page(client, model)
    assert 'id="prediction"' in page and "Decided by the model" in page
    assert client.get("/review.json").get_json()["open"] == 0


# --- assist and shadow ---


def test_assist_asks_a_person_to_choose_among_the_likeliest_classes(model, make_client):
    needs_classes(model)
    client = make_client("assist")
    page = form_page(client, model)
    assert "Your decision" in page and 'id="prediction"' not in page
    _, probabilities = model_answers(model, [model.schema.defaults()])[0]
    likeliest = sorted(probabilities, key=lambda name: -probabilities[name])[:3]
    buttons = [f'name="answer" value="{escape(str(name))}"' for name in likeliest]
    positions = [page.index(button) for button in buttons]
    assert positions == sorted(positions), "the likeliest class comes first"
    review_id = review_id_on(page)
    response = client.post(f"/review/{review_id}", json={"answer": likeliest[-1]})
    assert response.status_code == 201
    assert response.get_json() == {"id": review_id, "answer": likeliest[-1], "status": "recorded"}
    answer = predict(client, model.schema.defaults())
    assert answer["decision"] == "assist" and "prediction" not in answer
    assert answer["suggestion"] == likeliest[0] and len(answer["review_id"]) == 16


def test_shadow_records_the_answer_and_shows_no_decision(model, make_client, tmp_path):
    client = make_client("shadow", PREDICTION_LOG=tmp_path / "predictions.jsonl")
    page = form_page(client, model)
    assert "Recorded" in page
    assert 'id="prediction"' not in page and 'id="probabilities"' not in page
    expected, _ = model_answers(model, [model.schema.defaults()])[0]
    answer = predict(client, model.schema.defaults())
    assert answer["decision"] == "shadow" and "prediction" not in answer
    assert answer["suggestion"] == expected, "the model's answer is recorded in the response"
    review = client.get("/review", headers=BROWSER).get_data(as_text=True)
    assert answer["review_id"] in review and "The model suggests" not in review
    person = expected if model.task == "classification" else 12.5
    response = client.post(f"/review/{answer['review_id']}", json={"answer": person})
    assert response.status_code == 201
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in lines]
    assert logged[-1]["actual"] == person, "written to the prediction log as the outcome"


# --- the review queue ---


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/review/ffffffffffffffff", {"answer": "VALID"}, 404),
        ("/review/not-an-id", {"answer": "VALID"}, 404),
        ("/review/{id}", {"answer": "no such class", "more": 1}, 400),
        ("/review/{id}", {"answer": "no such class"}, 400),
        ("/review/{id}", [1, 2], 400),
    ],
)
def test_review_answers_that_cannot_be_used_are_refused(make_client, model, path, body, status):
    client = make_client("shadow")
    suggestion = predict(client, model.schema.defaults())
    if body == {"answer": "VALID"}:
        body = {"answer": suggestion["suggestion"]}
    response = client.post(path.replace("{id}", suggestion["review_id"]), json=body)
    assert response.status_code == status
    assert "error" in response.get_json()
    assert client.get("/review.json").get_json()["open"] == 1


def test_review_page_number_is_checked(make_client):
    client = make_client("shadow")
    assert client.get("/review?page=abc").status_code == 400
    assert client.get("/review?page=99").status_code == 200  # the last page


def test_the_queue_file_stays_within_its_size_keeping_the_newest(tmp_path):
    queue = ReviewQueue(tmp_path / "queue.jsonl", max_mb=1)
    item = {"suggestion": "a", "inputs": {"text": "x" * 2000}}
    ids = []
    for _ in range(50):
        ids += queue.add([item] * 20)  # 1,000 items of about 2 KB: twice the limit
        assert queue.path.stat().st_size <= 1024 * 1024
    kept = [entry["id"] for entry in queue.open_items()]
    assert kept == ids[::-1][: len(kept)] and len(kept) > 100


def test_one_request_over_the_bound_keeps_its_newest_items(tmp_path):
    queue = ReviewQueue(tmp_path / "queue.jsonl", max_mb=1)
    ids = queue.add([{"suggestion": "a", "inputs": {"text": "x" * 2000}}] * 1000)  # 2 MB
    assert queue.path.stat().st_size <= 1024 * 1024
    kept = [entry["id"] for entry in queue.open_items()]
    assert kept == ids[::-1][: len(kept)] and len(kept) > 100


def test_two_workers_answering_the_same_item_record_it_once(tmp_path):
    path = tmp_path / "queue.jsonl"
    workers = [ReviewQueue(path, max_mb=1) for _ in range(2)]  # two processes' own objects
    review_ids = workers[0].add([{"suggestion": "a"}] * 300)
    outcomes = []

    def answer_all(queue):
        for review_id in review_ids:
            try:
                queue.answer(review_id, "b")
                outcomes.append("recorded")
            except Exception as error:
                outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=answer_all, args=(queue,)) for queue in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("recorded") == 300 and outcomes.count("Conflict") == 300
    answers = [line for line in path.read_text().splitlines() if '"answer"' in line]
    assert len(answers) == 300


def test_referred_share_of_held_out_rows_from_the_profile_bins():
    profile = {
        "confidence": {
            "edges": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
            "shares": [0, 0, 0, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2],
            "threshold": 0.6,
            "low": 0.25,
        }
    }
    assert referred_share(profile, 0.6) == (0.25, 0.25)  # counted exactly at training
    assert referred_share(profile, 0.8) == (0.4, 0.6)  # 0.7 to 0.8 may be either side
    assert referred_share(profile, 0.75) == (0.4, 0.6)
    assert referred_share(None, 0.8) is None


# --- settings ---


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("AUTOMATION", "sometimes", "AUTOMATION must be one of full, partial, assist, shadow"),
        ("REVIEW_THRESHOLD", "1.5", "between 0 and 1"),
        ("REVIEW_THRESHOLD", "high", "must be a number"),
        ("REVIEW_QUEUE_MB", "0", "1 or more"),
    ],
)
def test_bad_automation_settings_say_what_is_wrong(name, value, words):
    with pytest.raises(SettingsError, match=words):
        from_env({name: value})


def test_partial_and_assist_need_a_classifier():
    for degree in ("partial", "assist"):
        if config.TASK == "classification":
            assert from_env({"AUTOMATION": degree}).automation == degree
        else:
            with pytest.raises(SettingsError, match="needs a classifier"):
                from_env({"AUTOMATION": degree})
    assert from_env({"AUTOMATION": "Shadow "}).automation == "shadow"


def test_a_review_queue_that_cannot_be_written_stops_the_start(model, monkeypatch, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("AUTOMATION", "shadow")
    monkeypatch.setenv("REVIEW_QUEUE", str(blocker / "queue.jsonl"))
    with pytest.raises(SettingsError, match="set REVIEW_QUEUE"):
        create_app(model)
