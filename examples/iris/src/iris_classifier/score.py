"""Score a file of any size: python -m <package>.score IN OUT

    python -m <package>.score new.csv scored.csv
    python -m <package>.score new.parquet scored.parquet --bad-rows refused.csv

IN is a CSV file (.csv, or .csv.gz) or a Parquet file (.parquet); OUT is written in the
same format. OUT holds every row that passed the checks: its input columns as they came,
then prediction, one probability_<class> column per class (for a classifier) and warnings;
the same rows, checks and columns as the service's CSV endpoint. Rows that fail the checks
go to a side file (OUT with .bad.csv in place of its extension, or --bad-rows): their line
(row, for Parquet), what is wrong, and their cells.

Memory: the file is read BLOCK_BYTES (4 MiB) of CSV, or PARQUET_ROWS rows, at a time, and
checked, scored and written SCORE_ROWS rows at a time, so the command needs about 150 MiB
on top of the libraries and the model (about 300 MiB in all for the iris example) whatever
the size of the file; for Parquet, add one row group as stored (pyarrow writes a million
rows to a group). The template's tests check the bound on a CSV file of many blocks.

CSV is read as the service reads it: UTF-8 (a byte order mark is allowed), the first line
names the columns, line numbers count that header as line 1 as a spreadsheet does, and a
record whose cells are all blank is skipped. pyarrow parses the usual blocks; a block it
cannot parse alone (a line with too many values, a blank line, a value spanning lines) is
read again by Python's csv module, which is slower but says where each record starts.

Exit status: 0 when every row was scored; 1 when some rows were refused (0 with
--allow-bad-rows); 2 when nothing was scored: a usage error, an unreadable file, a header
that names no input or misses one, a model that cannot be used. OUT only appears, whole,
when the run ends: an interrupted or failed run leaves no OUT (nor temporary file) behind.
Ctrl-C or SIGTERM (a scheduler stopping the job) stops the run after the rows being scored
(SCORE_ROWS at most), exit status 130; a second one stops it at once.
"""

import argparse
import csv
import gzip
import io
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .batch import column_positions, neutralise
from .csv_columns import scored_csv_lines
from .model import ModelError, PredictionError, load_model
from .scoring import NUMBER_KINDS, output_names, score_columns

BLOCK_BYTES = 4 * 1024 * 1024  # of CSV read and parsed at a time
PARQUET_ROWS = 100_000  # rows of a Parquet file read at a time
SLOW_ROWS = 20_000  # rows at a time when Python's csv module reads (as Python objects)
SCORE_ROWS = 20_000  # rows checked, scored and written at a time (as Python objects, some)
LINE_LIMIT = 16 * 1024 * 1024  # a longer line is not a CSV this command can read
FORMATS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet"}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_ASKED = threading.Event()  # set by the first of them
SHOWN_LINES = 5  # refused lines named in the summary


class Stop(Exception):
    """The file cannot be scored; str(error) is the one line to show."""


@dataclass
class Chunk:
    """Rows read from the input, a block at a time."""

    cells: list  # one pyarrow string array per input column, a cell for each row
    numbers: np.ndarray  # the line (CSV) or row (Parquet) number of each row
    ragged: list = field(default_factory=list)  # (line, message, cells): wrong number of values
    typed: pa.RecordBatch | None = None  # Parquet: the rows with their columns' own types


def main(argv=None):
    arguments = parse_arguments(argv)
    STOP_ASKED.clear()
    handlers = {number: signal.signal(number, ask_to_stop) for number in STOP_SIGNALS}
    try:
        return score_file(arguments)
    except (Stop, ModelError, PredictionError, OSError, EOFError, pa.ArrowException) as error:
        print(f"score: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("score: interrupted, nothing written", file=sys.stderr)
        return 130
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def ask_to_stop(signum, frame):
    # Raising here would stop the run wherever it is, even inside a library's import or
    # native code, which can abort the process; the loop stops between pieces instead.
    if STOP_ASKED.is_set():
        raise KeyboardInterrupt
    STOP_ASKED.set()


def stop_if_asked():
    if STOP_ASKED.is_set():
        raise KeyboardInterrupt


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.score",
        description="Score a CSV or Parquet file of any size with the trained model.",
    )
    parser.add_argument("input", metavar="IN", type=Path, help=".csv, .csv.gz or .parquet")
    parser.add_argument("output", metavar="OUT", type=Path, help="the scored file, same format")
    parser.add_argument(
        "--bad-rows", type=Path, metavar="PATH", help="where refused rows go (OUT.bad.csv)"
    )
    parser.add_argument(
        "--allow-bad-rows", action="store_true", help="exit 0 even when rows were refused"
    )
    arguments = parser.parse_args(argv)
    in_format, out_format = file_format(arguments.input), file_format(arguments.output)
    if in_format is None or out_format is None:
        parser.error("IN and OUT must end in .csv, .csv.gz or .parquet")
    if in_format != out_format:
        parser.error(f"OUT must be a {in_format} file, as IN is")
    if arguments.bad_rows is None:
        stem = without_extension(arguments.output)
        arguments.bad_rows = stem.with_name(stem.name + ".bad.csv")
    return arguments


