"""Each degree of automation as an answer: the render serves it without any setting, and
its own tests of every degree (tests/test_automation.py in the project) pass."""

import json
import sys

import pytest
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
