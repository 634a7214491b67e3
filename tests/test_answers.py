"""Bad answers are refused with a clear message, as a user sees it on the command line."""

import subprocess
import sys

import pytest
from conftest import DATA, TEMPLATE

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
    "bad email": (["author_email=nobody"], "Give an email address"),
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
