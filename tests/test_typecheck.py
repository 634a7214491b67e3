"""The rendered public API has type hints that mypy checks (`make typecheck`), on several
answer sets, and the package says so to other projects (py.typed)."""

import sys
import tomllib

import pytest
from conftest import DATA, package_of, run

ANSWER_SETS = {
    "defaults": {},
    "csv-regression-gunicorn-skops": {
        "task": "regression",
        "dataset": "csv",
        "data_path": str(DATA / "houses.csv"),
        "target_column": "Price (€)",
        "model_type": "ridge",
        "server": "gunicorn",
        "model_format": "skops",
    },
    "xgboost-onnx": {"model_type": "xgboost", "inference": "onnx"},
    "notebook-model": "existing",  # filled in from the notebook_model fixture
}


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory):
    """One cache for every render: numpy's and Flask's types are read once."""
    return tmp_path_factory.mktemp("mypy-cache")


def mypy(project, cache, *arguments):
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(cache), *arguments]
    return run(command, project, timeout=600, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ANSWER_SETS))
def test_mypy_passes_on_the_rendered_package(render, notebook_model, mypy_cache, name):
    answers = ANSWER_SETS[name]
    if answers == "existing":
        answers = {
            "model_source": "existing",
            "model_path": str(notebook_model / "model.pkl"),
            "sample_data_path": str(notebook_model / "sample.csv"),
            "target_column": "species",
        }
    project = render(answers, train_model=False)
    package = package_of(project)
    result = mypy(project, mypy_cache)  # what `make typecheck` runs: [tool.mypy] files
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout
    assert (project / "src" / package / "py.typed").exists()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"][package]


@pytest.mark.slow
def test_mypy_catches_a_wrong_call_of_the_api(render, mypy_cache, tmp_path):
    """The hints are checked, not decoration: a wrong argument is an error, named."""
    project = render({}, train_model=False)
    package = package_of(project)
    code = "\n".join(
        [
            f"from {package}.app import create_app",
            f"from {package}.model import load_model",
            "model = load_model('models')",
            "model.predict_one([1.0, 2.0])",
            "create_app('models')",
            "label: int = model.version",
        ]
    )
    (tmp_path / "use.py").write_text(code + "\n", encoding="utf-8")
    result = mypy(project, mypy_cache, str(tmp_path / "use.py"))
    assert result.returncode == 1, result.stdout
    assert '"predict_one" of "Model" has incompatible type "list[float]"' in result.stdout
    assert '"create_app" has incompatible type "str"' in result.stdout
    assert 'expression has type "str", variable has type "int"' in result.stdout
    assert "Found 3 errors" in result.stdout
