"""Runs once in a freshly copied project (copier `_tasks`, copy only, needs --trust).

1. Copy the user's files into the project: a training CSV into data/, or a notebook's
   model and a sample of its inputs. Refuse answers that cannot work, with one clear line.
2. Bootstrap (answer `bootstrap`): .venv, install, train, run the tests, git init + commit.

Plain functions, importable by the template's own tests.
"""

import csv
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections import deque
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
            line = file.readline()
    except UnicodeDecodeError:
        raise AnswerError(f"{path} is not a UTF-8 text CSV file: save it as CSV UTF-8") from None
    # Commas, or the semicolons or tabs many spreadsheets write (data.csv_format's rule).
    headers = [next(csv.reader([line], delimiter=sep), None) or [] for sep in ",;\t"]
    header = headers[0] if len(headers[0]) > 1 else max(headers, key=len)
    if not header or not any(column.strip() for column in header):
        raise AnswerError(f"{path} has no header row of column names")
    return [column.strip() for column in header]


def safe_names(columns):
    """The template's own column-name rule (schema.py), so the hook and training agree."""
    return template_module("schema").safe_names(columns)


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
        paths = model_paths(answers["model_path"], start)
        sample = resolve(answers["sample_data_path"], start)
        columns = read_header(sample)
        target = answers.get("target_column")
        if target and target not in columns:
            raise AnswerError(f"target_column {target!r} is not a column of {sample}")
        folder = project / "data" / "notebook"
        folder.mkdir(parents=True, exist_ok=True)
        facts = [read_model_facts(path) for path in paths]
        for path in paths:
            copied.append(shutil.copyfile(path, folder / path.name))
        copied.append(shutil.copyfile(sample, project / "data" / "sample.csv"))
        pin_notebook_libraries(project, facts, answers.get("python_version", "3.11"))
    elif answers.get("dataset") == "csv":
        source = resolve(answers["data_path"], start)
        check_training_csv(answers, read_header(source))
        copied.append(shutil.copyfile(source, project / "data" / source.name))
    elif answers.get("dataset") in BUNDLED_COLUMNS:
        check_inputs(answers, BUNDLED_COLUMNS[answers["dataset"]], answers["dataset"])
    return [Path(p) for p in copied]


def model_paths(text, start=None):
    """The model_path answer -> the files to bring: one file, a folder of files, or a list
    (YAML like [dv.bin, model.bin], or names separated by commas)."""
    text = str(text).strip()
    if text.startswith("["):
        items = yaml.safe_load(text)
    elif resolve(text, start).exists():
        items = [text]
    else:
        items = [item.strip() for item in text.split(",") if item.strip()]
    paths = []
    for item in items:
        path = resolve(str(item), start)
        if path.is_dir():
            paths.extend(
                sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            )
        elif path.is_file():
            paths.append(path)
        else:
            raise AnswerError(f"model_path {path} does not exist")
    if not paths:
        raise AnswerError(f"model_path {text!r} names no file")
    names = [path.name for path in paths]
    if len(set(names)) != len(names):
        raise AnswerError(f"model_path names two files with the same name: {', '.join(names)}")
    return paths


TEMPLATE_PACKAGE = HERE.parent / "template" / "src" / "{{package_name}}"


def template_module(name):
    """A plain module of the rendered package (no Jinja in it), loaded from the template.

    It is loaded as part of a package, "template_package", so that its relative imports
    (columns.py's `from .schema import ...`) find the modules beside it.
    """
    if "template_package" not in sys.modules:
        spec = importlib.util.spec_from_loader("template_package", None, is_package=True)
        package = importlib.util.module_from_spec(spec)
        package.__path__ = [str(TEMPLATE_PACKAGE)]
        sys.modules["template_package"] = package
    full_name = f"template_package.{name}"
    if full_name not in sys.modules:
        # The file name may carry a Jinja condition: {% if ... %}model_files.py{% endif %}.
        path = TEMPLATE_PACKAGE / f"{name}.py"
        if not path.exists():
            path = next(TEMPLATE_PACKAGE.glob(f"*%}}{name}.py{{% endif %}}"))
        loader = importlib.machinery.SourceFileLoader(full_name, str(path))
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(full_name, loader))
        sys.modules[full_name] = module  # dataclasses look their module up while defining
        loader.exec_module(module)
    return sys.modules[full_name]


