"""Render the template with many answers; each project trains and passes its own tests."""

import json
import re
import sys

import pytest
from conftest import DATA, live_dir, package_of, run

DEFAULT = {}
CSV_BIRDS = {
    "dataset": "csv",
    "data_path": str(DATA / "birds.csv"),
    "target_column": "species",
    "model_type": "random_forest",
}
CSV_HOUSES = {
    "task": "regression",
    "dataset": "csv",
    "data_path": str(DATA / "houses.csv"),
    "target_column": "Price (€)",
    "model_type": "ridge",
}
CSV_REVIEWS = {
    "dataset": "csv",
    "data_path": str(DATA / "reviews.csv"),
    "target_column": "sentiment",
    "model_type": "logistic_regression",
    "project_name": "Reviews",
}
CSV_CUSTOMERS = {
    "dataset": "csv",
    "data_path": str(DATA / "customers.csv"),
    "target_column": "churned",
    "model_type": "random_forest",
    "project_name": "Customers",
}

LANGUAGES = {"dataset": "languages", "project_name": "Which language"}


CLASSIFIERS = [
    "logistic_regression",
    "random_forest",
    "gradient_boosting",
    "decision_tree",
    "svm",
    "knn",
]
REGRESSORS = ["linear_regression", "ridge", "random_forest", "gradient_boosting", "svm", "knn"]

MATRIX = {
    **{f"iris-{m}": {"model_type": m} for m in CLASSIFIERS},
    **{
        f"diabetes-{m}": {
            "task": "regression",
            "dataset": "diabetes",
            "model_type": m,
            "fast_csv": m == "ridge",
        }
        for m in REGRESSORS
    },
    # fast_csv on a forest, a 30-input model, a regression (which it leaves to pyarrow)
    # and a model reading 2 of 4 inputs: each project's own tests compare its CSV answers.
    "wine": {"dataset": "wine", "model_type": "random_forest", "fast_csv": True},
    "breast_cancer": {
        "dataset": "breast_cancer",
        "model_type": "logistic_regression",
        "fast_csv": True,
    },
    "joblib": {"model_format": "joblib", "project_name": "Iris joblib"},
    "skops": {"model_format": "skops", "model_type": "gradient_boosting"},
    "sequential": {"feature_selection": "sequential", "n_features": 2, "fast_csv": True},
    "features": {
        "features": ["petal width (cm)", "sepal length (cm)"],
        "project_name": "Two inputs",
    },
    "csv-birds": CSV_BIRDS,
    "csv-birds-skops-selection": {
        **CSV_BIRDS,
        "model_format": "skops",
        "model_type": "logistic_regression",
        "feature_selection": "sequential",
        "n_features": 3,
    },
    "csv-houses": CSV_HOUSES,
    "csv-reviews": CSV_REVIEWS,
    "csv-reviews-skops-forest": {
        **CSV_REVIEWS,
        "model_type": "random_forest",
        "model_format": "skops",
    },
    "csv-customers": CSV_CUSTOMERS,
    "languages": LANGUAGES,
    **{
        f"{task}-{m}-{inference}": {
            "task": task,
            "dataset": "iris" if task == "classification" else "diabetes",
            "model_type": m,
            "inference": inference,
            "project_name": f"{m[:4]} {task[:5]} {inference}",
        }
        for m in ("xgboost", "lightgbm")
        for task in ("classification", "regression")
        for inference in ("onnx", "sklearn")
    },
    "csv-reviews-xgboost": {**CSV_REVIEWS, "model_type": "xgboost", "project_name": "Reviews xgb"},
    "csv-customers-lightgbm-skops": {
        **CSV_CUSTOMERS,
        "model_type": "lightgbm",
        "model_format": "skops",
        "project_name": "Customers lgbm",
    },
    "gunicorn-py313": {"server": "gunicorn", "python_version": "3.13", "project_name": "My-App 2"},
    "sklearn-inference": {"inference": "sklearn", "model_type": "knn", "project_name": "Plain"},
}


BINARY_SUFFIXES = {".pkl", ".joblib", ".skops", ".onnx", ".png", ".ico", ".woff2"}


