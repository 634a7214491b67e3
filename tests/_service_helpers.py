"""Start a rendered project's production server as a user does, and talk HTTP to it."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

from conftest import free_port, package_of, project_env


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


class Server:
    """A running server: .request() sends one HTTP request on a fresh connection."""

    def __init__(self, project, port, log_path, process):
        self.project, self.port, self.log_path, self.process = project, port, log_path, process
        self.url = f"http://127.0.0.1:{port}"

    def request(self, method, path, body=None, headers=None, timeout=60):
        if isinstance(body, str):
            body = body.encode("utf-8")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post_json(self, payload, path="/predict"):
        body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def log(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_until_ready(server, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server stopped while starting:\n{server.log()}")
        try:
            if server.get("/ready", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/ready did not answer 200 within {timeout} s:\n{server.log()}")


def serve_command(project):
    return [sys.executable, "-m", f"{package_of(project)}.serve"]


@contextmanager
def running(project, log_path, stop=signal.SIGINT, **env):
    """Start `python -m <package>.serve` on a free port; on exit stop it and check it stops.

    The server runs in its own process group. Ctrl-C (SIGINT) goes to the whole group, as a
    terminal sends it (gunicorn's workers get it too); SIGTERM goes to the server process
    alone, as `docker stop` sends it.
    """
    port = free_port()
    environment = {
        **project_env(project),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "THREADS": "4",
        "WEB_CONCURRENCY": "2",
        "ACCESS_LOG": "1",  # as a user runs it
        **env,
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            serve_command(project),
            cwd=project,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(project, port, log_path, process)
    try:
        wait_until_ready(server)
        yield server
    finally:
        if process.poll() is None:
            if stop == signal.SIGINT:
                os.killpg(process.pid, stop)
            else:
                os.kill(process.pid, stop)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                message = f"{stop.name} did not stop the server:\n{server.log()}"
                raise AssertionError(message) from None