def column_report(answers, csv_path):
    """What training will make of each input column of the CSV (the template's columns.py,
    the code `make train` runs), as the lines it prints. Empty when pandas is not where
    copier runs, or the CSV does not read: `make train` says it then."""
    try:
        import pandas as pd

        columns = template_module("columns")
        frame = pd.read_csv(csv_path, skipinitialspace=True)
        frame = frame[frame[answers["target_column"]].notna()]
        frame = frame.drop(columns=[answers["target_column"]])
        if answers.get("features"):
            by_safe_name = dict(zip(safe_names(frame.columns), frame.columns, strict=True))
            frame = frame[[by_safe_name.get(str(f), f) for f in answers["features"]]]
        overrides = answers.get("column_kinds") or {}
        decisions = [columns.decide(frame[c].rename(c), overrides) for c in frame.columns]
        return columns.report(decisions)
    except Exception:  # noqa: BLE001 - only a preview: training reports any problem
        return []


def read_model_facts(path):
    model_files = template_module("model_files")
    try:
        return model_files.read_facts(path)
    except model_files.ModelFileError as error:
        raise AnswerError(f"model_path: {error}; give the file your notebook saved") from None


def pin_notebook_libraries(project, facts, python_version):
    """requirements.txt gains the libraries the model's files need (xgboost, lightgbm, ...)
    and pins the scikit-learn version that pickled them."""
    model_files = template_module("model_files")
    requirements = project / "requirements.txt"
    lines = requirements.read_text(encoding="utf-8").splitlines()
    pinned = {line.split("==")[0].lower() for line in lines if "==" in line}
    modules = {m for f in facts for m in f.third_party}
    modules |= {"skops" for f in facts if f.format == "skops"}  # skops files need skops to load
    if any(f.format == "onnx" for f in facts):
        modules |= {"onnx", "onnxruntime"}
    for module in sorted(modules):
        package = model_files.PACKAGES.get(module)
        if package is None:
            continue  # a module of the user's own: the import says what to do
        package = installed_distribution(module) or package
        if package.lower() not in pinned:
            version = installed_version(package)
            lines += requirement_lines(package, version)
            pinned.add(package.lower())
        for requirement in requirement_lines(package, None):
            add_dependency(project, requirement)
    if "lightgbm" in modules:
        add_openmp_to_dockerfile(project)
    versions = sorted({f.sklearn_version for f in facts if f.sklearn_version})
    if len(versions) > 1:
        raise AnswerError(
            "the model files were pickled by different scikit-learn versions "
            f"({', '.join(versions)}): save them all from one notebook session"
        )
    if versions:
        lines = pin_scikit_learn(project, lines, versions[0], python_version)
    requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")


# Libraries whose CPU-only build has no macOS wheels: macOS installs the full one, itself
# CPU-only there (what requirements.txt.jinja does for a trained XGBoost model).
CPU_ONLY_BUILDS = {"xgboost-cpu": "xgboost"}


def requirement_lines(package, version):
    """The requirement lines for a library: two, with platform markers, for a CPU-only build."""
    pin = f"=={version}" if version else ""
    full = CPU_ONLY_BUILDS.get(package.lower())
    if full is None:
        return [f"{package}{pin}"]
    return [
        f"{package}{pin}; sys_platform != 'darwin'",
        f"{full}{pin}; sys_platform == 'darwin'",
    ]


def add_dependency(project, requirement):
    """pyproject.toml's dependencies name the library too (uv installs from them)."""
    path = project / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    listed = re.search(r"^dependencies = \[(.*?)\]", text, flags=re.MULTILINE | re.DOTALL)
    names = {n.lower().replace("_", "-") for n in re.findall(r'"([\w.-]+)', listed.group(1))}
    name = re.match(r"[\w.-]+", requirement).group(0)
    if name.lower().replace("_", "-") in names:
        return
    body = listed.group(1)
    added = f'    "{requirement}",\n' if body.endswith("\n") else f', "{requirement}"'
    path.write_text(text[: listed.end(1)] + added + text[listed.end(1) :], encoding="utf-8")


