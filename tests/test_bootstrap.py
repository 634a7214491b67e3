"""The real first-run experience: copier copy --trust bootstraps a working project,
and without --trust the printed commands work when run literally."""

import os
import subprocess
import sys

import pytest
from conftest import TEMPLATE


def shell(command, cwd, timeout=900):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        command, cwd=cwd, env=env, shell=True, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_copy_with_trust_bootstraps_a_trained_tested_committed_project(tmp_path):
    result = shell(
        f"{sys.executable} -m copier copy --trust --defaults --vcs-ref HEAD {TEMPLATE} x", tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    project = tmp_path / "x"
    output = result.stdout + result.stderr
    assert "bootstrap stopped" not in output, output[-3000:]
    assert (project / ".venv" / "bin" / "python").exists()
    assert (project / "models" / "model.pkl").exists()
    assert (project / "models" / "model.json").exists()
    assert " passed" in output  # the project's own tests ran in the bootstrap
    log = shell("git log --oneline", project).stdout.splitlines()
    assert len(log) == 1
    assert shell("git status --porcelain", project).stdout == "", "everything is committed"
    tests = shell("make test", project)
    assert tests.returncode == 0, tests.stdout[-3000:]


def test_copy_without_trust_explains_itself(tmp_path):
    result = shell(
        f"{sys.executable} -m copier copy --defaults --vcs-ref HEAD {TEMPLATE} x", tmp_path
    )
    assert result.returncode != 0
    assert "--trust" in result.stderr


@pytest.mark.slow
def test_skipping_tasks_prints_commands_that_work_when_run_literally(tmp_path):
    result = shell(
        f"{sys.executable} -m copier copy --defaults --skip-tasks --vcs-ref HEAD {TEMPLATE} x",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    message = result.stdout + result.stderr
    commands = [
        line.split("#")[0].strip()
        for line in message.splitlines()
        if line.strip().startswith(("cd ", "make ", "cp "))
    ]
    assert commands[0].startswith("cd ") and "make setup train" in commands
    steps = " && ".join(
        command for command in commands if not command.startswith("make test serve")
    )
    done = shell(steps + " && make test", tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert (tmp_path / "x" / "models" / "model.pkl").exists()
