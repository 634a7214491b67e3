"""Model versions: training adds one, the differential check, the promotion rule, promote,
rollback, the list, and a project trained before versions."""

import json
import shutil

import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from werkzeug.test import Client

from iris_classifier import config, differential, train, versions
from iris_classifier.app import create_app
from iris_classifier.live_reload import LiveApp
from iris_classifier.model import live_version, load_model, model_dir


@pytest.fixture
def models(tmp_path, monkeypatch):
    """An empty models folder of its own (the project's models/ and tests/data stay as they are)."""
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(versions, "TESTS_REFERENCE", tmp_path / "reference.json")
    return tmp_path / "models"


def trained(day):
    """What training makes, dated 2026-01-<day> (two versions trained in one second would
    have the same id)."""
    result = train.import_existing() if config.MODEL_SOURCE == "existing" else train.train()
    result[1]["created_at"] = f"2026-01-{day:02d}T12:00:00+00:00"
    return result


def worse(result):
    """The same training, with a model that always predicts the same answer."""
    _, metadata, rows, target, _, profile = result
    if target is None:
        pytest.skip("the sample has no target: no metric to compare")
    model = load_model()
    inputs, answers = list(rows), list(target)
    if config.TASK == "classification":
        # A notebook's sample may lack some classes (df.head() of a file sorted by class):
        # one row for each, so that the dummy gives a probability for every class.
        missing = [label for label in model.classes if label not in set(answers)]
        inputs, answers = inputs + [inputs[0]] * len(missing), answers + missing
    dummy = DummyClassifier() if config.TASK == "classification" else DummyRegressor()
    dummy.fit(model.inputs(inputs), answers)
    metadata["onnx"] = {"used": False, "reason": "a test's model"}
    return dummy, metadata, rows, target, None, profile


def test_the_first_version_is_live_and_a_second_one_is_compared_with_it(models):
    first, promoted, reason = train.save(*trained(1))
    assert (promoted, reason) == (True, "no version was live")
    assert live_version() == first and model_dir() == models / "versions" / first
    assert load_model().version == first
    assert (models / "LIVE").read_text() == first + "\n"

    second, promoted, _ = train.save(*trained(2))
    metadata = json.loads((models / "versions" / second / "model.json").read_text())
    found = metadata["differential"]
    # The same settings train the same model: it agrees with the live one on every row.
    assert found["live_version"] == first and found["agreement"] == 1.0
    assert found["changed_count"] == 0 and found["changed"] == []
    assert found["change"] in (0.0, None)
    assert found["ms_per_row"]["new"] > 0 and found["ms_per_row"]["live"] > 0
    assert promoted and found["promoted"] and live_version() == second
    assert versions.all_versions() == [first, second]
    reference = models / "versions" / second / "reference.json"
    assert versions.TESTS_REFERENCE.read_text() == reference.read_text()

    lines = versions.listing()
    assert lines[1].startswith(f"* {second}") and lines[1].endswith("live")
    assert lines[2].startswith(f"  {first}") and lines[2].endswith("candidate")


def test_a_worse_version_is_refused_then_forced_and_rolled_back(models):
    first, _, _ = train.save(*trained(1))
    candidate, promoted, reason = train.save(*worse(trained(2)))
    found = json.loads((models / "versions" / candidate / "model.json").read_text())["differential"]
    if found["new"] is None:
        pytest.skip("the data has no target to score with: no metric to compare")
    if found["live"] - found["new"] <= config.PROMOTION_TOLERANCE:
        pytest.skip("the model is no better than always giving the same answer: nothing to lose")
    assert not promoted and "PROMOTION_TOLERANCE" in reason
    assert found["new"] < found["live"] - config.PROMOTION_TOLERANCE
    assert found["changed_count"] > 0 and len(found["changed"]) <= differential.MAX_CHANGED
    assert live_version() == first
    assert "refused" in versions.listing()[1]

    with pytest.raises(versions.VersionError, match="FORCE=1"):
        versions.promote(candidate)
    versions.promote(candidate, force=True)
    assert live_version() == candidate and load_model().version == candidate

    assert versions.rollback() == first
    assert live_version() == first
    with pytest.raises(versions.VersionError, match="nothing to roll back to"):
        versions.rollback()
    history = (models / "HISTORY").read_text().split("\n")
    assert [line.split()[1:] for line in history if line] == [
        ["promote", first],
        ["promote", candidate],
        ["rollback", first],
    ]


@pytest.mark.parametrize(
    ("new", "live", "new_ms", "live_ms", "promoted", "flagged"),
    [
        (0.90, 0.91, 1.0, 1.0, True, False),  # 0.01 worse: within PROMOTION_TOLERANCE (0.02)
        (0.85, 0.90, 1.0, 1.0, False, False),  # 0.05 worse
        (0.95, 0.90, 1.4, 1.0, True, False),  # 1.4 times as slow: within SLOWDOWN_TOLERANCE
        (0.95, 0.90, 3.0, 1.0, True, True),  # 3 times as slow: promoted, and flagged
        (0.95, 0.90, 0.03, 0.01, True, False),  # 3 times, but 0.02 ms: the timer's noise
    ],
)
def test_the_promotion_rule(new, live, new_ms, live_ms, promoted, flagged):
    found = {
        "metric": "accuracy",
        "new": new,
        "live": live,
        "ms_per_row": {"new": new_ms, "live": live_ms},
        "slowdown": new_ms / live_ms,
    }
    decision, reason = versions.decide(found)
    assert decision is promoted
    assert ("FLAGGED" in reason) is flagged, reason


def test_regression_predictions_agree_within_a_share_of_the_spread():
    # The target's standard deviation is 10: within 0.5 agrees.
    target = [0.0, 20.0, 0.0, 20.0]
    assert differential.agreeing("regression", [1.0, 2.0], [1.4, 3.0], target) == [True, False]
    assert differential.agreeing("classification", ["a", "b"], ["a", "c"], None) == [True, False]


def test_refusals_are_one_line(models, capsys):
    assert versions.main(["promote", "not-a-version"]) == 1
    assert versions.main(["promote", "20260101-120000-0123abcd"]) == 1
    assert versions.main(["rollback"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors), errors
    assert versions.main(["list"]) == 0
    assert "none yet" in capsys.readouterr().out


def test_a_project_trained_before_versions_still_loads(models):
    version, _, _ = train.save(*trained(1))
    old = models.parent / "old-models"  # models/ as it was: the files at the top, no LIVE
    shutil.copytree(models / "versions" / version, old)
    metadata = json.loads((old / "model.json").read_text())
    del metadata["version"]
    (old / "model.json").write_text(json.dumps(metadata))
    assert model_dir(old) == old
    model = load_model(model_dir(old))
    assert model.version == metadata["sha256"][metadata["model_file"]][:12]


def test_the_service_follows_the_live_version(models):
    first, _, _ = train.save(*trained(1))
    second, _, _ = train.save(*trained(2))
    service = LiveApp(create_app(load_model()), create_app, check_seconds=0)
    client = Client(service)  # the service as the server runs it

    def served():
        reply = client.get("/model", headers={"Accept": "application/json"})
        assert reply.status_code == 200
        assert reply.get_json()["version"] == reply.headers["X-Model-Version"]
        return reply.headers["X-Model-Version"]

    assert served() == second
    versions.rollback()
    assert served() == first
    versions.promote(second)
    assert served() == second
