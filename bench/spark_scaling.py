"""Spark scoring throughput on one and two cores: the same file with local[1] and local[2].

    python bench/spark_scaling.py PROJECT [--rows 3000000]

PROJECT is a rendered and trained iris project (examples/iris, or a default render).
An iris-like CSV of ROWS rows (random values in the training ranges, one decimal, one
row in a thousand with text in a number field) is written to a temporary folder, then
scored by `python -m <package>.spark_score` in a fresh process for each master. Times
are wall-clock for the whole command: the JVM's start (measured alone on a 10-row file,
shown on its own row), reading, checking, predicting, and writing the two outputs.
Prints a markdown table for bench/results.md. Needs pyspark and Java 17 or later.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv


def iris_like_csv(path, rows, schema, seed=0):
    rng = np.random.default_rng(seed)
    columns = {}
    for field in schema:
        values = rng.uniform(field["minimum"], field["maximum"], rows).round(1)
        columns[field["name"]] = pa.array(values).cast(pa.string())
    bad = rng.choice(rows, rows // 1000, replace=False)
    first = schema[0]["name"]
    columns[first] = pa.array(
        np.where(np.isin(np.arange(rows), bad), "abc", columns[first].to_numpy(False))
    )
    pyarrow.csv.write_csv(pa.table(columns), path)


def score(project, package, source, out, master):
    env = {**os.environ, "PYTHONPATH": str(Path(project) / "src")}
    command = [sys.executable, "-m", f"{package}.spark_score", str(source), str(out)]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "--master", master], cwd=project, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"spark_score failed with {master}:\n{result.stderr[-3000:]}")
    return seconds, result.stdout.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--rows", type=int, default=3_000_000)
    args = parser.parse_args()
    project = args.project.resolve()
    package = next((project / "src").iterdir()).name
    schema = json.loads((project / "models" / "model.json").read_text())["schema"]
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as folder:
        folder = Path(folder)
        tiny, source = folder / "tiny.csv", folder / "input.csv"
        iris_like_csv(tiny, 10, schema)
        iris_like_csv(source, args.rows, schema)
        size_mb = source.stat().st_size / 1e6
        startup, _ = score(project, package, tiny, folder / "tiny-out", "local[1]")
        results = {}
        for master in ("local[1]", "local[2]"):
            seconds, summary = score(project, package, source, folder / master, master)
            results[master] = seconds
            print(f"{master}: {seconds:.1f} s ({summary})", file=sys.stderr)
    print(f"{args.rows:,} iris-like rows, CSV of {size_mb:.0f} MB; {os.cpu_count()} cores\n")
    print("| master | seconds | rows/s | rows/s without the start |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| start alone (10 rows, local[1]) | {startup:.1f} | | |")
    for master, seconds in results.items():
        rate, net = args.rows / seconds, args.rows / max(seconds - startup, 1e-9)
        print(f"| {master} | {seconds:.1f} | {rate:,.0f} | {net:,.0f} |")
    ratio = results["local[1]"] / results["local[2]"]
    print(f"\nlocal[2] vs local[1]: {ratio:.2f}x the rows/s")


if __name__ == "__main__":
    main()
