"""Helpers for the deployment tests: Dockerfile facts, .dockerignore matching, the EB CLI's
own bundling, and talking to a running server."""

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from dockerfile_parse import DockerfileParser

TESTS = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copier-ml-deploy"
AWSEBCLI = "awsebcli==3.27.5"


@contextlib.contextmanager
def cache_lock(name):
    """One process at a time fills a cache entry (pytest-xdist runs two workers)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# ---- Dockerfile -----------------------------------------------------------------------


def instructions(dockerfile):
    """[(INSTRUCTION, value)] without comments, continuation lines joined."""
    parser = DockerfileParser(str(dockerfile))
    return [
        (i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"
    ]


def dockerfile_env(dockerfile):
    return DockerfileParser(str(dockerfile)).envs


def dockerfile_labels(dockerfile):
    return DockerfileParser(str(dockerfile)).labels


def base_image(dockerfile):
    return DockerfileParser(str(dockerfile)).baseimage


def full_image_name(name):
    """python:3.11.16-slim-bookworm -> docker.io/library/python:3.11.16-slim-bookworm"""
    if "/" not in name:
        return f"docker.io/library/{name}"
    first = name.split("/", 1)[0]
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name


def exec_form(value):
    """The argument list of an exec-form (JSON) CMD/ENTRYPOINT/HEALTHCHECK CMD, else None."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(part, str) for part in parsed):
        return parsed
    return None


def healthcheck_command(value):
    """HEALTHCHECK's options and its CMD, e.g. ({'interval': '30s'}, '["python", ...]')."""
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", value))
    match = re.search(r"\bCMD\s+(.*)$", value, re.DOTALL)
    return options, (match.group(1).strip() if match else None)


# ---- .dockerignore, with Docker's rules ------------------------------------------------


def dockerignore_patterns(path):
    """(pattern regex, excluded?) in file order, as Docker reads .dockerignore."""
    patterns = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        excluded = not line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        patterns.append((_docker_glob(pattern), excluded))
    return patterns


def _docker_glob(pattern):
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}$")


def dockerignored(path, patterns):
    """Whether Docker leaves `path` (relative, with /) out of the build context.

    As Docker does: a pattern matches a path or any folder above it, and the last pattern
    that matches decides (a `!` pattern lets the path back in).
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for regex, excluded in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = excluded
    return ignored


# ---- Elastic Beanstalk bundle, made by the EB CLI's own code ---------------------------


def awsebcli_python():
    """The interpreter of a virtual environment with the EB CLI, made once and cached.

    The EB CLI cannot share the test environment: it pins python-dateutil<3 and wcwidth<0.3,
    which the rendered projects' runtime pins contradict.
    """
    venv = CACHE / AWSEBCLI.replace("==", "-")
    python = venv / "bin" / "python"
    with cache_lock("awsebcli"):
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", AWSEBCLI],
                check=True,
                capture_output=True,
                text=True,
            )
            (venv / ".complete").touch()
    return python


def eb_bundle(project, workdir):
    """Copy the project, add files that must stay out, and zip it as `eb deploy` does.

    Returns the path of the zip and the list of file names in it.
    """
    copy = Path(workdir) / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".elasticbeanstalk"))
    package = next((copy / "src").iterdir()).name
    decoys = [
        ".venv/lib/python3.11/site-packages/flask/__init__.py",
        ".git/HEAD",
        ".env",
        "data/more-data.csv",
        "tests/data/reference.json",
        "notebooks/exploration.ipynb",
        f"src/{package}/__pycache__/app.cpython-311.pyc",
        ".pytest_cache/README.md",
    ]
    for decoy in decoys:
        (copy / decoy).parent.mkdir(parents=True, exist_ok=True)
        (copy / decoy).write_text("must not be uploaded\n")
    (copy / ".elasticbeanstalk").mkdir()  # what `eb init` leaves: the EB CLI's project root
    result = subprocess.run(
        [str(awsebcli_python()), str(TESTS / "ebcli_bundle.py"), str(copy), "test-bundle"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise AssertionError(f"EB CLI bundling failed:\n{result.stdout}\n{result.stderr}")
    zip_path = Path(result.stdout.strip().splitlines()[-1])
    with zipfile.ZipFile(zip_path) as bundle:
        names = sorted(n for n in bundle.namelist() if not n.endswith("/"))
    return zip_path, names


# ---- a running server ------------------------------------------------------------------


def example_row(project_or_model_json):
    """One valid input row: each field's default from the live version's model.json."""
    path = Path(project_or_model_json)
    if path.is_dir():
        models = path / "models"
        live = models / "LIVE"
        if live.exists():
            models = models / "versions" / live.read_text().strip()
        path = models / "model.json"
    meta = json.loads(path.read_text())
    return {field["name"]: field["default"] for field in meta["schema"]}, meta


def http(url, data=None, timeout=10):
    """(status, parsed JSON or text) for a GET, or a JSON POST when data is given."""
    body = None if data is None else json.dumps(data).encode()
    headers = {} if data is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def wait_until_ready(base_url, process, timeout=90):
    """Poll /ready until it answers 200; fail early if the server process ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the server stopped with code {process.returncode}:\n{output}")
        try:
            status, _ = http(f"{base_url}/ready", timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{base_url}/ready did not answer 200 within {timeout} s")


def stop_server(process, stop_signal=signal.SIGINT, timeout=10):
    """Send the stop signal to the server process; (stopped in time?, its output).

    The server must run in its own session (start_new_session=True): whatever is left after
    the timeout, workers included, is killed with its process group, so that no orphan keeps
    the output pipe open.
    """
    process.send_signal(stop_signal)
    try:
        output, _ = process.communicate(timeout=timeout)
        stopped = True
    except subprocess.TimeoutExpired:
        stopped = False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if not stopped:
        output, _ = process.communicate(timeout=30)
    return stopped, output
