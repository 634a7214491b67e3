"""Score many rows at once: cell texts in, predictions out, the same checks as one row.

The CSV endpoint, `python -m <package>.score` and the Spark job all come here (and
csv_numba.py, which reads the numbers itself, to score_values). Whole
columns are checked at once (pyarrow's compiled functions) for the usual cells: a plain
number, a known category, yes or no, a text. A row with any other cell (empty, spaced,
"NA", a typo, a value to warn about) goes through Schema.validate_text on its own, so
every row gets exactly the values, messages and warnings it would get alone.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .batch import NUMBER_KINDS, restore
from .schema import LIMITS, TEXT_MAX_LENGTH

BOOLEAN_WORDS = {  # as parse_text reads them, for a cell without spaces around it
    **{word: True for word in ("true", "yes", "y", "1", "on", "t")},
    **{word: False for word in ("false", "no", "n", "0", "off", "f")},
}


@dataclass
class Scored:
    """The answer for a batch of rows, in the order given."""

    valid: np.ndarray  # bool for each row: checked and scored
    errors: dict  # row index (from 0) -> {field name: message}, for every row refused
    predictions: list  # one for each valid row: a class, or a number
    probabilities: np.ndarray | None  # (valid rows, classes), when the model gives them
    warnings: list  # one text for each valid row, "" when there is nothing to say


def output_names(model):
    """The columns a scored table adds after its input columns."""
    classes = model.classes if model.has_probabilities else []
    return ["prediction", *(f"probability_{c}" for c in classes), "warnings"]


def as_strings(cells, rows):
    """Cells as a pyarrow string array of rows items; None reads as an empty cell."""
    if cells is None:
        return pa.nulls(rows, pa.string()).fill_null("")
    array = cells if isinstance(cells, pa.Array | pa.ChunkedArray) else pa.array(cells, pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.string():
        array = array.cast(pa.string())
    return array.fill_null("")


def score_columns(model, columns, rows, first_row=1):
    """columns: field name -> the cell texts of that field (a list or a pyarrow array, as
    read from a CSV, before any cleaning); a field absent from columns is empty in every
    row. first_row: the number of the first row, for messages about the model's answers.

    Raises PredictionError when the model fails on rows the schema accepted.
    """
    schema = model.schema
    texts = {field.name: as_strings(columns.get(field.name), rows) for field in schema.fields}
    values, usual = {}, np.ones(rows, dtype=bool)
    for field in schema.fields:
        values[field.name], field_usual = read_column(field, texts[field.name])
        usual &= field_usual

    def texts_of(unusual):
        columns = texts
        if len(unusual) > 100:  # one conversion is cheaper than many lookups
            columns = {name: column.to_pylist() for name, column in texts.items()}
        for row in unusual:
            yield {name: cell_text(column, row) for name, column in columns.items()}

    return score_values(model, values, usual, texts_of, first_row)


def score_values(model, values, usual, texts_of, first_row=1):
    """Score rows whose values were read at once (scoring.read_column, or csv_numba.py).

    values: field name -> a numpy array, as read_column gives them; usual: True for the
    rows whose every value was read there; texts_of(rows) -> the cell texts of those rows,
    one dict each ({field name: text}), which go through Schema.validate_text on their own,
    as do the rows with a number outside the training range (for their warnings).
    """
    schema = model.schema
    rows = len(usual)
    warnings = [""] * rows
    for field in schema.fields:
        if field.kind in NUMBER_KINDS and field.minimum is not None and field.maximum is not None:
            column = values[field.name]
            outside = usual & ((column < field.minimum) | (column > field.maximum))
            usual &= ~outside  # these rows go one by one, which writes their warnings
    errors, unusual = {}, np.flatnonzero(~usual).tolist()
    for row, row_texts in zip(unusual, texts_of(unusual), strict=True):
        clean, row_errors, row_warnings = schema.validate_text(restored(schema, row_texts))
        if row_errors:
            errors[row] = row_errors
            continue
        for name, value in clean.items():
            values[name][row] = value_for(schema.by_name[name], value)
        warnings[row] = "; ".join(row_warnings)
    valid = np.ones(rows, dtype=bool)
    valid[list(errors)] = False
    inputs = model_inputs(model, values, valid)
    if not valid.any():
        return Scored(valid, errors, [], None, [])
    predictions, probabilities = model.predict_matrix(inputs, first_row)
    kept = (
        warnings if not errors else [text for text, ok in zip(warnings, valid, strict=True) if ok]
    )
    return Scored(valid, errors, predictions, probabilities, kept)


def cell_text(column, row):
    return column[row] if isinstance(column, list) else column[row].as_py()


def restored(schema, row_texts):
    """A text cell with a ' in front (a scored file's formula guard) reads as it was sent."""
    for name, text in row_texts.items():
        if text[:1] == "'" and schema.by_name[name].kind not in NUMBER_KINDS:
            row_texts[name] = restore(text)
    return row_texts


def read_column(field, cells):
    """-> (values as a numpy array, bool array: the cell was read here).

    Numbers are a float array (NaN where missing), everything else an object array of
    clean values. A cell not read here is left for Schema.validate_text, one row at a time.
    """
    kind = field.kind
    if kind in NUMBER_KINDS:
        return read_numbers(field, cells)
    if kind == "boolean":
        words = pc.utf8_lower(cells)
        read = pc.is_in(words, value_set=pa.array(list(BOOLEAN_WORDS))).to_numpy(False)
        yes = pc.is_in(words, value_set=pa.array([w for w, v in BOOLEAN_WORDS.items() if v]))
        return np.array(yes.to_pylist(), dtype=object), read
    if kind == "category":
        read = pc.is_in(cells, value_set=pa.array(list(field.categories))).to_numpy(False)
        return np.array(cells.to_pylist(), dtype=object), read
    # A text: anything not blank, up to the length limit; a ' in front may need undoing.
    lengths = pc.utf8_length(cells).to_numpy(False)
    blank = pc.utf8_is_space(cells).to_numpy(False) | (lengths == 0)
    quoted = pc.starts_with(cells, "'").to_numpy(False)
    read = ~blank & ~quoted & (lengths <= TEXT_MAX_LENGTH)
    return np.array(cells.to_pylist(), dtype=object), read


def read_numbers(field, cells):
    """Plain numbers (digits, a point, an exponent: what a program writes) at once."""
    try:  # pyarrow reads fewer spellings than Python (no spaces, no 1_000): never more
        numbers = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False).copy()
        read = np.ones(len(numbers), dtype=bool)
    except pa.ArrowInvalid:  # some cell is not plain: find which
        plain = pc.match_substring_regex(cells, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
        read = plain.to_numpy(zero_copy_only=False)
        numbers = pc.cast(pc.if_else(plain, cells, "nan"), pa.float64()).to_numpy(False).copy()
    with np.errstate(invalid="ignore"):
        read &= np.abs(numbers) <= LIMITS[field.kind]  # NaN and infinity fail this too
        if field.kind == "integer":
            read &= numbers == np.floor(numbers)
    return numbers, read


def value_for(field, value):
    """A clean value (from validate_text) as read_column holds it."""
    if field.kind in NUMBER_KINDS:
        return np.nan if value is None else float(value)
    return value


def model_inputs(model, values, valid):
    """The valid rows, in the form model.inputs gives for the same rows one at a time."""
    schema = model.schema
    kept = {name: column[valid] for name, column in values.items()}
    if model.input_columns:
        from .notebook_steps import columns_frame

        as_lists = {name: clean_list(schema.by_name[name], kept[name]) for name in kept}
        dtypes = model.metadata.get("input_dtypes") or ["object"] * len(model.input_columns)
        return columns_frame(as_lists, schema, model.input_columns, dtypes)
    if schema.all_numeric:  # True and False read as 1.0 and 0.0, as Schema.to_matrix has them
        columns = [as_floats(kept[name]) for name in schema.names]
        return np.column_stack(columns) if columns else np.empty((int(valid.sum()), 0))
    matrix = np.empty((int(valid.sum()), len(schema.names)), dtype=object)
    for position, name in enumerate(schema.names):
        matrix[:, position] = clean_list(schema.by_name[name], kept[name])
    return matrix


def clean_list(field, column):
    """A column as the Python values Schema.validate gives (None where missing)."""
    if field.kind not in NUMBER_KINDS:
        return column.tolist()
    cast = int if field.kind == "integer" else float
    return [None if number != number else cast(number) for number in column.tolist()]


def as_floats(column):
    if column.dtype == object:
        return np.array([np.nan if value is None else float(value) for value in column])
    return column
