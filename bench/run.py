"""`make bench`: the rendered iris service against hand-written references, in one run.

Renders the services it needs into build/bench/, starts each with its production server,
and measures them interleaved (A B A B) with wrk on loopback: requests/s, p50 and p99
latency, errors, cold start to first prediction and memory after warm-up; then batch
scoring (10k rows as JSON, 100k rows as CSV) against model.predict in-process.
Writes bench/results.md and prints it.
"""

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
RESULTS = ROOT / "bench" / "results.md"
WRK = ["-t2", "-c16", "--latency"]
DURATION = "10s"
ROUNDS = 2
# Said under the table when a target is missed: what was measured and tried so far.
WHAT_WAS_TRIED = {
    "100k-row CSV >= 50% of in-process predict rows/s (fast_csv)": (
        "the model predicts 100k iris rows in 8 to 10 ms (10 to 13M rows/s here, 4.4M when "
        "the issue was written), so the target leaves 16 to 20 ms for the whole request: "
        "1.6 MB in, 5.5 MB out. The floor row above is that exchange alone, with an answer "
        "made in advance and nothing read or scored: it already takes 0.86 to 1.0 of the "
        "predict time, so the rest (reading, checking, the model, writing, /metrics and the "
        "monitoring sample) would have to fit in another 8 to 10 ms, about what ONNX "
        "Runtime alone takes. The default path (pyarrow's compiled CSV reader and string "
        "functions, 64 KiB parts) reaches about 0.1; a render with fast_csv (numba-compiled "
        "loops read the numbers and write the scored lines; two parts at once on two "
        "threads) about twice that. What is left, per 100k rows: the model 8 ms, the "
        "monitoring sample (the first 200 rows checked again for the drift window) and "
        "counters 10 ms of wall time (22.8 ms with MONITORING=0 against 32.7 ms, Flask's "
        "test client, no HTTP), the 25 parts' Python calls, and the exchange. Bigger parts "
        "would cut the calls, but ONNX Runtime rounds a row's last bit differently for "
        "batches of other sizes (2 to about 5,000 rows give one result, larger batches "
        "another), and every path must give the model the same parts to write the same "
        "bytes. Not met; the figures are in the table."
    ),
}
WHAT_WAS_TRIED["monitoring on costs <= 10% of single-row req/s (on/off, median of 6 pairs)"] = (
    "0.97 on 2026-12-07 at 12:40; 0.85 to 0.86 at 19:40, and 0.89 for a render of the "
    "commit before that day's last session (234bea2): the figures per model version added "
    "for shadow and canary (version_requests_total, the version's latency histogram and "
    "row counter, /monitor's Versions) came after the 0.97. Flask's test client puts "
    "monitoring at about 80 us a single-row request (544 against 463 us of CPU); "
    "serving.count_request alone is about 30 us of it (two more prometheus series and a "
    "lock for each request). Not fixed yet: keeping those series only while a candidate "
    "runs would change what /metrics documents."
)
WHAT_WAS_TRIED["LR waitress >= 1.4x lean req/s"] = (
    "this ratio moves from run to run on the shared 2-core machine: 1.17x to 1.36x in three "
    "runs on 2026-12-07 (1.70x on 2026-11-23), while the lean baseline itself measured 776 "
    "to 1,083 req/s. Since 1.70x the service does more for each request: an X-Request-ID, "
    "/metrics counters, the drift window and an access log line; the interleaved on/off "
    "pairs put their cost at about 3% (target row below). Writing the access line in the "
    "request's thread, under a lock, had cost two thirds of the req/s: it is now written "
    "by a thread of its own. Not investigated further."
)
WHAT_WAS_TRIED["LR p99 no worse than lean"] = (
    "p99 follows the same noise (25 to 40 ms for both stacks between runs); waitress's 8 "
    "threads share one Python interpreter, so one slow thread delays the others' tails."
)
SHADOW_LINK = (
    "## Shadow scoring (issue 14)\n\n"
    "What a candidate version in shadow costs the answers (live-only against with-shadow "
    "req/s, p50 and p99, in one run): [shadow.md](shadow.md), by `python bench/shadow.py`."
)
IRIS_ROW = {
    "sepal_length_cm": 5.9,
    "sepal_width_cm": 3.0,
    "petal_length_cm": 4.2,
    "petal_width_cm": 1.5,
}
FEATURES = list(IRIS_ROW)


