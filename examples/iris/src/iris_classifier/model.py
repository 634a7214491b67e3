"""Load the trained model with its metadata and make predictions.

In Python:
    from iris_classifier.model import load_model
    load_model().predict([{"field": 1.0, ...}])
"""

import hashlib
import json
import os
import pickle
import platform
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from . import config
from .schema import MAX_ERRORS, Row, Schema

# One row's answer: {"prediction": ...}, with "probabilities" {class: p} for a classifier.
Prediction = dict[str, Any]
# Told of every prediction: (inputs, predictions, probabilities or None, first row number).
Observer = Callable[[Any, list[Any], np.ndarray | None, int], None]

# The layout of models/model.json; `copier update` migrates older files (see CHANGELOG.md).
METADATA_VERSION = 2


class ModelError(Exception):
    """The model cannot be used; str(error) is one line that says what to do."""


class PredictionError(Exception):
    """Rows that passed the schema's checks, but the model itself could not score them.

    .rows: the numbers (from 1) of the rows at fault, when the model names them.
    """

    def __init__(self, message: str, rows: Iterable[int] = ()) -> None:
        super().__init__(message)
        self.rows = list(rows)


class ValidationError(Exception):
    """Input rows do not fit the schema; .errors maps field (or row) to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


# models/LIVE names the live version, one of the folders in models/versions/ (versions.py).
LIVE_FILE = "LIVE"
VERSIONS_FOLDER = "versions"
VERSION_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")  # 20261207-134501-1a2b3c4d


def models_root() -> Path:
    """The models folder: models/ in the project, or the MODEL_DIR environment variable."""
    return Path(os.environ.get("MODEL_DIR") or config.PROJECT_ROOT / "models")


def live_version(root: str | Path | None = None) -> str | None:
    """The id of the live version (models/LIVE), or None in a project without versions."""
    path = Path(root or models_root()) / LIVE_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise unreadable(path, error) from None
    if not VERSION_ID.fullmatch(text):
        raise ModelError(f"{path} must hold a version id, such as 20261207-134501-1a2b3c4d")
    return text


def model_dir(root: str | Path | None = None) -> Path:
    """The live version's folder, models/versions/<id>; models/ itself when there is no
    models/LIVE (a project trained before versions, or MODEL_DIR naming one version)."""
    root = Path(root or models_root())
    live = live_version(root)
    return root / VERSIONS_FOLDER / live if live else root


def library_versions() -> dict[str, str]:
    # From the installed packages' metadata: no need to import scikit-learn to know it.
    return {
        "python": platform.python_version(),
        "scikit-learn": version("scikit-learn"),
        "numpy": version("numpy"),
    }


def file_digest(path):
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def unreadable(path, error):
    """The ModelError for a file that is there but cannot be read (its permissions, a folder)."""
    message = f"cannot read {path}: {error.strerror}"
    if isinstance(error, PermissionError):
        message += f"; let the user the server runs as read it: `chmod a+r {path}`"
    return ModelError(message)


def check_file(path, expected_digest):
    """A model file must exist, be readable and be byte for byte the one training wrote."""
    if not path.exists():
        raise ModelError(f"{path} not found: train the model with `make train`")
    try:
        digest = file_digest(path)
    except OSError as error:
        raise unreadable(path, error) from None
    if expected_digest and digest != expected_digest:
        raise ModelError(
            f"{path} is corrupt or truncated (not the file training wrote); "
            "retrain it with `make train`"
        )


def save_estimator(estimator: Any, path: Path, model_format: str) -> None:
    if model_format == "skops":
        import skops.io

        skops.io.dump(estimator, path)
    elif model_format == "joblib":
        import joblib

        joblib.dump(estimator, path)
    else:
        try:
            data = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError):
            # A notebook's lambda or local function: only cloudpickle can save it, and
            # plain pickle.load reads the result when cloudpickle is installed.
            import cloudpickle

            data = cloudpickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        path.write_bytes(data)


def load_estimator(path: Path, model_format: str) -> Any:
    """Read a model file; any failure becomes one ModelError line."""
    if not path.exists():
        raise ModelError(f"{path} not found: train the model with `make train`")
    try:
        if model_format == "skops":
            import skops.io

            untrusted = skops.io.get_untrusted_types(file=path)
            # numpy, scikit-learn and this package's own input steps (notebook_steps.py).
            trusted: tuple[str, ...] = ("numpy.", "sklearn.", f"{__package__}.")
            unexpected = [t for t in untrusted if not t.startswith(trusted)]
            if unexpected:
                raise ModelError(f"{path} holds types that are not trusted: {unexpected}")
            return skops.io.load(path, trusted=untrusted)
        if model_format == "joblib":
            import joblib

            return joblib.load(path)
        with open(path, "rb") as file:
            return pickle.load(file)
    except ModelError:
        raise
    except Exception as error:  # unpickling can fail in many ways; all mean "unusable file"
        raise ModelError(
            f"{path} is corrupt or truncated ({type(error).__name__}: {error}); "
            "retrain it with `make train`"
        ) from None


def check_versions(trained_with: dict[str, str]) -> None:
    """Refuse a scikit-learn major/minor mismatch; warn about any other difference."""
    installed = library_versions()
    trained, now = trained_with.get("scikit-learn", "?"), installed["scikit-learn"]
    if trained.split(".")[:2] != now.split(".")[:2]:
        raise ModelError(
            f"the model was trained with scikit-learn {trained} but {now} is installed; "
            f"install {trained} (`make setup`) or retrain with `make train`"
        )
    for library in ("scikit-learn", "numpy"):
        if trained_with.get(library) != installed[library]:
            warnings.warn(
                f"the model was trained with {library} {trained_with.get(library)}, "
                f"now {installed[library]} is installed; retrain if predictions look wrong",
                stacklevel=2,
            )


class Model:
    """A fitted pipeline, its schema and its metadata (models/model.json)."""

    def __init__(
        self,
        estimator: Any,
        metadata: dict[str, Any],
        predictor: Any = None,
        estimator_path: Path | None = None,
    ) -> None:
        # With an ONNX twin, the scikit-learn pipeline is only read from estimator_path
        # when something asks for it: the service starts faster and uses less memory.
        self._estimator = estimator
        self._estimator_path = estimator_path
        # What computes predictions: the estimator itself, or its ONNX twin (onnx_model.py).
        self.predictor = predictor or estimator
        self.metadata = metadata
        self.schema = Schema.from_list(metadata["schema"])
        self.task = metadata["task"]
        self.classes = metadata["target"].get("classes")
        self.has_probabilities = self.classes is not None and hasattr(
            self.predictor, "predict_proba"
        )
        # "predict": the class is what the model's predict says, which is not always the
        # likeliest class (see class_rule); else it is read from the probabilities.
        self.class_by_predict = metadata["target"].get("class_rule") == "predict"
        # A model imported from a notebook was fitted on a DataFrame with its own column names.
        self.input_columns = metadata.get("input_columns")
        # Called with (inputs, predictions, probabilities, first_row) after every prediction:
        # the service's metrics, prediction log and drift monitor listen here.
        self.observers: list[Observer] = []

    @property
    def version(self) -> str:
        """The version id (models/versions/<id>); for a model trained before versions, the
        first 12 hex digits of the model file's SHA-256 (model.json has them all)."""
        if self.metadata.get("version"):
            return self.metadata["version"]
        digest = self.metadata.get("sha256", {}).get(self.metadata.get("model_file"))
        return digest[:12] if digest else "unknown"

    @property
    def estimator(self) -> Any:
        """The fitted scikit-learn pipeline."""
        if self._estimator is None:
            if self._estimator_path is None:
                raise ModelError("the model has neither its pipeline nor the file of it")
            self._estimator = load_estimator(self._estimator_path, self.metadata["model_format"])
        return self._estimator

    def inputs(self, rows: Sequence[Row]) -> Any:
        """Clean rows -> what the estimator's predict expects."""
        if self.input_columns:
            from .notebook_steps import input_frame

            dtypes = self.metadata.get("input_dtypes") or ["object"] * len(self.input_columns)
            return input_frame(rows, self.schema, self.input_columns, dtypes)
        return self.schema.to_matrix(rows)

    def validate(
        self, rows: Sequence[Any], numbered: bool | None = None
    ) -> tuple[list[Row], list[list[str]]]:
        """-> (clean rows, warnings for each row); raises ValidationError.

        Error keys start with "row N: " when several rows are checked (or numbered=True).
        """
        numbered = len(rows) > 1 if numbered is None else numbered
        clean: list[Row] = []
        warnings_found: list[list[str]] = []
        errors: dict[str, str] = {}
        for number, row in enumerate(rows, start=1):
            values, row_errors, row_warnings = self.schema.validate(row)
            if row_errors:
                prefix = f"row {number}: " if numbered else ""
                errors.update({prefix + key: message for key, message in row_errors.items()})
                if len(errors) >= MAX_ERRORS:
                    break
            if values is not None:  # None for a row that is not an object: an error above
                clean.append(values)
                warnings_found.append(row_warnings)
        if errors:
            raise ValidationError(errors)
        return clean, warnings_found

    def predict_clean(self, rows: Sequence[Row]) -> list[Prediction]:
        """Predict validated rows -> list of {"prediction": ..., "probabilities": {...}}."""
        labels, probabilities = self.predict_matrix(self.inputs(rows))
        if probabilities is None:
            return [{"prediction": label} for label in labels]
        classes = self.classes
        return [
            {"prediction": label, "probabilities": dict(zip(classes, row, strict=True))}
            for label, row in zip(labels, probabilities.tolist(), strict=True)
        ]

    def predict_matrix(
        self, inputs: Any, first_row: int = 1, observed: bool = True
    ) -> tuple[list[Any], np.ndarray | None]:
        """-> (predictions as a list, class probabilities as an array or None).

        first_row: the number of the first row, when the inputs are part of a larger file;
        observed=False: the observers are not told (rows scored again, not a new request).
        """
        try:
            labels = None
            if self.has_probabilities:
                answers = self.predictor.predict_proba(inputs)
                if self.class_by_predict:
                    labels = self.predictor.predict(inputs)
            else:
                answers = self.predictor.predict(inputs)
        except (ValueError, TypeError, KeyError, IndexError) as error:
            # A model brought from a notebook may refuse a value its schema allows.
            reason = f"{type(error).__name__}: {str(error)[:200]}"
            raise PredictionError(f"the model could not score this input ({reason})") from error
        refuse_non_finite(answers, first_row)
        if not self.has_probabilities:
            predictions, probabilities = plain_values(answers), None
        elif labels is not None:
            predictions, probabilities = plain_values(labels), answers
        else:
            classes = np.asarray(self.classes, dtype=object)  # a take, not a loop over rows
            predictions = classes[answers.argmax(axis=1)].tolist()
            probabilities = answers
        for observe in self.observers if observed else ():
            observe(inputs, predictions, probabilities, first_row)
        return predictions, probabilities

    def class_positions(self, predictions: list[Any], probabilities: np.ndarray) -> np.ndarray:
        """Each row's class as its position in self.classes (and in a probabilities row)."""
        if not self.class_by_predict:
            return probabilities.argmax(axis=1)
        position = {label: index for index, label in enumerate(self.classes or ())}
        return np.array([position[label] for label in predictions], dtype=np.int64)

    def predict(self, rows: Sequence[Any]) -> list[Prediction]:
        """Validate and predict a list of JSON-like rows (one row: pass a one-item list)."""
        clean, _ = self.validate(rows)
        return self.predict_clean(clean)

    def predict_one(self, row: Row) -> Prediction:
        return self.predict([row])[0]


