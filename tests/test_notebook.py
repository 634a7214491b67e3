"""Models saved the way notebooks save them: each renders, passes its own tests and serves
the notebook's own predictions, one row at a time, in a batch and as CSV; or it is refused
with one line that names the cause.

tests/notebook_models.py makes the models in a separate process (the ground truth: the
notebook's own predict / predict_proba on the same rows).
"""

import csv
import io
import json
import re
import subprocess
import sys
import tomllib

import pytest
from conftest import TEMPLATE, live_dir, package_of, run
from notebook_models import SHAPES
from packaging.requirements import Requirement
from test_render import check_project

# Runs inside a rendered project: every row alone, all rows in one JSON list, and as CSV.
SERVE_SCRIPT = """
import json, sys
from {package}.app import create_app
request = json.load(open(sys.argv[1]))
client = create_app().test_client()
alone = [client.post("/predict", json=row) for row in request["rows"]]
together = client.post("/predict", json=request["rows"])
as_csv = client.post("/predict", data=request["csv"], content_type="text/csv")
print(json.dumps({{
    "alone": [[r.status_code, r.get_json()] for r in alone],
    "together": [together.status_code, together.get_json()],
    "csv": [as_csv.status_code, as_csv.get_data(as_text=True)],
}}))
"""


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebooks")
    script = TEMPLATE / "tests" / "notebook_models.py"
    subprocess.run([sys.executable, str(script), str(folder)], check=True, capture_output=True)
    return folder, json.loads((folder / "shapes.json").read_text())


# Notebook classifiers of numbers, rendered with fast_csv: their own tests compare its CSV
# answers with the line-by-line reading (and a DataFrame model's, with its columns).
FAST_CSV_SHAPES = {
    "numpy_array",
    "numpy_sample_with_index",
    "xgb_classifier",
    "iris_int_target",
    "onnx_classifier",
    "formatted_numbers",
    "grid_search",
    "dv_tuple",
    "svc_probability",
}


# Notebook models whose projects run every test (test_render.SERVICE_TESTS too): a pickled
# tuple, a DataFrame pipeline, a regressor from another library.
EVERY_TEST = {"dv_tuple", "mixed_columns", "lgbm_regressor"}


def answers_for(folder, name, check):
    """check.json's answers with paths made absolute, as a user would type them."""
    answers = dict(check["answers"])
    path = answers["model_path"]
    if isinstance(path, list):
        answers["model_path"] = "[" + ", ".join(str(folder / name / p) for p in path) + "]"
    else:
        answers["model_path"] = str(folder / name / path)
    answers["sample_data_path"] = str(folder / name / answers["sample_data_path"])
    answers["model_source"] = "existing"
    answers["project_name"] = "Notebook " + name.replace("_", " ")
    answers["fast_csv"] = name in FAST_CSV_SHAPES
    return answers


def requests_for(meta, rows):
    """Rows keyed by the notebook's column names -> JSON rows by field name, and a CSV."""
    by_label = {field["label"]: field["name"] for field in meta["schema"]}
    json_rows = [{by_label[k]: v for k, v in row.items() if k in by_label} for row in rows]
    text = io.StringIO()
    writer = csv.writer(text)
    labels = list(by_label)
    writer.writerow(labels)
    for row in rows:
        writer.writerow(["" if row.get(label) is None else row[label] for label in labels])
    return {"rows": json_rows, "csv": text.getvalue()}


def same(got, expected, task, tolerance):
    if task == "classification":
        return str(got) == str(expected)
    return got == pytest.approx(expected, rel=tolerance, abs=tolerance)


def check_probabilities(got, check, tolerance):
    """The answer's probabilities, keyed by the class names as JSON writes them ("true")."""
    expected = dict(zip(check["classes"], check["probabilities_row"], strict=True))
    expected = json.loads(json.dumps(expected))
    assert {str(k): v for k, v in got.items()} == pytest.approx(expected, abs=tolerance)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHAPES))