def extension(path):
    name = path.name.lower()
    return next((end for end in sorted(FORMATS, key=len, reverse=True) if name.endswith(end)), None)


def file_format(path):
    return FORMATS.get(extension(path))


def without_extension(path):
    end = extension(path) or ""
    return path.with_name(path.name[: len(path.name) - len(end)])


def score_file(arguments):
    """Score IN into OUT; -> the exit status."""
    path, target = arguments.input, arguments.output
    if not path.is_file():
        raise Stop(f"{path}: no such file")
    model = load_model()
    started = time.monotonic()
    with InputFile(path) as source:
        positions, header_errors = column_positions(model.schema, source.header)
        if header_errors:
            problems = "; ".join(f"{name}: {message}" for name, message in header_errors.items())
            raise Stop(f"{path}: the header does not fit the model: {problems}")
        bad = BadRows(arguments.bad_rows, source)
        with Output(target, source, model) as output, bad:
            progress = Progress()
            scored_rows = 0
            for chunk in source.chunks:
                for piece in pieces(chunk, SCORE_ROWS):
                    stop_if_asked()
                    scored_rows += score_chunk(model, positions, piece, output, bad)
                progress.show(source.fraction(), scored_rows + bad.count)
            progress.close()
            stop_if_asked()
            output.finish()
            bad.finish()
    seconds = time.monotonic() - started
    print(summary(scored_rows, bad, target, seconds), file=sys.stderr)
    return 1 if bad.count and not arguments.allow_bad_rows else 0


def score_chunk(model, positions, chunk, output, bad):
    """Check and score one chunk; -> the number of rows scored."""
    rows = len(chunk.numbers)
    refused = list(chunk.ragged)
    if rows:
        columns = {name: chunk.cells[position] for name, position in positions.items()}
        first = int(chunk.numbers[0])
        try:
            scored = score_columns(model, columns, rows, first_row=first)
        except PredictionError as error:
            raise PredictionError(f"line {first} onwards: {error}") from None
        for row, errors in scored.errors.items():
            message = "; ".join(f"{name}: {text}" for name, text in errors.items())
            cells = [column[row].as_py() for column in chunk.cells]
            refused.append((int(chunk.numbers[row]), message, cells))
        output.write(chunk, number_positions(model, positions), scored)
    for line, message, cells in sorted(refused, key=lambda item: item[0]):
        bad.add(line, message, cells)
    return int(scored.valid.sum()) if rows else 0


def pieces(chunk, rows):
    """A chunk cut into chunks of at most rows rows (pyarrow slices: no copy)."""
    if len(chunk.numbers) <= rows:
        yield chunk
        return
    for start in range(0, len(chunk.numbers), rows):
        yield Chunk(
            [column.slice(start, rows) for column in chunk.cells],
            chunk.numbers[start : start + rows],
            chunk.ragged if start == 0 else [],
            None if chunk.typed is None else chunk.typed.slice(start, rows),
        )


def number_positions(model, positions):
    """The columns of number fields: checked numbers, written as they came."""
    numbers = [f.name for f in model.schema.fields if f.kind in NUMBER_KINDS]
    return {positions[name] for name in numbers if name in positions}


def summary(scored_rows, bad, target, seconds):
    rate = (scored_rows + bad.count) / seconds if seconds else 0
    text = f"scored {scored_rows:,} rows into {target}"
    if bad.count:
        lines = ", ".join(str(line) for line in bad.first_lines)
        more = ", ..." if bad.count > len(bad.first_lines) else ""
        text += f"; refused {bad.count:,} ({bad.unit} {lines}{more}: see {bad.path})"
    return f"{text}; {seconds:.1f} s, {rate:,.0f} rows/s"


