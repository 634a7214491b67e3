"""The trained model: loading, predicting, the differential test, and refusing broken files."""

import json
import shutil

import pytest

from iris_classifier import config
from iris_classifier.app import create_app
from iris_classifier.model import (
    ModelError,
    PredictionError,
    ValidationError,
    load_model,
    model_dir,
)
from iris_classifier.onnx_model import TOLERANCE, difference

REFERENCE = json.loads((config.PROJECT_ROOT / "tests" / "data" / "reference.json").read_text())


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_metadata_describes_the_model(model):
    meta = model.metadata
    assert meta["schema"] and meta["task"] == config.TASK
    assert {"python", "scikit-learn", "numpy"} <= set(meta["versions"])
    assert len(meta["data"]["sha256"]) == 64
    if config.TASK == "classification":
        assert meta["target"]["classes"], "class labels are recorded"


def test_predictions_equal_the_reference_written_at_training_time(model):
    """Differential test: a changed pipeline, library or encoding shows up here."""
    results = model.predict(REFERENCE["rows"])
    got, expected = [r["prediction"] for r in results], REFERENCE["predictions"]
    if config.TASK == "regression":
        # The reference is scikit-learn's; the service may answer from ONNX (32-bit floats),
        # which training accepted within TOLERANCE of the largest value.
        scale = max([1.0, *(abs(value) for value in expected)])
        assert got == pytest.approx(expected, rel=1e-6, abs=TOLERANCE * scale)
    else:
        assert got == pytest.approx(expected)
    for got, expected in zip(results, REFERENCE["results"], strict=True):
        # JSON object keys are text: compare the class names as JSON writes them
        # (the class True is the key "true", the class 1 the key "1").
        # Within 1e-6: on another CPU (CI), a committed model rounds its last digits otherwise.
        probabilities = json.loads(json.dumps(got.get("probabilities", {})))
        assert probabilities == pytest.approx(expected.get("probabilities", {}), abs=1e-6)


def test_a_row_alone_and_in_a_batch_get_the_same_answer(model):
    """Rows with empty optional fields too: the answer never depends on the company."""
    rows = REFERENCE["rows"][:50]
    together = model.predict(rows)
    for row, in_batch in zip(rows, together, strict=True):
        alone = model.predict_one(row)
        assert same_prediction(alone["prediction"], in_batch["prediction"])
        expected = in_batch.get("probabilities", {})
        # ONNX Runtime computes in 32-bit floats: a batch may round in another order.
        assert alone.get("probabilities", {}) == pytest.approx(expected, abs=1e-6)


def test_every_optional_field_may_be_left_empty(model):
    optional = [field.name for field in model.schema.fields if not field.required]
    if not optional:
        pytest.skip("every input is required")
    rows = [dict(row) for row in REFERENCE["rows"][:20]]
    for row in rows:
        row.update(dict.fromkeys(optional))
    results = model.predict(rows)
    assert len(results) == len(rows)
    for row, in_batch in zip(rows, results, strict=True):
        assert same_prediction(model.predict_one(row)["prediction"], in_batch["prediction"])


def same_prediction(one, other):
    """Classes are equal; numbers are equal within the rounding of 32-bit floats, which
    ONNX Runtime computes in (a batch may add up in another order than one row)."""
    if isinstance(one, float) and isinstance(other, float):
        return one == pytest.approx(other, rel=1e-6, abs=1e-9)
    return one == other


def test_score_is_not_below_the_recorded_one(model):
    metrics = model.metadata["metrics"]
    holdout = metrics.get("holdout") or metrics.get("sample")  # sample: a notebook's model
    if REFERENCE["target"] is None or not holdout:
        pytest.skip("no target in the data: nothing to score against")
    predictions = [r["prediction"] for r in model.predict(REFERENCE["rows"])]
    pairs = list(zip(predictions, REFERENCE["target"], strict=True))
    if config.TASK == "classification":
        accuracy = sum(p == t for p, t in pairs) / len(pairs)
        assert accuracy >= holdout["accuracy"] - 0.01
    else:
        mae = sum(abs(p - t) for p, t in pairs) / len(pairs)
        assert mae <= holdout["mae"] * 1.01 + 1e-9


def test_probabilities_sum_to_one_and_name_the_classes(model):
    if not model.has_probabilities:
        pytest.skip("regression models give a value, not probabilities")
    result = model.predict_one(model.schema.defaults())
    assert set(result["probabilities"]) == set(model.classes)
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    assert result["prediction"] == max(result["probabilities"], key=result["probabilities"].get)


def test_bad_rows_are_refused_with_a_message_per_field(model):
    first = model.schema.fields[0]
    row = model.schema.defaults()
    row[first.name] = [1, 2]
    row["no_such_field"] = 1
    with pytest.raises(ValidationError) as raised:
        model.predict([model.schema.defaults(), row])
    assert raised.value.errors[f"row 2: {first.name}"].startswith("expected")
    assert raised.value.errors["row 2: no_such_field"].startswith("unknown field")


def test_a_nan_answer_is_refused_naming_its_row(model, nan_for_row):
    nan_for_row(2)
    rows = [model.schema.defaults()] * 3
    with pytest.raises(PredictionError, match=r"NaN or infinity for row 2 \(counting") as raised:
        model.predict(rows)
    assert raised.value.rows == [2]


