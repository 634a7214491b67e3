"""Score a large CSV or Parquet file on Spark, with the model and the checks of the service.

    python -m <package>.spark_score IN OUT [--bad-rows PATH] [--master local[*]]

IN is a CSV file with a header, a Parquet file, or a folder of them, on any file system
Spark reads (a local path, hdfs://, s3://). Every row is checked as the service checks
a CSV line (scoring.score_columns). OUT gets the rows that pass: the input columns, then
prediction, one probability column per class (a classifier) and warnings. The rows
refused go to OUT_bad (or --bad-rows): the input columns and "errors", a JSON object
{field: message}. Spark writes each as a folder of part files, in IN's format.

Every cell of a CSV is read as the text it is, as the service reads it. Parquet columns
are turned into text on the workers, with pyarrow: a float's text reads back as the same float.

Runs on this machine with `make score-spark IN=... OUT=...`; on a cluster with
spark-submit (the README's "Score with Spark" says how). Needs pyspark and Java 17 or
later: `make spark-setup`.
"""

import argparse
import csv
import json
import os
import shutil
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .batch import column_positions
from .model import Model, ModelError, load_model, model_dir
from .scoring import output_names, score_columns

ERRORS = "errors"  # the column that says why a row was refused
# Spark puts a CSV line whose number of values differs from the header's here.
MALFORMED = "_malformed_line"
# Loaded once in each Python worker, which Spark reuses from task to task.
_models: dict[str, Model] = {}


def main(argv=None):
    args = parse_arguments(argv)
    file_format = args.format or guess_format(args.input)
    bad_rows = args.bad_rows or args.output.rstrip("/") + "_bad"
    try:
        model = load_model(args.models)
    except ModelError as error:
        stop(str(error))
    spark = start_spark(args.master)
    from pyspark.errors import AnalysisException  # pyspark is there: start_spark checked

    try:
        frame = read_input(spark, args.input, file_format)
        positions = field_positions(model, frame.columns)
        input_columns = [name for name in frame.columns if name != MALFORMED]
        check_no_clash(model, input_columns)
        # The workers load the model from their own copy of the models folder.
        models = Path(args.models).resolve()
        spark.sparkContext.addFile(str(models), recursive=True)
        counts = spark.sparkContext.accumulator(0), spark.sparkContext.accumulator(0)
        score = partial(score_batches, models_name=models.name, positions=positions, counts=counts)
        scored = frame.mapInArrow(score, scored_schema(model, frame.schema, input_columns))
        # Kept on disk after the first write, so the second one does not score again.
        scored = scored.persist(storage_level())
        good = scored.where(scored[ERRORS].isNull()).drop(ERRORS)
        refused = scored.where(scored[ERRORS].isNotNull()).drop(*output_names(model))
        write(good, args.output, file_format, args.overwrite)
        write(refused, bad_rows, file_format, args.overwrite)
        scored.unpersist()
    except AnalysisException as error:  # IN not found, OUT already there
        message = str(error).splitlines()[0]
        if "PATH_ALREADY_EXISTS" in message:
            message += " (--overwrite replaces it)"
        stop(message)
    finally:
        spark.stop()
    good_count, refused_count = counts[0].value, counts[1].value
    print(f"{good_count} rows scored into {args.output}, {refused_count} refused into {bad_rows}")


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.spark_score",
        description="Score a CSV or Parquet file on Spark; refused rows go aside.",
    )
    parser.add_argument("input", help="a CSV file with a header, a Parquet file, or a folder")
    parser.add_argument("output", help="the folder Spark writes the scored rows into")
    parser.add_argument("--bad-rows", help="the folder for refused rows (default: OUTPUT_bad)")
    parser.add_argument(
        "--master", help="Spark's master URL (default: spark-submit's, else local[*])"
    )
    parser.add_argument("--format", choices=["csv", "parquet"], help="default: from IN's name")
    parser.add_argument("--models", default=str(model_dir()), help="the models folder")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT and the bad rows")
    return parser.parse_args(argv)


def guess_format(path):
    return "parquet" if path.rstrip("/").lower().endswith((".parquet", ".pq")) else "csv"


def stop(message, status=1):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def start_spark(master):
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        stop("pyspark is not installed: run `make spark-setup`")
    master = master or ("local[*]" if not started_by_spark_submit() else None)
    if master and master.startswith("local"):
        if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            stop("Spark needs Java 17 or later, and `java` is not found: see `make spark-setup`")
        # Local Python workers must run this interpreter: it has the project's libraries.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # pyspark warns about pandas 3 for its pandas functions; this job only uses Arrow.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
    builder = SparkSession.builder.appName(f"{__package__} scoring")
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def started_by_spark_submit():
    # spark-submit starts the JVM first and tells Python where to find it; its --master counts.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def storage_level():
    from pyspark import StorageLevel

    return StorageLevel.DISK_ONLY


def read_input(spark, path, file_format):
    if file_format == "parquet":
        return spark.read.parquet(path)
    # Quotes inside a value are doubled ("" as RFC 4180 and Python's csv write them).
    options = {"header": True, "escape": '"', "encoding": "UTF-8"}
    header = spark.read.csv(path, **options).columns
    # Read again with the header's columns all as text, and a column for malformed lines.
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(name, StringType()) for name in [*header, MALFORMED]])
    return spark.read.csv(
        path, schema=schema, mode="PERMISSIVE", columnNameOfCorruptRecord=MALFORMED, **options
    )