# The project's tests of what works alike for any model (API keys, versions, shadow and
# canary, the task runner, degrees of automation) take about 40% of its test time. They run
# in the renders that ask for every_test: one model of each source and task, trained or
# from a notebook; every render runs the rest of its tests.
SERVICE_TESTS = (
    "test_keys.py",
    "test_candidate.py",
    "test_versions.py",
    "test_tasks.py",
    "test_automation.py",
)
EVERY_TEST = {"diabetes-ridge", "csv-birds"}  # matrix renders; the default render, always


def check_project(project, every_test=False):
    """What every render must be: trained, clean, and green on its own tests (those in
    SERVICE_TESTS only with every_test)."""
    meta = json.loads((live_dir(project) / "model.json").read_text())
    assert (live_dir(project) / meta["model_file"]).exists()
    assert (project / "tests" / "data" / "reference.json").exists()
    for path in project.rglob("*"):
        if not path.is_file() or ".git" in path.parts or path.suffix in BINARY_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert "TODO" not in text, f"placeholder in {path}"
        if ".github" in path.parts:  # GitHub's own expressions, ${{ matrix.os }}, are meant
            text = re.sub(r"\$\{\{[^{}]*\}\}", "", text)
        # Flask's page templates are Jinja on purpose (copied as they are, not rendered).
        if "templates" not in path.relative_to(project).parts:
            assert "{{" not in text and "{%" not in text, f"Jinja residue in {path}"
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], project)
    run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], project)
    skipped = [] if every_test else [f"--ignore=tests/{name}" for name in SERVICE_TESTS]
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *skipped], project)
    return meta


def test_default_answers_render_train_and_pass_their_tests(render):
    project = render(DEFAULT)
    meta = check_project(project, every_test=True)
    assert package_of(project) == "iris_classifier"
    assert meta["target"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert [f["label"] for f in meta["schema"]] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    assert meta["metrics"]["cross_validation"]["accuracy"]["mean"] > 0.9


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MATRIX))
def test_matrix_renders_train_and_pass_their_tests(render, name):
    answers = MATRIX[name]
    meta = check_project(render(answers), every_test=name in EVERY_TEST)
    task = answers.get("task", "classification")
    assert meta["task"] == task
    scored = meta["metrics"].get("holdout") or meta["metrics"].get("sample")
    assert set(scored) == (
        {"accuracy", "f1_macro"} if task == "classification" else {"r2", "mae", "rmse"}
    )
    if answers.get("feature_selection") == "sequential":
        assert len(meta["schema"]) == answers["n_features"]
    if "features" in answers:
        assert [f["label"] for f in meta["schema"]] == answers["features"]
    if answers.get("model_type") in ("xgboost", "lightgbm"):
        assert "n_jobs=1" in meta["estimator"], meta["estimator"]  # see BOOSTER_THREADS
    onnx = meta.get("onnx")
    if answers.get("inference") == "sklearn" or answers.get("model_source") == "existing":
        assert onnx is None
    elif name.startswith(("csv-reviews", "languages")):
        assert onnx == {"used": False, "reason": "text inputs are served by scikit-learn"}
    elif name.startswith("csv-"):
        assert onnx == {"used": False, "reason": "category inputs are served by scikit-learn"}
    elif name == "regression-lightgbm-onnx":
        # float32 split thresholds: ONNX is checked, refused, and the reason recorded.
        assert onnx["used"] or onnx["reason"].startswith("ONNX differs from scikit-learn"), onnx
    else:
        assert onnx["used"] and onnx["max_difference"] <= 1e-5, onnx


