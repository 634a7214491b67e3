"""A short load test: `make load` or `python -m <package>.load [--users N] [--seconds S]`.

It starts the production server as `make serve` does (same settings from the environment,
on a free port), sends it requests made from the model's schema with locust (locustfile.py)
for a few seconds, stops the server, and prints the throughput, the latency, the errors and
the server's peak memory, with what they mean for the Elastic Beanstalk instance in
.ebextensions/. --url tests a server that is already running instead (memory not measured).

    python -m <package>.load --users 16 --seconds 15
    THREADS=4 python -m <package>.load      # the server with other settings

Every request must get the answer its kind expects (200, or 400 for the invalid rows);
any other answer, or none, is an error, and the exit code is then 1.
locust is a dev dependency (`make setup` installs it): the service itself never needs it.
"""

import argparse
import contextlib
import csv
import importlib.util
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import config
from .model import ModelError, model_dir, read_metadata
from .schema import Schema
from .settings import SettingsError, from_env
from .sizing import MemoryWatch, verdict

REFERENCE_FILE = config.PROJECT_ROOT / "tests" / "data" / "reference.json"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# The kinds of request sent, as locustfile.py names them.
ONE, LIST, CSV, INVALID = KINDS = (
    "one row (JSON)",
    "list of rows (JSON)",
    "CSV file",
    "invalid row (400 expected)",
)


class LoadError(Exception):
    """The load test cannot run; str(error) says why."""


# ---- The requests: built from the model's schema ----


def valid_rows(schema):
    """Rows the service must accept: tests/data/reference.json's, or the schema's defaults."""
    rows = []
    if REFERENCE_FILE.exists():
        rows = json.loads(REFERENCE_FILE.read_text(encoding="utf-8")).get("rows", [])
        rows = [{name: row.get(name) for name in schema.names} for row in rows[:500]]
        rows = [row for row in rows if not schema.validate(row)[1]]  # no errors
    return rows or [schema.defaults()]


def csv_text(schema, rows):
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(schema.names)
    for row in rows:
        writer.writerow([text_of(row[name]) for name in schema.names])
    return output.getvalue()


def text_of(value):
    """A JSON value as a CSV file holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def requests_to_send(schema, rows, csv_rows):
    """{kind: [request bodies]}: what locustfile.py picks from, at random."""
    pick = random.Random(0)
    first = schema.names[0]
    return {
        ONE: [json.dumps(row) for row in rows],
        LIST: [json.dumps(pick.choices(rows, k=pick.randint(2, 20))) for _ in range(20)],
        CSV: [csv_text(schema, pick.choices(rows, k=csv_rows)) for _ in range(5)],
        # A value of the wrong type, and a field the model does not know: 400 both.
        INVALID: [json.dumps({**row, first: ["not a value"]}) for row in rows[:10]]
        + [json.dumps({**row, "no_such_field": 1}) for row in rows[:10]],
    }


# ---- The server: started, watched and stopped ----


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(log_path):
    """Start `python -m <package>.serve` on a free port -> (process, url)."""
    port = free_port()
    environment = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"{__package__}.serve"],
            cwd=config.PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=os.name == "posix",  # its own process group, stopped below
        )
    return process, f"http://127.0.0.1:{port}"


def wait_until_ready(url, process=None, log_path=None, timeout=120):
    """Wait for /ready to answer 200; a server that exits or never answers is an error."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LoadError(f"the server stopped as it started:\n{server_log(log_path)}")
        try:
            with opener.open(f"{url}/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or 503: not ready
            pass
        if process is None:
            break
        time.sleep(0.2)
    raise LoadError(f"{url}/ready does not answer 200: is the server running?")


def warm_up(url, requests):
    """A few requests of each kind first: a process's first CSV loads pyarrow and pandas."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for kind, bodies in [*requests.items()] * 4:  # gunicorn: likely each worker
        mimetype = "text/csv" if kind == CSV else "application/json"
        request = urllib.request.Request(
            f"{url}/predict", data=bodies[0].encode(), headers={"Content-Type": mimetype}
        )
        # A 400 for the invalid rows; anything else wrong shows in the load that follows.
        with contextlib.suppress(OSError):
            opener.open(request, timeout=30).close()


def stop_server(process, grace):
    """SIGTERM, as `docker stop` sends: the server answers what it has, then exits."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace + 10)
        except subprocess.TimeoutExpired:
            print(f"warning: the server did not stop within {grace + 10} s: killed")
            process.kill()
            process.wait()
    if os.name == "posix":  # a worker left behind would still hold memory and the port
        try:
            os.killpg(process.pid, signal.SIGKILL)
            print("warning: server processes were left running after it stopped: killed")
        except (ProcessLookupError, PermissionError):
            pass  # none left: the normal case
    return process.returncode


def server_log(path, lines=15):
    """The last lines of the server's output, less the access log and the INFO lines."""
    text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in text if not line.startswith("{") and " INFO " not in line]
    return "\n".join(kept[-lines:])