def test_a_notebook_model_serves_its_own_predictions_or_is_refused(tmp_path, render, shapes, name):
    folder, checks = shapes
    check = checks[name]
    answers = answers_for(folder, name, check)
    if check["expect"] == "refuse":
        assert_refused(tmp_path, answers, check["refusal"])
        return
    project = render(answers)
    meta = check_project(project, every_test=name in EVERY_TEST)
    assert meta["task"] == check["answers"]["task"]
    library = {"xgb": "xgboost", "lgbm": "lightgbm", "cloudpickle": "cloudpickle"}
    library |= {"onnx": "onnxruntime", "skops": "skops"}
    needed = next((lib for prefix, lib in library.items() if name.startswith(prefix)), None)
    if needed:  # the library the pickle needs is pinned, at the version installed here
        requirements = (project / "requirements.txt").read_text()
        # xgboost-cpu comes with a marker: xgboost itself on macOS (no xgboost-cpu wheels there)
        pinned = rf"^{needed}(-cpu)?==[\d.]+(; sys_platform != 'darwin')?$"
        assert re.search(pinned, requirements, re.M), requirements
    kinds = {field["label"]: field["kind"] for field in meta["schema"]}
    for column in check["text_columns"]:
        assert kinds[column] == "text", f"{column} is free text, not {kinds[column]}"
    request = requests_for(meta, check["rows"])
    (project / "request.json").write_text(json.dumps(request))
    script = SERVE_SCRIPT.format(package=package_of(project))
    answer = json.loads(run([sys.executable, "-c", script, "request.json"], project).stdout)
    task = check["answers"]["task"]
    together_status, together = answer["together"]
    assert together_status == 200, together
    scored = list(csv.DictReader(io.StringIO(answer["csv"][1])))
    assert answer["csv"][0] == 200, answer["csv"][1][:500]
    for i, expected in enumerate(check["predictions"]):
        status, alone = answer["alone"][i]
        assert status == 200, (check["rows"][i], alone)
        batch = together["predictions"][i]
        assert same(alone["prediction"], expected, task, 1e-9), (i, alone, expected)
        assert same(batch["prediction"], expected, task, 1e-9), (i, batch, expected)
        line = scored[i]["prediction"]
        assert same(float(line) if task == "regression" else line, expected, task, 1e-6)
        if check["probabilities"]:
            row_check = {**check, "probabilities_row": check["probabilities"][i]}
            # ONNX Runtime and XGBoost compute in 32-bit floats: equal within their rounding.
            tolerance = 1e-6
            check_probabilities(alone["probabilities"], row_check, tolerance)
            check_probabilities(batch["probabilities"], row_check, tolerance)
        elif task == "classification":  # no predict_proba: the class alone, not made-up odds
            assert "probabilities" not in alone and "probabilities" not in batch, alone


def assert_refused(tmp_path, answers, pattern):
    """The copy (at copy time) or the import (at train time) stops with one clear line."""
    data = [f"--data={key}={value}" for key, value in {"bootstrap": False, **answers}.items()]
    copy = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet", *data]
    copied = subprocess.run(
        [*copy, str(TEMPLATE), str(tmp_path / "x")], capture_output=True, text=True, timeout=300
    )
    if copied.returncode != 0:
        output = copied.stdout + copied.stderr
        errors = [line for line in copied.stderr.splitlines() if line.startswith("error: ")]
    else:
        project = tmp_path / "x"
        trained = run([sys.executable, "-m", f"{package_of(project)}.train"], project, check=False)
        assert trained.returncode != 0, "the import should have been refused"
        output = trained.stdout + trained.stderr
        errors = [line for line in trained.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert re.search(pattern, errors[0], re.IGNORECASE), errors[0]


# --- copy time: which files, which libraries, which scikit-learn ---

NOTEBOOK_CODE = """
import pickle, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
iris = load_iris(as_frame=True)
frame = iris.data.assign(species=iris.target_names[iris.target])
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
model.fit(frame.drop(columns="species"), frame["species"])
pickle.dump(model, open("model.pkl", "wb"))
frame.to_csv("sample.csv", index=False)
"""


@pytest.mark.slow
def test_a_model_pickled_by_an_older_scikit_learn_gets_that_version(tmp_path):
    """The notebook ran scikit-learn 1.5: the project pins 1.5.2, installs it and serves."""
    env = tmp_path / "notebook-env"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(env)], check=True)
    python = str(env / "bin" / "python")
    packages = ["scikit-learn==1.5.2", "pandas==2.2.3"]
    subprocess.run([*uv, "pip", "install", "-q", "--python", python, *packages], check=True)
    notebook = tmp_path / "notebook"
    notebook.mkdir()
    subprocess.run([python, "-c", NOTEBOOK_CODE], cwd=notebook, check=True)
    data = {
        "model_source": "existing",
        "model_path": notebook / "model.pkl",
        "sample_data_path": notebook / "sample.csv",
        "target_column": "species",
        "project_name": "Old notebook",
    }
    copy = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
    copy += [f"--data={key}={value}" for key, value in data.items()]
    copied = subprocess.run(
        [*copy, str(TEMPLATE), str(tmp_path / "x")], capture_output=True, text=True, timeout=900
    )
    output = copied.stdout + copied.stderr
    assert copied.returncode == 0, output[-3000:]
    assert " passed" in output  # the project's own tests ran against the pinned version
    project = tmp_path / "x"
    assert "scikit-learn==1.5.2" in (project / "requirements.txt").read_text()
    meta = json.loads((live_dir(project) / "model.json").read_text())
    assert meta["versions"]["scikit-learn"] == "1.5.2"
    assert meta["metrics"]["sample"]["accuracy"] > 0.9


def hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("post_copy", TEMPLATE / "hooks" / "post_copy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_path_takes_a_file_a_folder_or_a_list(tmp_path):
    post_copy = hook()
    for name in ("dv.bin", "model.bin"):
        (tmp_path / name).write_bytes(b"\x80\x04.")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.pkl").write_bytes(b"\x80\x04.")
    (folder / ".hidden").write_bytes(b"")
    names = lambda text: [p.name for p in post_copy.model_paths(text, tmp_path)]  # noqa: E731
    assert names("dv.bin") == ["dv.bin"]
    assert names("[dv.bin, model.bin]") == ["dv.bin", "model.bin"]
    assert names("dv.bin, model.bin") == ["dv.bin", "model.bin"]
    assert names("model") == ["a.pkl"]
    with pytest.raises(post_copy.AnswerError, match="does not exist"):
        post_copy.model_paths("nothing.pkl", tmp_path)


def fake_project(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy==2.4.6\nscikit-learn==1.9.1\n")
    (tmp_path / "pyproject.toml").write_text('dependencies = ["scikit-learn>=1.6"]\n')
    return tmp_path


def test_libraries_a_pickle_needs_are_added_to_the_requirements(tmp_path):
    post_copy = hook()
    facts = post_copy.template_module("model_files").FileFacts
    project = fake_project(tmp_path)
    found = facts(tmp_path / "m.pkl", "pickle", {"sklearn", "xgboost", "numpy"}, "1.9.1")
    post_copy.pin_notebook_libraries(project, [found], "3.11")
    lines = (project / "requirements.txt").read_text().splitlines()
    # xgboost-cpu (what the tests' environment has) has no macOS wheels: xgboost there.
    assert "xgboost-cpu==3.2.0; sys_platform != 'darwin'" in lines, lines
    assert "xgboost==3.2.0; sys_platform == 'darwin'" in lines, lines
    assert "scikit-learn==1.9.1" in lines
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["dependencies"]
    assert dependencies == [
        "scikit-learn>=1.6",
        "xgboost-cpu; sys_platform != 'darwin'",
        "xgboost; sys_platform == 'darwin'",
    ]
    for line in lines:  # every line is a requirement pip and uv read
        Requirement(line)


@pytest.mark.parametrize(
    ("version", "python", "message"),
    [
        ("1.2.2", "3.11", "older than this template runs"),
        ("1.4.2", "3.13", "no release for Python 3.13: answer python_version=3.12"),
        ("1.9.1rc1", "3.11", None),
        ("1.6.1", "3.12", None),
    ],
)
def test_the_scikit_learn_that_pickled_the_model_is_pinned_or_refused(
    tmp_path, version, python, message
):
    post_copy = hook()
    facts = post_copy.template_module("model_files").FileFacts
    project = fake_project(tmp_path)
    found = facts(tmp_path / "m.pkl", "pickle", {"sklearn"}, version)
    if message:
        with pytest.raises(post_copy.AnswerError, match=re.escape(message)):
            post_copy.pin_notebook_libraries(project, [found], python)
        return
    post_copy.pin_notebook_libraries(project, [found], python)
    pinned = "1.9.1" if version.startswith("1.9") else version
    assert f"scikit-learn=={pinned}" in (project / "requirements.txt").read_text()
    if pinned != "1.9.1":
        assert f'"scikit-learn=={pinned}"' in (project / "pyproject.toml").read_text()


def test_a_file_is_read_by_its_content_not_its_name(tmp_path):
    import pickle

    import joblib

    model_files = hook().template_module("model_files")
    joblib.dump({"a": 1}, tmp_path / "model.pkl", compress=3)
    with open(tmp_path / "model.joblib", "wb") as file:
        pickle.dump({"a": 1}, file)
    (tmp_path / "model.bin").write_text("sepal,petal\n1,2\n")
    assert model_files.read_facts(tmp_path / "model.pkl").format == "pickle"
    assert model_files.read_facts(tmp_path / "model.joblib").format == "pickle"
    with pytest.raises(model_files.ModelFileError, match="CSV"):
        model_files.read_facts(tmp_path / "model.bin")


def test_a_library_added_without_a_version_is_pinned_after_the_install(tmp_path):
    from importlib.metadata import version

    (tmp_path / "requirements.txt").write_text("# pins\nnumpy==2.4.6\npytest\n")
    hook().pin_what_was_installed(tmp_path, sys.executable)
    lines = (tmp_path / "requirements.txt").read_text().splitlines()
    assert lines == ["# pins", "numpy==2.4.6", f"pytest=={version('pytest')}"]


def test_a_lightgbm_model_gets_openmp_in_its_image(tmp_path):
    post_copy = hook()
    facts = post_copy.template_module("model_files").FileFacts
    project = fake_project(tmp_path)
    (project / "Dockerfile").write_text("FROM python\nCOPY requirements.txt ./\nRUN pip\n")
    found = facts(tmp_path / "m.pkl", "pickle", {"lightgbm", "numpy"}, None)
    post_copy.pin_notebook_libraries(project, [found], "3.11")
    dockerfile = (project / "Dockerfile").read_text()
    assert dockerfile.index("libgomp1") < dockerfile.index("COPY requirements.txt")