# ---- Reading ----


class InputFile:
    """with InputFile(path) as source: source.header (the column names), source.chunks (its
    rows, a chunk at a time), source.schema (Parquet: the columns' types), source.fraction()
    (how far the reading is, from 0 to 1)."""

    def __init__(self, path):
        self.path, self.file, self.schema = path, None, None

    def __enter__(self):
        try:
            if file_format(self.path) == "parquet":
                self.open_parquet()
            else:
                self.open_csv()
        except (OSError, EOFError, pa.ArrowException) as error:
            self.__exit__()
            raise Stop(f"{self.path}: cannot read it ({error})") from None
        return self

    def open_csv(self):
        self.file = open(self.path, "rb")  # noqa: SIM115 (closed by __exit__)
        size = max(os.path.getsize(self.path), 1)
        stream = ByteStream(gzip.GzipFile(fileobj=self.file) if is_gzip(self.path) else self.file)
        self.header, line = read_header(stream, self.path)
        self.chunks = csv_chunks(stream, len(self.header), line)
        self.fraction = lambda: min(self.file.tell() / size, 1.0)

    def open_parquet(self):
        self.file = pq.ParquetFile(self.path)
        self.schema = self.file.schema_arrow
        self.header = self.schema.names
        total, done = max(self.file.metadata.num_rows, 1), [0]

        def chunks():
            for chunk in parquet_chunks(self.file):
                done[0] += len(chunk.numbers)
                yield chunk

        self.chunks = chunks()
        self.fraction = lambda: done[0] / total

    def __exit__(self, *exception):
        if self.file is not None:
            self.file.close()


def is_gzip(path):
    return path.name.lower().endswith(".gz")


class ByteStream:
    """A binary file read in blocks, with the bytes read too far put back for the next read."""

    def __init__(self, file):
        self.file = file
        self.pending, self.start = b"", 0  # put back: pending[start:]
        self.at_end = False

    def block(self):
        """The bytes put back and the next block of the file (b"" at its end)."""
        more = b"" if self.at_end else self.file.read(BLOCK_BYTES)
        self.at_end = not more
        data = self.pending[self.start :] + more
        self.pending, self.start = b"", 0
        return data

    def put_back(self, data):
        self.pending, self.start = data + self.pending[self.start :], 0

    def lines(self):
        """Line after line (each ending with "\\n"), from the bytes put back, then the file."""
        while self.start < len(self.pending):
            end = self.pending.find(b"\n", self.start) + 1 or len(self.pending)
            line, self.start = self.pending[self.start : end], end
            if not line.endswith(b"\n"):  # the line goes on in the file
                line += self.readline()
            yield line
        while line := self.readline():
            yield line

    def readline(self):
        if self.at_end:
            return b""
        line = self.file.readline(LINE_LIMIT)
        if len(line) == LINE_LIMIT and not line.endswith(b"\n"):
            raise Stop(f"a line longer than {LINE_LIMIT // 2**20} MiB: is this a CSV file?")
        self.at_end = not line
        return line


def read_header(stream, path):
    """-> (the column names, the line number of the first row)."""
    data = stream.block()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    while (end := first_record_end(data)) is None and not stream.at_end:
        data += stream.block()  # a header longer than a block
    end = end or len(data)
    stream.put_back(data[end:])
    try:
        header = next(csv.reader(io.StringIO(data[:end].decode("utf-8"), newline="")), [])
    except UnicodeDecodeError:
        raise Stop(f"{path}: not UTF-8 text: save it as CSV UTF-8") from None
    except csv.Error as error:
        raise Stop(f"{path}: line 1: not valid CSV ({error})") from None
    if not any(column.strip() for column in header):
        raise Stop(f"{path}: empty CSV: the first line must name the columns")
    return header, data.count(b"\n", 0, end) + 1


def first_record_end(data):
    """The position after the first newline that ends a record, or None."""
    newline = -1
    while (newline := data.find(b"\n", newline + 1)) >= 0:
        if data.count(b'"', 0, newline) % 2 == 0:
            return newline + 1
    return None


def record_end(data):
    """The position after the last newline that ends a record, or None.

    A newline inside a quoted value has an odd number of " before it (each "" inside
    quotes counts twice).
    """
    quotes, end = data.count(b'"'), len(data)
    while (newline := data.rfind(b"\n", 0, end)) >= 0:
        quotes -= data.count(b'"', newline, end)
        if quotes % 2 == 0:
            return newline + 1
        end = newline
    return None


