"""examples/iris is what the default answers render today (run `make example` to refresh)."""

import json
import pickle

import numpy as np
import pytest
from conftest import TEMPLATE
from render_example import render_defaults

EXAMPLE = TEMPLATE / "examples" / "iris"
# Written at render or training time, so they differ between two honest renders.
VOLATILE_ANSWERS = ("_commit:", "_src_path:")
VOLATILE_METADATA = ("created_at", "template_version")
BINARY = {"models/model.pkl", "models/model.onnx"}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    destination = tmp_path_factory.mktemp("fresh") / "iris"
    render_defaults(destination)
    return destination


def files(root):
    skip = {"__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".git"}
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(root).parts)
    }


def test_the_example_has_the_same_files(fresh):
    assert files(EXAMPLE) == files(fresh), "run `make example` and commit examples/iris"


def test_the_example_files_are_identical(fresh):
    for name in sorted(files(fresh) - BINARY):
        old, new = (EXAMPLE / name).read_text(), (fresh / name).read_text()
        if name == ".copier-answers.yml":
            old, new = (
                [line for line in text.splitlines() if not line.startswith(VOLATILE_ANSWERS)]
                for text in (old, new)
            )
        elif name == "models/model.json":
            old, new = (
                {k: v for k, v in json.loads(text).items() if k not in VOLATILE_METADATA}
                for text in (old, new)
            )
        assert old == new, f"examples/iris/{name} is stale: run `make example`"


def test_the_example_model_predicts_like_a_fresh_one(fresh):
    rows = json.loads((fresh / "tests" / "data" / "reference.json").read_text())["rows"]
    models = []
    for root in (EXAMPLE, fresh):
        with open(root / "models" / "model.pkl", "rb") as file:
            models.append(pickle.load(file))
    matrix = np.array([list(row.values()) for row in rows], dtype=float)
    assert (models[0].predict_proba(matrix) == models[1].predict_proba(matrix)).all()
