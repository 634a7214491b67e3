"""Memory of scoring one CSV body: peak and left-over RSS, measured in a child process.

    python bench/csv_memory.py PROJECT [PROJECT ...] [--mib 5]

PROJECT is a rendered and trained project (examples/iris, or any render). For each kind
of body (valid rows; valid rows all outside the training range, which get the longest
warnings; rows that are all wrong), a fresh Python process loads the app, warms it up
with a small CSV, then posts the body once through Flask's test client, as the route
would get it from a server. It prints, in MB: the RSS before, the peak during
(VmHWM), the RSS after, and the peak per byte of body. bench/results.md records the
figures before and after batch.py scored in chunks (issue 10, item 2): bench/csv_memory.md.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

KINDS = ("valid", "out_of_range", "bad")

CHILD = r"""
import gc, json, random, sys, time

def memory_mb(key):  # VmRSS: resident now; VmHWM: the peak since the process began
    with open("/proc/self/status") as file:
        lines = dict(line.split(":", 1) for line in file)
    return int(lines[key].split()[0]) / 1e3

def value(field, rng, kind):
    if kind == "bad":
        return "abc"
    if field.kind == "category":
        return rng.choice(field.categories)
    if field.kind == "boolean":
        return rng.choice(["yes", "no"])
    if field.kind == "text":
        return "Fine, thanks."
    low, high = field.minimum, field.maximum
    if kind == "out_of_range":
        return str(round(high + 1 + rng.random() * 9))
    number = rng.uniform(low, high)
    return str(round(number)) if field.kind == "integer" else f"{number:.2f}"

def body(schema, size, kind):
    rng = random.Random(0)
    lines = [",".join(value(field, rng, kind) for field in schema.fields) for _ in range(1000)]
    block = ("\n".join(lines) + "\n").encode()
    header = (",".join(schema.names) + "\n").encode()
    return header + block * ((size - len(header)) // len(block))

kind, size = sys.argv[1], int(sys.argv[2])
from PACKAGE.app import create_app
app = create_app()
model_schema = app.jinja_env.globals["schema"]
client = app.test_client()
client.post("/predict", data=body(model_schema, 2000, "valid"), content_type="text/csv")
data = body(model_schema, size, kind)
gc.collect()
with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # the peak starts again from here
before = memory_mb("VmRSS")
start = time.perf_counter()
response = client.post("/predict", data=data, content_type="text/csv")
seconds = time.perf_counter() - start
status = response.status_code
length = sum(len(chunk) for chunk in response.iter_encoded())  # read as a client would
response.close()
del response
gc.collect()
peak = memory_mb("VmHWM")
print(json.dumps({"status": status, "body_mb": len(data) / 1e6, "answer_mb": length / 1e6,
                  "before": before, "peak": peak, "after": memory_mb("VmRSS"), "seconds": seconds}))
"""


def measure(project, kind, size):
    project = Path(project).resolve()
    package = next((project / "src").iterdir()).name
    result = subprocess.run(
        [sys.executable, "-c", CHILD.replace("PACKAGE", package), kind, str(size)],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin", "ACCESS_LOG": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="+")
    parser.add_argument("--mib", type=float, default=5)
    arguments = parser.parse_args()
    size = int(arguments.mib * 1024 * 1024)
    print("| project | body | status | answer MB | RSS before | peak | after | peak/body | s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for project in arguments.projects:
        for kind in KINDS:
            m = measure(project, kind, size)
            ratio = (m["peak"] - m["before"]) / m["body_mb"]
            print(
                f"| {Path(project).name} | {kind} | {m['status']} | {m['answer_mb']:.1f} "
                f"| {m['before']:.0f} | {m['peak']:.0f} | {m['after']:.0f} | {ratio:.1f} "
                f"| {m['seconds']:.2f} |"
            )


if __name__ == "__main__":
    main()
