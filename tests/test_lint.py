"""The template repository's own Python (tests, hooks, bench) passes ruff, as rendered code does."""

import subprocess
import sys

from conftest import TEMPLATE


def test_ruff_check_and_format():
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "tests", "hooks", "bench"],
            cwd=TEMPLATE,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
