"""Each degree of automation as an answer: the render serves it without any setting, and
its own tests of every degree (tests/test_automation.py in the project) pass."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from _service_helpers import running
from conftest import DATA, package_of, run

BIRDS = {
    "dataset": "csv",
    "data_path": str(DATA / "birds.csv"),
    "target_column": "species",
    "model_type": "random_forest",
}
DEGREES = {
    "partial": ({"automation": "partial", "project_name": "Iris partial"}, {"model", "refer"}),
    "assist-birds": ({**BIRDS, "automation": "assist", "project_name": "Birds assist"}, {"assist"}),
    "shadow-regression": (
        {
            "task": "regression",
            "dataset": "diabetes",
            "model_type": "ridge",
            "automation": "shadow",
            "project_name": "Diabetes shadow",
        },
        {"shadow"},
    ),
}
# The answers a render gives when nothing is set (AUTOMATION, REVIEW_QUEUE unset).
ANSWERS = """
import json
from {package}.app import create_app
client = create_app().test_client()
row = client.application.jinja_env.globals["schema"].defaults()
answers = client.post("/predict", json=[row] * 3).get_json()["predictions"]
print(json.dumps({{"decisions": [a.get("decision") for a in answers],
                  "review": client.get("/review.json").status_code}}))
"""


@pytest.mark.parametrize("name", list(DEGREES))
def test_each_degree_renders_serves_and_passes_its_tests(render, name):
    answers, decisions = DEGREES[name]
    project = render(answers)
    config = (project / "src" / package_of(project) / "config.py").read_text()
    assert f'AUTOMATION = "{answers["automation"]}"' in config
    result = run([sys.executable, "-c", ANSWERS.format(package=package_of(project))], project)
    served = json.loads(result.stdout.splitlines()[-1])
    assert set(served["decisions"]) <= decisions and served["review"] == 200
    run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_automation.py",
        ],
        project,
    )


def test_the_default_answer_is_full(render):
    project = render({})
    result = run([sys.executable, "-c", ANSWERS.format(package=package_of(project))], project)
    served = json.loads(result.stdout.splitlines()[-1])
    assert served == {"decisions": [None, None, None], "review": 404}


@pytest.mark.slow
@pytest.mark.xdist_group("servers")
def test_gunicorn_workers_share_one_review_queue(render, tmp_path):
    """Every item answered twice at once, through two workers: one 201 and one 409 each."""
    project = render({"server": "gunicorn", "project_name": "Gunicorn review"})
    settings = {
        "AUTOMATION": "shadow",
        "REVIEW_QUEUE": str(tmp_path / "queue.jsonl"),
        "WEB_CONCURRENCY": "2",
        "ACCESS_LOG": "0",
    }
    with running(project, tmp_path / "server.log", **settings) as server:
        row = {
            "sepal_length_cm": 6,
            "sepal_width_cm": 2.7,
            "petal_length_cm": 5,
            "petal_width_cm": 1.6,
        }
        answers = [server.post_json([row] * 5).json()["predictions"] for _ in range(6)]
        ids = [answer["review_id"] for batch in answers for answer in batch]
        assert len(set(ids)) == 30

        def answer(review_id):
            body = json.dumps({"answer": "virginica"})
            headers = {"Content-Type": "application/json"}
            return server.request("POST", f"/review/{review_id}", body, headers).status

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(answer, ids + ids))
        assert statuses.count(201) == 30 and statuses.count(409) == 30
        for _ in range(4):  # whichever worker answers
            assert server.get("/review.json").json()["open"] == 0
    lines = (tmp_path / "queue.jsonl").read_text().splitlines()
    assert sum('"answer"' in line for line in lines) == 30, "each answer written once"
