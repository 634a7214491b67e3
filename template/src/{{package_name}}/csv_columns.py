"""Score a CSV file a whole column at a time: batch.score_csv's way for a file with no problem.

pyarrow reads the file TABLE_BYTES at a time, scoring.score_columns checks and scores
each part, and the scored lines are put together by pyarrow's string functions. What
comes out is byte for byte what batch.score_lines writes; anything unusual (a problem to
report with its line number, a blank record, a header in quotes) is left to it.
"""

import csv
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv

from . import scoring
from .batch import (
    NUMBER_KINDS,
    SPOOL_BYTES,
    column_positions,
    neutralise,
    scored_names,
    write_rows,
)
from .model import PredictionError

TABLE_BYTES = 64 * 1024  # of the body read, scored and written at a time
UTF8_BOM = b"\xef\xbb\xbf"
# One thread per request (the server runs requests side by side) and the C library's
# allocator, which hands memory back at once: a request's peak memory stays near its size.
pa.set_memory_pool(pa.system_memory_pool())


def score_by_columns(model, body, decisions=None):
    """score_csv by whole columns -> the scored file, or None when score_lines must do it:
    a line that is not valid CSV or UTF-8, has too many or too few values or is blank
    (",,"), a value the schema refuses, an answer the model cannot give."""
    schema = model.schema
    body = body.removeprefix(UTF8_BOM)
    header = read_header(body)
    if header is None:
        return None
    positions, errors = column_positions(schema, header)
    if errors:
        return None
    numbers = {positions[f.name] for f in schema.fields if f.kind in NUMBER_KINDS} & set(
        positions.values()
    )
    names = [*header, *scored_names(model, decisions)]
    output = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115 (the response closes it)
    write_rows(output, [[neutralise(name) for name in names]])
    rows, quotes = 0, b'"' in body
    try:
        after_header = pa.py_buffer(body).slice(body.find(b"\n") + 1)  # no copy of the body
        for batch in read_batches(after_header, len(header), quotes):
            cells = batch.columns
            if not usual_cells(cells):
                raise ValueError("a record for score_lines")
            by_field = {name: cells[position] for name, position in positions.items()}
            scored = scoring.score_columns(model, by_field, batch.num_rows, rows + 1)
            if scored.errors:
                raise ValueError("a value for score_lines")
            output.write(scored_csv_lines(model, cells, numbers, scored, quotes, decisions))
            rows += batch.num_rows
        if not rows:
            raise ValueError("no rows")
    except (pa.ArrowInvalid, ValueError, PredictionError):
        output.close()
        return None
    output.seek(0)
    return output


def read_header(body):
    """The first line's column names, or None when the line-by-line reading must do it."""
    end = body.find(b"\n")
    line = body[:end].removesuffix(b"\r")
    if end < 0 or b'"' in line or b"\r" in line or b"\0" in body:
        return None
    try:
        header = next(csv.reader([line.decode()]), None)
    except (UnicodeDecodeError, csv.Error):
        return None
    if not header or not any(column.strip() for column in header):
        return None
    return header