def csv_chunks(stream, width, line):
    """Chunks of the CSV's records; line: the number of the line the stream is at."""
    while data := stream.block():
        end = len(data) if stream.at_end else record_end(data)
        if end is None and len(data) < 2 * BLOCK_BYTES:
            stream.put_back(data)  # read on to the end of the record
            continue
        chunk = None if end is None else parse_block(data[:end], width, line)
        if chunk is None:
            # A block pyarrow cannot number by itself, or unbalanced quotes: csv reads it.
            stream.put_back(data)
            line = yield from slow_chunks(stream, width, line, end or len(data))
            continue
        stream.put_back(data[end:])
        line += data.count(b"\n", 0, end)
        yield chunk


def parse_block(data, width, first_line):
    """A block of whole records, one per line, parsed by pyarrow; None when it is not that."""
    names = [f"column {position}" for position in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(newlines_in_values=b'"' in data),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if table.num_rows != lines:  # a blank line, or a value spanning lines
        return None
    cells = [column.combine_chunks() for column in table.columns]
    numbers = np.arange(first_line, first_line + lines)
    blank = all_blank(cells)
    if blank.any():
        keep = pa.array(~blank)
        cells, numbers = [column.filter(keep) for column in cells], numbers[~blank]
    return Chunk(cells, numbers)


def all_blank(cells):
    """For each row: are all its cells empty or spaces?"""
    blank = np.ones(len(cells[0]), dtype=bool)
    for column in cells:
        blank &= pa.compute.utf8_is_space(column).to_numpy(False) | (
            pa.compute.utf8_length(column).to_numpy(False) == 0
        )
    return blank


def slow_chunks(stream, width, line, at_least):
    """Python's csv module reads at least at_least bytes, to the end of a record.

    Yields chunks; returns the number of the line after the last one read.
    """
    read = 0

    def counted_lines():
        nonlocal read
        for raw in stream.lines():
            read += len(raw)
            yield raw

    records, numbers, ragged = [], [], []
    first_line = line
    reader = csv.reader(decoded(counted_lines(), first_line))
    try:
        for record in reader:
            number, line = line, first_line + reader.line_num
            if not any(value.strip() for value in record):
                pass  # a blank line
            elif len(record) != width:
                message = f"{len(record)} values, but the header has {width} columns"
                ragged.append((number, message, record))
            else:
                records.append(record)
                numbers.append(number)
            if (len(records) >= SLOW_ROWS or read >= at_least) and (records or ragged):
                yield records_chunk(records, numbers, ragged, width)
                records, numbers, ragged = [], [], []
            if read >= at_least:
                break
    except csv.Error as error:
        raise Stop(f"line {line}: not valid CSV ({error})") from None
    if records or ragged:
        yield records_chunk(records, numbers, ragged, width)
    return line


def decoded(lines, first_line):
    for number, raw in enumerate(lines, start=first_line):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Stop(f"line {number}: not UTF-8 text: save the file as CSV UTF-8") from None


def records_chunk(records, numbers, ragged, width):
    cells = [
        pa.array([record[position] for record in records], pa.string()) for position in range(width)
    ]
    return Chunk(cells, np.array(numbers, dtype=np.int64), ragged)


def parquet_chunks(parquet):
    row = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_ROWS):
        cells = [as_text(column) for column in batch.columns]
        yield Chunk(cells, np.arange(row, row + batch.num_rows), typed=batch)
        row += batch.num_rows


def as_text(column):
    """A Parquet column as the texts a CSV would hold (a float's text reads back exactly)."""
    try:
        return column.cast(pa.string()).fill_null("")
    except pa.ArrowException:  # a list, a map...: its Python text
        return pa.array(["" if value is None else str(value) for value in column.to_pylist()])


# ---- Writing ----


class AtomicFile:
    """A temporary file beside path that becomes path only when finish() is called."""

    def __init__(self, path):
        self.path = path
        handle, name = tempfile.mkstemp(
            dir=path.parent or ".", prefix=f".{path.name}.", suffix=".part"
        )
        os.close(handle)
        self.temporary = Path(name)

    def finish(self):
        os.replace(self.temporary, self.path)

    def discard(self):
        self.temporary.unlink(missing_ok=True)


