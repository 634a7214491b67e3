"""Shared fixtures: the trained model, loaded once, and the web app built from it."""

import pytest

from iris_classifier.app import create_app
from iris_classifier.model import ModelError, load_model


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