# Classifiers whose predict is not the likeliest class: an SVC with probability=True
# predicts from its decision function, a threshold classifier by its threshold.
PREDICT_DECIDES = {"SVC", "NuSVC", "FixedThresholdClassifier", "TunedThresholdClassifierCV"}


def class_rule(estimator: Any, inputs: Any) -> str:
    """How a classifier's class is found: "predict" (its own predict, one call more) or
    "likeliest" (the largest probability), as it answers on these rows and by its kind."""
    part = estimator
    for _ in range(10):  # a pipeline's last step, a search's best model, a wrapper's model
        if type(part).__name__ in PREDICT_DECIDES:
            return "predict"
        steps = getattr(part, "steps", None)
        if steps:
            part = steps[-1][1]
        elif getattr(part, "best_estimator_", None) is not None:
            part = part.best_estimator_
        else:
            part = getattr(part, "model", None)
    labels = np.asarray(estimator.predict(inputs)).astype(str)
    classes = np.asarray(estimator.classes_)
    likeliest = classes[np.asarray(estimator.predict_proba(inputs)).argmax(axis=1)].astype(str)
    return "likeliest" if np.array_equal(labels, likeliest) else "predict"


def refuse_non_finite(answers, first_row=1):
    """NaN or infinity is not an answer (nor valid JSON): raise PredictionError naming the rows.

    Numbers far outside the training range can overflow inside the model, in 32-bit floats
    with ONNX above all; the class of a NaN row would be a guess presented as certain.
    """
    answers = np.asarray(answers)
    if answers.dtype.kind not in "fc":  # class labels: text, or whole numbers
        return
    finite = np.isfinite(answers.reshape(len(answers), -1)).all(axis=1)
    if finite.all():
        return
    rows = (np.flatnonzero(~finite)[:MAX_ERRORS] + first_row).tolist()
    listed = ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows))
    raise PredictionError(
        f"the model computed NaN or infinity for {listed} (counting from 1): "
        "an input is too far outside the range seen in training to score",
        rows,
    )