def read_batches(data, width, quotes=True):
    """The CSV lines after the header (a pyarrow buffer), as record batches of texts, about
    TABLE_BYTES at a time; quotes=False when the file has no " (a little faster).

    Raises pyarrow.ArrowInvalid for a line that is not valid CSV or UTF-8, or has another
    number of values than the header.
    """
    names = [str(position) for position in range(width)]
    reader = pyarrow.csv.open_csv(
        pa.BufferReader(data),
        read_options=pyarrow.csv.ReadOptions(
            column_names=names, block_size=TABLE_BYTES, use_threads=False
        ),
        parse_options=pyarrow.csv.ParseOptions(newlines_in_values=quotes),
        convert_options=pyarrow.csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    for batch in reader:
        if batch.num_rows:
            yield batch


def usual_cells(cells):
    """False for what Python's csv module reads otherwise (a value longer than its
    limit), and for a record of blank values (",,"), which score_lines skips."""
    if sum(column.nbytes for column in cells) > csv.field_size_limit():
        for column in cells:
            if pc.max(pc.binary_length(column)).as_py() > csv.field_size_limit():
                return False
    blank = None
    for column in cells:  # a record is blank when its first value is, and all the others
        empty = pc.equal(pc.utf8_trim_whitespace(column), "")
        blank = empty if blank is None else pc.and_(blank, empty)
        if not pc.any(blank).as_py():
            return True
    return False


def scored_csv_lines(model, cells, numbers, scored, quotes=True, decisions=None):
    """The scored rows of a batch as CSV lines, each ending in CRLF, as score_lines writes them.

    cells: every column of the batch as a pyarrow string array, in the header's order;
    numbers: the positions of the number fields (written as they came); quotes=False
    when the file has no " at all, so no cell holds a comma or a line end either;
    decisions(probabilities, rows): the decision column (automation.py), if given.
    """
    valid = pa.array(scored.valid)
    columns = []
    for position, column in enumerate(cells):
        if not scored.valid.all():
            column = column.filter(valid)
        if position not in numbers:
            column = replace_some(column, r"^[ \t\r\n=+\-@]", neutralise)
        columns.append(csv_quoted(column) if quotes else column)
    columns.append(prediction_texts(model, scored))
    if decisions:
        columns.append(pa.array(decisions(scored.probabilities, len(scored.warnings))))
    if scored.probabilities is not None:
        columns.extend(probability_texts(column) for column in scored.probabilities.T)
    # The warnings, and the line's end: most rows have none, so most cells are just "\r\n".
    ends = [csv_cell(text) + "\r\n" if text else "\r\n" for text in scored.warnings]
    columns.append(pa.array(ends, pa.string()))
    lines = pc.binary_join_element_wise(*columns, ",")
    _, offsets, data = lines.buffers()  # the lines one after another in data: take them whole
    first, last = np.frombuffer(offsets, np.int32)[[lines.offset, lines.offset + len(lines)]]
    return data[int(first) : int(last)]


def replace_some(column, pattern, change):
    """The column with change(cell) for each cell matching the pattern (few, usually)."""
    matches = pc.match_substring_regex(column, pattern)
    rows = np.flatnonzero(matches.to_numpy(zero_copy_only=False))
    if not len(rows):
        return column
    changed = pa.array([change(column[row].as_py()) for row in rows.tolist()], pa.string())
    return pc.replace_with_mask(column, matches, changed)


def csv_cell(text):
    """A cell as Python's csv writer writes it: in quotes when it holds , " or a line end."""
    if any(character in text for character in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_quoted(column):
    return replace_some(column, '[",\r\n]', csv_cell)


def prediction_texts(model, scored):
    if scored.probabilities is not None:  # the class with the highest probability
        texts = [neutralise(c) if isinstance(c, str) else str(c) for c in model.classes]
        classes = pa.array([csv_cell(text) for text in texts], pa.string())
        return classes.take(scored.probabilities.argmax(axis=1))
    texts = [neutralise(p) if isinstance(p, str) else str(p) for p in scored.predictions]
    return pa.array([csv_cell(text) for text in texts], pa.string())


def probability_texts(probabilities):
    """f"{p:.6f}" for each probability, at once: whole millionths, then their digits.

    Where rounding p * 1e6 could differ from rounding p itself (a half millionth, give or
    take the error of the multiplication), and for anything outside 0 to 1, Python does it.
    """
    scaled = probabilities * 1e6
    millionths = np.rint(scaled).astype(np.int64)
    usual = (probabilities >= 0) & (probabilities <= 1) & ~np.signbit(probabilities)
    usual &= np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6
    millionths[~usual] = 0
    characters = np.empty((len(millionths), 8), dtype=np.uint8)  # "0.123456" as bytes
    characters[:, 0] = ord("0") + millionths // 1_000_000
    characters[:, 1] = ord(".")
    rest = millionths % 1_000_000
    for position in range(7, 1, -1):
        characters[:, position] = ord("0") + rest % 10
        rest //= 10
    buffers = [None, pa.py_buffer(characters)]
    texts = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), len(millionths), buffers)
    texts = texts.cast(pa.string())
    if usual.all():
        return texts
    rows = np.flatnonzero(~usual).tolist()
    exact = pa.array([f"{probabilities[row]:.6f}" for row in rows], pa.string())
    return pc.replace_with_mask(texts, pa.array(~usual), exact)