def startup_line(path):
    """The server's "serving on ... with ..." line, which names its settings."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    return next((line for line in lines if "serving on" in line), "started")


# ---- The load: locust, headless ----


def run_locust(url, users, seconds, folder):
    """Run locustfile.py for `seconds` -> (exit code, {name: stats row}, failures)."""
    prefix = folder / "locust"
    command = [
        sys.executable, "-m", "locust", "--locustfile", str(LOCUSTFILE), "--host", url,
        "--headless", "--users", str(users), "--spawn-rate", str(users),
        "--run-time", f"{seconds}s", "--csv", str(prefix), "--only-summary",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    environment = {**os.environ, "LOAD_REQUESTS": str(folder / "requests.json")}
    with open(folder / "locust.log", "wb") as log:
        code = subprocess.run(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 60
        ).returncode
    try:
        with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as file:
            stats = {row["Name"]: row for row in csv.DictReader(file)}
        with open(f"{prefix}_failures.csv", newline="", encoding="utf-8") as file:
            failures = list(csv.DictReader(file))
    except OSError:
        log_text = (folder / "locust.log").read_text(encoding="utf-8", errors="replace")
        raise LoadError(f"locust ended with {code} and no results:\n{log_text[-2000:]}") from None
    return code, stats, failures


def number(row, column):
    try:
        return float(row[column])
    except (KeyError, TypeError, ValueError):  # "N/A" when nothing was measured
        return 0.0


# ---- The report ----


def print_table(stats):
    print(f"\n{'request':<28}{'count':>9}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}")
    for name in [*KINDS, "Aggregated"]:
        row = stats.get(name, {})
        print(
            f"{'all' if name == 'Aggregated' else name:<28}"
            f"{number(row, 'Request Count'):>9,.0f}{number(row, 'Requests/s'):>9,.1f}"
            f"{number(row, '50%'):>8,.0f}{number(row, '99%'):>8,.0f}"
            f"{number(row, 'Failure Count'):>8,.0f}"
        )


def report(users, stats, failures, watch, gunicorn, local_settings):
    """Print the table and the verdict -> the exit code: 1 when any request went wrong."""
    print_table(stats)
    total = stats.get("Aggregated", {})
    errors = int(number(total, "Failure Count"))
    invalid = stats.get(INVALID, {})
    refused = int(number(invalid, "Request Count") - number(invalid, "Failure Count"))
    print(f"\ninvalid rows answered 400 as they should: {refused:,} (not errors)")
    if watch is None:
        peak = "peak memory not measured"
        print("server memory: not measured (it reads /proc: Linux, and a server started here)")
    else:
        peak = f"peak {watch.peak:,.0f} MB"
        pids = " ".join(str(pid) for pid in watch.peaks)
        print(
            f"server memory (RSS, processes {pids}): at rest {watch.at_rest:,.0f} MB, "
            f"{peak} (each process's highest, added up)"
        )
    for failure in failures[:5]:
        # locust keeps the message as the repr of its exception: CatchResponseError('...')
        message = re.sub(r"^CatchResponseError\((.*)\)$", r"\1", failure["Error"]).strip("'\"")
        print(f"error: {failure['Occurrences']} x {failure['Name']}: {message[:300]}")
    print(
        f"\nAt {users} users: {number(total, 'Requests/s'):,.0f} req/s, "
        f"p99 {number(total, '99%'):,.0f} ms, {errors:,} errors, {peak}."
    )
    print(verdict(watch, gunicorn, local_settings))
    print(
        f"Throughput on this machine's {os.cpu_count()} cores, with locust on them too; a t3 "
        "instance has 2 vCPUs, at full speed only while it has CPU credits."
    )
    if number(total, "Request Count") == 0:
        print("error: no request was answered")
        return 1
    return 1 if errors else 0


def bounded(low, high):
    def parse(text):
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.load", description=__doc__)
    parser.add_argument("--users", type=bounded(1, 200), default=16, help="clients at once")
    parser.add_argument("--seconds", type=bounded(1, 120), default=15, help="how long")
    parser.add_argument("--url", help="a running server (default: start one here)")
    parser.add_argument(
        "--csv-rows", type=bounded(1, 10_000), default=50, help="rows in each CSV request"
    )
    args = parser.parse_args(argv)
    if importlib.util.find_spec("locust") is None:
        print("error: locust is not installed: `make setup` installs it", file=sys.stderr)
        return 1
    try:
        settings = from_env()
        schema = Schema.from_list(read_metadata(model_dir())["schema"])
    except (SettingsError, ModelError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    gunicorn = (config.PROJECT_ROOT / "gunicorn.conf.py").exists()
    # Stopped by SIGTERM (a CI time limit, `kill`): stop the server and locust first, as
    # for Ctrl-C. The server runs in a process group of its own, which no signal reaches.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    with tempfile.TemporaryDirectory(prefix="load-") as folder:
        folder = Path(folder)
        requests = requests_to_send(schema, valid_rows(schema), args.csv_rows)
        (folder / "requests.json").write_text(json.dumps(requests), encoding="utf-8")
        server = watch = None
        try:
            if args.url:
                url = args.url.rstrip("/")
                wait_until_ready(url)
                started = "already running: memory not measured"
            else:
                server, url = start_server(folder / "server.log")
                wait_until_ready(url, server, folder / "server.log")
                started = startup_line(folder / "server.log")
                if Path("/proc/self/status").exists():
                    watch = MemoryWatch(server.pid)  # at rest: before the first request
                    watch.start()
            warm_up(url, requests)
            print(f"Load test: {args.users} users for {args.seconds} s against {url}")
            print(f"  server: {started}", flush=True)
            code, stats, failures = run_locust(url, args.users, args.seconds, folder)
        except LoadError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("Interrupted: no report.")
            return 130
        finally:
            if watch is not None:
                watch.stop()
            if server is not None:
                stop_server(server, settings.graceful_timeout)
                print(f"  server stopped (exit code {server.returncode})")
        result = report(args.users, stats, failures, watch, gunicorn, settings)
        if result and server is not None:
            print(f"\nThe server's last lines:\n{server_log(folder / 'server.log')}")
        return result if code in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
