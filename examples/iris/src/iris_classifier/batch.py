"""Score a CSV file: check every line against the schema, then predict all rows at once.

The answer is the input, column for column, with a prediction column (and, for a
classifier, one probability column per class) and a warnings column appended. Columns
may be named by field name or by their original label, so the training CSV itself can
be scored; other columns (an id, the true target) are kept as they are.
Line numbers count the header as line 1, as a spreadsheet does. A quoted value (a
text with commas or new lines) may span several lines; its record is named by the line
it starts on.
"""

import csv
import io

import numpy as np
from werkzeug.exceptions import BadRequest

from .model import MAX_ERRORS, ValidationError
from .schema import range_warning


def decode(body):
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV is not UTF-8 text: save it as CSV UTF-8") from None


def column_positions(schema, header):
    """Header -> {field name: column position}; raises ValidationError for missing columns.

    A column may name a field by its name or by its label. Where one field's label is
    another field's name (the columns "a b" and "a_b" make the names a_b and a_b_2),
    names are tried first, then labels, and the first reading that fits is used.
    """
    by_name = {field.name: field for field in schema.fields}
    by_label = {field.label: field for field in schema.fields}
    first_error = None
    for by_column in ({**by_label, **by_name}, {**by_name, **by_label}):
        try:
            return _positions(schema, header, by_column)
        except ValidationError as error:
            first_error = first_error or error
    raise first_error


def _positions(schema, header, by_column):
    positions, errors = {}, {}
    for position, column in enumerate(header):
        field = by_column.get(column.strip())
        if field is None:
            continue
        if field.name in positions:
            errors[field.name] = "two columns of the CSV header name this field"
        positions[field.name] = position
    for field in schema.fields:
        # A header that names no input at all is the wrong file, even if every input is optional.
        if (field.required or not positions) and field.name not in positions:
            errors[field.name] = "column missing from the CSV header"
    if errors:
        raise ValidationError(errors)
    return positions


def read_records(schema, text):
    """-> (header, records, line number of each record); blank lines are skipped."""
    lines = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(lines, None)
        if not header or not any(column.strip() for column in header):
            raise BadRequest(
                "empty CSV: the first line must name the columns: " + ", ".join(schema.names)
            )
        records, line_numbers = [], []
        next_line = lines.line_num + 1
        for record in lines:
            first_line, next_line = next_line, lines.line_num + 1
            if (record and record[0].strip()) or any(value.strip() for value in record):
                records.append(record)
                line_numbers.append(first_line)
    except csv.Error as error:
        raise BadRequest(f"line {lines.line_num}: not valid CSV ({error})") from None
    if not records:
        raise BadRequest("the CSV has a header but no rows to score")
    return header, records, line_numbers


def check_lines(schema, header, records, line_numbers, positions):
    """Each line through the schema's checks: -> (clean rows, warnings for each row)."""
    clean, warnings, errors = [], [], {}
    for record, number in zip(records, line_numbers, strict=True):
        if len(record) != len(header):
            errors[f"line {number}"] = (
                f"{len(record)} values, but the header has {len(header)} columns"
            )
        else:
            texts = {name: record[position] for name, position in positions.items()}
            values, row_errors, row_warnings = schema.validate_text(texts)
            errors.update({f"line {number}: {key}": text for key, text in row_errors.items()})
            clean.append(values)
            warnings.append(row_warnings)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise ValidationError(errors)
    return clean, warnings


def number_columns(schema, header, records, positions):
    """When every input is a number: parse whole columns at once with numpy.

    Any other kind (a category, a boolean, a free text) goes line by line.

    -> (matrix, warnings for each row), or None when any value is missing, unusual or
    wrong: check_lines then goes line by line and says what is wrong where. Both ways
    give the same result for a valid file (tests/test_batch.py checks that).
    """
    if not all(field.kind in ("number", "integer") for field in schema.fields):
        return None
    if any(field.name not in positions for field in schema.fields):
        return None
    if any(len(record) != len(header) for record in records):
        return None
    columns, warnings = [], [[] for _ in records]
    for field in schema.fields:
        position = positions[field.name]
        try:
            values = np.array([record[position] for record in records], dtype=float)
        except ValueError:
            return None
        if not np.isfinite(values).all():
            return None
        if field.kind == "integer" and (values != np.floor(values)).any():
            return None
        outside = np.flatnonzero((values < field.minimum) | (values > field.maximum))
        cast = int if field.kind == "integer" else float
        for row in outside.tolist():
            warnings[row].append(range_warning(field, cast(values[row])))
        columns.append(values)
    return np.column_stack(columns), warnings


def score_csv(model, body):
    """CSV bytes -> scored CSV text."""
    schema = model.schema
    header, records, line_numbers = read_records(schema, decode(body))
    positions = column_positions(schema, header)
    fast = None if model.input_columns else number_columns(schema, header, records, positions)
    if fast is None:
        clean, warnings = check_lines(schema, header, records, line_numbers, positions)
        inputs = model.inputs(clean)
    else:
        inputs, warnings = fast
    labels, probabilities = model.predict_matrix(inputs)
    classes = model.classes if probabilities is not None else []
    if probabilities is None:
        probability_texts = [[] for _ in labels]
    else:
        probability_texts = [[f"{p:.6f}" for p in row] for row in probabilities.tolist()]
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow([*header, "prediction", *(f"probability_{c}" for c in classes), "warnings"])
    writer.writerows(
        [*record, label, *texts, "; ".join(row_warnings)]
        for record, label, texts, row_warnings in zip(
            records, labels, probability_texts, warnings, strict=True
        )
    )
    return output.getvalue()


def example_csv(schema, texts):
    """A header naming every field and one row of example values."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(schema.names)
    writer.writerow([texts[name] for name in schema.names])
    return output.getvalue()
