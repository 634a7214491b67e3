"""A running server follows `make promote` and `make rollback` without a failed request, and
answers with a canary's share of the requests."""

import math
import re
import shutil
import sys
import threading
import time
from collections import Counter

import pytest
from _service_helpers import running
from conftest import package_of, run
from deploy_helpers import example_row

SERVERS = {"waitress": {}, "gunicorn": {"server": "gunicorn"}}


def versions_command(project, *arguments):
    return run([sys.executable, "-m", f"{package_of(project)}.versions", *arguments], project)


def live(project):
    return (project / "models" / "LIVE").read_text().strip()


class Traffic:
    """Clients that predict one row after another until stopped; every answer is kept."""

    def __init__(self, server, row, clients=2):
        self.server, self.row = server, row
        self.answers = []  # (status, X-Model-Version)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]

    def client(self):
        while not self.stopping.is_set():
            try:
                reply = self.server.post_json(self.row)
                self.answers.append((reply.status, reply.headers.get("x-model-version")))
            except OSError as error:  # a refused or dropped connection is a failure too
                self.answers.append((repr(error), None))

    def wait_for(self, version, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers and self.answers[-1][1] == version:
                return
            time.sleep(0.05)
        raise AssertionError(f"still not {version} after {timeout} s: {self.answers[-3:]}")

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SERVERS))
def test_promote_and_rollback_while_serving(render, tmp_path, kind):
    project = tmp_path / "project"
    shutil.copytree(render(SERVERS[kind]), project)
    first = live(project)
    time.sleep(1)  # a version id is to the second
    run([sys.executable, "-m", f"{package_of(project)}.train"], project)
    second = live(project)  # the same settings: the same model, promoted
    assert second != first
    versions_command(project, "rollback")
    assert live(project) == first
    row, _ = example_row(project)

    with running(project, tmp_path / "server.log") as server, Traffic(server, row) as traffic:
        traffic.wait_for(first)
        versions_command(project, "promote", second)
        traffic.wait_for(second)
        time.sleep(1)
        versions_command(project, "rollback")
        traffic.wait_for(first)
        time.sleep(0.5)

    failed = [answer for answer in traffic.answers if answer[0] != 200]
    assert not failed, f"{len(failed)} of {len(traffic.answers)} failed: {failed[:5]}"
    seen = [version for _, version in traffic.answers]
    switches = [seen[0]] + [b for a, b in zip(seen, seen[1:], strict=False) if a != b]
    # Each client moves on once; with two clients (and two gunicorn workers) the
    # versions may alternate for a moment around each switch.
    assert switches[0] == first and second in switches and switches[-1] == first, switches
    assert len(traffic.answers) > 20


def version_requests(page, version, role):
    """version_requests_total{role=..., version=...} from a /metrics page (0 when absent)."""
    for line in page.splitlines():
        if line.startswith("version_requests_total{"):
            labels, value = line[len("version_requests_total{") :].rsplit("} ", 1)
            if dict(re.findall(r'(\w+)="([^"]*)"', labels)) == {"version": version, "role": role}:
                return float(value)
    return 0.0


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SERVERS))
def test_a_canary_under_load_then_promoted(render, tmp_path, kind):
    project = tmp_path / "project"
    shutil.copytree(render(SERVERS[kind]), project)
    first = live(project)
    time.sleep(1)  # a version id is to the second
    run([sys.executable, "-m", f"{package_of(project)}.train"], project)
    second = live(project)
    versions_command(project, "rollback")
    candidate = [sys.executable, "-m", f"{package_of(project)}.candidate"]
    run([*candidate, "canary", second, "--share", "0.3"], project)
    row, _ = example_row(project)

    with running(project, tmp_path / "server.log") as server:
        with Traffic(server, row, clients=4) as traffic:
            deadline = time.monotonic() + 60
            while len(traffic.answers) < 600 and time.monotonic() < deadline:
                time.sleep(0.1)
        during = list(traffic.answers)
        page = server.get("/metrics").text
        with Traffic(server, row) as traffic:
            versions_command(project, "promote", second)  # the canary ends
            traffic.wait_for(second)
            time.sleep(1.5)
            run([*candidate, "shadow", first], project)  # the old version, in shadow now
            time.sleep(1.5)
        after = server.get("/metrics").text

    failed = [answer for answer in during + traffic.answers if answer[0] != 200]
    assert not failed, f"{len(failed)} failed: {failed[:5]}"
    seen = Counter(version for _, version in during)
    assert set(seen) == {first, second}, seen
    spread = 4 * math.sqrt(len(during) * 0.3 * 0.7)
    assert abs(seen[second] - 0.3 * len(during)) <= spread, seen
    # /metrics adds up every worker's counts: exactly the answers the clients saw.
    assert version_requests(page, second, "canary") == seen[second]
    assert version_requests(page, first, "live") == seen[first]
    last = [version for _, version in traffic.answers[-20:]]
    assert set(last) == {second}, last  # promoted: no more canary
    assert f'shadow_rows_total{{version="{first}"}}' in after
    assert f'shadow_agreement{{version="{first}"}} 1.0' in after  # the same model retrained