OPENMP_LAYER = """# LightGBM needs the GNU OpenMP runtime (libgomp); the slim image lacks it.
RUN apt-get update \\
    && apt-get install -y --no-install-recommends libgomp1 \\
    && rm -rf /var/lib/apt/lists/*
"""


def add_openmp_to_dockerfile(project):
    """A LightGBM model needs libgomp in the image, as a trained LightGBM model gets."""
    dockerfile = project / "Dockerfile"
    if not dockerfile.exists():
        return
    text = dockerfile.read_text(encoding="utf-8")
    if "libgomp1" not in text:
        text = text.replace(
            "COPY requirements.txt ./", OPENMP_LAYER + "COPY requirements.txt ./", 1
        )
        dockerfile.write_text(text, encoding="utf-8")


# The oldest scikit-learn this template's code and pinned numpy/pandas work with.
OLDEST_SCIKIT_LEARN = (1, 4, 2)
# The first scikit-learn release with wheels for each Python the template offers.
FIRST_SCIKIT_LEARN_FOR = {"3.11": (1, 1, 3), "3.12": (1, 3, 1), "3.13": (1, 5, 2)}


def pin_scikit_learn(project, lines, version, python_version):
    """Pin the scikit-learn that pickled the model, when this template can run it."""
    current = next(line for line in lines if line.startswith("scikit-learn=="))
    if current.split("==")[1].split(".")[:2] == version.split(".")[:2]:
        return lines
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    if numbers < OLDEST_SCIKIT_LEARN:
        oldest = ".".join(map(str, OLDEST_SCIKIT_LEARN))
        newest = current.split("==")[1]
        raise AnswerError(
            f"the model was pickled by scikit-learn {version}, older than this template runs "
            f"({oldest}): in the notebook, `pip install scikit-learn=={newest}`, fit the model "
            "again (or load it and save it again) and bring the new file"
        )
    first = FIRST_SCIKIT_LEARN_FOR.get(python_version)
    if first and numbers < first:
        older = max((p for p, v in FIRST_SCIKIT_LEARN_FOR.items() if numbers >= v), default="3.11")
        raise AnswerError(
            f"the model was pickled by scikit-learn {version}, which has no release for "
            f"Python {python_version}: answer python_version={older}, or save the model "
            f"again with scikit-learn {current.split('==')[1]}"
        )
    print(f"The model was pickled by scikit-learn {version}: requirements.txt pins it.")
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    text = re.sub(r'"scikit-learn>=[^"]*"', f'"scikit-learn=={version}"', text)
    pyproject.write_text(text, encoding="utf-8")
    return [f"scikit-learn=={version}" if line == current else line for line in lines]


def installed_distribution(module):
    """The distribution that provides a module where copier runs (xgboost-cpu, say)."""
    from importlib.metadata import packages_distributions

    names = packages_distributions().get(module)
    return names[0] if names else None


def installed_version(package):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def run(step, command, project):
    """Run one bootstrap step, its output streamed; StepFailed holds the line that says why."""
    print(f"==> {step}: {' '.join(map(str, command))}", flush=True)
    # Python children print each line as it comes, in UTF-8, though their output is a pipe.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    tail = deque(maxlen=200)  # enough to find the cause, bounded however long the output
    try:
        process = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as error:
        raise StepFailed(step, f"cannot run {command[0]}: {error.strerror}") from None
    with process:
        for line in process.stdout:
            print(line, end="", flush=True)
            tail.append(line.strip())
    if process.returncode != 0:
        raise StepFailed(step, failure_cause(tail, process.returncode))


