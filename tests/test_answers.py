"""Answers as a user gives them: bad ones are refused with a clear message on the command
line, and free text of any kind renders a project whose code still parses, lints and runs."""

import csv
import json
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import DATA, TEMPLATE, package_of, run

BIRDS = str(DATA / "birds.csv")


def copier_copy(tmp_path, *data):
    command = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD"]
    for item in ("bootstrap=false", *data):
        command += ["--data", item]
    return subprocess.run(
        [*command, str(TEMPLATE), str(tmp_path / "project")],
        capture_output=True,
        text=True,
        timeout=120,
    )


REFUSED = {
    "bad project name": (["project_name=My/Project!"], "Use letters, digits, spaces, - and _"),
    "project name starting with a digit": (["project_name=3D shapes"], "starting with a letter"),
    "package name that is a keyword": (["package_name=class"], 'clash with Python\'s own "class"'),
    "package name that is a stdlib module": (
        ["package_name=json"],
        'clash with Python\'s own "json"',
    ),
    "package name with a dash": (["package_name=my-app"], "is not a valid package name"),
    "csv without data_path": (["dataset=csv", "data_path=", "target_column=y"], "Give the path"),
    "csv that is not a .csv": (
        ["dataset=csv", "data_path=/etc/passwd", "target_column=y"],
        "does not end in .csv",
    ),
    "csv without target": (
        ["dataset=csv", f"data_path={BIRDS}", "target_column="],
        "Name the column to predict",
    ),
    "regressor for classification": (["model_type=ridge"], "ridge predicts numbers, not classes"),
    "classifier for regression": (
        ["task=regression", "model_type=logistic_regression"],
        "logistic_regression is a classifier",
    ),
    "regression dataset for classification": (
        ["dataset=diabetes"],
        "diabetes is a regression dataset",
    ),
    "too many features to select": (
        ["feature_selection=sequential", "n_features=4"],
        "n_features must be smaller than the 4 inputs",
    ),
    "features not a list": (["features=petal width"], "Give a YAML list of column names"),
    "column kinds not a mapping": (["column_kinds=[a, b]"], "Give a YAML mapping of column"),
    "unknown column kind": (
        ["column_kinds={Name: secret}"],
        "Name: secret is not a kind; use number, integer",
    ),
    "bad email": (["author_email=nobody"], "Give an email address"),
    "email that package metadata refuses": (
        ['author_email=o"brien@example.com'],
        "package metadata refuses spaces, quotes",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_answers_are_refused_with_a_clear_message(tmp_path, case):
    data, message = REFUSED[case]
    result = copier_copy(tmp_path, *data)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "project" / "src").exists()


REFUSED_BY_THE_HOOK = {
    "missing csv file": (
        ["dataset=csv", "data_path=/no/such/file.csv", "target_column=y"],
        "/no/such/file.csv does not exist or is not a file",
    ),
    "target that is not a column": (
        ["dataset=csv", f"data_path={BIRDS}", "target_column=colour"],
        "target_column 'colour' is not a column of",
    ),
    "feature that is not a column": (
        ["dataset=csv", f"data_path={BIRDS}", "target_column=species", "features=[wings]"],
        "features not in the CSV: wings",
    ),
    "too many features to select from a csv": (
        [
            "dataset=csv",
            f"data_path={BIRDS}",
            "target_column=species",
            "feature_selection=sequential",
            "n_features=8",
        ],
        "n_features is 8 but only 8 inputs are available",
    ),
    "missing notebook model": (
        ["model_source=existing", "model_path=/no/model.pkl", f"sample_data_path={BIRDS}"],
        "model_path /no/model.pkl does not exist",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_BY_THE_HOOK))
def test_answers_about_files_are_checked_after_render(tmp_path, case):
    """Copier validators cannot read files, so the copy-time hook checks them and stops."""
    data, message = REFUSED_BY_THE_HOOK[case]
    result = copier_copy(tmp_path, *data)
    assert result.returncode != 0
    assert f"error: {message}" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "project").exists(), "copier removes a failed new project"


def test_good_csv_answers_copy_the_data_into_the_project(tmp_path):
    data = ["dataset=csv", f"data_path={BIRDS}", "target_column=species"]
    result = copier_copy(tmp_path, *data)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "project" / "data" / "birds.csv").read_bytes() == (
        DATA / "birds.csv"
    ).read_bytes()
    assert "cp " not in result.stderr  # tasks ran: no manual copy step in the message


