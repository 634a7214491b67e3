"""Train the model: data -> schema -> pipeline -> cross-validated metrics -> fit -> save.

Run with `make train` (or `python -m iris_classifier.train`).
"""

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.feature_selection import SequentialFeatureSelector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate, train_test_split

from . import columns, config, data, differential, onnx_model, versions
from .differential import score
from .model import (
    METADATA_VERSION,
    VERSIONS_FOLDER,
    Model,
    ModelError,
    class_rule,
    file_digest,
    library_versions,
    live_version,
    load_model,
    model_dir,
    models_root,
    plain_values,
    save_estimator,
)
from .pipeline import make_pipeline_for, make_selection_pipeline
from .profile import make_profile, max_probabilities, save_profile
from .schema import Schema, safe_names

SCORERS = {
    "classification": {"accuracy": "accuracy", "f1_macro": "f1_macro"},
    "regression": {
        "r2": "r2",
        "mae": "neg_mean_absolute_error",
        "rmse": "neg_root_mean_squared_error",
    },
}


# A class needs a row held out for testing and two left to cross-validate on.
SMALLEST_CLASS = 3


def check_class_sizes(target, smallest=SMALLEST_CLASS):
    """A DataError naming the classes with fewer than `smallest` rows, if any."""
    counts = target.value_counts()
    small = counts[counts < smallest]
    if len(small):
        named = ", ".join(f"{label!r} ({count})" for label, count in small.head(5).items())
        raise data.DataError(
            f"every class needs at least {smallest} rows (some are held out for testing, "
            f"the others are cross-validated on); too few: {named}. Add rows of "
            f"{'that class' if len(small) == 1 else 'those classes'}, or remove "
            f"{'its' if len(small) == 1 else 'their'} rows from the data"
        )


