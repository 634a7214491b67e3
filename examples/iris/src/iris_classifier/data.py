"""Load the training data and turn its columns into schema fields."""

import csv
import hashlib
import re

import pandas as pd

from . import columns, config
from .schema import TRUE_WORDS, Schema, derive_field, safe_names

BUNDLED = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
}
# What the bundled datasets' "target" column means, for people reading a prediction.
BUNDLED_TARGET_LABELS = {
    "iris": "species",
    "wine": "cultivar",
    "breast_cancer": "diagnosis",
    "diabetes": "disease progression after one year",
}


DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")  # 3,5: a number written in Europe


class DataError(Exception):
    """The data cannot be used as configured; the message says why and what to do."""


def load_frame():
    """-> (inputs DataFrame with original column names, target Series, sha256 of the data)."""
    if config.DATASET in BUNDLED:
        from sklearn import datasets

        bunch = getattr(datasets, BUNDLED[config.DATASET])(as_frame=True)
        inputs, target = bunch.data, bunch.target.rename("target")
        if config.TASK == "classification":
            target = pd.Series(bunch.target_names[bunch.target], name="target")
        digest = hashlib.sha256(pd.util.hash_pandas_object(bunch.frame).values).hexdigest()
        return inputs, target, digest
    path = config.PROJECT_ROOT / config.DATA_FILE
    if not path.exists():
        raise DataError(f"{config.DATA_FILE} not found: copy your CSV file there")
    raw = path.read_bytes()
    try:
        frame = pd.read_csv(path, skipinitialspace=True, **csv_format(path))
    except UnicodeDecodeError:
        raise DataError(
            f"{config.DATA_FILE} is not UTF-8 text: save it again as CSV UTF-8 "
            '(in pandas: df.to_csv(path, index=False, encoding="utf-8"))'
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{config.DATA_FILE} is not a readable CSV file: {error}") from None
    digest = hashlib.sha256(raw).hexdigest()
    target_column = config.TARGET_COLUMN
    if not target_column:
        return frame, None, digest
    if target_column not in frame.columns:
        raise DataError(
            f"target column {target_column!r} is not in {config.DATA_FILE}; "
            f"its columns are: {', '.join(map(str, frame.columns))}"
        )
    target = frame.pop(target_column)
    keep = target.notna()
    if not keep.all():
        print(f"Ignoring {int((~keep).sum())} rows with no value for {target_column!r}.")
        frame, target = frame[keep].reset_index(drop=True), target[keep].reset_index(drop=True)
    return frame, target, digest


def csv_format(path):
    """How a CSV file separates its values, read from its first lines: commas, or the
    semicolons (often with decimal commas: 3,5) or tabs that spreadsheets in many
    countries write."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as file:
        lines = [line for _, line in zip(range(50), file, strict=False)]
    header = lines[0] if lines else ""
    widths = {sep: len(next(csv.reader([header], delimiter=sep), [])) for sep in ",;\t"}
    # A header with a comma between two names is a comma file; else the widest reading.
    separator = "," if widths[","] > 1 else max(widths, key=widths.get)
    values = [value for row in csv.reader(lines[1:], delimiter=separator) for value in row]
    decimal_commas = separator == ";" and any(DECIMAL_COMMA.match(v) for v in values)
    return {"sep": separator, "decimal": "," if decimal_commas else "."}


def target_label():
    """The human name of what the model predicts."""
    return BUNDLED_TARGET_LABELS.get(config.DATASET) or config.TARGET_COLUMN or "prediction"


def choose_columns(frame, features):
    """Keep the listed columns in the listed order; names may be original or safe names."""
    if not features:
        return frame
    safe = dict(zip(safe_names(frame.columns), frame.columns, strict=True))
    chosen = []
    for wanted in features:
        if wanted in frame.columns:
            chosen.append(wanted)
        elif wanted in safe:
            chosen.append(safe[wanted])
        else:
            raise DataError(
                f"feature {wanted!r} is not a column of the data; "
                f"columns are: {', '.join(map(str, frame.columns))}"
            )
    return frame[chosen]


def derive_schema(frame, words_as_booleans=True):
    """-> (Schema, frame renamed to the schema's safe names)."""
    names = safe_names(frame.columns)
    fields = [
        derive_field(name, str(label), frame[label], words_as_booleans)
        for name, label in zip(names, frame.columns, strict=True)
    ]
    return Schema(fields), frame.set_axis(names, axis=1)


def derive_training_schema(frame, overrides=None):
    """-> (Schema, frame renamed to safe names, decisions): each column's kind decided
    from its values (columns.py), identifiers left out, dates made into numbers."""
    try:
        inputs, decisions, kinds = columns.expand(frame, overrides)
    except ValueError as error:  # a kind COLUMN_KINDS does not know
        raise DataError(str(error)) from None
    if inputs.columns.empty:
        raise DataError(
            "every input column was left out (see the list above): "
            "set COLUMN_KINDS in config.py to use some of them"
        )
    names = safe_names(inputs.columns)
    fields = [
        columns.make_field(name, str(label), inputs[label], kinds[label])
        for name, label in zip(names, inputs.columns, strict=True)
    ]
    return Schema(fields), inputs.set_axis(names, axis=1), decisions


def clean_rows(frame, schema):
    """DataFrame -> list of rows holding the same Python values a valid request holds."""
    columns = {}
    for field in schema.fields:
        series = frame[field.name]
        missing = series.isna()
        if field.kind == "boolean":
            words = series.astype(str).str.strip().str.lower()
            values = words.isin(TRUE_WORDS | {"1.0"}).tolist()  # 1.0: a 0/1 column read as floats
        elif field.kind == "integer":
            values = series.fillna(0).astype(float).astype(int).tolist()
        elif field.kind == "number":
            values = series.astype(float).tolist()
        else:
            text = series.astype(str)
            # A category the model knows with spaces around it (" Male") keeps them.
            values = text.where(text.isin(field.categories or ()), text.str.strip()).tolist()
        columns[field.name] = [None if gap else v for v, gap in zip(values, missing, strict=True)]
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