def find_python(version):
    """The interpreter for the project's .venv: the asked-for version if installed (on
    Windows, where there is no python3.11 command, as the py launcher finds it)."""
    if os.name == "nt" and shutil.which("py"):
        found = subprocess.run(
            ["py", f"-{version}", "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
        )
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return shutil.which(f"python{version}") or sys.executable


def bootstrap(answers, project):
    python = find_python(answers["python_version"])
    venv_python = venv_interpreter(project)
    uv = shutil.which("uv")
    if uv:
        install_locked(uv, python, project)
    else:
        install_with_pip(python, venv_python, project)
    tasks = [str(venv_python), "-m", answers["package_name"]]  # the package's task runner
    run("train", [*tasks, "train"], project)
    run("test", [*tasks, "test", "-q", "-p", "no:cacheprovider"], project)
    git_init(answers, project)


def install_with_pip(python, venv_python, project):
    """No uv: .venv with requirements.txt's exact versions, then the project and its dev group."""
    run("create .venv", [python, "-m", "venv", ".venv"], project)
    pip = [str(venv_python), "-m", "pip", "install", "--quiet"]
    run("install", [*pip, "--upgrade", "pip>=25.1"], project)  # 25.1 reads dependency groups
    run("install", [*pip, "-r", "requirements.txt"], project)
    pin_what_was_installed(project, venv_python)
    run("install", [*pip, "-e", ".", "--group", "dev"], project)


# `make lock` runs the same export: on a fresh project it changes nothing.
EXPORT = ["export", "--locked", "--no-dev", "--no-emit-project", "--format", "requirements-txt"]
EXPORT += ["--quiet", "--output-file", "requirements.txt"]


def install_locked(uv, python, project):
    """uv: uv.lock resolved within requirements.txt's exact versions, .venv synced from it,
    and requirements.txt exported from it with hashes (what pip, Docker and Elastic
    Beanstalk install)."""
    constrain_lock(project)
    run("lock", [uv, "lock", "--quiet", "--python", python], project)
    run("lock", [uv, *EXPORT], project)
    run("install", [uv, "sync", "--locked", "--quiet", "--python", python], project)
    use_uv_in_dependabot(project)


def constrain_lock(project):
    """pyproject.toml's [tool.uv] constraint-dependencies: requirements.txt's exact versions
    (the model is trained with them), so the lock resolves to the same ones."""
    lines = (project / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.strip() for line in lines if "==" in line and not line.startswith("#")]
    items = "".join(f"    {json.dumps(pin)},\n" for pin in pins)
    section = (
        "\n[tool.uv]\n"
        "# The exact versions the model is trained with: uv.lock keeps to them. Change one here,\n"
        "# then `make lock setup train`.\n"
        f"constraint-dependencies = [\n{items}]\n"
    )
    with open(project / "pyproject.toml", "a", encoding="utf-8") as file:
        file.write(section)


def use_uv_in_dependabot(project):
    """With uv.lock, Dependabot updates the lock (its uv ecosystem) instead of requirements.txt."""
    path = project / ".github" / "dependabot.yml"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("package-ecosystem: pip", "package-ecosystem: uv"), "utf-8")


def pin_what_was_installed(project, venv_python):
    """A library added without a version (not installed where copier runs) gets the
    version that was just installed, so requirements.txt stays exact."""
    path = project / "requirements.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    loose = [line for line in lines if line and not line.startswith("#") and "==" not in line]
    if not loose:
        return
    script = "import sys, importlib.metadata as m; print(*(m.version(n) for n in sys.argv[1:]))"
    found = subprocess.run(
        [str(venv_python), "-c", script, *loose], capture_output=True, text=True, check=True
    )
    versions = dict(zip(loose, found.stdout.split(), strict=True))
    pinned = [f"{line}=={versions[line]}" if line in versions else line for line in lines]
    path.write_text("\n".join(pinned) + "\n", encoding="utf-8")


def git_init(answers, project):
    if (project / ".git").exists() or not shutil.which("git"):
        return
    name = " ".join(str(answers.get("author_name") or "copier-ml-deploy").split())  # one line
    identity = [
        "-c",
        f"user.name={name}",
        "-c",
        f"user.email={answers.get('author_email') or 'nobody@example.com'}",
    ]
    run("git", ["git", "init", "--quiet", "-b", "main"], project)
    run("git", ["git", "add", "--all"], project)
    run("git", ["git", *identity, "commit", "--quiet", "-m", FIRST_COMMIT], project)


