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
import threading
import time
import urllib.request
from pathlib import Path

from . import config
from .model import ModelError, model_dir, read_metadata
from .schema import Schema
from .settings import Settings, SettingsError, from_env

REFERENCE_FILE = config.PROJECT_ROOT / "tests" / "data" / "reference.json"
EB_DIR = config.PROJECT_ROOT / ".ebextensions"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# The kinds of request sent, as locustfile.py names them.
ONE, LIST, CSV, INVALID = KINDS = (
    "one row (JSON)",
    "list of rows (JSON)",
    "CSV file",
    "invalid row (400 expected)",
)
# For sizing an instance: the memory the system takes beside the server (Amazon Linux, Docker
# or the platform's agents, nginx: a generous guess), and what one request of the largest
# size (MAX_CONTENT_LENGTH) adds while it is scored (README: Limits), in MB.
SYSTEM_MB = 400
LARGEST_REQUEST_MB = 50
# Memory of the burstable instance types (t3.micro, t4g.small...) by size, in MB.
SIZES_MB = {"nano": 512, "micro": 1024, "small": 2048, "medium": 4096, "large": 8192}
SUGGESTED = ("t3.micro", "t3.small", "t3.medium", "t3.large")


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


def memory_of(pid):
    """A process's memory in MB, from /proc/<pid>/status (Linux).

    VmRSS: now; VmHWM: the highest so far; RssAnon: its own memory; RssFile and RssShmem:
    memory that maps files (the libraries), which gunicorn's workers share.
    """
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            figures[key] = int(value.split()[0]) / 1024
    return figures


def children_of(pid):
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it has just exited
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4: the parent
                children.append(int(entry.name))
    return children


class MemoryWatch(threading.Thread):
    """Reads the memory of the server's processes (gunicorn: master and workers) 5 times
    a second while the load runs, and keeps each process's highest figures."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks = {}  # pid -> {figure: highest MB}
        self.done = threading.Event()
        self.read()
        self.at_rest = sum(figures["VmRSS"] for figures in self.peaks.values())

    def read(self):
        for pid in [self.pid, *children_of(self.pid)]:
            try:
                figures = memory_of(pid)
            except (OSError, ValueError):
                continue  # it has just exited
            peaks = self.peaks.setdefault(pid, {})
            for key, value in figures.items():
                peaks[key] = max(peaks.get(key, 0), value)

    def run(self):
        while not self.done.wait(0.2):
            self.read()

    def stop(self):
        self.done.set()
        self.join()
        self.read()

    @property
    def peak(self):
        """The highest memory of each process, added up (they need not peak together)."""
        return sum(figures["VmHWM"] for figures in self.peaks.values())

    def server_mb(self, workers):
        """The server's peak with `workers` gunicorn workers (waitress: its one process).

        A worker's own memory counts once per worker; the libraries they map, once.
        """
        main = self.peaks[self.pid]["VmHWM"]
        workers_seen = [figures for pid, figures in self.peaks.items() if pid != self.pid]
        if not workers_seen:
            return main
        shared = [f.get("RssFile", 0) + f.get("RssShmem", 0) for f in workers_seen]
        own = [f["VmHWM"] - s for f, s in zip(workers_seen, shared, strict=True)]
        return main + workers * max(own) + max(shared)


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


def eb_settings():
    """-> (instance type, THREADS, WEB_CONCURRENCY) from .ebextensions/, or None."""
    if not EB_DIR.is_dir():
        return None
    text = "\n".join(path.read_text(encoding="utf-8") for path in EB_DIR.glob("*.config"))

    def value(name, default):
        found = re.search(rf"^\s*{name}:\s*\"?([\w.]+)", text, re.MULTILINE)
        return found.group(1) if found else default

    instance = value("InstanceTypes", "t3.micro")  # the first, when several are listed
    defaults = Settings()
    return (
        instance,
        int(value("THREADS", defaults.threads)),
        int(value("WEB_CONCURRENCY", defaults.workers)),
    )


def instance_mb(instance):
    family, _, size = instance.partition(".")
    return SIZES_MB.get(size) if family in ("t2", "t3", "t3a", "t4g") else None


def sizing(watch, gunicorn, threads, workers):
    """-> (the server's settings in words, MB needed at most, requests scored at once)."""
    if gunicorn:
        at_once, words = workers * threads, f"WEB_CONCURRENCY={workers} x THREADS={threads}"
    else:
        at_once, words, workers = threads, f"THREADS={threads}", 1
    needed = SYSTEM_MB + watch.server_mb(workers) + at_once * LARGEST_REQUEST_MB
    return words, needed, at_once


def verdict(watch, gunicorn, local_settings):
    """Plain sentences: does the instance in .ebextensions/ hold the server, with what room."""
    if watch is None:
        return ["Memory not measured, so no instance sizing: run without --url, on Linux."]
    eb = eb_settings()
    if eb is None:
        threads, workers = local_settings.threads, local_settings.workers
        words, needed, at_once = sizing(watch, gunicorn, threads, workers)
        fits = [name for name in SUGGESTED if needed * 1.1 <= instance_mb(name)]
        choice = f"a {fits[0]} ({instance_mb(fits[0]) // 1024} GiB)" if fits else "more memory"
        return [
            f"No .ebextensions/ here. With {words} as run here, an instance needs about "
            f"{needed:,.0f} MB (with room to spare: {choice})."
        ]
    instance, threads, workers = eb
    words, needed, at_once = sizing(watch, gunicorn, threads, workers)
    memory = instance_mb(instance)
    why = (
        f"{SYSTEM_MB} MB system + {needed - SYSTEM_MB - at_once * LARGEST_REQUEST_MB:,.0f} MB "
        f"server (as measured) + {at_once} requests of the largest size x {LARGEST_REQUEST_MB} MB"
    )
    if memory is None:
        return [f"{instance} (.ebextensions/) with {words} needs about {needed:,.0f} MB: {why}."]
    size = f"{instance} ({memory / 1024:g} GiB)"
    if needed > memory:
        bigger = next((name for name in SUGGESTED if needed * 1.1 <= instance_mb(name)), None)
        return [
            f"A {size} is too small for {words}: {needed:,.0f} MB needed ({why}). "
            f"Lower THREADS{' or WEB_CONCURRENCY' if gunicorn else ''}"
            + (f", or choose a {bigger} in .ebextensions/03-autoscaling.config." if bigger else ".")
        ]
    spare = memory - needed
    if gunicorn:
        per_worker = watch.server_mb(workers + 1) - watch.server_mb(workers)
        more = int(spare // (per_worker + threads * LARGEST_REQUEST_MB))
        room = f"room for {more} more workers" if more else "no room for another worker"
    else:
        more = int(spare // LARGEST_REQUEST_MB)
        room = f"room for {more} more threads" if more else "no room for another thread"
    return [
        f"A {size} (.ebextensions/) holds {words} with {room}: "
        f"{needed:,.0f} of {memory:,} MB ({why}).",
        f"Throughput: this machine's {os.cpu_count()} cores, shared with locust; a t3 "
        "instance has 2 vCPUs, at full speed only while it has CPU credits.",
    ]


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
    for line in verdict(watch, gunicorn, local_settings):
        print(line)
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
