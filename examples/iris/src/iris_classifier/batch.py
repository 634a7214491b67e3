"""Score a CSV file: check every line against the schema, predict, write the scored file.

The answer is the input, column for column, with a prediction column (then a decision
column when AUTOMATION is not full, and for a classifier one probability column per class)
and a warnings column appended. Columns
may be named by field name or by their original label, so the training CSV itself can
be scored; other columns (an id, the true target) are kept as they are.
Line numbers count the header as line 1, as a spreadsheet does. A quoted value (a
text with commas or new lines) may span several lines; its record is named by the line
it starts on.

Memory: the file is read, checked, predicted and written CHUNK_BYTES at a time, so a
request holds its body, one chunk of rows as Python objects, and at most SPOOL_BYTES of
the scored file (the rest waits in a temporary file until it is sent).

Spreadsheets: a text cell that starts with = + - @, a tab or a carriage return would
run as a formula in Excel or LibreOffice; the scored file has a ' in front of it.
Numbers, negative ones too, are written as they came. Reading a CSV, the ' is taken
off again, so a scored file can be scored again.
"""

import csv
import functools
import io
import logging
import re
import tempfile

from werkzeug.exceptions import BadRequest

from .model import MAX_ERRORS, ValidationError

NUMBER_KINDS = ("number", "integer")
CHUNK_BYTES = 64 * 1024  # of the body, read and scored at a time
SPOOL_BYTES = 1024 * 1024  # of the scored file kept in memory; more goes to a temporary file
# What spreadsheets read as a formula (OWASP, "CSV Injection"), spaces before it included.
FORMULA_START = re.compile(r"[ \t\r\n]*[=+\-@]|[\t\r]")
FIRST_CHARACTERS = frozenset(" \t\r\n=+-@")  # of a cell that FORMULA_START may match
PLAIN_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
log = logging.getLogger(__name__)


def neutralise(cell):
    """A text cell a spreadsheet would run as a formula gets a ' in front; numbers stay."""
    if FORMULA_START.match(cell) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def restore(cell):
    """neutralise undone: a scored file (or the example CSV) reads back as it was sent."""
    if cell.startswith("'") and neutralise(cell[1:]) != cell[1:]:
        return cell[1:]
    return cell


def column_labels(header):
    """The header's column names as pandas.read_csv gives them, so as training saw them.

    Leading spaces are skipped; an empty name becomes "Unnamed: 3" (its position, from
    0); a repeated name is numbered: "x", "x.1", "x.2", skipping a name already there.
    """
    names = [column.lstrip(" ") for column in header]
    unnamed = [position for position, name in enumerate(names) if not name]
    for position in unnamed:
        names[position] = f"Unnamed: {position}"
    named = [position for position in range(len(names)) if position not in unnamed]
    counts = {}
    for position in named + unnamed:  # as pandas: named columns keep their names first
        name = original = names[position]
        count = counts.get(name, 0)
        while count:
            counts[original] = count + 1
            name = f"{original}.{count}"
            count = count + 1 if name in names else counts.get(name, 0)
        names[position] = name
        counts[name] = count + 1
    return names


NOT_COMMAS = (
    "the service reads CSV whose columns are separated by commas; save the file as "
    '"CSV UTF-8 (comma delimited)"'
)


def column_positions(schema, header):
    """Header -> ({field name: column position}, {field name: error}).

    A column names a field by its original label (as training read it), or else by its
    field name; safe_names makes sure these never mean two different fields.
    """
    by_column = {field.name: field for field in schema.fields}
    by_column.update({field.label: field for field in schema.fields})
    positions, errors = {}, {}
    for position, column in enumerate(column_labels(header)):
        field = by_column.get(column) or by_column.get(column.strip())
        if field is None:
            continue
        if field.name in positions:
            errors[field.name] = "two columns of the CSV header name this field"
        positions[field.name] = position
    separator = None if positions else other_separator(header, by_column)
    if separator:
        return positions, {"_header": f"{NOT_COMMAS} (this file's are separated by {separator})"}
    for field in schema.fields:
        # A header that names no input at all is the wrong file, even if every input is optional.
        if (field.required or not positions) and field.name not in positions:
            errors[field.name] = "column missing from the CSV header"
    return positions, errors


