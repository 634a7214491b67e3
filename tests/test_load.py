"""`make load` (python -m <package>.load): a short locust run against the project's own server.

It starts the production server, sends the mix (rows, lists, CSV, invalid rows), reports
throughput, latency, errors and peak memory with the EB sizing, and stops the server.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import package_of, project_env

# Servers and a CPU-bound load: never beside the other server tests (timing ones among them).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("servers")]

SERVERS = {"waitress": {}, "gunicorn": {"server": "gunicorn"}}


def load(project, *args, **environment):
    """Run `python -m <package>.load` in the project, as `make load` does."""
    return subprocess.run(
        [sys.executable, "-m", f"{package_of(project)}.load", *args],
        cwd=project,
        env={**project_env(project), **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def table_row(report, name):
    """-> (count, req/s, p50 ms, p99 ms, errors) of one line of the report's table."""
    line = next(line for line in report.splitlines() if line.startswith(name + " "))
    numbers = line[len(name) :].split()
    return tuple(float(value.replace(",", "")) for value in numbers)


def still_running(pid):
    """True when the process is there and is still one of the project's servers."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"serve" in command or b"gunicorn" in command


@pytest.mark.parametrize("server", SERVERS)
def test_load_reports_the_mix_and_stops_the_server_it_started(render, server):
    project = render(SERVERS[server])
    result = load(project, "--users", "4", "--seconds", "5")
    report = result.stdout
    print(report)
    assert result.returncode == 0, report + result.stderr

    count, per_second, p50, p99, errors = table_row(report, "all")
    assert count > 0 and per_second > 0, report
    assert 0 < p50 <= p99, report  # milliseconds, rounded: a 1 ms answer is 1
    assert errors == 0, report
    for kind in ("one row (JSON)", "list of rows (JSON)", "CSV file"):
        assert table_row(report, kind)[0] > 0, kind
    invalid, _, _, _, invalid_errors = table_row(report, "invalid row (400 expected)")
    assert invalid > 0 and invalid_errors == 0, report
    assert f"invalid rows answered 400 as they should: {invalid:,.0f} (not errors)" in report
    assert re.search(r"At 4 users: [\d,]+ req/s, p99 \d+ ms, 0 errors, peak \d+ MB\.", report)

    # The memory of every server process (gunicorn: a master and 2 workers), then the sizing
    # of the instance in .ebextensions/ (a t3.micro) from it.
    memory = re.search(r"server memory \(RSS, processes ([\d ]+)\): at rest (\d+) MB", report)
    pids = [int(pid) for pid in memory.group(1).split()]
    assert len(pids) == (3 if server == "gunicorn" else 1), report
    assert int(memory.group(2)) > 0
    settings = "WEB_CONCURRENCY=2 x THREADS=2" if server == "gunicorn" else "THREADS=4"
    assert f"A t3.micro (1 GiB) (.ebextensions/) holds {settings} with" in report

    # Stopped as `docker stop` stops it: every process gone, the port closed.
    assert "server stopped (exit code 0)" in report
    assert not [pid for pid in pids if still_running(pid)]
    assert "left running" not in report


def test_an_unexpected_answer_is_an_error_and_the_exit_code_is_1(render):
    """A body limit below the lists and CSV files sent: their 413s are errors."""
    project = render({})
    result = load(project, "--users", "2", "--seconds", "2", MAX_CONTENT_LENGTH="500")
    assert result.returncode == 1, result.stdout + result.stderr
    assert table_row(result.stdout, "CSV file")[4] > 0, result.stdout
    assert table_row(result.stdout, "one row (JSON)")[4] == 0, result.stdout
    assert re.search(r"error: \d+ x CSV file: expected 200, got 413", result.stdout)
    assert "server stopped (exit code 0)" in result.stdout


def test_a_url_with_no_server_is_refused_in_one_line(render):
    project = render({})
    result = load(project, "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: http://127.0.0.1:9/ready does not answer 200: is the server running?"
    )


def test_the_sizing_uses_the_figures_the_server_tests_hold():
    """sizing.py's system and per-request memory are test_server.py's EB sizing constants."""
    from conftest import TEMPLATE
    from test_server import PEAK_MB, SYSTEM_MB

    sizing = (TEMPLATE / "template" / "src" / "{{package_name}}" / "sizing.py").read_text()
    assert f"\nSYSTEM_MB = {SYSTEM_MB}\n" in sizing
    assert f"\nLARGEST_REQUEST_MB = {max(PEAK_MB.values())}\n" in sizing
