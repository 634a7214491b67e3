"""The task runner, `python -m <package> TASK`: the make-free path, on every system."""

import subprocess
import sys
from pathlib import Path, PurePosixPath

from iris_classifier import __main__ as tasks

PROJECT = Path(__file__).resolve().parents[1]


def run_tasks(*words, python=(sys.executable,)):
    return subprocess.run(
        [*python, *words], cwd=PROJECT, capture_output=True, text=True, timeout=300
    )


def test_the_venv_python_is_where_venv_puts_it_on_each_system(monkeypatch):
    project = PurePosixPath("/project")
    monkeypatch.setattr(tasks, "WINDOWS", False)
    assert tasks.venv_python(project) == project / ".venv" / "bin" / "python"
    monkeypatch.setattr(tasks, "WINDOWS", True)
    assert tasks.venv_python(project) == project / ".venv" / "Scripts" / "python.exe"


def test_setup_makes_the_venv_then_installs_with_its_python(monkeypatch, tmp_path):
    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    monkeypatch.setattr(tasks, "WINDOWS", True)
    monkeypatch.setattr(tasks.shutil, "which", lambda name: None)  # no uv, no py launcher
    create, *installs = tasks.setup_commands()
    assert create == [sys.executable, "-m", "venv", ".venv"]
    windows_python = str(tmp_path / ".venv" / "Scripts" / "python.exe")
    assert [command[:4] for command in installs] == [[windows_python, "-m", "pip", "install"]] * 3
    assert installs[-2][-2:] == ["-r", "requirements.txt"]
    assert installs[-1][-4:] == ["-e", ".", "--group", "dev"]


def test_any_python_lists_the_tasks_from_the_package_folder():
    """`python src/<package> --help`, no PYTHONPATH: what a first `setup` runs."""
    result = run_tasks(str(Path("src", tasks.PACKAGE)), "--help", python=(sys.executable, "-E"))
    assert result.returncode == 0, result.stderr
    for task in ("setup", "train", "serve", "test", "lint", "typecheck"):
        assert f"\n  {task} " in result.stdout


def test_tasks_run_in_order_and_the_first_failure_stops_them():
    listing = f"-m {tasks.PACKAGE}.versions list"  # the runner shows each command it runs
    listed = run_tasks("-m", tasks.PACKAGE, "versions")
    assert listed.returncode == 0, listed.stderr
    assert listing in listed.stdout
    # promote without a version id fails: versions is not run after it.
    stopped = run_tasks("-m", tasks.PACKAGE, "promote", "versions")
    assert stopped.returncode == 2
    assert f"-m {tasks.PACKAGE}.versions promote" in stopped.stdout
    assert listing not in stopped.stdout


def test_an_unknown_task_is_refused_with_the_list_at_hand():
    result = run_tasks("-m", tasks.PACKAGE, "deploy")
    assert result.returncode == 2
    assert "'deploy' is not a task" in result.stderr