def plain_values(values):
    """numpy scalars -> plain Python values for JSON."""
    return [value.item() if hasattr(value, "item") else value for value in values]


def read_metadata(directory: Path) -> dict[str, Any]:
    path = directory / "model.json"
    if not path.exists():
        raise ModelError(f"{path} not found: train the model with `make train`")
    try:
        # NaN or Infinity (a metric that could not be computed) is read as null, so that
        # the model card served as JSON stays valid JSON.
        metadata = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda _: None)
    except OSError as error:
        raise unreadable(path, error) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelError(f"{path} is not valid JSON ({error}); retrain with `make train`") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{path} must hold a JSON object; retrain with `make train`")
    if metadata.get("metadata_version", 1) != METADATA_VERSION:
        raise ModelError(
            f"{path} has layout version {metadata.get('metadata_version', 1)}, this code reads "
            f"version {METADATA_VERSION}; retrain with `make train`"
        )
    problem = metadata_problem(metadata)
    if problem:
        raise ModelError(f"{path} is damaged: {problem}; retrain with `make train`")
    return metadata


# What models/model.json must hold for the service to start, and the JSON type of each.
METADATA_KEYS = {
    "task": str,
    "model_file": str,
    "model_format": str,
    "schema": list,
    "target": dict,
    "metrics": dict,
    "versions": dict,
}
JSON_TYPES = {str: "text", list: "a list", dict: "an object"}


