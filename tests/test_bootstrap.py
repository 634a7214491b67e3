"""The real first-run experience: copier copy --trust bootstraps a working project,
and without --trust the printed commands work when run literally."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, TEMPLATE, live_dir

# uv is installed beside this interpreter (the root pyproject's dev group).
WITH_UV = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
WITHOUT_UV = os.pathsep.join(
    folder
    for folder in os.environ["PATH"].split(os.pathsep)
    if not shutil.which("uv", path=folder) and Path(folder) != Path(sys.executable).parent
)


def shell(command, cwd, timeout=900, path=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = path or env["PATH"]
    return subprocess.run(
        command, cwd=cwd, env=env, shell=True, capture_output=True, text=True, timeout=timeout
    )


def bootstrap(tmp_path, path):
    """copier copy --trust with the default answers -> (project, copier's output)."""
    command = f"{sys.executable} -m copier copy --trust --defaults --vcs-ref HEAD {TEMPLATE} x"
    result = shell(command, tmp_path, path=path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    project = tmp_path / "x"
    assert (project / ".venv" / "bin" / "python").exists()
    assert (live_dir(project) / "model.pkl").exists()
    assert (live_dir(project) / "model.json").exists()
    assert " passed" in output  # the project's own tests ran in the bootstrap
    log = shell("git log --oneline", project).stdout.splitlines()
    assert len(log) == 1
    assert shell("git status --porcelain", project).stdout == "", "everything is committed"
    return project, output


def template_pins():
    """The exact runtime versions every render pins (the shared test environment's)."""
    text = (TEMPLATE / "template" / "requirements.txt.jinja").read_text()
    return re.findall(r"^([A-Za-z][\w.-]*==[\w.]+)$", text.split("{%")[0], flags=re.MULTILINE)


def normal(pin):
    return re.sub(r"[-_.]+", "-", pin.lower())


@pytest.mark.slow
def test_with_uv_the_bootstrap_locks_syncs_and_exports_hashed_requirements(tmp_path):
    project, _ = bootstrap(tmp_path, WITH_UV)
    committed = shell("git ls-files", project).stdout.split()
    assert "uv.lock" in committed
    requirements = (project / "requirements.txt").read_text()
    exported = {normal(line.split()[0]) for line in requirements.splitlines() if "==" in line}
    assert {normal(pin) for pin in template_pins()} <= exported, "the lock keeps the pins"
    assert requirements.count("--hash=sha256:") >= len(exported)
    assert "package-ecosystem: uv" in (project / ".github" / "dependabot.yml").read_text()
    # make setup is uv sync --locked; make lock on an unchanged project changes nothing.
    for command in ("make setup", "make lock", "make test"):
        done = shell(command, project, path=WITH_UV)
        assert done.returncode == 0, (command, (done.stdout + done.stderr)[-3000:])
    assert shell("git status --porcelain", project).stdout == ""


@pytest.mark.slow
def test_without_uv_the_bootstrap_installs_requirements_with_pip(tmp_path):
    assert shutil.which("uv", path=WITHOUT_UV) is None
    project, output = bootstrap(tmp_path, WITHOUT_UV)
    assert not (project / "uv.lock").exists()
    requirements = (project / "requirements.txt").read_text()
    assert "--hash" not in requirements
    assert set(template_pins()) <= set(requirements.splitlines())
    assert "package-ecosystem: pip" in (project / ".github" / "dependabot.yml").read_text()
    tests = shell("make setup test", project, path=WITHOUT_UV)
    assert tests.returncode == 0, (tests.stdout + tests.stderr)[-3000:]


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
    assert (live_dir(tmp_path / "x") / "model.pkl").exists()


@pytest.mark.slow
def test_a_failed_bootstrap_names_the_step_and_its_cause_and_copier_fails(tmp_path):
    """Training stops on a broken CSV: the hook says FAILED with training's own error line,
    copier exits non-zero, removes the project it created and prints no success message."""
    broken = tmp_path / "broken.csv"
    broken.write_text("size,weight,kind\n1.0,2.5,a\n3.0,4.5,b\n5.0,6.5,c,extra\n7.0,8.5,d\n")
    data = f"--data dataset=csv --data data_path={broken} --data target_column=kind"
    result = shell(
        f"{sys.executable} -m copier copy --trust --defaults --vcs-ref HEAD {data} {TEMPLATE} x",
        tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    trained = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    assert len(trained) == 1 and "data/broken.csv is not a readable CSV file" in trained[0]
    cause = trained[0].removeprefix("error: ")
    assert f"FAILED: train: {cause}\n" in result.stderr, result.stderr[-3000:]
    assert "run copier copy again with -C (--no-cleanup)" in result.stderr
    assert "passing tests" not in output
    assert not (tmp_path / "x").exists(), "copier removes the project it created, as it says"


def test_skipped_tasks_print_copy_commands_that_work_from_where_copier_ran(tmp_path):
    """The data file is named as the user typed it (relative to where copier ran), and the
    project folder may have a space: the printed cp and cd lines still work literally."""
    (tmp_path / "my data").mkdir()
    (tmp_path / "my data" / "birds.csv").write_bytes((DATA / "birds.csv").read_bytes())
    data = "--data dataset=csv --data 'data_path=my data/birds.csv' --data target_column=species"
    result = shell(
        f"{sys.executable} -m copier copy --defaults --skip-tasks --vcs-ref HEAD {data} "
        f"{TEMPLATE} 'my project'",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [
        line.strip()
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip().startswith(("cd ", "cp "))
    ]
    assert [command.split()[0] for command in commands] == ["cd", "cp"], commands
    done = shell(" && ".join(commands), tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "my project" / "data" / "birds.csv").exists()