def field_positions(model, columns):
    """{field name: column position}; a header the model cannot read stops here (status 2)."""
    header = [name for name in columns if name != MALFORMED]
    if header:
        header[0] = header[0].removeprefix("\ufeff")  # a byte order mark, as Excel writes
    positions, errors = column_positions(model.schema, header)
    if errors:
        stop("the header: " + "; ".join(f"{name}: {text}" for name, text in errors.items()), 2)
    return positions


def check_no_clash(model, input_columns):
    """The columns this job adds must not be in the input already (status 2)."""
    clashes = [name for name in [*output_names(model), ERRORS] if name in input_columns]
    if clashes:
        stop(f"the input already has a column {clashes[0]!r}: rename it, then run again", 2)


def scored_schema(model, input_schema, input_columns):
    """The Spark schema of the scored rows: the input's columns, then the ones added."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    kept = [field for field in input_schema.fields if field.name in input_columns]
    names = output_names(model)
    prediction = StringType() if model.classes is not None else DoubleType()
    added = [StructField(names[0], prediction)]
    added += [StructField(name, DoubleType()) for name in names[1:-1]]  # probabilities
    added += [StructField(names[-1], StringType()), StructField(ERRORS, StringType())]
    return StructType(kept + added)


def write(frame, path, file_format, overwrite):
    writer = frame.write.mode("overwrite" if overwrite else "errorifexists")
    if file_format == "parquet":
        writer.parquet(path)
        return
    # Cells are written as they came: no spaces trimmed, "" for an empty text.
    writer.csv(
        path,
        header=True,
        escape='"',
        emptyValue="",
        ignoreLeadingWhiteSpace=False,
        ignoreTrailingWhiteSpace=False,
    )


# ---- On the workers: Spark calls score_batches with an iterator of Arrow record batches.


def score_batches(batches, models_name, positions, counts):
    model = worker_model(models_name)
    scored_rows, refused_rows = counts
    for batch in batches:
        for answer in score_lines(model, batch, positions):
            refused = answer.num_rows - answer.column(ERRORS).null_count
            scored_rows.add(answer.num_rows - refused)
            refused_rows.add(refused)
            yield answer


def worker_model(models_name):
    """The model, loaded once per worker from the copy of models/ Spark gave it."""
    from pyspark import SparkFiles

    directory = SparkFiles.get(models_name)
    if directory not in _models:
        _models[directory] = load_model(directory)
    return _models[directory]


def score_lines(model, batch, positions):
    """-> record batches: the well-formed lines scored, any malformed lines refused."""
    if MALFORMED not in batch.schema.names:  # Parquet
        yield score_batch(model, batch, positions)
        return
    malformed = batch.column(MALFORMED)
    batch = batch.drop_columns([MALFORMED])
    if malformed.null_count < len(malformed):
        well_formed = pc.is_null(malformed)
        yield refused_lines(model, batch.filter(pc.invert(well_formed)), malformed.drop_null())
        batch = batch.filter(well_formed)
    if batch.num_rows:
        yield score_batch(model, batch, positions)


def score_batch(model, batch, positions):
    """A record batch -> the same rows with the scores (refused rows: errors, no scores)."""
    columns = {name: batch.column(position) for name, position in positions.items()}
    scored = score_columns(model, columns, batch.num_rows)
    valid = scored.valid
    probabilities = scored.probabilities
    if probabilities is None:  # a regression, or no valid row in this batch
        probabilities = np.empty((int(valid.sum()), len(output_names(model)) - 2))
    predictions = scored.predictions
    if model.classes is not None:
        predictions = [str(label) for label in predictions]
    messages = [
        json.dumps(scored.errors[row], ensure_ascii=False) for row in np.flatnonzero(~valid)
    ]
    answers = [predictions, *probabilities.T, scored.warnings]
    kinds = output_types(model)
    added = [spread(values, valid, kind) for values, kind in zip(answers, kinds, strict=True)]
    added.append(spread(messages, ~valid, pa.string()))
    names = [*batch.schema.names, *output_names(model), ERRORS]
    return pa.RecordBatch.from_arrays([*batch.columns, *added], names=names)


def spread(values, chosen, arrow_type):
    """Values for the chosen rows -> a column for every row, null where not chosen."""
    chosen_count = int(np.count_nonzero(chosen))
    # Each row points at its value; the rows not chosen at one null put after them all.
    place = np.full(len(chosen), chosen_count)
    place[chosen] = np.arange(chosen_count)
    column = pa.concat_arrays([pa.array(values, arrow_type), pa.nulls(1, arrow_type)])
    return column.take(pa.array(place))


def refused_lines(model, rows, lines):
    """CSV lines with more or fewer values than the header: refused, as the service does."""
    columns = rows.num_columns
    messages = []
    for line in lines.to_pylist():
        values = len(next(csv.reader([line]), []))
        text = f"{values} values, but the header has {columns} columns"
        messages.append(json.dumps({"line": text}, ensure_ascii=False))
    added = [pa.nulls(rows.num_rows, kind) for kind in output_types(model)]
    added.append(pa.array(messages, pa.string()))
    names = [*rows.schema.names, *output_names(model), ERRORS]
    return pa.RecordBatch.from_arrays([*rows.columns, *added], names=names)


def output_types(model):
    """The Arrow types of output_names(model): prediction, probabilities, warnings."""
    prediction = pa.string() if model.classes is not None else pa.float64()
    probabilities = [pa.float64()] * (len(output_names(model)) - 2)
    return [prediction, *probabilities, pa.string()]


if __name__ == "__main__":
    main()
