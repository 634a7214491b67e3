"""Score a CSV file a whole column at a time: batch.score_csv's way for a file with no problem.

pyarrow reads the file a part at a time, scoring.score_columns checks and scores
each part, and the scored lines are put together by pyarrow's string functions. What
comes out is byte for byte what batch.score_lines writes; anything unusual (a problem to
report with its line number, a blank record, a header in quotes) is left to it.

In a file with no " the parts are cut at line ends, and where no cell of a line needs a
change (no formula to guard, no CR) the line itself is written back with the new cells
after it: only the new cells are joined (echoed_lines).
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

# Of the body read, scored and written at a time. Bigger parts are faster (100k iris rows:
# 81 ms in 64 KiB parts, 51 ms in 256 KiB ones) but the memory a part needs grows with it:
# about 2.4 MB at 64 KiB, 7 MB at 256 KiB, and 4 times that when every row gets a warning.
TABLE_BYTES = 64 * 1024
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
        start = body.find(b"\n") + 1
        for batch, lines in read_blocks(body, start, len(header), quotes, TABLE_BYTES):
            cells = batch.columns
            if not usual_cells(cells):
                raise ValueError("a record for score_lines")
            by_field = {name: cells[position] for name, position in positions.items()}
            scored = scoring.score_columns(model, by_field, batch.num_rows, rows + 1)
            if scored.errors:
                raise ValueError("a value for score_lines")
            texts = scored_csv_lines(model, cells, numbers, scored, quotes, decisions, lines)
            output.write(texts)
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


def read_blocks(body, start, width, quotes, part_bytes):
    """The CSV records of body from start on, about part_bytes at a time: yields (a record
    batch of texts, lines), lines being what echoed_lines gives for the batch, or None.

    Raises pyarrow.ArrowInvalid for a line that is not valid CSV or UTF-8, or has another
    number of values than the header.
    """
    if quotes:  # a quoted value may hold a line end: only pyarrow knows where records end
        for batch in read_batches(pa.py_buffer(body).slice(start), width, part_bytes):
            yield batch, None
        return
    for part_start, part_end in line_parts(body, start, part_bytes):  # a line is a record
        block = body[part_start:part_end]
        for batch in read_batches(pa.py_buffer(block), width, len(block) + 1, quotes=False):
            yield batch, echoed_lines(block, batch.num_rows)


def line_parts(body, start, part_bytes):
    """(start, end) of each part of body from start on: part_bytes, then on to the end of
    the line. csv_numba.py cuts the same parts, so that the model is given the same rows
    at once (ONNX Runtime can round a row's last bit differently in another batch size)."""
    while start < len(body):
        end = body.find(b"\n", start + part_bytes)
        end = len(body) if end < 0 else end + 1
        yield start, end
        start = end


def read_batches(data, width, part_bytes, quotes=True):
    """The CSV lines in data (a pyarrow buffer), as record batches of texts, about
    part_bytes at a time; quotes=False when the file has no " (a little faster)."""
    names = [str(position) for position in range(width)]
    reader = pyarrow.csv.open_csv(
        pa.BufferReader(data),
        read_options=pyarrow.csv.ReadOptions(
            column_names=names, block_size=part_bytes, use_threads=False
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


def echoed_lines(block, rows):
    """The block's lines as a string array, each line's "\\n" turned into the "," that comes
    before the new cells: so a row whose cells are written as they came costs no join.

    None when the lines are not exactly the rows (a blank line, which the reader skips)
    or end in CR (the scored file's lines end in CRLF whatever the input's were).
    """
    if b"\r" in block:
        return None
    if not block.endswith(b"\n"):
        block += b"\n"  # the file's last line
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == ord("\n")) + 1
    offsets = np.concatenate([[0], ends]).astype(np.int32)  # where each line starts, and the end
    if len(ends) != rows or (np.diff(offsets) == 1).any():  # a line that is only its "\n"
        return None
    text = block.replace(b"\n", b",")
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(text))


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


def scored_csv_lines(model, cells, numbers, scored, quotes=True, decisions=None, lines=None):
    """The scored rows of a batch as CSV lines, each ending in CRLF, as score_lines writes them.

    cells: every column of the batch as a pyarrow string array, in the header's order;
    numbers: the positions of the number fields (written as they came); quotes=False
    when the file has no " at all, so no cell holds a comma or a line end either;
    decisions(probabilities, rows): the decision column (automation.py), if given;
    lines: the batch's lines from echoed_lines, or None.
    """
    if not scored.valid.all():
        valid = pa.array(scored.valid)
        cells = [column.filter(valid) for column in cells]
        lines = None if lines is None else lines.filter(valid)
    starts = input_cells(cells, numbers, quotes, lines)
    after = [prediction_texts(model, scored)]
    if decisions:
        texts = decisions(scored.probabilities, len(scored.warnings))
        after.append(pa.array([f",{text}" for text in texts], pa.string()))
    if scored.probabilities is not None:
        after.append(probability_texts(scored.probabilities))
    after.append(line_ends(scored.warnings))
    scored_lines = pc.binary_join_element_wise(starts, *after, "")
    _, offsets, data = scored_lines.buffers()  # the lines one after another: take them whole
    first, last = np.frombuffer(offsets, np.int32)[
        [scored_lines.offset, scored_lines.offset + len(scored_lines)]
    ]
    return data[int(first) : int(last)]


def input_cells(cells, numbers, quotes, lines):
    """The input cells of each row as the scored file has them, and a comma after them."""
    columns = []
    for position, column in enumerate(cells):
        if position not in numbers:  # a text a spreadsheet would run as a formula: guarded
            guarded = replace_some(column, r"^[ \t\r\n=+\-@]", neutralise)
            lines = lines if guarded is column else None
            column = guarded
        columns.append(csv_quoted(column) if quotes else column)
    if lines is not None:  # every cell as it came: the lines themselves
        return lines
    return pc.binary_join_element_wise(*columns, "", ",")  # "" last: a comma at the end


def line_ends(warnings):
    """The warnings cell and the line's end, for each row: most rows have no warning."""
    if not any(warnings):
        return ",\r\n"
    return pa.array([f",{csv_cell(text)}\r\n" for text in warnings], pa.string())


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
    if scored.probabilities is not None:  # each class's cell is made once
        classes = pa.array(class_cells(model), pa.string())
        return classes.take(model.class_positions(scored.predictions, scored.probabilities))
    texts = [neutralise(p) if isinstance(p, str) else str(p) for p in scored.predictions]
    return pa.array([csv_cell(text) for text in texts], pa.string())


# How the text of one probability is built at once for all of them: ",0.123456" is 9
# bytes, a comma then 8 bytes held as one 64-bit number (little-endian: its lowest byte
# is the first character). THREE_DIGITS[n] is "000" to "999" as such a number, shifted
# into place for the millionths' first and last 3 digits.
THREE_DIGITS = np.frombuffer(b"".join(b"%03d\0" % n for n in range(1000)), "<u4").astype(np.uint64)
PROBABILITY_CELL = np.dtype([("comma", "u1"), ("text", "<u8")])  # 9 bytes, no padding


def class_cells(model):
    """Each class as the prediction cell has it: formula-guarded, quoted as csv writes it."""
    return [csv_cell(neutralise(c) if isinstance(c, str) else str(c)) for c in model.classes]


def rounded_millionths(probabilities):
    """-> (round(p * 1e6) for each probability, True where that is f"{p:.6f}" in digits).

    False (and 0) for p outside 0 to 1, and within the error of the multiplication (at
    most 1.2e-10) of a half millionth: there Python must round p itself.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    scaled = probabilities * 1e6
    usual = (probabilities >= 0) & (probabilities <= 1) & ~np.signbit(probabilities)
    usual &= np.abs(scaled - np.floor(scaled) - 0.5) > 1e-9
    return np.where(usual, np.rint(scaled), 0).astype(np.int64), usual


def probability_texts(probabilities):
    """For each row of probabilities, "," + f"{p:.6f}" for each p, as one text, at once
    (Python writes those rounded_millionths cannot)."""
    rows, classes = probabilities.shape
    millionths, usual = rounded_millionths(probabilities)
    whole, rest = np.divmod(millionths, 1_000_000)  # "0." or "1.", then 6 digits
    text = (ord("0") + whole).astype(np.uint64) | np.uint64(ord(".") << 8)
    text |= THREE_DIGITS[rest // 1000] << np.uint64(16)
    text |= THREE_DIGITS[rest % 1000] << np.uint64(40)
    cells = np.empty((rows, classes), PROBABILITY_CELL)
    cells["comma"] = ord(",")
    cells["text"] = text
    buffers = [None, pa.py_buffer(cells)]
    texts = pa.FixedSizeBinaryArray.from_buffers(pa.binary(9 * classes), rows, buffers)
    texts = texts.cast(pa.string())
    unusual = ~usual.all(axis=1)
    if not unusual.any():
        return texts
    exact = python_probability_texts(probabilities, np.flatnonzero(unusual))
    return pc.replace_with_mask(texts, pa.array(unusual), pa.array(exact, pa.string()))


def python_probability_texts(probabilities, rows):
    """For each of the rows, "," + f"{p:.6f}" for each of its probabilities, as one text."""
    return ["".join(f",{p:.6f}" for p in probabilities[row]) for row in rows]
