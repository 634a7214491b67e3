"""Shared fixtures: the trained model, loaded once, and the web app built from it."""

import os

import numpy as np
import pytest

from iris_classifier import config
from iris_classifier.app import create_app
from iris_classifier.model import ModelError, load_model

# The apps the tests make would each write an access line per request to the test output.
os.environ.setdefault("ACCESS_LOG", "0")
# The shared app lets the model decide; test_automation.py makes an app for each degree.
os.environ["AUTOMATION"] = "full"


def pytest_sessionstart(session):
    # Test modules read the trained model's reference rows as they are imported.
    if not (config.PROJECT_ROOT / "tests" / "data" / "reference.json").is_file():
        package = config.__package__
        pytest.exit(f"no trained model yet: run `python -m {package} train` first", 4)


@pytest.fixture(scope="session")
def model():
    try:
        return load_model()
    except ModelError as error:
        pytest.fail(f"{error}", pytrace=False)


@pytest.fixture(scope="session")
def app(model):
    return create_app(model)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def row(model):
    """A valid JSON row: every field at its default value."""
    return model.schema.defaults()


class NaNForRow:
    """Wraps a predictor: it answers NaN for one row (from 0), as an overflowing model does."""

    def __init__(self, predictor, row):
        self.predictor, self.row = predictor, row

    def predict(self, matrix):
        answers = self.predictor.predict(matrix)
        if np.asarray(answers).dtype.kind not in "fc":
            return answers  # class labels (a model whose class is its predict): NaN is in proba
        return self._spoil(answers)

    def predict_proba(self, matrix):
        return self._spoil(self.predictor.predict_proba(matrix))

    def _spoil(self, answers):
        answers = np.array(answers, dtype=float)
        answers[self.row] = np.nan
        return answers


@pytest.fixture
def nan_for_row(model, monkeypatch):
    """nan_for_row(n): from then on the model answers NaN for row n (counting from 1)."""
    if model.classes is not None and not model.has_probabilities:
        pytest.skip("a classifier without probabilities answers with class labels only")

    def install(number):
        monkeypatch.setattr(model, "predictor", NaNForRow(model.predictor, number - 1))

    return install
