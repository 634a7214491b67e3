"""What a shadow costs the answers: the same service live-only and with a candidate in shadow.

    python bench/shadow.py [--server waitress|gunicorn] [--rounds 2] [--duration 10s]

Renders the iris service into build/bench/shadow-<server>/, trains the live version
(logistic regression) and two candidates (a random forest of 100 trees, run by ONNX Runtime
and by scikit-learn: the second is slow enough to fill the queue), and starts the service
three times, each on its own copy of models/: live-only, and with each candidate in shadow
(models/CANDIDATE). wrk runs against them in turn (A B C A B C), single-row JSON POST
/predict; then the shadow's own figures are read from /monitor.json (rows compared,
agreement, dropped batches). Prints the tables and writes bench/shadow.md.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from run import BUILD, IRIS_ROW, ROOT, WRK, Service, ensure_wrk, machine, render, wrk

RESULTS = ROOT / "bench" / "shadow.md"
# The candidates: a random forest (100 trees) run by ONNX Runtime, and the same run by
# scikit-learn, about 100 times slower for one row (and holding Python's lock meanwhile).
CANDIDATES = {
    "onnx": "a random forest (ONNX Runtime)",
    "sklearn": "a random forest (scikit-learn)",
}
PACKAGE = "iris_classifier"


def python(project, *arguments):
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=project,
        env=env,
        check=True,
        text=True,
        capture_output=True,
    ).stdout


def train_candidate(project, inference):
    """A random forest beside the live logistic regression, served with `inference`."""
    live = (project / "models" / "LIVE").read_text().strip()
    config = project / "src" / PACKAGE / "config.py"
    text = config.read_text()
    changed = text.replace('MODEL_TYPE = "logistic_regression"', 'MODEL_TYPE = "random_forest"')
    config.write_text(changed.replace('INFERENCE = "onnx"', f'INFERENCE = "{inference}"'))
    time.sleep(1)  # a version id is to the second
    python(project, f"{PACKAGE}.train")
    config.write_text(text)
    candidate = (project / "models" / "LIVE").read_text().strip()
    if candidate != live:  # promoted: the logistic regression is live again
        python(project, f"{PACKAGE}.versions", "rollback")
    else:
        folder = project / "models" / "versions"
        candidate = max(path.name for path in folder.iterdir())
    return candidate


def models_copy(project, name, plan=None):
    """A copy of models/ for one service (MODEL_DIR), with models/CANDIDATE if a plan."""
    copy = project / name
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(project / "models", copy)
    if plan:
        (copy / "CANDIDATE").write_text(plan + "\n")
    return copy


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def shadow_figures(service):
    url = f"http://127.0.0.1:{service.port}/monitor.json"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["versions"].get("shadow")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["waitress", "gunicorn"], default="waitress")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", default="10s")
    arguments = parser.parse_args()
    ensure_wrk()
    BUILD.mkdir(parents=True, exist_ok=True)
    print(f"rendering and training ({arguments.server})")
    project = render(f"shadow-{arguments.server}", {"server": arguments.server})
    live = (project / "models" / "LIVE").read_text().strip()
    candidates = {inference: train_candidate(project, inference) for inference in CANDIDATES}
    command = [sys.executable, "-m", f"{PACKAGE}.serve"]
    common = {"PYTHONPATH": str(project / "src"), "ACCESS_LOG": "0", "HOST": "127.0.0.1"}
    services = {
        "live": Service(
            "live only",
            command,
            project,
            {**common, "MODEL_DIR": str(models_copy(project, "models-live"))},
            free_port(),
            "rendered",
        )
    }
    for inference, candidate in candidates.items():
        folder = models_copy(project, f"models-{inference}", f"{candidate} shadow")
        services[inference] = Service(
            f"with {CANDIDATES[inference]} in shadow",
            command,
            project,
            {**common, "MODEL_DIR": str(folder)},
            free_port(),
            "rendered",
        )
    body = json.dumps(IRIS_ROW)
    runs = {key: [] for key in services}
    try:
        for service in services.values():
            service.start()
        for key in services:  # warm up: the first requests load libraries and fill caches
            wrk(services[key].url, body, "2s")
        for number in range(arguments.rounds):
            for key, service in services.items():
                result = wrk(service.url, body, arguments.duration)
                runs[key].append(result)
                print(
                    f"  round {number + 1} {service.label}: {result['rps']:,.0f} req/s, "
                    f"p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, "
                    f"{result['errors']} errors"
                )
        figures = {key: shadow_figures(services[key]) for key in CANDIDATES}
    finally:
        for service in services.values():
            service.stop()
    means = {
        key: {name: statistics.mean(r[name] for r in results) for name in ("rps", "p50", "p99")}
        for key, results in runs.items()
    }
    errors = {key: sum(r["errors"] for r in results) for key, results in runs.items()}
    report = write_report(arguments, live, candidates, means, errors, figures)
    print(report)


def write_report(arguments, live, candidates, means, errors, figures):
    hardware, versions = machine()
    base = means["live"]
    lines = [
        "# Shadow scoring: what it costs the answers",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python bench/shadow.py"
        f" --server {arguments.server}` on {hardware}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"The iris service ({arguments.server}, defaults), live version {live} (logistic"
        " regression, ONNX Runtime); as candidates in shadow, a random forest of 100 trees"
        f" run by ONNX Runtime ({candidates['onnx']}) and by scikit-learn"
        f" ({candidates['sklearn']}), each service on its own copy of models/.",
        f"wrk {' '.join(WRK)} -d{arguments.duration} on loopback, single-row JSON POST /predict,"
        f" {arguments.rounds} interleaved rounds (A B C A B C), means shown; ACCESS_LOG=0.",
        "",
        "| service | req/s | p50 ms | p99 ms | errors | req/s ratio | p50 ratio | p99 ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, figures_of in means.items():
        label = "live only" if key == "live" else f"with {CANDIDATES[key]} in shadow"
        lines.append(
            f"| {label} | {figures_of['rps']:,.0f} | {figures_of['p50']:.2f}"
            f" | {figures_of['p99']:.2f} | {errors[key]} | {figures_of['rps'] / base['rps']:.2f}x"
            f" | {figures_of['p50'] / base['p50']:.2f}x | {figures_of['p99'] / base['p99']:.2f}x |"
        )
    lines += [
        "",
        "Ratios: against live only. The shadow's own figures, from /monitor.json at the end"
        " (the process that answered it; with gunicorn, one worker's):",
        "",
        "| candidate | rows scored | agreement | batches dropped | dropped share"
        " | candidate p50 ms | candidate p95 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, found in figures.items():
        if not found:
            continue
        offered = found["rows"] + found["dropped_batches"]  # one row a request here
        lines.append(
            f"| {CANDIDATES[key]} | {found['rows']:,} | {found['agreement']}"
            f" | {found['dropped_batches']:,} | {found['dropped_batches'] / max(offered, 1):.0%}"
            f" | {found['p50_ms']} | {found['p95_ms']} |"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines += [
        "",
        f"Load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} cores. On a"
        " shared machine the runs of one service differ by 10 to 20% from one round to the"
        " next: read ratios within that as no difference.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
