"""The input contract: derived from the training data once, saved in models/model.json.

The form, the request validation, the OpenAPI document and the docs are all generated
from the fields here, so a feature name is never typed anywhere else.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

KINDS = ("number", "integer", "category", "boolean", "text")
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off", "f"})
# Cells that mean "no value" (lower case): pandas reads most of them as missing when it
# reads the training data; "-" and "?" are what spreadsheets and surveys write for one.
MISSING_WORDS = frozenset(
    {"", "na", "nan", "null", "none", "n/a", "#n/a", "<na>", "-nan", "-", "--", "?"}
)
TEXT_MAX_LENGTH = 10_000  # characters in one text field: a long review, not a book
TEXT_EXAMPLE = "Type your text here."  # the form's starting text; never a training value
# The largest size a number may have, either side of 0. ONNX Runtime computes in 32-bit
# floats, which end at about 3.4e38; no measurement comes near it. An exact integer, as
# the JSON Schema's bound is: the float 1e38 is 99999999999999997748809823456034029568.
NUMBER_LIMIT = 10**38
# A whole number stays exact in a float (what models read) up to 2**53, and fits the
# int64 columns a model brought from a notebook may read.
INTEGER_LIMIT = 2**53
LIMITS = {"number": NUMBER_LIMIT, "integer": INTEGER_LIMIT}
MAX_ERRORS = 20  # messages in one answer: enough to fix a batch, never a million echoed back
SHOWN_LENGTH = 40  # characters of a client's value (or field name) repeated in a message

# One input row: field name -> value, as JSON gives it (or clean, after validation).
Row = dict[str, Any]


@dataclass(frozen=True)
class Field:
    name: str  # safe identifier used in JSON, the form and CSV
    label: str  # the original column name, shown to people
    kind: str  # one of KINDS
    required: bool = True  # False when training data had gaps: the model imputes them
    minimum: float | None = None
    maximum: float | None = None
    default: object = None
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.categories is not None:
            data["categories"] = list(self.categories)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Field:
        """A field as models/model.json holds it; raises ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {_describe(data)}")
        known = {item.name for item in fields(cls)}
        for key in ("name", "label", "kind"):
            if not isinstance(data.get(key), str):
                raise ValueError(f"{key!r} must be text")
        if data.keys() - known:
            raise ValueError(f"unknown keys {sorted(data.keys() - known)}")
        if data["kind"] not in KINDS:
            raise ValueError(f"kind {data['kind']!r} is not one of {', '.join(KINDS)}")
        for key in ("minimum", "maximum"):
            if isinstance(data.get(key), bool) or not isinstance(data.get(key), int | float | None):
                raise ValueError(f"{key!r} must be a number")
        data = dict(data)
        categories = data.get("categories")
        if data["kind"] == "category":
            if not isinstance(categories, list) or not categories:
                raise ValueError("a category field needs a list of categories")
            if not all(isinstance(category, str) for category in categories):
                raise ValueError("categories must be text")
        if categories is not None:
            data["categories"] = tuple(categories)
        field = cls(**data)
        if field.default is not None and _check_json_value(field, field.default)[1]:
            raise ValueError(f"the default {shown(field.default)} is not a valid value")
        return field

    @property
    def step(self) -> str:
        return "1" if self.kind == "integer" else "any"

    def range_text(self) -> str:
        if self.minimum is None:
            return ""
        return f"{_number_text(self.minimum)} to {_number_text(self.maximum)}"


