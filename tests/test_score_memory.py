"""python -m <package>.score holds its memory bound whatever the size of the file.

score.py's docstring states the bound: about 150 MiB on top of the libraries and the
model. A child process scores a file of 2 blocks, another one of 12 blocks; each prints
its peak resident memory (VmHWM, Linux), and a third one the peak of loading alone.
"""

import json
import subprocess
import sys

import pytest
from conftest import package_of, project_env

BOUND_MIB = 150  # above loading the model: score.py's docstring and the docs say so
MARGIN_MIB = 50  # for the allocator's whims on another machine
GROWTH_MIB = 25  # from 2 to 12 blocks: a file read whole would add its size at least

CHILD = """
import json, sys
from {package} import score
from {package}.model import load_model

def peak_mib():
    with open("/proc/self/status") as file:
        lines = dict(line.split(":", 1) for line in file)
    return int(lines["VmHWM"].split()[0]) / 1024

if sys.argv[1:]:
    code = score.main(sys.argv[1:])
else:
    code = load_model() and 0
print(json.dumps({{"code": code, "peak": peak_mib()}}))
"""


def iris_like_csv(path, rows):
    """rows of iris-like numbers, inside the training range (no warnings)."""
    import numpy as np

    rng = np.random.default_rng(0)
    lows, highs = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    block = (lows + rng.random((100_000, 4)) * (highs - lows)).round(1)
    text = "\n".join(",".join(f"{value:.1f}" for value in row) for row in block.tolist())
    body = (text + "\n").encode()
    with open(path, "wb") as file:
        file.write(b"sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n")
        for _ in range(rows // 100_000):
            file.write(body)


def peak(project, *arguments):
    child = CHILD.format(package=package_of(project))
    result = subprocess.run(
        [sys.executable, "-c", child, *map(str, arguments)],
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["code"] == 0, result.stderr
    return answer["peak"]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak memory from /proc")
def test_scoring_a_file_of_many_blocks_stays_within_the_stated_bound(render, tmp_path):
    project = render({})
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    iris_like_csv(small, 500_000)  # about 8 MiB: 2 blocks
    iris_like_csv(big, 3_000_000)  # about 48 MiB: 12 blocks
    loading = peak(project)
    small_peak = peak(project, small, tmp_path / "small-out.csv")
    big_peak = peak(project, big, tmp_path / "big-out.csv")
    assert (tmp_path / "big-out.csv").stat().st_size > big.stat().st_size
    figures = f"loading {loading:.0f} MiB, 2 blocks {small_peak:.0f}, 12 blocks {big_peak:.0f}"
    print(figures)
    assert big_peak - loading < BOUND_MIB + MARGIN_MIB, figures
    assert big_peak - small_peak < GROWTH_MIB, figures
