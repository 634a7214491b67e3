"""Answers as a user gives them: bad ones are refused with a clear message on the command
line, and free text of any kind renders a project whose code still parses, lints and runs."""

import csv
import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import DATA, TEMPLATE, live_dir, package_of, run

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
    "partial automation of a regression": (
        ["task=regression", "automation=partial"],
        "partial needs class probabilities",
    ),
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
    "copyright year that is not a year": (["copyright_year=last year"], "Give a year like 2026"),
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
    assert f"-m {package} train" in run(["make", "--dry-run", "train"], project).stdout
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
    metadata = json.loads((live_dir(project) / "model.json").read_text(encoding="utf-8"))
    assert metadata["target"]["label"] == HOSTILE_TARGET


# Columns whose names collide once cleaned, or that pandas renames (an empty name, a name
# given twice, a leading space), and cells a spreadsheet would run as formulas (issue 10).
COLLIDING = ["a b", "a_b", "A", "a", "__class__", "class", "", "x", "x", " y", "label"]
FORMULAS = ["=1+1", "-x", "@SUM(A1)", "+cmd", "\tplain", "plain"]
LABELS = ["=cmd|' /C calc'!A0", "-bad", "@here", "ok"]
PLAIN_NUMBER = r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*"

SCORE_THE_TRAINING_CSV = """
import csv, io, json, re, sys
from PACKAGE.app import create_app

client = create_app().test_client()
training = open(sys.argv[1], "rb").read()
answer = client.post("/predict", data=training, content_type="text/csv")
again = client.post("/predict", data=answer.data, content_type="text/csv")
example = client.get("/batch/example.csv")
print(json.dumps({
    "status": [answer.status_code, again.status_code],
    "rows": list(csv.reader(io.StringIO(answer.get_data(as_text=True)))),
    "again": list(csv.reader(io.StringIO(again.get_data(as_text=True)))),
    "example": list(csv.reader(io.StringIO(example.get_data(as_text=True)))),
}))
"""


@pytest.fixture(scope="module")
def colliding_csv(tmp_path_factory):
    """120 rows: numbers (negative ones too), formula-like text and class labels."""
    import random

    rng = random.Random(1)
    rows = [COLLIDING]
    for _ in range(120):
        rows.append(
            [
                f"{rng.uniform(-3, 3):.2f}",
                str(rng.randint(-5, 5)),
                f"{rng.random():.3f}",
                rng.choice(FORMULAS),
                f"{rng.uniform(-1, 1):.2f}",
                rng.choice(["red", "blue"]),
                f"{rng.random():.2f}",
                str(rng.randint(0, 9)),
                str(rng.randint(0, 9)),
                f"{-rng.random():.2f}",
                rng.choice(LABELS),
            ]
        )
    path = tmp_path_factory.mktemp("colliding") / "colliding.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    return path


def test_colliding_columns_and_formula_cells_score_the_training_csv(render, colliding_csv):
    answers = {"dataset": "csv", "data_path": str(colliding_csv), "target_column": "label"}
    project = render(answers)
    metadata = json.loads((live_dir(project) / "model.json").read_text(encoding="utf-8"))
    fields = metadata["schema"]
    assert len({field["name"] for field in fields}) == len(fields) == 10
    # No field's name is another field's label: a header means one field either way.
    assert not [(f, g) for f in fields for g in fields if f is not g and f["name"] == g["label"]]
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"], project)

    script = SCORE_THE_TRAINING_CSV.replace("PACKAGE", package_of(project))
    result = run([sys.executable, "-c", script, str(colliding_csv)], project)
    scored = json.loads(result.stdout)
    assert scored["status"] == [200, 200]  # and the scored file can be scored again
    header, *rows = scored["rows"]
    assert len(rows) == 120
    assert header[: len(COLLIDING)] == [
        "a b",
        "a_b",
        "A",
        "a",
        "__class__",
        "class",
        "",
        "x",
        "x",
        " y",
        "label",
    ]
    cells = [cell for row in scored["rows"] + scored["example"] for cell in row]
    risky = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert all(re.fullmatch(PLAIN_NUMBER, cell) for cell in risky), risky
    # Negative numbers come back as they were sent; text cells with a ' in front.
    originals = list(csv.reader(colliding_csv.open(newline="", encoding="utf-8")))[1:]
    assert [row[:3] for row in rows] == [row[:3] for row in originals]
    assert {row[3] for row in rows} == {"'=1+1", "'-x", "'@SUM(A1)", "'+cmd", "'\tplain", "plain"}
    assert {row[len(COLLIDING)] for row in rows} <= {"'=cmd|' /C calc'!A0", "'-bad", "'@here", "ok"}
    assert [row[len(COLLIDING)] for row in scored["again"][1:]] == [
        row[len(COLLIDING)] for row in rows
    ]