def other_separator(header, by_column):
    """The name of the separator a header uses if it is not a comma (Excel in many
    countries saves "CSV" with semicolons), judged by the field names it then holds."""
    for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        cells = [part.strip() for cell in header for part in cell.split(separator)]
        if len(cells) > len(header) and any(cell in by_column for cell in cells):
            return name
    return None


def read_chunks(schema, body):
    """-> (header, chunks): chunks yields (records, line number of each), about
    CHUNK_BYTES of the body at a time; blank lines are skipped.

    Raises BadRequest for a body that is not UTF-8 text, not CSV, or has no header.
    """
    raw = io.BytesIO(body)
    lines = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
    try:
        header = next(lines, None)
    except (UnicodeDecodeError, csv.Error) as error:
        raise not_csv(error, lines) from None
    if not header or not any(column.strip() for column in header):
        raise BadRequest(
            "empty CSV: the first line must name the columns: " + ", ".join(schema.names)
        )
    return header, chunks(lines, raw)


def chunks(lines, raw):
    records, line_numbers = [], []
    next_line, start = lines.line_num + 1, raw.tell()
    try:
        for record in lines:
            first_line, next_line = next_line, lines.line_num + 1
            if (record and record[0].strip()) or any(value.strip() for value in record):
                records.append(record)
                line_numbers.append(first_line)
            if raw.tell() - start >= CHUNK_BYTES and records:
                yield records, line_numbers
                records, line_numbers, start = [], [], raw.tell()
    except (UnicodeDecodeError, csv.Error) as error:
        raise not_csv(error, lines) from None
    if records:
        yield records, line_numbers


def not_csv(error, lines):
    """The 400 for a body that is not UTF-8 text, or not CSV."""
    if isinstance(error, UnicodeDecodeError):
        return BadRequest("the CSV is not UTF-8 text: save it as CSV UTF-8")
    return BadRequest(f"line {lines.line_num}: not valid CSV ({error})")


def check_lines(schema, header, records, line_numbers, positions, errors):
    """Each line through the schema's checks: -> (clean rows, warnings for each row).

    Messages go into errors, "line N: field" -> message, up to MAX_ERRORS.
    """
    clean, warnings = [], []
    words = [name for name in positions if schema.by_name[name].kind not in NUMBER_KINDS]
    for record, number in zip(records, line_numbers, strict=True):
        if len(record) != len(header):
            errors[f"line {number}"] = (
                f"{len(record)} values, but the header has {len(header)} columns"
            )
        else:
            texts = {name: record[position] for name, position in positions.items()}
            for name in words:
                if texts[name][:1] == "'":
                    texts[name] = restore(texts[name])
            values, row_errors, row_warnings = schema.validate_text(texts)
            errors.update({f"line {number}: {key}": text for key, text in row_errors.items()})
            clean.append(values)
            warnings.append(row_warnings)
        if len(errors) >= MAX_ERRORS:
            break
    return clean, warnings


def scored_names(model, decisions=None):
    """The columns a scored file adds after the input columns."""
    classes = model.classes if model.has_probabilities else []
    decision = ["decision"] if decisions else []
    return ["prediction", *decision, *(f"probability_{c}" for c in classes), "warnings"]


