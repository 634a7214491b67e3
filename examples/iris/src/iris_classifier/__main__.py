r"""The everyday tasks, without make, on any system: `python -m <package> TASK ...`.

The first time, with any Python 3 (nothing installed yet, make not needed):

    python src/<package> setup        # .venv, and the project installed in it

Then with the project's Python: .venv\Scripts\python on Windows, .venv/bin/python elsewhere,
or `python` once the .venv is activated:

    .venv/bin/python -m <package> train test serve
    .venv/bin/python -m <package> score new.csv scored.csv

Tasks given together run one after the other and stop at the first that fails; the words
after the last task are passed to its command (`test -k form`, `load --users 32`). The make
targets (`make train`, ...) run these same tasks. Run as `python -m <package>`, the tasks use
the Python that runs them; run as `python src/<package>`, the project's .venv.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.name
ROOT = Path(__file__).resolve().parents[2]  # the project folder: every task runs there
PYTHON_VERSION = "3.11"  # .venv is made with this version when it is installed
WINDOWS = os.name == "nt"

# Each task: what it does, and the commands it runs (arguments to the project's Python).
TASKS = {
    "setup": ("create .venv with the exact versions in requirements.txt", []),
    "train": ("train a new model version", [["-m", f"{PACKAGE}.train"]]),
    "versions": (
        "list the model versions; * marks the live one",
        [["-m", f"{PACKAGE}.versions", "list"]],
    ),
    "promote": (
        "make a version live: promote ID [--force]",
        [["-m", f"{PACKAGE}.versions", "promote"]],
    ),
    "rollback": (
        "make the version that was live before this one live again",
        [["-m", f"{PACKAGE}.versions", "rollback"]],
    ),
    "shadow": (
        "run a version in shadow: shadow ID (it scores every request too, unseen)",
        [["-m", f"{PACKAGE}.candidate", "shadow"]],
    ),
    "canary": (
        "let a version answer a share of the requests: canary ID [--share 0.1]",
        [["-m", f"{PACKAGE}.candidate", "canary"]],
    ),
    "canary-stop": (
        "end the shadow or canary (promote and rollback end it too)",
        [["-m", f"{PACKAGE}.candidate", "stop"]],
    ),
    "serve": ("start the production server on http://127.0.0.1:8000", [["-m", f"{PACKAGE}.serve"]]),
    "score": ("score a CSV or Parquet file: score IN OUT", [["-m", f"{PACKAGE}.score"]]),
    "monitor-report": (
        "the /monitor report of a prediction log: monitor-report LOG OUT",
        [["-m", f"{PACKAGE}.monitor_report"]],
    ),
    "load": (
        "load-test the server: load [--users N] [--seconds S] [--url URL]",
        [["-m", f"{PACKAGE}.load"]],
    ),
    "test": ("run the tests (pytest's options may follow)", [["-m", "pytest"]]),
    "lint": (
        "check style",
        [["-m", "ruff", "check", "."], ["-m", "ruff", "format", "--check", "."]],
    ),
    "format": ("fix style", [["-m", "ruff", "check", "--fix", "."], ["-m", "ruff", "format", "."]]),
    "typecheck": ("check the type hints (mypy)", [["-m", "mypy"]]),
}
NO_ARGUMENTS = ("setup", "lint", "format")


def venv_python(project):
    r"""The .venv's Python: .venv\Scripts\python.exe on Windows, .venv/bin/python elsewhere."""
    if WINDOWS:
        return project / ".venv" / "Scripts" / "python.exe"
    return project / ".venv" / "bin" / "python"


def project_python():
    """The Python the tasks run with: this one when it found the package (python -m), else
    the project's .venv (python src/<package>, run by any Python)."""
    if __package__:
        return sys.executable
    python = venv_python(ROOT)
    if not python.exists():
        raise SystemExit(f"error: {python} is missing: run `python src/{PACKAGE} setup` first")
    return str(python)


def base_python():
    """The command of a Python to make .venv with: the version the project was made for,
    if it is installed (Windows: through the py launcher), else the one running this."""
    if WINDOWS and shutil.which("py"):
        found = subprocess.run(["py", f"-{PYTHON_VERSION}", "-c", ""], capture_output=True)
        if found.returncode == 0:
            return ["py", f"-{PYTHON_VERSION}"]
    return [shutil.which(f"python{PYTHON_VERSION}") or sys.executable]


def setup_commands():
    """uv with its lock when both are here; else the standard venv and pip."""
    uv = shutil.which("uv")
    if uv and (ROOT / "uv.lock").exists():
        return [[uv, "sync", "--locked"]]
    python = venv_python(ROOT)
    create = [] if python.exists() else [[*base_python(), "-m", "venv", ".venv"]]
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    return [
        *create,
        [*pip, "--upgrade", "pip>=25.1"],  # 25.1 reads dependency groups
        [*pip, "-r", "requirements.txt"],
        [*pip, "-e", ".", "--group", "dev"],
    ]


def commands_of(task, arguments):
    """The commands one task runs; the arguments go to its last one."""
    if task == "setup":
        return setup_commands()
    python = project_python()
    commands = [[python, *command] for command in TASKS[task][1]]
    commands[-1] += arguments
    return commands


def run(command):
    """Run one command in the project folder, shown first as make does; -> its exit status."""
    print(" ".join(shown(part) for part in command), flush=True)
    with subprocess.Popen(command, cwd=ROOT) as process:
        # `kill` stops the command as it would stop it alone: a server finishes its requests.
        signal.signal(signal.SIGTERM, lambda number, frame: process.terminate())
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue  # Ctrl-C reaches the command too: wait until it has stopped


def shown(part):
    """A path in the project relative to it (.venv/bin/python), any other word as it is."""
    path = Path(part)
    if path.is_absolute() and path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    return part


def split_tasks(words):
    """["train", "test", "-k", "form"] -> (["train", "test"], ["-k", "form"])."""
    count = 0
    while count < len(words) and words[count] in TASKS:
        count += 1
    return words[:count], words[count:]


def parser():
    tasks = "\n".join(f"  {name:16}{help}" for name, (help, commands) in TASKS.items())
    return argparse.ArgumentParser(
        prog=f"python -m {PACKAGE}",
        usage="%(prog)s TASK [TASK ...] [ARGUMENTS]",
        description=__doc__.split("\n\n")[0],
        epilog=f"tasks:\n{tasks}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(words=None):
    """-> exit status: 0 when every task passed, else the failed command's."""
    words = sys.argv[1:] if words is None else words
    tasks, arguments = split_tasks(words)
    if not words or words[0] in ("-h", "--help"):
        parser().print_help()
        return 0
    if not tasks:
        parser().error(f"{words[0]!r} is not a task")
    if arguments and tasks[-1] in NO_ARGUMENTS:
        parser().error(f"{tasks[-1]} takes no arguments, not {' '.join(arguments)}")
    for number, task in enumerate(tasks, start=1):
        for command in commands_of(task, arguments if number == len(tasks) else []):
            status = run(command)
            if status != 0:
                return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
