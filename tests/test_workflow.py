"""A rendered project's checks of itself: its GitHub workflow passes actionlint (with
shellcheck) and zizmor, and its pre-commit hooks pass on a fresh render, for several
answer sets."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_render import CSV_HOUSES

TOOLS = Path(sys.executable).parent  # actionlint, shellcheck, zizmor, pre-commit
ANSWER_SETS = {
    "defaults": {},
    "gunicorn-no-deploy": {"server": "gunicorn", "deploy": "none", "project_name": "Plain"},
    "notebook": None,  # a model from a notebook: answers need the notebook_model fixture
    "csv-regression": CSV_HOUSES,
}


def answers_for(name, notebook_model):
    if name != "notebook":
        return ANSWER_SETS[name]
    return {
        "model_source": "existing",
        "model_path": str(notebook_model / "model.pkl"),
        "sample_data_path": str(notebook_model / "sample.csv"),
        "target_column": "species",
        "project_name": "Notebook workflow",
    }


def tool(command, cwd, timeout=300):
    env = {**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def git_copy(project, tmp_path):
    """The render in a git repository of its own (actionlint and pre-commit need one)."""
    copy = tmp_path / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    for command in (["git", "init", "--quiet"], ["git", "add", "--all"]):
        subprocess.run(command, cwd=copy, check=True)
    return copy


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_the_workflow_passes_actionlint_and_zizmor(render, notebook_model, tmp_path, name):
    assert (TOOLS / "shellcheck").exists(), "actionlint checks the run: scripts with shellcheck"
    project = git_copy(render(answers_for(name, notebook_model), train_model=False), tmp_path)
    linted = tool([TOOLS / "actionlint", "-color=false"], project)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    audited = tool([TOOLS / "zizmor", "--offline", "--no-progress", ".github"], project)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "No findings to report" in audited.stdout, audited.stdout


@pytest.mark.parametrize(("server", "systems"), [("waitress", 3), ("gunicorn", 2)])
def test_the_tests_run_on_linux_macos_and_windows_where_the_server_runs(render, server, systems):
    answers = {"server": server, "deploy": "none", "project_name": f"Matrix {server}"}
    project = render(answers, train_model=False)
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["os"]
    assert len(matrix) == systems
    assert ("windows-latest" in matrix) == (server == "waitress")


@pytest.mark.slow
@pytest.mark.parametrize("name", ANSWER_SETS)
def test_pre_commit_passes_on_a_fresh_render(render, notebook_model, tmp_path, name):
    """The hooks' own environment (ruff) comes from PyPI once, then from pre-commit's cache."""
    project = git_copy(render(answers_for(name, notebook_model), train_model=False), tmp_path)
    checked = tool([TOOLS / "pre-commit", "run", "--all-files", "--color=never"], project, 600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ruff check" in checked.stdout and "ruff format" in checked.stdout


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory):
    """One cache for every render: numpy's and pandas' types are read once, not each time."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.mark.slow
@pytest.mark.parametrize("name", ANSWER_SETS)
def test_the_type_check_of_the_workflow_passes(render, notebook_model, mypy_cache, name):
    """`python -m mypy src`, as the workflow runs it, with the project's [tool.mypy]."""
    project = render(answers_for(name, notebook_model), train_model=False)
    command = [sys.executable, "-m", "mypy", "--cache-dir", mypy_cache, "src"]
    checked = tool(command, project, 900)
    assert checked.returncode == 0, checked.stdout + checked.stderr
