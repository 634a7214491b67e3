"""Score a CSV file: check every line against the schema, then predict all rows at once.

The answer is the input, column for column, with a prediction column (and, for a
classifier, one probability column per class) and a warnings column appended. Columns
may be named by field name or by their original label, so the training CSV itself can
be scored; other columns (an id, the true target) are kept as they are.
Line numbers count the header as line 1, as a spreadsheet does.
"""

import csv
import io

from werkzeug.exceptions import BadRequest

from .api import MAX_ERRORS
from .model import ValidationError


def decode(body):
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV is not UTF-8 text: save it as CSV UTF-8") from None


def column_positions(schema, header):
    """Header -> {field name: column position}; raises ValidationError for missing columns."""
    by_column = {field.label: field for field in schema.fields}
    by_column.update({field.name: field for field in schema.fields})
    positions, errors = {}, {}
    for position, column in enumerate(header):
        field = by_column.get(column.strip())
        if field is None:
            continue
        if field.name in positions:
            errors[field.name] = "two columns of the CSV header name this field"
        positions[field.name] = position
    for field in schema.fields:
        if field.required and field.name not in positions:
            errors[field.name] = "column missing from the CSV header"
    if errors:
        raise ValidationError(errors)
    return positions


def read_csv(schema, text):
    """-> (header, records, clean rows, warnings for each row); raises on any bad line."""
    lines = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(lines, None)
        if not header or not any(column.strip() for column in header):
            raise BadRequest(
                "empty CSV: the first line must name the columns: " + ", ".join(schema.names)
            )
        positions = column_positions(schema, header)
        records, clean, warnings, errors = [], [], [], {}
        for record in lines:
            if not any(value.strip() for value in record):
                continue  # a blank line
            line = f"line {lines.line_num}"
            if len(record) != len(header):
                errors[line] = f"{len(record)} values, but the header has {len(header)} columns"
            else:
                texts = {name: record[position] for name, position in positions.items()}
                values, row_errors, row_warnings = schema.validate_text(texts)
                errors.update({f"{line}: {key}": message for key, message in row_errors.items()})
                records.append(record)
                clean.append(values)
                warnings.append(row_warnings)
            if len(errors) >= MAX_ERRORS:
                break
    except csv.Error as error:
        raise BadRequest(f"line {lines.line_num}: not valid CSV ({error})") from None
    if errors:
        raise ValidationError(errors)
    if not records:
        raise BadRequest("the CSV has a header but no rows to score")
    return header, records, clean, warnings


def score_csv(model, body):
    """CSV bytes -> scored CSV text."""
    header, records, clean, warnings = read_csv(model.schema, decode(body))
    results = model.predict_clean(clean)
    classes = model.classes if model.has_probabilities else []
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow([*header, "prediction", *(f"probability_{c}" for c in classes), "warnings"])
    for record, result, row_warnings in zip(records, results, warnings, strict=True):
        probabilities = [f"{p:.6f}" for p in result.get("probabilities", {}).values()]
        writer.writerow([*record, result["prediction"], *probabilities, "; ".join(row_warnings)])
    return output.getvalue()


def example_csv(schema, texts):
    """A header naming every field and one row of example values."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(schema.names)
    writer.writerow([texts[name] for name in schema.names])
    return output.getvalue()
