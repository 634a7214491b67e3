"""`python -m <package>.score` on a big file: rows/s and peak memory.

    python bench/score_stream.py PROJECT [--rows 10000000] [--parquet]

PROJECT is a rendered and trained iris project (examples/iris, or a render with the default
answers). In a temporary folder, writes an iris-like CSV of --rows rows (numbers inside the
training range, some outside it: 1 row in 20 gets a warning), then scores it with the
project's command in a child process, as `make score` would, and reads that child's peak
resident memory (VmHWM, Linux) and the peak of a child that only loads the model. Prints
the figures and a markdown table row for bench/results.md.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, sys, time
from {package} import score
from {package}.model import load_model

def peak_mib():
    with open("/proc/self/status") as file:
        lines = dict(line.split(":", 1) for line in file)
    return int(lines["VmHWM"].split()[0]) / 1024

started = time.monotonic()
code = score.main(sys.argv[1:]) if sys.argv[1:] else (load_model() and 0)
print(json.dumps({{"code": code, "peak": peak_mib(), "seconds": time.monotonic() - started}}))
"""
HEADER = b"sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n"
LOWS, HIGHS = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])


def write_csv(path, rows, seed=0):
    """rows of iris-like numbers, a block of 100,000 distinct rows repeated."""
    rng = np.random.default_rng(seed)
    span = HIGHS - LOWS
    block = LOWS + rng.random((100_000, 4)) * span
    block[::20] += span * 0.2  # 1 row in 20 outside the training range
    lines = "\n".join(",".join(f"{v:.1f}" for v in row) for row in block.round(1).tolist())
    body = (lines + "\n").encode()
    with open(path, "wb") as file:
        file.write(HEADER)
        for _ in range(rows // 100_000):
            file.write(body)


def run_child(project, *arguments):
    package = next((Path(project) / "src").iterdir()).name
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(package=package), *map(str, arguments)],
        cwd=project,
        env={"PYTHONPATH": str(Path(project) / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(result.stdout.splitlines()[-1])
    answer["stderr"] = result.stderr.strip()
    return answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parquet", action="store_true", help="also score it as Parquet")
    arguments = parser.parse_args()
    project = arguments.project.resolve()
    table = [
        "| input | rows | MiB | seconds | rows/s | peak RSS MiB | above loading MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.csv"
        started = time.monotonic()
        write_csv(source, arguments.rows)
        size = source.stat().st_size / 2**20
        print(
            f"wrote {arguments.rows:,} rows, {size:.0f} MiB in {time.monotonic() - started:.0f} s"
        )
        inputs = [("CSV", source)]
        if arguments.parquet:
            import pyarrow.csv
            import pyarrow.parquet

            parquet = Path(folder) / "in.parquet"
            pyarrow.parquet.write_table(pyarrow.csv.read_csv(source), parquet)
            inputs.append(("Parquet", parquet))
        loading = run_child(project)["peak"]
        for kind, path in inputs:
            out = Path(folder) / f"out{''.join(path.suffixes)}"
            answer = run_child(project, path, out)
            rate = arguments.rows / answer["seconds"]
            print(answer["stderr"])
            table.append(
                f"| {kind} | {arguments.rows:,} | {path.stat().st_size / 2**20:,.0f} "
                f"| {answer['seconds']:.1f} | {rate:,.0f} | {answer['peak']:.0f} "
                f"| {answer['peak'] - loading:.0f} |"
            )
            out.unlink()
    print(
        f"\n`python bench/score_stream.py` on {platform.machine()}, Python "
        f"{platform.python_version()}; loading the model alone peaks at {loading:.0f} MiB.\n"
    )
    print("\n".join(table))


if __name__ == "__main__":
    main()