def score_csv(model, body, decisions=None):
    """CSV bytes -> the scored CSV (UTF-8) in a binary file, read from its start.

    Raises BadRequest or ValidationError (nothing is scored then), or PredictionError.
    The caller closes the file (the response does, once it is sent).
    decisions(probabilities, rows), if given, makes the decision column (automation.py).

    A file with no problem is scored a whole column at a time (score_by_columns), or with
    the fast_csv answer, a file of plain numbers by compiled loops (csv_numba.py). A file
    with a problem, or an unusual shape, goes line by line (score_lines), which names the
    line of every problem. Every way writes the same file, byte for byte.
    """
    # pyarrow (and the pandas it loads) come with the first CSV, not at start: 60 MB less
    # for a service that only answers one row at a time.
    from .csv_columns import score_by_columns

    compiled = compiled_scorer()
    output = compiled(model, body, decisions) if compiled else None
    if output is None:
        output = score_by_columns(model, body, decisions)
    return score_lines(model, body, decisions) if output is None else output


@functools.cache
def compiled_scorer():
    """csv_numba.score_plain with the fast_csv answer and numba installed, else None."""
    try:
        from .csv_numba import score_plain
    except ModuleNotFoundError as error:
        if error.name != "numba":
            return None  # not chosen: there is no csv_numba
        log.warning("fast_csv is not in use: numba is not installed (see requirements.txt)")
        return None
    except RuntimeError as error:  # numba found no folder it may write its compiled code to
        log.warning("fast_csv is not in use: %s (set NUMBA_CACHE_DIR)", error)
        return None
    return score_plain


def score_lines(model, body, decisions=None):
    """score_csv, one line at a time: the way that names the line of every problem.

    Raises BadRequest or ValidationError (nothing is scored then), or PredictionError.
    The caller closes the file (the response does, once it is sent).
    """
    schema = model.schema
    header, chunks_read = read_chunks(schema, body)
    positions, errors = column_positions(schema, header)
    header_ok = not errors
    names = [*header, *scored_names(model, decisions)]
    output = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115 (the response closes it)
    try:
        write_rows(output, [[neutralise(name) for name in names]])
        rows = 0
        for records, line_numbers in chunks_read:  # to the end: a CSV error anywhere wins
            first_row, rows = rows + 1, rows + len(records)
            if not header_ok or len(errors) >= MAX_ERRORS:
                continue  # only reading on: a line further down may not be CSV
            clean, warnings = check_lines(schema, header, records, line_numbers, positions, errors)
            if errors:
                continue  # only checking on, up to MAX_ERRORS messages
            labels, probabilities = model.predict_matrix(model.inputs(clean), first_row)
            scored = (labels, probabilities, warnings)
            write_scored(output, schema, positions, records, *scored, decisions)
        if not rows:
            raise BadRequest("the CSV has a header but no rows to score")
        if errors:
            raise ValidationError(errors)
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return output


def write_scored(
    output, schema, positions, records, labels, probabilities, warnings, decisions=None
):
    """Append one chunk of scored rows to the output file."""
    # Numbers were checked and are written as they came; any other cell may hold a formula.
    numbers = {positions.get(f.name) for f in schema.fields if f.kind in NUMBER_KINDS}
    others = [position for position in range(len(records[0])) if position not in numbers]
    if labels and isinstance(labels[0], str):
        safe = {label: neutralise(label) for label in set(labels)}
        labels = [safe[label] for label in labels]
    if probabilities is None:
        probability_texts = [[] for _ in labels]
    else:
        probability_texts = [[f"{p:.6f}" for p in row] for row in probabilities.tolist()]
    decided = [[text] for text in decisions(probabilities, len(labels))] if decisions else None
    rows = []
    for index, (record, label, texts, row_warnings) in enumerate(
        zip(records, labels, probability_texts, warnings, strict=True)
    ):
        for position in others:
            if record[position][:1] in FIRST_CHARACTERS:
                record[position] = neutralise(record[position])
        decision = decided[index] if decided else []
        rows.append([*record, label, *decision, *texts, "; ".join(row_warnings)])
    write_rows(output, rows)


def write_rows(output, rows):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    output.write(text.getvalue().encode())


def example_csv(schema, texts):
    """A header naming every field and one row of example values."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(schema.names)
    writer.writerow([neutralise(texts[name]) for name in schema.names])
    return output.getvalue()
