"""examples/iris is what the default answers render today (run `make example` to refresh)."""

import json
import pickle
import re

import numpy as np
import pytest
from conftest import TEMPLATE, live_dir
from render_example import render_defaults

EXAMPLE = TEMPLATE / "examples" / "iris"
# Written at render or training time, so they differ between two honest renders.
VOLATILE_ANSWERS = ("_commit:", "_src_path:")
# What another machine writes differently: times, hashes of the model files (their bytes
# hold floats rounded by the CPU), the version id made of both, and the Python and library
# versions it trained with.
VOLATILE_METADATA = (
    "created_at",
    "template_version",
    "sha256",
    "model_sha256",
    "version",
    "versions",
    "training_seconds",
)
# Floats a model computes (probabilities, metrics, ONNX's max difference) differ in their last
# digits from one CPU to another: ONNX Runtime's float32 probabilities by about 1e-7.
TOLERANCE = 1e-6
# A model version's folder is named by its training time: compared as models/versions/<id>/.
VERSION_FOLDER = re.compile(r"models/versions/[0-9]{8}-[0-9]{6}-[0-9a-f]{8}/")
VERSION = "models/versions/<id>/"
BINARY = {VERSION + "model.pkl", VERSION + "model.onnx"}
VOLATILE_FILES = {"models/LIVE", "models/HISTORY"}  # the version id and times


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    destination = tmp_path_factory.mktemp("fresh") / "iris"
    render_defaults(destination)
    return destination


def files(root):
    """{name, with the version folder as models/versions/<id>/: path}"""
    skip = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv", ".git"}
    return {
        VERSION_FOLDER.sub(VERSION, p.relative_to(root).as_posix()): p
        for p in root.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(root).parts)
    }


def test_the_example_has_the_same_files(fresh):
    assert files(EXAMPLE).keys() == files(fresh).keys(), (
        "run `make example` and commit examples/iris"
    )


def test_the_example_files_are_identical(fresh):
    example, made = files(EXAMPLE), files(fresh)
    for name in sorted(made.keys() - BINARY - VOLATILE_FILES):
        old, new = example[name].read_text(), made[name].read_text()
        if name == ".copier-answers.yml":
            old, new = (
                [line for line in text.splitlines() if not line.startswith(VOLATILE_ANSWERS)]
                for text in (old, new)
            )
        elif name in (VERSION + "model.json", VERSION + "profile.json"):
            old, new = (
                {k: v for k, v in json.loads(text).items() if k not in VOLATILE_METADATA}
                for text in (old, new)
            )
        elif name.endswith(".json"):  # tests/data/reference.json holds probabilities
            old, new = json.loads(old), json.loads(new)
        assert same(old, new), f"examples/iris/{name} is stale: run `make example`"


def same(old, new):
    """Equal, numbers within TOLERANCE (a score or a probability computed on another CPU)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same(old[k], new[k]) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(same, old, new))
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool):
        return new == pytest.approx(old, rel=0, abs=TOLERANCE)
    return old == new


def test_the_example_model_predicts_like_a_fresh_one(fresh):
    rows = json.loads((fresh / "tests" / "data" / "reference.json").read_text())["rows"]
    models = []
    for root in (EXAMPLE, fresh):
        with open(live_dir(root) / "model.pkl", "rb") as file:
            models.append(pickle.load(file))
    matrix = np.array([list(row.values()) for row in rows], dtype=float)
    probabilities = [model.predict_proba(matrix) for model in models]
    np.testing.assert_allclose(probabilities[0], probabilities[1], rtol=0, atol=TOLERANCE)
    assert (models[0].predict(matrix) == models[1].predict(matrix)).all()
