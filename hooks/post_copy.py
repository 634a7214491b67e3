"""Runs once in a freshly copied project (copier `_tasks`, copy only, needs --trust).

1. Copy the user's files into the project: a training CSV into data/, or a notebook's
   model and a sample of its inputs. Refuse answers that cannot work, with one clear line.
2. Bootstrap (answer `bootstrap`): .venv, install, train, run the tests, git init + commit.

Plain functions, importable by the template's own tests.
"""

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ANSWERS_FILE = ".copier-answers.yml"
HERE = Path(__file__).resolve().parent
# Column names of scikit-learn's bundled datasets (tests/test_hooks.py keeps them current).
BUNDLED_COLUMNS = json.loads((HERE / "bundled_columns.json").read_text(encoding="utf-8"))


class AnswerError(Exception):
    """An answer that cannot work; the message says which and why."""


def resolve(path_text, start=None):
    """A path as the user typed it, relative to where they ran copier."""
    path = Path(os.path.expanduser(path_text))
    if not path.is_absolute():
        path = Path(start or os.environ.get("PWD") or os.getcwd()) / path
    return path


def read_header(path):
    if not path.is_file():
        raise AnswerError(f"{path} does not exist or is not a file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            header = next(csv.reader(file), None)
    except UnicodeDecodeError:
        raise AnswerError(f"{path} is not a UTF-8 text CSV file") from None
    if not header or not any(column.strip() for column in header):
        raise AnswerError(f"{path} has no header row of column names")
    return [column.strip() for column in header]


def safe_names(columns):
    """The template's own column-name rule (schema.py), so the hook and training agree."""
    path = HERE.parent / "template" / "src" / "{{package_name}}" / "schema.py"
    spec = importlib.util.spec_from_file_location("template_schema", path)
    schema = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(schema)
    return schema.safe_names(columns)


def check_inputs(answers, inputs, source):
    """The features answer names existing columns (original or safe names), and
    n_features leaves something to select from."""
    known = set(inputs) | set(safe_names(inputs))
    unknown = [f for f in answers.get("features") or [] if str(f) not in known]
    if unknown:
        raise AnswerError(
            f"features not in {source}: {', '.join(map(str, unknown))}; "
            f"its columns are: {', '.join(inputs)}"
        )
    if answers.get("feature_selection") == "sequential":
        available = len(answers.get("features") or inputs)
        if answers["n_features"] >= available:
            raise AnswerError(
                f"n_features is {answers['n_features']} but only {available} inputs are available"
            )


def check_training_csv(answers, columns):
    target = answers["target_column"]
    if target not in columns:
        raise AnswerError(
            f"target_column {target!r} is not a column of {answers['data_path']}; "
            f"its columns are: {', '.join(columns)}"
        )
    inputs = [c for c in columns if c != target]
    if not inputs:
        raise AnswerError(f"{answers['data_path']} has no input columns besides the target")
    check_inputs(answers, inputs, "the CSV")


def copy_inputs(answers, project, start=None):
    """Copy the files the answers point to into the project; -> list of copied paths."""
    copied = []
    if answers.get("model_source") == "existing":
        model = resolve(answers["model_path"], start)
        if not model.is_file():
            raise AnswerError(f"model_path {model} does not exist or is not a file")
        sample = resolve(answers["sample_data_path"], start)
        columns = read_header(sample)
        target = answers.get("target_column")
        if target and target not in columns:
            raise AnswerError(f"target_column {target!r} is not a column of {sample}")
        # joblib files load with joblib; anything else (.pkl, .pickle, .sav, ...) with pickle.
        suffix = ".joblib" if model.suffix.lower() == ".joblib" else ".pkl"
        copied.append(shutil.copyfile(model, project / "data" / f"notebook_model{suffix}"))
        copied.append(shutil.copyfile(sample, project / "data" / "sample.csv"))
    elif answers.get("dataset") == "csv":
        source = resolve(answers["data_path"], start)
        check_training_csv(answers, read_header(source))
        copied.append(shutil.copyfile(source, project / "data" / source.name))
    elif answers.get("dataset") in BUNDLED_COLUMNS:
        check_inputs(answers, BUNDLED_COLUMNS[answers["dataset"]], answers["dataset"])
    return [Path(p) for p in copied]


def run(step, command, project):
    print(f"==> {step}: {' '.join(map(str, command))}", flush=True)
    result = subprocess.run(command, cwd=project)
    if result.returncode != 0:
        raise RuntimeError(f"{step} failed (exit {result.returncode})")


def find_python(version):
    """The interpreter for the project's .venv: the asked-for version if installed."""
    return shutil.which(f"python{version}") or sys.executable


def bootstrap(answers, project):
    python = find_python(answers["python_version"])
    venv_python = project / ".venv" / "bin" / "python"
    uv = shutil.which("uv")
    if uv:
        run("create .venv", [uv, "venv", "--quiet", "--python", python, ".venv"], project)
        install = [uv, "pip", "install", "--quiet", "--python", str(venv_python)]
    else:
        run("create .venv", [python, "-m", "venv", ".venv"], project)
        install = [str(venv_python), "-m", "pip", "install", "--quiet"]
    run("install", [*install, "-r", "requirements.txt", "-e", ".[dev]"], project)
    run("train", [str(venv_python), "-m", f"{answers['package_name']}.train"], project)
    run("test", [str(venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    git_init(answers, project)


def git_init(answers, project):
    if (project / ".git").exists() or not shutil.which("git"):
        return
    identity = [
        "-c",
        f"user.name={answers.get('author_name') or 'copier-ml-deploy'}",
        "-c",
        f"user.email={answers.get('author_email') or 'nobody@example.com'}",
    ]
    run("git init", ["git", "init", "--quiet", "-b", "main"], project)
    run("git add", ["git", "add", "--all"], project)
    message = "Project from copier-ml-deploy, with its first trained model"
    run("git commit", ["git", *identity, "commit", "--quiet", "-m", message], project)


def main(project=None):
    project = project or Path.cwd()
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))
    try:
        copy_inputs(answers, project)
    except AnswerError as error:
        print(f"\nerror: {error}\n", file=sys.stderr)
        return 1
    if not answers.get("bootstrap"):
        return 0
    try:
        bootstrap(answers, project)
    except (RuntimeError, OSError) as error:
        # The render itself is fine: keep it, say what to run by hand.
        print(
            f"\nbootstrap stopped: {error}.\nThe project is rendered; finish by hand with:"
            f"\n    cd {project} && make setup train test\n",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
