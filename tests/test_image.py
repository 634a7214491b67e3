"""A real container image: build the rendered Dockerfile, run the image, ask it to predict.

There is no Docker engine and no container registry here, so:
- buildah builds the image (with --format docker, which keeps HEALTHCHECK and STOPSIGNAL;
  the OCI format drops them), FROM a stand-in for the official python image, made on this
  machine by scripts/standin-base-image.sh (debootstrap of Debian with Debian's Python 3.11)
  and tagged with the official name. pip inside the build installs from PyPI, for real.
- podman runs the image with no network at all; the checks run inside the container, the
  health check is the image's own HEALTHCHECK.

The stand-in has Python 3.11, so the images built here are those of python_version 3.11;
the Dockerfiles of 3.12 and 3.13 are checked statically in test_deploy.py.

A machine that cannot do this (not root, tools missing) skips with the reason, except under
CI (the CI variable set), where that is a failure: the image must have been built.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import OUTPUT, live_dir, package_of
from deploy_helpers import base_image, full_image_name

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
IMAGE_VARIANTS = {
    "waitress": {},  # the default answers: deploy docker-eb, waitress
    "gunicorn": {
        "server": "gunicorn",
        "deploy": "docker",
        "model_format": "joblib",
        "fast_csv": True,
    },
}
# runc, not crun: crun refuses this kernel's mix of cgroup v1 and v2 ("hybrid mode").
RUNTIME = ["--runtime", "runc"]
# No systemd here: podman keeps its own cgroups and events; the health check is run by
# hand (`podman healthcheck run`) rather than by a systemd timer. The machine's process and
# file limits cannot be raised (no CAP_SYS_RESOURCE), so the container gets lower ones.
PODMAN = ["podman", *RUNTIME, "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
RUN_OPTIONS = [
    "--network", "none",
    "--ulimit", "nofile=4096:4096",
    "--ulimit", "nproc=4096:4096",
    "--health-interval", "disable",
]  # fmt: skip


def container_tools_problem():
    """Why this machine cannot build and run images, or None."""
    if os.geteuid() != 0:
        return "not root (debootstrap and a root container store need it)"
    missing = [
        tool for tool in ("buildah", "podman", "debootstrap", "runc") if not shutil.which(tool)
    ]
    if missing:
        return f"{', '.join(missing)} not installed: `make system-deps` installs them"
    for tool in ("buildah", "podman"):
        probe = subprocess.run([tool, "info"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            return f"`{tool} info` fails: {probe.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="module")
def container_tools():
    problem = container_tools_problem()
    if problem:
        message = f"cannot build and run container images on this machine: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must build the image)")
        pytest.skip(message)


def sh(command, cwd=None, timeout=1800, check=True):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} failed ({result.returncode})\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


# Run inside the container: one row of defaults from the image's own model card, POSTed to
# the server the image started. Prints the status and the answer.
PREDICT = """
import json, urllib.error, urllib.request
card = urllib.request.Request("http://127.0.0.1:8000/model", headers={"Accept": "application/json"})
fields = json.load(urllib.request.urlopen(card, timeout=10))["schema"]
row = {field["name"]: field["default"] for field in fields}
request = urllib.request.Request(
    "http://127.0.0.1:8000/predict", data=json.dumps(row).encode(),
    headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        print(json.dumps([response.status, json.load(response)]))
except urllib.error.HTTPError as error:
    print(json.dumps([error.code, error.read().decode()]))
"""
READY = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"
PING = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ping', timeout=2)"

# Run inside a container started with `serve`: the same rows as JSON and as CSV, to /predict
# and to /invocations. Prints {kind: [[status, answer] from /predict, the same from /invocations]}.
INVOCATIONS = """
import json, urllib.error, urllib.request
card = urllib.request.Request("http://127.0.0.1:8080/model", headers={"Accept": "application/json"})
fields = json.load(urllib.request.urlopen(card, timeout=10))["schema"]
row = {field["name"]: field["default"] for field in fields}
bodies = {
    "json": (json.dumps([row, row]), "application/json"),
    "csv": (",".join(row) + "\\n" + ",".join(str(v) for v in row.values()) + "\\n", "text/csv"),
}
def post(path, body, content_type):
    request = urllib.request.Request(
        "http://127.0.0.1:8080" + path, data=body.encode(), headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return [response.status, response.read().decode()]
    except urllib.error.HTTPError as error:
        return [error.code, error.read().decode()]
print(json.dumps({kind: [post(path, *body) for path in ("/predict", "/invocations")]
                  for kind, body in bodies.items()}))
"""


@pytest.mark.slow
@pytest.mark.xdist_group("container-image")
@pytest.mark.parametrize("variant", IMAGE_VARIANTS)
def test_image_builds_runs_and_predicts(render, container_tools, variant):
    project = render(IMAGE_VARIANTS[variant])
    meta = json.loads((live_dir(project) / "model.json").read_text())
    timings = {}

    # The base image: the official name, made locally (cached after the first time).
    base = full_image_name(base_image(project / "Dockerfile"))
    assert base.split(":")[1].startswith("3.11."), f"the stand-in has Python 3.11, not {base}"
    start = time.monotonic()
    sh(["bash", str(SCRIPTS / "standin-base-image.sh"), base])
    timings["base image"] = time.monotonic() - start

    # The build, exactly from the rendered Dockerfile and .dockerignore. The tag is this
    # process's own: two test runs at once (two checkouts) never take each other's image.
    tag = f"localhost/copier-ml-deploy-test:{variant}-{os.getpid()}"
    start = time.monotonic()
    sh(
        ["buildah", "build", "--format", "docker", "--pull=never", *RUNTIME, "--network", "host",
         "--layers", "--tag", tag, "."],
        cwd=project,
    )  # fmt: skip
    timings["build"] = time.monotonic() - start

    config = json.loads(sh(["buildah", "inspect", "--type", "image", tag]).stdout)["Docker"][
        "config"
    ]
    assert config["User"] == "10001:10001"
    assert list(config["ExposedPorts"]) == ["8000/tcp"]
    assert config["Entrypoint"] == ["python", "-m", f"{package_of(project)}.serve"]
    assert not config.get("Cmd"), config.get("Cmd")
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert config["Healthcheck"]["Test"][0] == "CMD", "HEALTHCHECK lost: build with --format docker"
    size = int(sh(["podman", "image", "inspect", "--format", "{{.Size}}", tag]).stdout)

    name = f"copier-ml-deploy-test-{variant}-{os.getpid()}"
    start = time.monotonic()
    sh([*PODMAN, "run", "--detach", "--name", name, *RUN_OPTIONS, tag])
    try:
        deadline = time.monotonic() + 90
        while True:
            probe = sh([*PODMAN, "exec", name, "python", "-c", READY], check=False, timeout=60)
            if probe.returncode == 0:
                break
            state = sh([*PODMAN, "inspect", "--format", "{{.State.Status}}", name]).stdout.strip()
            logs = sh([*PODMAN, "logs", name], check=False)
            assert state == "running", (
                f"the container stopped ({state}):\n{logs.stdout}{logs.stderr}"
            )
            assert time.monotonic() < deadline, (
                f"/ready never answered 200:\n{logs.stdout}{logs.stderr}"
            )
            time.sleep(0.5)
        timings["start until ready"] = time.monotonic() - start

        # The image's own HEALTHCHECK command, run by the container runtime.
        health = sh([*PODMAN, "healthcheck", "run", name], check=False, timeout=60)
        assert health.returncode == 0, f"HEALTHCHECK fails: {health.stdout}{health.stderr}"

        # A prediction, from inside the container, with the model the image carries.
        status, answer = json.loads(sh([*PODMAN, "exec", name, "python", "-c", PREDICT]).stdout)
        assert status == 200, answer
        assert answer["prediction"] in meta["target"]["classes"], answer
        assert set(answer["probabilities"]) == set(meta["target"]["classes"])

        # The server runs as the unprivileged user, and not as root.
        uid = sh([*PODMAN, "exec", name, "python", "-c", "import os; print(os.getuid())"]).stdout
        assert uid.strip() == "10001"

        # `docker stop` (here podman's) ends it cleanly and quickly, with STOPSIGNAL.
        start = time.monotonic()
        sh([*PODMAN, "stop", "--time", "10", name])
        timings["stop"] = time.monotonic() - start
        code = sh([*PODMAN, "inspect", "--format", "{{.State.ExitCode}}", name]).stdout.strip()
        logs = sh([*PODMAN, "logs", name]).stdout
        assert "Traceback" not in logs, logs
    finally:
        sh([*PODMAN, "rm", "--force", name], check=False)

    # As SageMaker runs it: `docker run <image> serve`, then /ping and /invocations on 8080.
    start = time.monotonic()
    sh([*PODMAN, "run", "--detach", "--name", name, *RUN_OPTIONS, tag, "serve"])
    try:
        deadline = time.monotonic() + 90
        while True:
            probe = sh([*PODMAN, "exec", name, "python", "-c", PING], check=False, timeout=60)
            if probe.returncode == 0:
                break
            logs = sh([*PODMAN, "logs", name], check=False)
            assert time.monotonic() < deadline, (
                f"/ping on 8080 never answered 200:\n{logs.stdout}{logs.stderr}"
            )
            time.sleep(0.5)
        timings["serve: start until /ping"] = time.monotonic() - start
        answers = json.loads(sh([*PODMAN, "exec", name, "python", "-c", INVOCATIONS]).stdout)
        for kind, (predict, invocations) in answers.items():
            assert predict[0] == 200 and invocations == predict, (kind, predict, invocations)
        logs = sh([*PODMAN, "logs", name], check=False)
        assert "fast_csv is not in use" not in logs.stdout + logs.stderr, logs.stderr[-2000:]
        start = time.monotonic()
        sh([*PODMAN, "stop", "--time", "30", name])  # SageMaker: SIGTERM, SIGKILL 30 s later
        timings["serve: stop"] = time.monotonic() - start
        sagemaker_code = sh([*PODMAN, "inspect", "--format", "{{.State.ExitCode}}", name])
        assert sagemaker_code.stdout.strip() == "0"
    finally:
        sh([*PODMAN, "rm", "--force", name], check=False)
        sh(["buildah", "rmi", tag], check=False)  # the layers stay cached for the next build

    OUTPUT.mkdir(exist_ok=True)
    record = {
        "variant": variant,
        "image_bytes": size,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    (OUTPUT / f"image-{variant}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(record)

    assert code == "0" and timings["stop"] < 9, (
        f"not stopped cleanly by the stop signal: exit code {code}, {timings['stop']:.0f} s"
    )
