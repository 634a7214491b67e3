"""Shared fixtures: render projects once per session, run their code in this environment.

Every render uses bootstrap=false and is trained with this interpreter (the shared
environment holds the exact versions the template pins), so the matrix stays fast.
The bootstrap itself (own .venv, install, train, test, git) is tested once, for real.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
DATA = TEMPLATE / "tests" / "data"
OUTPUT = TEMPLATE / "test-output"


def project_env(project):
    """Environment for running a rendered project's code with the shared interpreter."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(project) / "src")
    env.pop("MODEL_DIR", None)
    env["ACCESS_LOG"] = "0"  # scripts print JSON for the tests: no access lines among it
    return env


def run(command, cwd, timeout=600, check=True):
    result = subprocess.run(
        command, cwd=cwd, env=project_env(cwd), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} failed ({result.returncode}) in {cwd}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def package_of(project):
    return next((Path(project) / "src").iterdir()).name


def live_dir(project):
    """The folder of a project's live model version (models/ itself before versions)."""
    models = Path(project) / "models"
    live = models / "LIVE"
    return models / "versions" / live.read_text().strip() if live.exists() else models


def train(project):
    return run([sys.executable, "-m", f"{package_of(project)}.train"], project)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def render(copie_session):
    """render(answers, name=None, train=True) -> path of a rendered (and trained) project.

    Renders with the same answers are made once per session (per xdist worker).
    """
    cache = {}

    def _render(answers, name=None, train_model=True):
        key = json.dumps([answers, train_model], sort_keys=True)
        if key not in cache:
            result = copie_session.copy(extra_answers={"bootstrap": False, **answers})
            if result.exception is not None:
                raise AssertionError(f"render failed for {answers}: {result.exception}")
            if train_model:
                train(result.project_dir)
            cache[key] = result.project_dir
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def notebook_model(tmp_path_factory):
    """A model pickled the way a notebook does: a Pipeline fitted on a DataFrame."""
    import pickle

    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.read_csv(DATA / "birds.csv").dropna()
    inputs = frame.drop(columns=["species"])
    encode = ColumnTransformer(
        [("words", OneHotEncoder(handle_unknown="ignore"), ["Island", "sex", "Ringed?"])],
        remainder="passthrough",
    )
    model = make_pipeline(encode, RandomForestClassifier(n_estimators=20, random_state=0))
    model.fit(inputs, frame["species"])
    folder = tmp_path_factory.mktemp("notebook")
    with open(folder / "model.pkl", "wb") as file:
        pickle.dump(model, file)
    joblib.dump(model, folder / "model.joblib")
    frame.head(60).to_csv(folder / "sample.csv", index=False)
    inputs.head(40).to_csv(folder / "sample_no_target.csv", index=False)
    return folder