def copy_models(tmp_path):
    target = tmp_path / "models"
    shutil.copytree(model_dir(), target)
    return target, json.loads((target / "model.json").read_text())


def test_a_missing_model_file_stops_with_one_line(tmp_path):
    directory, meta = copy_models(tmp_path)
    (directory / meta["model_file"]).unlink()
    with pytest.raises(ModelError, match="not found: train the model with `make train`"):
        load_model(directory)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupt_model_file_stops_with_one_line(tmp_path, damage):
    directory, meta = copy_models(tmp_path)
    path = directory / meta["model_file"]
    content = path.read_bytes()
    broken = {"truncate": content[: len(content) // 2], "garbage": b"not a model", "empty": b""}
    path.write_bytes(broken[damage])
    with pytest.raises(ModelError) as raised:
        load_model(directory)
    assert "\n" not in str(raised.value)
    assert "retrain" in str(raised.value) or "not trusted" in str(raised.value)


def test_a_different_scikit_learn_minor_version_is_refused(tmp_path):
    directory, meta = copy_models(tmp_path)
    meta["versions"]["scikit-learn"] = "0.99.0"
    (directory / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="trained with scikit-learn 0.99.0 but"):
        load_model(directory)


def test_a_patch_version_difference_only_warns(tmp_path):
    directory, meta = copy_models(tmp_path)
    major, minor, *_ = meta["versions"]["scikit-learn"].split(".")
    meta["versions"]["scikit-learn"] = f"{major}.{minor}.999"
    (directory / "model.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="trained with scikit-learn"):
        load_model(directory)


def test_the_onnx_twin_agrees_with_scikit_learn(model):
    onnx = model.metadata.get("onnx") or {}
    if not onnx.get("used"):
        reason = onnx.get("reason", "this model was trained without an ONNX twin")
        pytest.skip(f"served by scikit-learn: {reason}")
    assert model.predictor is not model.estimator
    rows, _ = model.validate(REFERENCE["rows"])
    matrix = model.inputs(rows)
    gap = difference(model.estimator, model.predictor, matrix, model.classes is not None)
    assert gap <= TOLERANCE


def test_a_damaged_onnx_file_stops_with_one_line(tmp_path):
    directory, meta = copy_models(tmp_path)
    if not (meta.get("onnx") or {}).get("used"):
        pytest.skip("no ONNX file")
    (directory / "model.onnx").write_bytes(b"\x08garbage")
    with pytest.raises(ModelError, match="model.onnx is corrupt"):
        load_model(directory)


def without(key):
    def change(meta):
        del meta[key]

    return change


def setting(key, value):
    def change(meta):
        meta[key] = value

    return change


def set_target(**values):
    def change(meta):
        meta["target"].update(values)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('{"schema": 3}', "has layout version 1"),
        ("[]", "must hold a JSON object"),
        ('"model"', "must hold a JSON object"),
        ("{", "is not valid JSON"),
        ('{"metadata_version": 2}', "'task' is missing"),
        (without("schema"), "'schema' is missing"),
        (setting("schema", 3), "'schema' must be a list"),
        (setting("schema", []), "schema, the schema must be a list of one or more fields"),
        (setting("schema", [3]), "schema, field 1: expected an object"),
        (setting("schema", [{"name": "x"}]), "schema, field 1: 'label' must be text"),
        (without("target"), "'target' is missing"),
        (setting("target", "species"), "'target' must be an object"),
        (set_target(label=None), "target must have a label"),
        (without("model_file"), "'model_file' is missing"),
        (setting("model_file", 3), "'model_file' must be text"),
        (setting("model_file", "../model.pkl"), "must be a file name in models/"),
        (setting("model_format", "zip"), "model_format 'zip' is not pickle, joblib or skops"),
        (setting("task", "clustering"), "task 'clustering' is not"),
        (setting("versions", {"scikit-learn": 1.5}), "versions must map each library"),
        (setting("onnx", {"used": True}), "onnx must be an object naming its file"),
        (setting("sha256", []), "'sha256' must be an object"),
        (without("metrics"), "'metrics' is missing"),
    ],
)
def test_a_damaged_model_json_stops_with_one_line_naming_the_file_and_the_fix(
    tmp_path, change, message
):
    directory, meta = copy_models(tmp_path)
    path = directory / "model.json"
    if isinstance(change, str):
        path.write_text(change)
    else:
        change(meta)
        path.write_text(json.dumps(meta))
    with pytest.raises(ModelError) as raised:
        load_model(directory)
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith(str(path)) and text.endswith("`make train`")
    assert message in text


def test_a_class_list_for_the_task_it_has(tmp_path):
    directory, meta = copy_models(tmp_path)
    wrong = {"classes": None} if meta["task"] == "classification" else {"classes": ["a"]}
    meta["target"].update(wrong)
    (directory / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="classes"):
        load_model(directory)


def test_nan_in_model_json_is_read_as_null(tmp_path):
    """A metric that could not be computed: the model card stays valid JSON."""
    directory, meta = copy_models(tmp_path)
    meta["metrics"]["extra"] = {"score": float("nan")}
    (directory / "model.json").write_text(json.dumps(meta))
    loaded = load_model(directory)
    assert loaded.metadata["metrics"]["extra"] == {"score": None}
    client = create_app(loaded).test_client()
    assert client.get("/model").get_json()["metrics"]["extra"] == {"score": None}
    page = client.get("/model", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "n/a" in page.get_data(as_text=True)