FIRST_COMMIT = "Project from copier-ml-deploy, with its first trained model"

# The tasks that redo a failed step and the ones after it, run in the project.
RETRY_TASKS = {
    "create .venv": ["setup", "train", "test"],
    "lock": ["setup", "train", "test"],
    "install": ["setup", "train", "test"],
    "train": ["train", "test"],
    "test": ["test"],
}
GIT_RETRY = f'git init -b main && git add --all && git commit -m "{FIRST_COMMIT}"'


def retry_commands(step, package):
    """How to redo a step and the ones after it, in the project: with make (not on Windows,
    which rarely has it), and without it."""
    if step == "git":
        return [GIT_RETRY]
    windows = os.name == "nt"
    tasks = " ".join(RETRY_TASKS.get(step, RETRY_TASKS["install"]))
    if tasks.startswith("setup"):  # no working .venv yet: any Python runs the package folder
        without_make = f"{'python' if windows else 'python3'} src/{package} {tasks}"
    else:
        python = r".venv\Scripts\python" if windows else ".venv/bin/python"
        without_make = f"{python} -m {package} {tasks}"
    return [without_make] if windows else [f"make {tasks}", without_make]


class StepFailed(Exception):
    """A bootstrap step that failed, and the line of its output that says why."""

    def __init__(self, step, cause):
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


def venv_interpreter(project):
    """The .venv's Python: .venv/Scripts/python.exe on Windows, .venv/bin/python elsewhere."""
    if os.name == "nt":
        return project / ".venv" / "Scripts" / "python.exe"
    return project / ".venv" / "bin" / "python"


def failure_cause(lines, returncode):
    """A failed step's own explanation: its last `error: ...` line (training prints exactly
    one), else its last line (pytest's summary, framed in =)."""
    said = [line for line in lines if line]
    errors = [line for line in said if line.lower().startswith("error:")]
    if errors:
        return errors[-1][len("error:") :].strip()
    if said:
        return said[-1].strip("= ")
    return f"it stopped with exit status {returncode}"


def failure_report(failure, project, cleanup, package):
    """What the user reads when a step failed: the cause, what happens to the project, the retry."""
    commands = retry_commands(failure.step, package)
    retry = commands[0] if len(commands) == 1 else f"{commands[0]} (or: {commands[1]})"
    lines = [f"FAILED: {failure.step}: {failure.cause}"]
    if cleanup:
        lines += [
            f"Copier now removes the unfinished project {project} (a folder that existed "
            "before is kept).",
            "To keep it, run copier copy again with -C (--no-cleanup); then, in it, fix the "
            f"cause and run: {retry}",
        ]
    else:
        lines.append(
            f"The unfinished project is kept; fix the cause, then run: cd {project} && {retry}"
        )
    return "\n".join(lines)


def main(project=None, cleanup=False):
    """-> exit status. `cleanup`: copier deletes the project when this fails (its default)."""
    project = project or Path.cwd()
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))
    try:
        copy_inputs(answers, project)
    except AnswerError as error:
        print(f"\nerror: {error}\n", file=sys.stderr)
        return 1
    if not answers.get("bootstrap"):
        if answers.get("model_source") == "train" and answers.get("dataset") == "csv":
            lines = column_report(answers, project / "data" / resolve(answers["data_path"]).name)
            if lines:
                print("\nWhat training will make of each column (COLUMN_KINDS in config.py")
                print("changes it; `make train` prints this again):")
                print("\n".join(lines), flush=True)
        return 0
    try:
        bootstrap(answers, project)
    except StepFailed as failure:
        # Non-zero: copier stops, and its success message is not printed.
        print(
            f"\n{failure_report(failure, project, cleanup, answers['package_name'])}\n",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    # copier.yml passes --cleanup-on-error=true unless copier was run with -C (--no-cleanup).
    sys.exit(main(cleanup="--cleanup-on-error=true" in sys.argv[1:]))