class Output:
    """The scored file, CSV or Parquet, in a temporary file until finish()."""

    def __init__(self, path, source, model):
        self.path, self.model = path, model
        self.header, self.input_schema = source.header, source.schema
        self.file = self.writer = None

    def __enter__(self):
        try:
            self.atomic = AtomicFile(self.path)
        except OSError as error:
            raise Stop(f"{self.path}: cannot write it ({error.strerror})") from None
        if self.input_schema is not None:
            schema = output_schema(self.model, self.input_schema)
            self.writer = pq.ParquetWriter(self.atomic.temporary, schema)
            return self
        opener = gzip.open if is_gzip(self.path) else open
        self.file = opener(self.atomic.temporary, "wb")
        names = [*self.header, *output_names(self.model)]
        self.file.write(csv_text([[neutralise(name) for name in names]]))
        return self

    def write(self, chunk, number_positions, scored):
        if not scored.valid.any():
            return
        if self.writer is None:  # the CSV endpoint's own writer: the same bytes for a row
            self.file.write(scored_csv_lines(self.model, chunk.cells, number_positions, scored))
        else:
            self.writer.write_table(scored_table(self.model, chunk.typed, scored))

    def close(self):
        for handle in (self.writer, self.file):
            if handle is not None:
                handle.close()

    def finish(self):
        self.close()
        self.atomic.finish()

    def __exit__(self, kind, error, trace):
        if kind is not None:
            self.close()
            self.atomic.discard()


def csv_text(rows):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


def output_schema(model, input_schema):
    """The input's columns and types, then the columns scoring adds."""
    prediction = pa.float64() if model.classes is None else pa.array(model.classes).type
    names = output_names(model)
    types = [prediction, *[pa.float64()] * (len(names) - 2), pa.string()]
    schema = input_schema
    for name, kind in zip(names, types, strict=True):
        schema = schema.append(pa.field(name, kind))
    return schema


def scored_table(model, batch, scored):
    """The valid rows of a Parquet batch, with their types, and the columns scoring adds."""
    table = pa.Table.from_batches([batch]).filter(pa.array(scored.valid))
    schema = output_schema(model, batch.schema)
    added = [scored.predictions]
    if scored.probabilities is not None:
        added += list(scored.probabilities.T)
    added.append(scored.warnings)
    for column in added:
        position = table.num_columns
        table = table.append_column(
            schema.field(position), pa.array(column, schema.field(position).type)
        )
    return table


class BadRows:
    """The side file of refused rows: line (or row), errors, then the row's cells."""

    def __init__(self, path, source):
        self.path, self.header = path, source.header
        self.unit = "line" if source.schema is None else "row"
        self.count, self.first_lines = 0, []
        self.atomic = self.file = None

    def __enter__(self):
        return self

    def add(self, line, message, cells):
        if self.file is None:
            try:
                self.atomic = AtomicFile(self.path)
            except OSError as error:
                raise Stop(f"{self.path}: cannot write it ({error.strerror})") from None
            self.file = open(self.atomic.temporary, "w", encoding="utf-8", newline="")  # noqa: SIM115
            self.writer = csv.writer(self.file)
            self.writer.writerow([self.unit, "errors", *(neutralise(name) for name in self.header)])
        self.writer.writerow([line, message, *(neutralise(cell) for cell in cells)])
        self.count += 1
        if len(self.first_lines) < SHOWN_LINES:
            self.first_lines.append(line)

    def finish(self):
        if self.file is None:
            self.path.unlink(missing_ok=True)  # refused rows of an earlier run
            return
        self.file.close()
        self.atomic.finish()

    def __exit__(self, kind, error, trace):
        if kind is not None and self.file is not None:
            self.file.close()
            self.atomic.discard()


class Progress:
    """A one-line progress bar on a terminal (stderr); nothing when stderr is a file or pipe."""

    def __init__(self):
        self.shown = sys.stderr.isatty()
        self.started = self.last = time.monotonic()

    def show(self, fraction, rows):
        now = time.monotonic()
        if not self.shown or now - self.last < 0.2:
            return
        self.last, elapsed = now, now - self.started
        left = elapsed * (1 - fraction) / fraction if fraction else 0
        bar = "#" * int(30 * fraction)
        sys.stderr.write(
            f"\r[{bar:<30}] {fraction:4.0%} {rows:,} rows, {rows / elapsed:,.0f} rows/s, "
            f"{left:,.0f} s left "
        )
        sys.stderr.flush()

    def close(self):
        if self.shown:
            sys.stderr.write("\r\033[K")


if __name__ == "__main__":
    sys.exit(main())