def folds(task, target):
    """5-fold cross-validation, fewer folds when a class has fewer than 5 rows."""
    if task == "classification":
        check_class_sizes(target, smallest=2)
        smallest = int(target.value_counts().min())
        return StratifiedKFold(min(5, smallest), shuffle=True, random_state=config.RANDOM_STATE)
    return KFold(min(5, len(target) // 2), shuffle=True, random_state=config.RANDOM_STATE)


def numeric_target(target):
    """A regression target as floats, or a DataError naming a value that is not a number."""
    import pandas as pd

    numbers = pd.to_numeric(target, errors="coerce")
    bad = target[numbers.isna()]
    if len(bad):
        raise data.DataError(
            f"task is regression but the target holds {bad.iloc[0]!r}, which is not a "
            "number: choose task classification, or a target column of numbers"
        )
    return numbers.astype(float)


def select_features(schema, rows, target):
    """Forward sequential selection over whole fields; -> the smaller Schema."""
    if not isinstance(config.N_FEATURES, int) or config.N_FEATURES < 1:
        raise data.DataError(
            'FEATURE_SELECTION = "sequential" needs N_FEATURES, the number of inputs to keep'
        )
    if any(field.kind == "text" for field in schema.fields):
        raise data.DataError(
            'FEATURE_SELECTION = "sequential" cannot rank text inputs: set it to "none", '
            "or list the inputs to use in FEATURES"
        )
    if len(schema.fields) <= config.N_FEATURES:
        raise data.DataError(
            f"N_FEATURES={config.N_FEATURES} but there are only {len(schema.fields)} inputs"
        )
    codes = np.array(
        [[_code(field, row[field.name]) for field in schema.fields] for row in rows], dtype=float
    )
    codes = SimpleImputer(strategy="median").fit_transform(codes)  # the selector refuses gaps
    selector = SequentialFeatureSelector(
        make_selection_pipeline(config.MODEL_TYPE, config.TASK, config.RANDOM_STATE),
        n_features_to_select=config.N_FEATURES,
        direction="forward",
        cv=folds(config.TASK, target),
    )
    selector.fit(codes, target)
    kept = [
        field for field, keep in zip(schema.fields, selector.get_support(), strict=True) if keep
    ]
    print("Feature selection kept:", ", ".join(field.label for field in kept))
    return Schema(kept)


def _code(field, value):
    """A number for any clean value (categories by their position), for selection only."""
    if value is None:
        return np.nan
    if field.kind == "category":
        return field.categories.index(value)
    return float(value)


def summary(estimator):
    """A one-line description: the pipeline's step names and its final model."""
    steps = getattr(estimator, "steps", None)
    if not steps:
        return " ".join(repr(estimator).split())
    return (
        " -> ".join(name for name, _ in steps[:-1]) + " -> " + " ".join(repr(steps[-1][1]).split())
    )


def train():
    frame, target, digest = data.load_frame()
    if target is None:
        raise data.DataError("set TARGET_COLUMN in config.py: the column to predict")
    frame = data.choose_columns(frame, config.FEATURES)
    schema, frame, decisions = data.derive_training_schema(frame, config.COLUMN_KINDS)
    print("Columns (set COLUMN_KINDS in config.py to change what a column is):")
    print("\n".join(columns.report(decisions)))
    rows = data.clean_rows(frame, schema)
    if config.TASK == "regression":
        target = numeric_target(target)
    if config.TASK == "classification":
        check_class_sizes(target)  # before the split: it needs each class in both parts
    stratify = target if config.TASK == "classification" else None
    train_rows, test_rows, y_train, y_test = train_test_split(
        rows, target, test_size=0.2, random_state=config.RANDOM_STATE, stratify=stratify
    )
    if config.FEATURE_SELECTION == "sequential":
        # Selected on the training rows only, so the held-out score stays honest.
        schema = select_features(schema, train_rows, y_train)
        train_rows, test_rows = (
            [{name: row[name] for name in schema.names} for row in part]
            for part in (train_rows, test_rows)
        )
    pipeline = make_pipeline_for(
        schema, config.MODEL_TYPE, config.TASK, config.RANDOM_STATE, n_rows=len(train_rows)
    )
    X_train, X_test = schema.to_matrix(train_rows), schema.to_matrix(test_rows)
    cv = cross_validate(
        pipeline, X_train, y_train, cv=folds(config.TASK, y_train), scoring=SCORERS[config.TASK]
    )
    cv_metrics = {}
    for name in SCORERS[config.TASK]:
        values = cv[f"test_{name}"]
        sign = -1 if SCORERS[config.TASK][name].startswith("neg_") else 1
        cv_metrics[name] = {"mean": float(sign * values.mean()), "std": float(values.std())}
    pipeline.fit(X_train, y_train)
    test_predictions = pipeline.predict(X_test)
    holdout = score(config.TASK, y_test, test_predictions)
    metadata = describe(schema, pipeline, digest, len(rows), cv_metrics, holdout)
    metadata["columns"] = [decision.to_dict() for decision in decisions]
    # What the inputs, outputs and confidence looked like, for monitoring (profile.py).
    has_probabilities = config.TASK == "classification" and hasattr(pipeline, "predict_proba")
    profile = make_profile(
        schema,
        config.TASK,
        metadata["target"]["classes"],
        train_rows,
        plain_values(np.concatenate([pipeline.predict(X_train), test_predictions])),
        max_probabilities(pipeline.predict_proba(X_test)) if has_probabilities else None,
        config.LOW_CONFIDENCE,
    )
    onnx_bytes, every_row = None, np.vstack([X_test, X_train])
    if has_probabilities:
        metadata["target"]["class_rule"] = class_rule(pipeline, every_row)
    if config.INFERENCE == "onnx" and metadata["target"].get("class_rule") == "predict":
        reason = "the class is the model's predict, not its likeliest class"
        metadata["onnx"] = {"used": False, "reason": reason}
    elif config.INFERENCE == "onnx":
        onnx_bytes, metadata["onnx"] = try_onnx(pipeline, schema, every_row)
    return pipeline, metadata, test_rows, list(y_test), onnx_bytes, profile


def try_onnx(pipeline, schema, matrix):
    """-> (ONNX bytes or None, what was found): ONNX is kept only if it agrees."""
    if any(field.kind == "text" for field in schema.fields):
        # skl2onnx's tokenizer does not split words exactly as scikit-learn's does.
        return None, {"used": False, "reason": "text inputs are served by scikit-learn"}
    if not schema.all_numeric:
        return None, {"used": False, "reason": "category inputs are served by scikit-learn"}
    classification = config.TASK == "classification"
    try:
        onnx_bytes = onnx_model.convert(pipeline, len(schema.fields), classification)
        predictor = onnx_model.OnnxPredictor(onnx_bytes, classification)
    except Exception as error:  # any converter gap means: serve with scikit-learn
        return None, {"used": False, "reason": f"conversion failed: {error}"[:300]}
    difference = onnx_model.difference(pipeline, predictor, matrix, classification)
    if difference > onnx_model.TOLERANCE:
        reason = f"ONNX differs from scikit-learn by {difference:g} on the training rows"
        return None, {"used": False, "reason": reason}
    return onnx_bytes, {
        "used": True,
        "file": "model.onnx",
        "max_difference": difference,
        "rows_checked": len(matrix),
    }


def import_existing():
    """Bring a model trained in a notebook (see notebook.py): the files in data/notebook/."""
    from . import notebook

    paths = notebook_files()
    frame, target, digest = data.load_frame()
    if target is not None and config.TASK == "regression":
        target = numeric_target(target)
    try:
        imported = notebook.import_model(paths, frame, target, config.TASK)
    except (ModelError, data.DataError):
        raise
    except Exception as error:  # a shape nobody foresaw: one line, not a traceback
        raise ModelError(
            f"could not import {', '.join(p.name for p in paths)} "
            f"({type(error).__name__}: {str(error)[:300]}); see docs: Bring your notebook model"
        ) from error
    for note in imported.notes:
        print(note)
    metadata = describe(imported.schema, imported.pipeline, digest, len(imported.rows), {}, {})
    metadata["estimator"] = f"{imported.shape} (from the notebook)"
    metadata["input_columns"] = imported.columns
    metadata["input_dtypes"] = imported.dtypes
    metadata["notebook"] = {"files": [p.name for p in paths], "steps": imported.shape}
    metadata["versions"].update(notebook.library_versions(paths))
    model = Model(imported.pipeline, metadata)
    if model.has_probabilities:
        rule = class_rule(imported.pipeline, model.inputs(imported.rows))
        metadata["target"]["class_rule"] = rule
        model = Model(imported.pipeline, metadata)
    predicted, probabilities = model.predict_matrix(model.inputs(imported.rows))
    if imported.target is not None:
        # The sample may hold the rows the model was fitted on: not a held-out score.
        metadata["metrics"]["sample"] = score(config.TASK, imported.target, predicted)
    # The profile for monitoring, from the sample: its confidence may be higher than on
    # new rows if the model was fitted on these rows.
    profile = make_profile(
        imported.schema,
        config.TASK,
        metadata["target"]["classes"],
        imported.rows,
        predicted,
        max_probabilities(probabilities),
        config.LOW_CONFIDENCE,
    )
    # The differential test's reference rows: enough to catch a change, few enough to be quick.
    reference_target = imported.target[:1000] if imported.target is not None else None
    return imported.pipeline, metadata, imported.rows[:1000], reference_target, None, profile


def notebook_files():
    """The notebook's model files: everything in data/notebook/ (or the one file that
    projects made before version 0.3 kept as data/notebook_model.*)."""
    folder = config.PROJECT_ROOT / config.NOTEBOOK_DIR
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    paths = paths or sorted(config.PROJECT_ROOT.glob("data/notebook_model.*"))
    if not paths:
        raise ModelError(
            f"no model file in {config.NOTEBOOK_DIR}/: copy the file(s) your notebook saved there"
        )
    return paths


def template_version():
    """The copier-ml-deploy version this project was last rendered or updated from."""
    answers = config.PROJECT_ROOT / ".copier-answers.yml"
    if answers.exists():
        for line in answers.read_text(encoding="utf-8").splitlines():
            if line.startswith("_commit:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def describe(schema, estimator, digest, n_rows, cv_metrics, holdout):
    classifier = config.TASK == "classification" and hasattr(estimator, "classes_")
    classes = plain_values(estimator.classes_) if classifier else None
    label = data.target_label()
    return {
        "metadata_version": METADATA_VERSION,
        "project": config.PROJECT_NAME,
        "task": config.TASK,
        "model_type": config.MODEL_TYPE,
        "model_format": config.MODEL_FORMAT,
        "model_file": "model" + config.MODEL_SUFFIX,
        "estimator": summary(estimator),
        "schema": schema.to_list(),
        "target": {"name": safe_names([label])[0], "label": label, "classes": classes},
        "metrics": {"cross_validation": cv_metrics, "holdout": holdout},
        "data": {"source": config.DATA_FILE or config.DATASET, "rows": n_rows, "sha256": digest},
        "versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "template_version": template_version(),
        "settings": {
            "dataset": config.DATASET,
            "features": config.FEATURES,
            "feature_selection": config.FEATURE_SELECTION,
            "n_features": config.N_FEATURES,
            "random_state": config.RANDOM_STATE,
        },
    }


def save(estimator, metadata, reference_rows, reference_target, onnx_bytes, profile=None):
    """Write a new version, models/versions/<id>/, and make it live if the promotion rule
    (versions.decide) allows; -> (id, promoted?, the reason)."""
    root = models_root()
    (root / VERSIONS_FOLDER).mkdir(parents=True, exist_ok=True)
    # Written in a hidden folder, renamed when complete: a version folder is always whole.
    folder = Path(tempfile.mkdtemp(dir=root / VERSIONS_FOLDER, prefix=".new-"))
    folder.chmod(0o755)  # mkdtemp makes it private; the server may run as another user
    try:
        version, promoted, reason = write_version(
            folder, estimator, metadata, reference_rows, reference_target, onnx_bytes, profile
        )
        final = versions.version_folder(version, root)
        if final.exists():
            raise ModelError(f"{final} exists already: train again in a second")
        os.rename(folder, final)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if promoted:
        versions.switch(version, "promote", root)
    return version, promoted, reason


def write_version(
    folder, estimator, metadata, reference_rows, reference_target, onnx_bytes, profile
):
    save_estimator(estimator, folder / metadata["model_file"], config.MODEL_FORMAT)
    predictor = None
    if onnx_bytes:
        (folder / "model.onnx").write_bytes(onnx_bytes)
        predictor = onnx_model.OnnxPredictor(onnx_bytes, config.TASK == "classification")
    written = [metadata["model_file"], *(["model.onnx"] if onnx_bytes else [])]
    metadata["sha256"] = {name: file_digest(folder / name) for name in written}
    version = versions.version_id(metadata["created_at"], metadata["sha256"][written[0]])
    metadata["version"] = version
    if profile is not None:
        save_profile(profile, folder, metadata)
    # Reference predictions for the differential test: the same rows must predict the same.
    model = Model(estimator, metadata, predictor)
    reference = {
        "rows": reference_rows,
        "target": plain_values(reference_target) if reference_target is not None else None,
        "predictions": plain_values(estimator.predict(model.inputs(reference_rows))),
        "results": model.predict_clean(reference_rows),
    }
    (folder / versions.REFERENCE).write_text(json.dumps(reference) + "\n", encoding="utf-8")
    live = live_model()
    if live is not None:
        metadata["differential"] = differential.compare(
            model, live, reference_rows, reference["target"], live_reference_rows()
        )
    promoted, reason = versions.decide(metadata.get("differential"))
    if live is not None:
        metadata["differential"].update(promoted=promoted, reason=reason)
    (folder / "model.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return version, promoted, reason


def live_model():
    """The live version, to compare a new one with; None if there is none (or it is unusable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library versions: said when it is served
            return load_model()
    except ModelError as error:
        if live_version() is not None or (models_root() / "model.json").exists():
            print(f"The live model cannot be loaded, so no comparison: {error}")
        return None


def live_reference_rows():
    """The rows the live version's tests check (its reference.json), to compare on too."""
    path = model_dir() / versions.REFERENCE
    if not path.exists():
        path = versions.TESTS_REFERENCE  # a project trained before versions
    try:
        return json.loads(path.read_text(encoding="utf-8"))["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def differential_report(found):
    """The differential check in a few lines, for `make train`."""
    if not found:
        return "Differential check: no live version to compare with."
    lines = [f"Differential check against the live version {found['live_version']}:"]
    if found["agreement"] is not None:
        lines.append(
            f"  agreement  {found['agreement']:.1%} of {found['rows']} rows "
            f"({found['changed_count']} changed)"
        )
    if found["change"] is not None:
        lines.append(
            f"  {found['metric']:<10} {found['new']:.3f} (live {found['live']:.3f}, "
            f"change {found['change']:+.3f})"
        )
    timing = found["ms_per_row"]
    if timing["new"] is not None:
        lines.append(f"  latency    {timing['new']:.2f} ms per row (live {timing['live']:.2f})")
    seconds = found["training_seconds"]
    if seconds["new"] is not None and seconds["live"] is not None:
        lines.append(f"  training   {seconds['new']:.1f} s (live {seconds['live']:.1f} s)")
    for change in found["changed"][:3]:
        lines.append(f"  changed    {change['live']} -> {change['new']}: {change['row']}"[:100])
    return "\n".join(lines)


def model_card(metadata):
    lines = [f"Model card: {metadata['project']}", f"  model     {metadata['estimator'][:120]}"]
    lines.append(f"  data      {metadata['data']['source']}, {metadata['data']['rows']} rows")
    if metadata["target"]["classes"]:
        lines.append("  classes   " + ", ".join(map(str, metadata["target"]["classes"])))
    for kind, values in metadata["metrics"].items():
        for name, value in values.items():
            shown = (
                f"{value['mean']:.3f} ± {value['std']:.3f}"
                if isinstance(value, dict)
                else f"{value:.3f}"
            )
            lines.append(f"  {kind:<18} {name:<9} {shown}")
    left_out = [c for c in metadata.get("columns", []) if c["kind"] == "identifier"]
    if left_out:
        lines.append("  left out  " + ", ".join(c["column"] for c in left_out)[:110])
    lines.append("  inputs")
    for field in metadata["schema"]:
        detail = ", ".join(field["categories"]) if field["categories"] else field["kind"]
        if field["minimum"] is not None:
            detail += f" {field['minimum']:g} to {field['maximum']:g}"
        lines.append(f"    {field['name']:<24} {detail[:70]}")
    onnx = metadata.get("onnx") or {}
    if onnx.get("used"):
        lines.append(f"  serving   ONNX Runtime (max difference {onnx['max_difference']:.1e})")
    else:
        lines.append(f"  serving   scikit-learn{' (' + onnx['reason'] + ')' if onnx else ''}")
    folder = versions.version_folder(metadata["version"])
    lines.append(f"  saved     {folder / metadata['model_file']}, model.json, profile.json")
    return "\n".join(lines)


def main():
    try:
        started = time.perf_counter()
        result = import_existing() if config.MODEL_SOURCE == "existing" else train()
        metadata = result[1]
        metadata["training_seconds"] = round(time.perf_counter() - started, 3)
        version, promoted, reason = save(*result)
    except (data.DataError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(model_card(metadata))
    print(differential_report(metadata.get("differential")))
    if promoted:
        print(f"Version {version} is live: {reason}.")
    else:
        print(
            f"Version {version} is kept as a candidate: {reason}. "
            f"To make it live anyway: make promote VERSION={version} FORCE=1"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