def metadata_problem(metadata):
    """-> what is wrong with a model.json of the current layout (edited or damaged), or None."""
    for key, kind in METADATA_KEYS.items():
        if key not in metadata:
            return f"{key!r} is missing"
        if not isinstance(metadata[key], kind):
            return f"{key!r} must be {JSON_TYPES[kind]}"
    if metadata["task"] not in ("classification", "regression"):
        return f"task {metadata['task']!r} is not classification or regression"
    if metadata["model_format"] not in ("pickle", "joblib", "skops"):
        return f"model_format {metadata['model_format']!r} is not pickle, joblib or skops"
    if not all(isinstance(text, str) for text in metadata["versions"].values()):
        return "versions must map each library to its version, as text"
    if Path(metadata["model_file"]).name != metadata["model_file"]:
        return f"model_file {metadata['model_file']!r} must be a file name in models/"
    target = metadata["target"]
    if not isinstance(target.get("label"), str):
        return "target must have a label (text)"
    classes = target.get("classes")
    if metadata["task"] == "classification" and (not isinstance(classes, list) or not classes):
        return "target must list its classes"
    if metadata["task"] == "regression" and classes is not None:
        return "a regression target has no classes"
    onnx = metadata.get("onnx") or {}
    if not isinstance(onnx, dict) or (onnx.get("used") and not isinstance(onnx.get("file"), str)):
        return "onnx must be an object naming its file"
    if metadata.get("version") is not None and not VERSION_ID.fullmatch(str(metadata["version"])):
        return f"version {metadata['version']!r} is not a version id"
    for key, kind in (("sha256", dict), ("input_columns", list), ("input_dtypes", list)):
        if metadata.get(key) is not None and not isinstance(metadata[key], kind):
            return f"{key!r} must be {JSON_TYPES[kind]}"
    try:
        Schema.from_list(metadata["schema"])
    except ValueError as error:
        return f"schema, {error}"
    return None


def load_model(directory: str | Path | None = None) -> Model:
    """Read the live version's model.json and the model file it names (directory: another
    version's folder); raise ModelError if unusable."""
    directory = Path(directory) if directory else model_dir()
    metadata = read_metadata(directory)
    check_versions(metadata.get("versions", {}))
    digests = metadata.get("sha256", {})
    estimator_path = directory / metadata["model_file"]
    check_file(estimator_path, digests.get(metadata["model_file"]))
    predictor = load_onnx(directory, metadata)
    if predictor is not None:
        return Model(None, metadata, predictor, estimator_path)
    return Model(load_estimator(estimator_path, metadata["model_format"]), metadata)


def load_onnx(directory, metadata):
    """The ONNX predictor if training kept one and ONNX Runtime is installed, else None."""
    onnx = metadata.get("onnx") or {}
    if not onnx.get("used"):
        return None
    path = directory / onnx["file"]
    check_file(path, metadata.get("sha256", {}).get(onnx["file"]))
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        warnings.warn("onnxruntime is not installed: predicting with scikit-learn", stacklevel=2)
        return None
    from .onnx_model import OnnxPredictor

    try:
        return OnnxPredictor(path.read_bytes(), metadata["target"]["classes"] is not None)
    except Exception as error:  # ONNX Runtime refuses a damaged file in many ways
        raise ModelError(
            f"{path} is corrupt ({type(error).__name__}); retrain with `make train`"
        ) from None