def ensure_wrk():
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install it (sudo apt-get install wrk) and run again")
    print("installing wrk (Debian package)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)


def render(name, answers):
    """A trained iris project from the template in this checkout."""
    from copier import run_copy

    project = BUILD / name
    if project.exists():
        shutil.rmtree(project)
    run_copy(
        str(ROOT),
        str(project),
        data={"bootstrap": False, **answers},
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    subprocess.run(
        [sys.executable, "-m", "iris_classifier.train"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    return project


def reference_models():
    """The models a notebook would pickle: a scaler + logistic regression, and a forest."""
    import pickle

    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    target = iris.target_names[iris.target]
    models = {
        "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "rf": RandomForestClassifier(n_estimators=100, random_state=42),
    }
    folder = BUILD / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, model in models.items():
        model.fit(iris.data, target)
        paths[name] = folder / f"{name}.pkl"
        with open(paths[name], "wb") as file:
            pickle.dump(model, file)
    return paths


class Service:
    def __init__(self, label, command, cwd, env, port, kind):
        self.label, self.command, self.cwd, self.port, self.kind = label, command, cwd, port, kind
        self.env = {**os.environ, **env, "PORT": str(port)}
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/predict"

    def start(self):
        """Start the server; -> seconds from spawn to the first good prediction."""
        began = time.perf_counter()
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        body = json.dumps(IRIS_ROW).encode()
        while time.perf_counter() - began < 60:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.process.returncode}")
            try:
                request = urllib.request.Request(
                    self.url, body, {"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - began
            except OSError:
                time.sleep(0.005)
        raise RuntimeError(f"{self.label} did not answer within 60 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def rss_mb(self):
        """Resident memory of the server and its worker processes."""
        total = 0
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        return total / 1024


def descendants(pid):
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            children += [child, *descendants(child)]
    return children


def wrk(url, body, duration=DURATION):
    script = BUILD / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out = subprocess.run(
        ["wrk", *WRK, f"-d{duration}", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency_ms(out, "50%"),
        "p99": latency_ms(out, "99%"),
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def latency_ms(out, percentile):
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def post(url, body, content_type):
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        payload = response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - began, payload


def batch_figures(service, project, fast=None, repeats=10):
    """Rows/s for 10k JSON rows and 100k CSV rows, and model.predict in-process.

    fast: the same service rendered with fast_csv (numba), measured on the same rows,
    interleaved with the others so that all meet the same neighbours on the machine; and
    then the floor: the bare WSGI app answering a text/csv POST of the same body with an
    answer of the same size made in advance (what the HTTP exchange alone costs).
    """
    sys.path.insert(0, str(project / "src"))
    os.environ["MODEL_DIR"] = str(project / "models")
    from iris_classifier.model import load_model

    model = load_model()
    rows, csv_body = bench_rows(model)
    json_body = json.dumps(rows[:10_000]).encode()
    json_time = min(post(service.url, json_body, "application/json")[0] for _ in range(3))
    clean, _ = model.validate(rows)
    matrix = model.inputs(clean)
    model.estimator.predict(matrix)  # the first call loads what scikit-learn loads lazily
    if fast:
        post(fast.url, csv_body, "text/csv")  # numba compiles its loops (then kept on disk)
    # Interleaved, the best of each: on a shared machine the minimum is the least disturbed.
    csv_times, fast_times, floor_times, in_process = [], [], [], []
    answer_bytes = len(post(service.url, csv_body, "text/csv")[1])
    floor = Service(
        "bare WSGI, waitress, a CSV answer made in advance",
        [sys.executable, str(ROOT / "bench" / "reference_wsgi.py")],
        ROOT / "bench",
        {"CSV_ANSWER_BYTES": str(answer_bytes)},
        8109,
        "bare",
    )
    floor.start()
    for _ in range(repeats):
        seconds, answer = post(service.url, csv_body, "text/csv")
        assert answer.count(b"\n") == 100_001, "every row scored"
        csv_times.append(seconds)
        if fast:
            seconds, fast_answer = post(fast.url, csv_body, "text/csv")
            assert fast_answer == answer, "fast_csv answers byte for byte the same"
            fast_times.append(seconds)
        seconds, floor_answer = post(floor.url, csv_body, "text/csv")
        assert len(floor_answer) == answer_bytes
        floor_times.append(seconds)
        began = time.perf_counter()
        model.estimator.predict(matrix)
        in_process.append(time.perf_counter() - began)
    floor.stop()
    figures = {
        "json_rows_s": 10_000 / json_time,
        "csv_rows_s": 100_000 / min(csv_times),
        "predict_rows_s": 100_000 / min(in_process),
        "floor_rows_s": 100_000 / min(floor_times),
    }
    if fast:
        figures["fast_csv_rows_s"] = 100_000 / min(fast_times)
    return figures


def bench_rows(model):
    """-> (100k random rows in the training range, as dicts, and as a CSV body)."""
    import random

    rng = random.Random(0)
    fields = model.schema.fields
    rows = [
        {f.name: round(rng.uniform(f.minimum, f.maximum), 1) for f in fields}
        for _ in range(100_000)
    ]
    csv_body = (
        ",".join(FEATURES)
        + "\n"
        + "\n".join(",".join(str(row[name]) for name in FEATURES) for row in rows)
        + "\n"
    ).encode()
    return rows, csv_body


def monitoring_ratio(on, off, body, pairs=6):
    """req/s with monitoring on / off: the median of 6 interleaved pairs of 5 s runs.

    The difference is near the noise of one 10 s run on a shared machine, so it is measured
    apart, more times, each pair close together in time.
    """
    ratios = []
    for _ in range(pairs):
        ratios.append(wrk(on.url, body, "5s")["rps"] / wrk(off.url, body, "5s")["rps"])
    print(f"  monitoring on / off, {pairs} pairs: {', '.join(f'{r:.2f}' for r in ratios)}")
    return {"median": statistics.median(ratios), "pairs": ratios}


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "flask", "waitress", "gunicorn", "onnxruntime"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[
        0
    ]
    return f"{os.cpu_count()} cores, {cpu}; {wrk_version.strip()}", versions


def main():
    ensure_wrk()
    BUILD.mkdir(parents=True, exist_ok=True)
    print("rendering and training the iris services ...", flush=True)
    lr = render("iris-lr", {})
    rf = render("iris-rf", {"model_type": "random_forest"})
    gunicorn = render("iris-lr-gunicorn", {"server": "gunicorn"})
    lr_fast = render("iris-lr-fast-csv", {"fast_csv": True})
    reference = reference_models()
    python = sys.executable
    here = ROOT / "bench"

    def rendered(label, project, port, env=None):
        env = {"PYTHONPATH": str(project / "src"), **(env or {})}
        return Service(
            label, [python, "-m", "iris_classifier.serve"], project, env, port, "rendered"
        )

    def lean(label, model, port):
        env = {"MODEL": str(model), "FEATURES": ",".join(FEATURES)}
        return Service(label, [python, str(here / "reference_flask.py")], here, env, port, "lean")

    services = {
        "bare": Service(
            "bare WSGI, waitress (constant JSON)",
            [python, str(here / "reference_wsgi.py")],
            here,
            {},
            8101,
            "bare",
        ),
        "lean-lr": lean("lean Flask + waitress, logistic regression", reference["lr"], 8102),
        "lr": rendered("rendered iris service, logistic regression, waitress", lr, 8103),
        "lr-quiet": rendered(
            "the same, monitoring off (MONITORING=0 ACCESS_LOG=0)",
            lr,
            8107,
            {"MONITORING": "0", "ACCESS_LOG": "0"},
        ),
        "lean-rf": lean("lean Flask + waitress, random forest (100 trees)", reference["rf"], 8104),
        "rf": rendered("rendered iris service, random forest, waitress", rf, 8105),
        "gunicorn": rendered(
            "rendered iris service, logistic regression, gunicorn 2 workers",
            gunicorn,
            8106,
            {"WEB_CONCURRENCY": "2"},
        ),
    }
    # Measured for the CSV figures only (it answers single rows as "lr" does).
    fast = rendered("rendered iris service, fast_csv, waitress", lr_fast, 8108)
    body = json.dumps(IRIS_ROW)
    results = {key: {"runs": []} for key in services}
    try:
        for key, service in services.items():
            colds = []
            for attempt in range(3):
                colds.append(service.start())
                if attempt < 2:
                    service.stop()
            results[key]["cold"] = statistics.median(colds)
            wrk(service.url, body, "2s")  # warm-up
            results[key]["rss"] = service.rss_mb()
            print(f"  started {service.label}: cold start {results[key]['cold']:.2f} s", flush=True)
        for round_number in range(ROUNDS):
            for key, service in services.items():
                run = wrk(service.url, body)
                results[key]["runs"].append(run)
                print(
                    f"  round {round_number + 1}: {service.label}: {run['rps']:.0f} req/s",
                    flush=True,
                )
        fast.start()
        batch = batch_figures(services["lr"], lr, fast)
        batch["monitoring"] = monitoring_ratio(services["lr"], services["lr-quiet"], body)
    finally:
        for service in [*services.values(), fast]:
            service.stop()
    report = write_report(services, results, batch)
    print(report)


def summary(result):
    runs = result["runs"]
    return {
        "rps": statistics.mean(r["rps"] for r in runs),
        "p50": statistics.mean(r["p50"] for r in runs),
        "p99": statistics.mean(r["p99"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "cold": result["cold"],
        "rss": result["rss"],
    }


def write_report(services, results, batch):
    figures = {key: summary(result) for key, result in results.items()}
    hardware, versions = machine()
    lean_lr, lean_rf = figures["lean-lr"], figures["lean-rf"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make bench` on {hardware}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"wrk {' '.join(WRK)} -d{DURATION} on loopback, single-row JSON POST /predict"
        " with probabilities,",
        f"{ROUNDS} interleaved rounds (A B A B), means shown.",
        "",
        "| stack | req/s | vs lean | p50 ms | p99 ms | errors | cold start s | RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, service in services.items():
        f = figures[key]
        base = lean_rf if key in ("rf", "lean-rf") else lean_lr
        lines.append(
            f"| {service.label} | {f['rps']:,.0f} | {f['rps'] / base['rps']:.2f}x | {f['p50']:.2f} "
            f"| {f['p99']:.2f} | {f['errors']} | {f['cold']:.2f} | {f['rss']:.0f} |"
        )
    lr, rf, gun = figures["lr"], figures["rf"], figures["gunicorn"]
    targets = [
        (
            "LR waitress >= 1.4x lean req/s",
            lr["rps"] / lean_lr["rps"],
            lr["rps"] >= 1.4 * lean_lr["rps"],
        ),
        ("LR p99 no worse than lean", lr["p99"] / lean_lr["p99"], lr["p99"] <= lean_lr["p99"]),
        ("LR cold start <= 1.0 s and <= lean", lr["cold"], lr["cold"] <= min(1.0, lean_lr["cold"])),
        (
            "RF waitress >= 5x lean RF req/s",
            rf["rps"] / lean_rf["rps"],
            rf["rps"] >= 5 * lean_rf["rps"],
        ),
        (
            "gunicorn 2 workers >= 1.7x waitress req/s",
            gun["rps"] / lr["rps"],
            gun["rps"] >= 1.7 * lr["rps"],
        ),
        (
            "100k-row CSV >= 50% of in-process predict rows/s (fast_csv)",
            batch["fast_csv_rows_s"] / batch["predict_rows_s"],
            batch["fast_csv_rows_s"] >= 0.5 * batch["predict_rows_s"],
        ),
        (
            "monitoring on costs <= 10% of single-row req/s (on/off, median of 6 pairs)",
            batch["monitoring"]["median"],
            batch["monitoring"]["median"] >= 0.9,
        ),
        (
            "no errors in any run",
            sum(f["errors"] for f in figures.values()),
            all(f["errors"] == 0 for f in figures.values()),
        ),
        ("RSS within 10% of lean", lr["rss"] / lean_lr["rss"], lr["rss"] <= 1.1 * lean_lr["rss"]),
    ]
    lines += [
        "",
        "Batch scoring, rendered logistic regression service (waitress):",
        "",
        "| what | rows/s |",
        "| --- | ---: |",
        f"| 10k rows as JSON to POST /predict | {batch['json_rows_s']:,.0f} |",
        f"| 100k rows as CSV to POST /predict (default answers) | {batch['csv_rows_s']:,.0f} |",
        f"| the same, a render with fast_csv (numba) | {batch['fast_csv_rows_s']:,.0f} |",
        f"| floor: the same exchange, answer made in advance (bare WSGI) "
        f"| {batch['floor_rows_s']:,.0f} |",
        f"| model.estimator.predict in-process, same 100k rows | {batch['predict_rows_s']:,.0f} |",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {name} | {value:.2f} | {'yes' if ok else 'NO'} |" for name, value, ok in targets]
    missed = [name for name, _, ok in targets if not ok and name in WHAT_WAS_TRIED]
    if missed:
        lines += ["", "## Targets not met: what was tried", ""]
        lines += [f"- **{name}**: {WHAT_WAS_TRIED[name]}" for name in missed]
    scoring = RESULTS.with_name("scoring.md")  # make score and Spark: measured by their scripts
    if scoring.exists():
        lines += ["", scoring.read_text().strip()]
    if RESULTS.with_name("shadow.md").exists():  # measured by bench/shadow.py
        lines += ["", SHADOW_LINK]
    report = "\n".join(lines) + "\n"
    RESULTS.write_text(report)
    (BUILD / "results.json").write_text(json.dumps({"figures": figures, "batch": batch}, indent=2))
    return report


def csv_only(rounds=3):
    """`python bench/run.py --csv`: only the CSV figures, for trying a change quickly.

    The same rendered logistic regression services (waitress, monitoring on; the default
    render and one with fast_csv) and the same batch_figures as `make bench`, `rounds`
    times; prints each round and the median ratios. On a shared machine the wall-clock
    figures measure the neighbours as much as the service, so it also prints CPU seconds:
    each server process's for one CSV request (from /proc) against one thread's for the
    in-process predict.
    """
    BUILD.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "iris_classifier.serve"]
    services = {}
    for name, answers, port in (("default", {}, 8103), ("fast_csv", {"fast_csv": True}, 8108)):
        project = render("iris-lr" if not answers else "iris-lr-fast-csv", answers)
        env = {"PYTHONPATH": str(project / "src")}
        label = f"rendered iris service ({name}), waitress"
        services[name] = (Service(label, command, project, env, port, "rendered"), project)
    (service, lr), (fast, _) = services["default"], services["fast_csv"]
    ratios = {"default": [], "fast_csv": []}
    try:
        service.start()
        fast.start()
        for round_number in range(rounds):
            figures = batch_figures(service, lr, fast, repeats=10)
            predict = figures["predict_rows_s"]
            ratios["default"].append(figures["csv_rows_s"] / predict)
            ratios["fast_csv"].append(figures["fast_csv_rows_s"] / predict)
            ratios.setdefault("floor", []).append(figures["floor_rows_s"] / predict)
            print(
                f"  round {round_number + 1}: CSV {figures['csv_rows_s']:,.0f} rows/s, "
                f"fast_csv {figures['fast_csv_rows_s']:,.0f} rows/s, "
                f"floor {figures['floor_rows_s']:,.0f} rows/s, "
                f"in-process predict {predict:,.0f} rows/s, ratios "
                f"{ratios['default'][-1]:.2f}, {ratios['fast_csv'][-1]:.2f}, "
                f"{ratios['floor'][-1]:.2f}",
                flush=True,
            )
        cpu = {name: cpu_figures(each, project) for name, (each, project) in services.items()}
    finally:
        service.stop()
        fast.stop()
    for name, values in ratios.items():
        print(f"{name}: median ratio over {rounds} rounds: {statistics.median(values):.2f}")
    for name, (server_ms, predict_ms) in cpu.items():
        print(
            f"{name}: CPU for 100k rows: the server {server_ms:.1f} ms a CSV request, "
            f"in-process predict {predict_ms:.1f} ms (one thread): "
            f"ratio {predict_ms / server_ms:.2f}"
        )


def cpu_figures(service, project, requests=20):
    """-> (server CPU ms for one 100k-row CSV request, one thread's CPU ms to predict them)."""
    from iris_classifier.model import load_model
    from threadpoolctl import threadpool_limits

    os.environ["MODEL_DIR"] = str(project / "models")
    model = load_model()
    rows, body = bench_rows(model)
    matrix = model.inputs(model.validate(rows)[0])

    def server_seconds():
        fields = Path(f"/proc/{service.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    before = server_seconds()
    for _ in range(requests):
        post(service.url, body, "text/csv")
    server = (server_seconds() - before) / requests
    with threadpool_limits(1):
        began = time.thread_time()
        for _ in range(requests):
            model.estimator.predict(matrix)
        predict = (time.thread_time() - began) / requests
    return server * 1000, predict * 1000


if __name__ == "__main__":
    csv_only() if sys.argv[1:] == ["--csv"] else main()