class Schema:
    """An ordered list of fields, with validation and the matrix the model reads."""

    def __init__(self, fields: Iterable[Field]) -> None:
        self.fields = tuple(fields)
        self.names = tuple(field.name for field in self.fields)
        self.by_name = {field.name: field for field in self.fields}
        # True when the model reads a float matrix; text and categories need objects.
        self.all_numeric = all(field.kind not in ("category", "text") for field in self.fields)

    @classmethod
    def from_list(cls, items: Any) -> Schema:
        """The schema as models/model.json holds it; raises ValueError saying what is wrong."""
        if not isinstance(items, list) or not items:
            raise ValueError("the schema must be a list of one or more fields")
        fields_read = []
        for position, item in enumerate(items, start=1):
            try:
                fields_read.append(Field.from_dict(item))
            except ValueError as error:
                raise ValueError(f"field {position}: {error}") from None
        return cls(fields_read)

    def to_list(self) -> list[dict[str, Any]]:
        return [field.to_dict() for field in self.fields]

    def defaults(self) -> Row:
        """A valid row: every field at its default (the form and the API examples use it)."""
        return {field.name: default_value(field) for field in self.fields}

    def validate(self, row: Any) -> tuple[Row | None, dict[str, str], list[str]]:
        """Check one JSON row. Returns (values, errors, warnings).

        values: field name -> clean value (None where missing and allowed);
        errors: field name -> message; warnings: readable sentences.
        """
        if not isinstance(row, dict):
            return None, {"_row": "expected an object of field: value pairs"}, []
        values, errors, warnings = {}, {}, []
        for field in self.fields:
            value, error = _check_json_value(field, row.get(name := field.name))
            if error:
                errors[name] = error
            else:
                values[name] = value
                warning = range_warning(field, value)
                if warning:
                    warnings.append(warning)
        errors.update(self.unknown_fields(row))
        return values, errors, warnings

    def unknown_fields(self, row: Row) -> dict[str, str]:
        """-> {name: message} for the fields of row that the schema lacks, MAX_ERRORS at most.

        A body may hold half a million unknown keys: the first ones are named, the rest
        only counted, so the answer stays small and the check stops early.
        """
        unknown = len(row) - sum(name in row for name in self.names)
        if not unknown:
            return {}
        message = "unknown field; expected one of: " + _listed(self.names)
        named = unknown if unknown <= MAX_ERRORS else MAX_ERRORS - 1
        names = (name for name in row if name not in self.by_name)
        errors = {_cut(str(name)): message for name in itertools.islice(names, named)}
        if named < unknown:
            errors["_row"] = f"{unknown:,} unknown fields; the first {named} are named"
        return errors

    def validate_text(self, row: dict[str, Any]) -> tuple[Row | None, dict[str, str], list[str]]:
        """Check one row of strings (a web form or a CSV line); same result as validate."""
        parsed, errors = {}, {}
        for name, text in row.items():
            field = self.by_name.get(name)
            if field is None:
                parsed[name] = text
                continue
            value, error = parse_text(field, text)
            if error:
                errors[name] = error
            else:
                parsed[name] = value
        values, more_errors, warnings = self.validate(parsed)
        more_errors.update(errors)
        return values, more_errors, warnings

    def to_matrix(self, rows: Iterable[Row]) -> Any:
        """Rows of clean values (from validate) -> the 2-D array the pipeline was fitted on."""
        import numpy as np

        names = self.names
        if self.all_numeric:
            # None becomes NaN, True/False become 1.0/0.0: what the imputers expect.
            return np.array([[row[name] for name in names] for row in rows], dtype=float)
        return np.array([[row[name] for name in names] for row in rows], dtype=object)

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema (2020-12) for one row, for OpenAPI and for other programs."""
        properties = {}
        for field in self.fields:
            spec: dict[str, Any] = {"title": field.label}
            if field.kind in ("number", "integer"):
                limit = LIMITS[field.kind]
                spec.update(type=field.kind, minimum=-limit, maximum=limit)
            elif field.kind == "boolean":
                spec["type"] = "boolean"
            elif field.kind == "text":
                spec.update(type="string", minLength=1, maxLength=TEXT_MAX_LENGTH)
            else:
                spec["type"] = "string"
                spec["enum"] = list(field.categories or ())
            if field.minimum is not None:
                spec["description"] = f"Seen in training: {field.range_text()}"
            if field.default is not None:
                spec["default"] = field.default
            if not field.required:
                spec["type"] = [spec["type"], "null"]
                if "enum" in spec:
                    spec["enum"].append(None)
            properties[field.name] = spec
        return {
            "type": "object",
            "properties": properties,
            "required": [field.name for field in self.fields if field.required],
            "additionalProperties": False,
        }


def default_value(field: Field) -> Any:
    """The value a field starts with; a text field without a default gets TEXT_EXAMPLE."""
    if field.kind == "text" and field.default is None:
        return TEXT_EXAMPLE
    return field.default


def _check_json_value(field, value):
    """-> (clean value, error message or None) for one JSON value."""
    # An empty string is a missing value, as in a form or a CSV file, whatever the kind
    # (unless the model knows that very string as a category).
    if isinstance(value, str) and not value.strip():
        known = field.kind == "category" and value in field.categories
        value = value if known else None
    if value is None:
        if field.required:
            return None, "required"
        return None, None
    kind = field.kind
    if kind == "text":
        return _check_text(value)
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"expected a number, got {_describe(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "expected a finite number, got NaN or infinity"
        if abs(value) > LIMITS[kind]:  # exact for a huge int too: it is not turned into a float
            return None, too_large(kind)
        if kind == "integer" and value != int(value):
            return None, f"expected a whole number, got {value!r}"
        return (int(value) if kind == "integer" else float(value)), None
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, f"expected true or false, got {_describe(value)}"
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = _category_of_number(field, value)
    if not isinstance(value, str):
        return None, f"expected one of {_choices(field)}, got {_describe(value)}"
    if value not in field.categories:
        spaced = [c for c in field.categories if c.strip() == value.strip()]
        if len(spaced) == 1:  # " Male" for "Male": the spaces a model kept from its file
            return spaced[0], None
        hint = next((c for c in field.categories if c.casefold() == value.casefold()), None)
        if hint is not None:
            return None, f"unknown category {shown(value)}: did you mean {hint!r}? (case matters)"
        return None, f"unknown category {shown(value)}; expected one of {_choices(field)}"
    return value, None


def _category_of_number(field, number):
    """The category a JSON number names, such as 3 for the class "3" of a Pclass column
    that an encoder saw as numbers; the number itself when no category is that number."""
    for category in field.categories:
        try:
            if float(category) == number:
                return category
        except ValueError:
            continue
    return number


def _check_text(value):
    if not isinstance(value, str):
        return None, f"expected text, got {_describe(value)}"
    if len(value) > TEXT_MAX_LENGTH:
        return None, f"text too long: {len(value):,} characters, the limit is {TEXT_MAX_LENGTH:,}"
    return value, None


def parse_text(field: Field, text: Any) -> tuple[Any, str | None]:
    """-> (JSON-like value, error or None) for a value typed in a form or read from CSV."""
    if text is None:
        return None, None
    if not isinstance(text, str):
        return text, None
    if field.kind == "text":
        # Kept as typed: "none" is a fine review. validate() checks it as it checks JSON.
        return (text if text.strip() else None), None
    text = text.strip()
    if field.kind == "category" and text in (field.categories or ()):
        return text, None
    if text.lower() in MISSING_WORDS:
        return None, None
    if field.kind == "category":
        return text, None
    if field.kind == "boolean":
        word = text.lower()
        if word in TRUE_WORDS:
            return True, None
        if word in FALSE_WORDS:
            return False, None
        return None, f"expected yes or no, got {shown(text)}"
    try:
        number = float(text)
    except ValueError:
        return None, f"expected a number, got {shown(text)}"
    if math.isinf(number) and "inf" not in text.lower():
        return None, too_large(field.kind)  # digits enough to overflow a float, not "inf"
    if field.kind == "integer" and number.is_integer() and math.isfinite(number):
        return int(number), None
    return number, None


def too_large(kind):
    """The message for a number beyond the limit of its kind (LIMITS)."""
    if kind == "integer":
        limits = f"{-INTEGER_LIMIT:,} to {INTEGER_LIMIT:,}"
        return f"expected a whole number from {limits}, got one too large"
    return f"expected a number from {-NUMBER_LIMIT:g} to {NUMBER_LIMIT:g}, got one too large"


def range_warning(field, value):
    if value is None or field.minimum is None or field.kind == "boolean":
        return None
    if field.minimum <= value <= field.maximum:
        return None
    return (
        f"{field.name} = {_number_text(value)} is outside the range seen in training "
        f"({field.range_text()}); the prediction may be unreliable"
    )


def _describe(value):
    if isinstance(value, str):
        return f"the text {shown(value)}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return shown(value)


def shown(value):
    """A client's value as a message repeats it: quoted, cut to about SHOWN_LENGTH characters."""
    if isinstance(value, str) and len(value) > SHOWN_LENGTH:
        return f"{value[:SHOWN_LENGTH]!r}... ({len(value):,} characters)"
    return _cut(repr(value))


