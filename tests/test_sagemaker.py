"""The image as an Amazon SageMaker endpoint: `docker run <image> serve`, /ping, /invocations.

SageMaker's contract for an inference image ("Custom Inference Code with Hosting Services"):
it starts the container with the argument `serve`, sends GET /ping (2 s timeout; 200 means
ready) and POST /invocations to port 8080 (or SAGEMAKER_BIND_TO_PORT in an inference
pipeline), unpacks the model's ModelDataUrl into /opt/ml/model, and stops the container with
SIGTERM, then SIGKILL 30 s later.

No Docker engine and no AWS here: the server is started from a render exactly as the image
starts it (the Dockerfile's ENTRYPOINT plus `serve`, with the Dockerfile's ENV), on this
machine's Python. test_image.py runs the built image with `serve` too.
"""

import json
import signal
import socket
import subprocess
import sys
import time

import pytest
from _service_helpers import Server
from conftest import free_port, package_of, project_env, run
from deploy_helpers import dockerfile_env, example_row, exec_form, instructions

VARIANTS = {
    # The default answers, on SageMaker's own port.
    "waitress-8080": ({}, False),
    # gunicorn, on the port an inference pipeline gives in SAGEMAKER_BIND_TO_PORT.
    "gunicorn-bind-to-port": ({"server": "gunicorn", "deploy": "docker"}, True),
}


def port_is_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def image_command(project):
    """The Dockerfile's ENTRYPOINT with SageMaker's `serve`, on this machine's Python."""
    dockerfile = project / "Dockerfile"
    entrypoints = [value for kind, value in instructions(dockerfile) if kind == "ENTRYPOINT"]
    command = exec_form(entrypoints[-1])
    assert command and command[0] == "python", command
    return [sys.executable, *command[1:], "serve"]


def image_environment(project):
    """The environment the image gives its server (PYTHONPATH moved from /app to the render)."""
    env = {**project_env(project), **dockerfile_env(project / "Dockerfile")}
    assert env["HOST"] == "0.0.0.0" and env["PORT"] == "8000", "the image's settings changed"
    env["PYTHONPATH"] = str(project / "src")
    return env


def wait_for_ping(server, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server stopped while starting:\n{server.log()}")
        try:
            if server.get("/ping", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/ping did not answer 200 within {timeout} s:\n{server.log()}")


def csv_rows(meta, rows):
    names = [field["name"] for field in meta["schema"]]
    lines = [",".join(names)] + [",".join(str(row[name]) for name in names) for row in rows]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.xdist_group("sagemaker-port-8080")
@pytest.mark.parametrize("variant", VARIANTS)
def test_serve_argument_answers_ping_and_invocations_like_predict(render, tmp_path, variant):
    answers, bind_to_port = VARIANTS[variant]
    project = render(answers)
    env = image_environment(project)
    if bind_to_port:
        port = free_port()
        env["SAGEMAKER_BIND_TO_PORT"] = str(port)
    else:
        port = 8080
        if not port_is_free(port):
            pytest.skip("port 8080, SageMaker's, is taken on this machine")
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            image_command(project),
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(project, port, log_path, process)
    try:
        wait_for_ping(server)
        assert f":{port} (and on all interfaces)" in server.log(), server.log()

        # /ping: 200 well within SageMaker's 2 seconds, the same answer as /ready.
        start = time.monotonic()
        ping = server.get("/ping", timeout=2)
        assert ping.status == 200 and time.monotonic() - start < 2
        assert ping.json() == server.get("/ready").json()

        # /invocations answers JSON exactly as /predict: one row, several rows, a bad row.
        row, meta = example_row(project)
        first = meta["schema"][0]["name"]
        assert isinstance(row[first], int | float), "the test expects a numeric first field"
        other = {**row, first: row[first] * 1.5}
        bad = {**row, first: "not a number"}
        for payload in (row, [row, other], bad):
            predict = server.post_json(payload, "/predict")
            invocations = server.post_json(payload, "/invocations")
            assert invocations.status == predict.status, invocations.text
            assert invocations.json() == predict.json()
        assert server.post_json(row, "/invocations").status == 200

        # ... and CSV, with the content type SageMaker passes on from InvokeEndpoint.
        body = csv_rows(meta, [row, other])
        headers = {"Content-Type": "text/csv"}
        predict = server.request("POST", "/predict", body, headers)
        invocations = server.request("POST", "/invocations", body, headers)
        assert invocations.status == predict.status == 200, invocations.text
        assert invocations.headers["content-type"].startswith("text/csv")
        assert invocations.body == predict.body
        assert len(invocations.text.strip().splitlines()) == 3  # the header and two rows

        # SageMaker stops a container with SIGTERM and kills it 30 seconds later.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, server.log()
        assert "Traceback" not in server.log(), server.log()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sagemaker_mode_settings(render, tmp_path):
    """Port, address and model folder that `serve` sets, and an unknown argument refused."""
    project = render({}, train_model=False)
    package = package_of(project)
    empty = tmp_path / "empty"
    empty.mkdir()
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    (unpacked / "model.json").write_text("{}")
    code = (
        "import json, sys\n"
        f"from {package}.settings import sagemaker_mode\n"
        "results = []\n"
        "for environ, folder in json.loads(sys.argv[1]):\n"
        "    sagemaker_mode(environ, folder)\n"
        "    results.append(environ)\n"
        "print(json.dumps(results))\n"
    )
    cases = [
        ({"PORT": "8000", "HOST": "127.0.0.1"}, str(empty)),
        ({"PORT": "8000"}, str(unpacked)),
        ({"SAGEMAKER_BIND_TO_PORT": "9001", "MODEL_DIR": "/elsewhere"}, str(unpacked)),
    ]
    results = json.loads(run([sys.executable, "-c", code, json.dumps(cases)], project).stdout)
    assert results[0] == {"PORT": "8080", "HOST": "0.0.0.0"}  # the image's own models/
    assert results[1] == {"PORT": "8080", "HOST": "0.0.0.0", "MODEL_DIR": str(unpacked)}
    assert results[2]["PORT"] == "9001" and results[2]["MODEL_DIR"] == "/elsewhere"

    refused = run([*image_command(project)[:-1], "train"], project, check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: unknown arguments ['train']: the only one is serve"