# Free text at its worst: every kind of quote, backslashes, Jinja and shell syntax, a newline
# and a tab, non-ASCII beyond the BMP, and longer than a line of ruff's 100 characters.
HOSTILE_TEXT = (
    'Says "hi" \\ and """ and \'\'\' and it\'s {{ answer }} {% if x %} $HOME $(id) `id`'
    " 😀 Café\nsecond line\twith a tab, long enough to pass a line of a hundred characters. "
)
HOSTILE = {
    "project_name": "Odd  name--2_x",  # its validator allows letters, digits, spaces, - and _
    "description": HOSTILE_TEXT,
    "author_name": 'Zoë "Q" O\'Brien \\ {{ x }} $USER\nJr',
    "author_email": "o'brien+{{x}}$@exämple.com",  # its validator: what package metadata takes
}
HOSTILE_TARGET = 'Species "name" \\ {{x}} 😀'
HOSTILE_FEATURE = "Mass $(g) 'é'"
HOSTILE_FILE = 'birds "data" $x {{y}} é.csv'


def one_line(text):
    return " ".join(text.split())


def assert_valid_project(project):
    """Every Python file compiles, every TOML and YAML file loads, ruff is content, make works."""
    for path in project.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    yaml_files = [*project.rglob("*.yml"), *project.glob(".ebextensions/*.config")]
    assert project / ".copier-answers.yml" in yaml_files
    for path in yaml_files:
        yaml.safe_load(path.read_text(encoding="utf-8"))
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], project)
    run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], project)
    package = package_of(project)
    assert f"-m {package}.train" in run(["make", "--dry-run", "train"], project).stdout
    return pyproject


def config_values(project, *names):
    package = package_of(project)
    script = (
        f"import json, {package}, {package}.config as config; "
        f"print(json.dumps([{package}.__doc__, *(getattr(config, n) for n in {names!r})]))"
    )
    return json.loads(run([sys.executable, "-c", script], project).stdout)


def test_free_text_answers_cannot_break_the_rendered_code(render):
    project = render(HOSTILE, train_model=False)
    pyproject = assert_valid_project(project)
    doc, name, description = config_values(project, "PROJECT_NAME", "DESCRIPTION")
    assert (name, description) == (HOSTILE["project_name"], HOSTILE_TEXT)
    assert doc == f"{HOSTILE['project_name']}: {HOSTILE_TEXT}".strip()
    # Package metadata keeps one line: the description and name with their line breaks as spaces.
    assert pyproject["project"]["description"] == one_line(HOSTILE_TEXT)
    assert pyproject["project"]["authors"] == [
        {"name": one_line(HOSTILE["author_name"]), "email": HOSTILE["author_email"]}
    ]
    assert HOSTILE_TEXT in (project / "README.md").read_text(encoding="utf-8")
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert {key: answers[key] for key in HOSTILE} == HOSTILE


@pytest.fixture(scope="module")
def hostile_csv(tmp_path_factory):
    """birds.csv under a file name and with column names that break naive quoting."""
    rows = list(csv.reader((DATA / "birds.csv").open(newline="", encoding="utf-8")))
    header = rows[0]
    header[header.index("species")] = HOSTILE_TARGET
    header[header.index("Body mass (g)")] = HOSTILE_FEATURE
    path = tmp_path_factory.mktemp("hostile") / HOSTILE_FILE
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([header, *rows[1:]])
    return path


def test_file_and_column_names_cannot_break_the_rendered_code(render, hostile_csv):
    features = ["Island", HOSTILE_FEATURE, "Bill length (mm)"]
    answers = {
        "dataset": "csv",
        "data_path": str(hostile_csv),
        "target_column": HOSTILE_TARGET,
        "features": features,
    }
    project = render(answers)  # and trained: training found the file and every column
    assert_valid_project(project)
    _, data_file, target, chosen = config_values(project, "DATA_FILE", "TARGET_COLUMN", "FEATURES")
    assert (data_file, target, chosen) == (f"data/{HOSTILE_FILE}", HOSTILE_TARGET, features)
    assert (project / "data" / HOSTILE_FILE).is_file()
    metadata = json.loads((project / "models" / "model.json").read_text(encoding="utf-8"))
    assert metadata["target"]["label"] == HOSTILE_TARGET