def _cut(text):
    return text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH] + "..."


def _listed(items, limit=12):
    """The first items, then how many more: "a, b, c and 9 more"."""
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")


def _choices(field):
    return _listed([repr(c) for c in field.categories])


def _number_text(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


# --- deriving the schema from training data (pandas is only needed here) ---


def safe_names(columns: Iterable[Any]) -> list[str]:
    """Column names of any kind -> unique, lower-case Python identifiers.

    "Petal length (cm)" -> "petal_length_cm"; "2nd try" -> "f_2nd_try"; "Größe" -> "grosse".
    A name is never another column's original name: with columns "a b" and "a_b", "a_b"
    keeps its name and "a b" becomes "a_b_2". So a CSV header naming a column either way
    (batch.py) always means one field.
    """
    labels = [str(column) for column in columns]
    taken = set(labels)
    names, seen = [], set()
    for position, label in enumerate(labels, start=1):
        text = label.replace("ß", "ss")
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        name = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
        if not name:
            name = f"feature_{position}"
        elif name[0].isdigit():
            name = "f_" + name
        candidate, suffix = name, 2
        while candidate in seen or (candidate in taken and candidate != label):
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        seen.add(candidate)
        names.append(candidate)
    return names


def derive_field(name: str, label: str, series: Any, words_as_booleans: bool = True) -> Field:
    """One pandas Series of training data -> a Field.

    words_as_booleans=False keeps yes/no text as a category, for a model that was fitted
    on the text (one brought from a notebook).
    """
    present = series.dropna()
    required = len(present) == len(series)
    if len(present) == 0:
        raise ValueError(f"column {label!r} has no values")
    booleans = _as_booleans(present, words_as_booleans)
    if booleans is not None:
        return Field(name, label, "boolean", required, default=bool(booleans.mode().iloc[0]))
    if series.dtype.kind in "iuf":
        values = present.astype(float)
        integral = bool((values == values.round()).all())
        kind = "integer" if integral else "number"
        cast = int if integral else float
        median = values.median()
        default = cast(round(median)) if integral else float(median)
        return Field(name, label, kind, required, cast(values.min()), cast(values.max()), default)
    text = present.astype(str).str.strip()
    categories = tuple(sorted(text.unique()))
    most_common = str(text.mode().iloc[0])
    return Field(name, label, "category", required, default=most_common, categories=categories)


def _as_booleans(present, words_as_booleans=True):
    """The column as bools if it only holds true/false-like values, else None."""
    if present.dtype.kind == "b":
        return present.astype(bool)
    if present.dtype.kind in "iu" or present.dtype.kind == "f":
        return (
            present.astype(bool)
            if set(present.unique()) <= {0, 1} and present.nunique() == 2
            else None
        )
    if not words_as_booleans:
        return None
    words = present.astype(str).str.strip().str.lower()
    pairs = ({"true", "false"}, {"yes", "no"})
    if any(set(words.unique()) <= pair and words.nunique() == 2 for pair in pairs):
        return words.isin(TRUE_WORDS)
    return None