def test_awkward_csv_columns_become_safe_fields_with_their_labels(render):
    meta = json.loads((live_dir(render(CSV_BIRDS)) / "model.json").read_text())
    fields = {f["name"]: f for f in meta["schema"]}
    assert list(fields) == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "ringed",
        "f_2nd_grosse",
    ]
    assert fields["f_2nd_grosse"]["label"] == "2nd Größe €"
    assert fields["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert fields["ringed"]["kind"] == "boolean"
    assert fields["flipper_length_mm"]["kind"] == "integer"
    assert fields["bill_length_mm"]["required"] is False  # it has gaps: imputed
    assert fields["island"]["required"] is True
    assert meta["target"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]


def train_on(project, tmp_path, csv_text):
    """Copy a rendered project, give it another CSV (same file name), train it."""
    import shutil

    copy = shutil.copytree(project, tmp_path / project.name)
    data_file = next((copy / "data").glob("*.csv"))
    data_file.write_text(csv_text, encoding="utf-8")
    return run([sys.executable, "-m", f"{package_of(copy)}.train"], copy, check=False)


def test_a_class_with_two_rows_stops_training_with_one_line_naming_it(render, tmp_path):
    """Stratified hold-out leaves such a class one row to cross-validate on: say so."""
    lines = (DATA / "birds.csv").read_text(encoding="utf-8").splitlines()
    rare = [line.rsplit(",", 1)[0] + ",Emperor" for line in lines[1:3]]
    result = train_on(render(CSV_BIRDS), tmp_path, "\n".join(lines + rare) + "\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1, result.stderr
    assert "at least 3 rows" in result.stderr and "'Emperor' (2)" in result.stderr


def test_training_twice_gives_the_same_model(render):
    project = render({"model_type": "random_forest", "project_name": "Twice"})
    package = package_of(project)
    first = json.loads((live_dir(project) / "model.json").read_text())
    reference = (project / "tests" / "data" / "reference.json").read_text()
    run([sys.executable, "-m", f"{package}.train"], project)
    second = json.loads((live_dir(project) / "model.json").read_text())
    assert first["metrics"] == second["metrics"]
    assert first["data"]["sha256"] == second["data"]["sha256"]
    assert reference == (project / "tests" / "data" / "reference.json").read_text()


def test_train_prints_a_model_card(render):
    project = render(DEFAULT)
    out = run([sys.executable, "-m", "iris_classifier.train"], project).stdout
    assert "Model card: Iris classifier" in out
    assert re.search(r"cross_validation\s+accuracy\s+0\.\d{3} ± 0\.\d{3}", out)
    assert "setosa, versicolor, virginica" in out


@pytest.mark.slow
@pytest.mark.parametrize("source", ["model.pkl", "model.joblib"])
def test_a_model_from_a_notebook_is_imported(render, notebook_model, source):
    answers = {
        "model_source": "existing",
        "model_path": str(notebook_model / source),
        "sample_data_path": str(notebook_model / "sample.csv"),
        "target_column": "species",
        "project_name": f"Notebook {source.split('.')[1]}",
    }
    project = render(answers)
    meta = check_project(project)
    assert meta["input_columns"][0] == "Island"
    assert meta["schema"][0]["name"] == "island"
    assert meta["metrics"]["sample"]["accuracy"] > 0.8


@pytest.mark.slow
def test_a_notebook_model_with_a_sample_without_target(render, notebook_model):
    answers = {
        "model_source": "existing",
        "model_path": str(notebook_model / "model.pkl"),
        "sample_data_path": str(notebook_model / "sample_no_target.csv"),
        "project_name": "Notebook no target",
    }
    meta = check_project(render(answers))
    assert "sample" not in meta["metrics"]
    assert meta["target"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]


def test_text_column_is_a_text_field_read_by_tf_idf(render):
    project = render(CSV_REVIEWS)
    meta = json.loads((live_dir(project) / "model.json").read_text())
    fields = {f["name"]: f for f in meta["schema"]}
    assert fields["review"]["kind"] == "text"
    assert fields["review"]["default"] is None and fields["review"]["categories"] is None
    assert fields["channel"]["categories"] == ["app", "phone", "web"]
    assert fields["stars_given_before"]["kind"] == "integer"
    assert "text_review" in meta["estimator"] or "preprocess" in meta["estimator"]
    assert meta["metrics"]["holdout"]["accuracy"] > 0.8
    out = run([sys.executable, "-m", "reviews.train"], project).stdout
    assert re.search(r"Review\s+text: free text", out)


# Sentences that are not in data/languages.csv, in six of its languages.
NEW_SENTENCES = {
    "Where is the train station, please?": "english",
    "¿Dónde está la estación de tren?": "spanish",
    "Wo ist bitte der Bahnhof?": "german",
    "Où est la gare, s'il vous plaît ?": "french",
    "Waar is het treinstation?": "dutch",
    "Onde fica a estação de comboios?": "portuguese",
}

LANGUAGE_SCRIPT = """
import json, sys
from which_language.app import create_app
client = create_app().test_client()
answers = [client.post("/predict", json={"text": text}) for text in json.loads(sys.argv[1])]
print(json.dumps([[a.status_code, a.get_json()] for a in answers]))
"""


def test_the_languages_example_tells_the_language_of_a_new_sentence(render):
    project = render(LANGUAGES)
    meta = json.loads((live_dir(project) / "model.json").read_text())
    assert [(f["name"], f["kind"]) for f in meta["schema"]] == [("text", "text")]
    assert meta["metrics"]["holdout"]["accuracy"] > 0.85
    assert (project / "data" / "languages-LICENSE.md").exists(), "its source and licence"
    sentences = json.dumps(list(NEW_SENTENCES))
    answers = json.loads(run([sys.executable, "-c", LANGUAGE_SCRIPT, sentences], project).stdout)
    assert [status for status, _ in answers] == [200] * len(NEW_SENTENCES)
    replies = [reply for _, reply in answers]
    got = {text: reply["prediction"] for text, reply in zip(NEW_SENTENCES, replies, strict=True)}
    assert got == NEW_SENTENCES
    no_data = json.dumps(meta) + (project / "src" / "which_language" / "config.py").read_text()
    assert "Bahnhof" not in no_data and "language of a sentence" not in no_data


def test_identifiers_are_left_out_and_dates_become_numbers(render):
    project = render(CSV_CUSTOMERS)
    meta = json.loads((live_dir(project) / "model.json").read_text())
    assert [f["name"] for f in meta["schema"]] == [
        "signup_date_year",
        "signup_date_month",
        "signup_date_day_of_week",
        "plan",
        "monthly_spend",
    ]
    kinds = {c["column"]: c["kind"] for c in meta["columns"]}
    assert kinds == {
        "Customer ID": "identifier",
        "E-mail": "identifier",
        "Name": "identifier",
        "Signup date": "date",
        "Plan": "category",
        "Monthly spend": "number",
    }
    months = next(f for f in meta["schema"] if f["name"] == "signup_date_month")
    assert (months["kind"], months["minimum"], months["maximum"]) == ("integer", 1, 12)
    out = run([sys.executable, "-m", "customers.train"], project).stdout
    assert "E-mail         left out: looks like e-mail addresses" in out
    assert "COLUMN_KINDS['E-mail'] = \"category\"" in out


LEAK_PROBE = """
import json, sys
from customers.app import create_app
client = create_app().test_client()
pages = {}
for path in ["/", "/model", "/model.json", "/api", "/openapi.json", "/batch/example.csv"]:
    response = client.get(path)
    pages[path] = [response.status_code, response.get_data(as_text=True)]
print(json.dumps(pages))
"""


def test_no_identifier_value_is_published(render):
    """No id, e-mail or name from the data in model.json, any page, OpenAPI or the
    example CSV. (tests/data/reference.json holds the project's own test rows: inputs
    only, so no identifier is in it either; it stays out of the image.)"""
    import csv

    project = render(CSV_CUSTOMERS)
    with open(DATA / "customers.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    secrets = {row[c] for row in rows for c in ("E-mail", "Name")}
    secrets |= {row["Customer ID"] for row in rows if len(row["Customer ID"]) >= 4}
    secrets |= {row["Signup date"] for row in rows}
    pages = json.loads(run([sys.executable, "-c", LEAK_PROBE], project).stdout)
    published = {path: text for path, (status, text) in pages.items() if status == 200}
    assert {"/", "/api", "/openapi.json", "/batch/example.csv"} <= set(published), pages.keys()
    published["models/model.json"] = (live_dir(project) / "model.json").read_text()
    published["tests/data/reference.json"] = (
        project / "tests" / "data" / "reference.json"
    ).read_text()
    for where, text in published.items():
        # Whole words only: an id such as 1000 is inside 0.31000000000000005.
        leaked = sorted(v for v in secrets if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w])", text))
        assert not leaked, f"{where} shows {leaked[:5]}"
