"""The Spark scoring job (spark_score.py) gives the service's answers, row for row.

A CSV of good rows and bad ones (an unknown category, text in a number field, a missing
required value, a value out of the training range, a line with too few values) is scored
by Spark on local[2] in a subprocess. Every good row must have the prediction and
probabilities (within 1e-9) and warnings that the service gives for that row expected, and
the rows Spark refuses must be exactly the ones the service refuses, with its messages.
"""

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import DATA, package_of, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("java") is None,
        reason="Spark needs Java 17 or later and `java` is not on PATH "
        "(scripts/system-deps.sh installs it: `make system-deps`)",
    ),
]

# Run in the rendered project: what the service answers for each line of a CSV (the form's
# checks, Schema.validate_text, then the model) and for the file (POST /predict).
SERVICE_ANSWERS = r"""
import csv, importlib, io, json, sys

package, path = sys.argv[1:3]
batch = importlib.import_module(package + ".batch")
model = importlib.import_module(package + ".model").load_model()
client = importlib.import_module(package + ".app").create_app(model).test_client()
text = open(path, encoding="utf-8", newline="").read()
header, *records = csv.reader(io.StringIO(text))
positions, _ = batch.column_positions(model.schema, header)
expected, clean = [], []
for record in records:
    if len(record) != len(header):
        message = f"{len(record)} values, but the header has {len(header)} columns"
        expected.append({"errors": {"line": message}})
        continue
    texts = {name: record[position] for name, position in positions.items()}
    values, errors, warnings = model.schema.validate_text(texts)
    expected.append({"errors": errors} if errors else {"warnings": "; ".join(warnings)})
    if not errors:
        clean.append(values)
# The valid rows predicted together, as the service predicts a file: ONNX Runtime's
# float32 sums may differ in the last bits between one row and a batch of rows.
answers = iter(model.predict_clean(clean))
for answer in expected:
    if "errors" not in answer:
        answer.update(next(answers))
whole = client.post("/predict", data=text.encode(), content_type="text/csv")
good = [header] + [r for r, a in zip(records, expected) if "errors" not in a]
out = io.StringIO()
csv.writer(out).writerows(good)
scored = client.post("/predict", data=out.getvalue().encode(), content_type="text/csv")
assert scored.status_code == 200, scored.get_data(as_text=True)
print(json.dumps({
    "expected": expected,
    "file_errors": whole.get_json()["errors"],
    "file_scored": list(csv.reader(io.StringIO(scored.get_data(as_text=True)))),
}))
"""


def iris_rows():
    header = ["row", "sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    good = [
        ["5.1", "3.5", "1.4", "0.2"],
        ["6.7", "3.0", "5.2", "2.3"],
        ["5.9", "3.0", "4.2", "1.5"],
        [" 6.3 ", "2.5", "4.9", "1.5"],  # spaces around a number
        ["6.0", "2.2", "5.0", "1.5"],
        ["1e1", "3", "5", "1.8"],  # an exponent, out of range: a warning
        ["4.4", "2.9", "1.4", "0.2"],
    ]
    bad = [
        ["abc", "3.0", "5.2", "2.3"],  # text in a number field
        ["", "3.0", "5.2", "2.3"],  # a required value missing
        ["NA", "3.0", "5.2", "2.3"],
        ["5.1", "3.5", "1.4", "-inf"],
        ["5.1", "3.5"],  # too few values
    ]
    return header, good, bad


def birds_rows():
    with (DATA / "birds.csv").open(encoding="utf-8", newline="") as file:
        header, *records = csv.reader(file)
    good = records[:40]  # with missing optional values (bill length, body mass, sex)
    good[3] = good[3][:-1] + ['Adelie, "or" Gentoo']  # the species column, quoted
    out_of_range = list(records[0])
    out_of_range[3] = "300"  # Flipper length: a warning, still scored
    spaced = list(records[1])
    spaced[0] = " Dream "
    bad = []
    for position, value in [
        (0, "Atlantis"),  # an unknown category
        (2, "abc"),  # text in a number field
        (2, ""),  # bill depth: required, missing
        (3, "200.5"),  # an integer field
        (6, "maybe"),  # a boolean
        (5, "unknown"),  # sex: optional, but not a category
    ]:
        row = list(records[2])
        row[position] = value
        bad.append(row)
    bad.append(records[4][:3])  # too few values
    return ["row", *header], [*good, out_of_range, spaced], bad


def write_input(path, header, good, bad):
    """Good and bad rows mixed; the first column numbers them."""
    lines = [*good[:3], *bad, *good[3:]]
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for number, line in enumerate(lines):
            writer.writerow([str(number), *line])


def read_folder(folder):
    """The CSV part files Spark wrote into a folder -> (header, rows)."""
    header, rows = None, []
    for part in sorted(Path(folder).glob("part-*.csv")):
        with part.open(encoding="utf-8", newline="") as file:
            lines = list(csv.reader(file))
        if lines:
            header = header or lines[0]
            assert lines[0] == header
            rows.extend(lines[1:])
    return header, rows


def score_with_spark(project, source, out, *options):
    command = [sys.executable, "-m", f"{package_of(project)}.spark_score", source, out]
    return run([*command, "--master", "local[2]", *options], project, timeout=300)


def service_answers(project, source):
    command = [sys.executable, "-c", SERVICE_ANSWERS, package_of(project), source]
    return json.loads(run(command, project).stdout)


def check_scored(expected, header, records, scored_header, scored):
    """Spark's good rows (all cells as text) against the service's answers."""
    probability_names = [name for name in scored_header if name.startswith("probability_")]
    classes = [name.removeprefix("probability_") for name in probability_names]
    assert classes, "both models here are classifiers"
    assert scored_header == [*header, "prediction", *probability_names, "warnings"]
    good = {str(n) for n, answer in enumerate(expected) if "errors" not in answer}
    assert sorted(row[0] for row in scored) == sorted(good)
    width = len(header)
    for row in scored:
        number = int(row[0])
        answer = expected[number]
        assert row[:width] == records[number], "the input cells are kept as they came"
        assert row[width] == str(answer["prediction"])
        probabilities = [float(p) for p in row[width + 1 : -1]]
        assert probabilities == pytest.approx(
            [answer["probabilities"][c] for c in classes], abs=1e-9
        )
        assert row[-1] == answer["warnings"]
    assert any(row[-1] for row in scored), "a warning for the out-of-range value"


def check_refused(expected, header, records, refused_header, refused):
    assert refused_header == [*header, "errors"]
    bad = {str(n) for n, answer in enumerate(expected) if "errors" in answer}
    assert sorted(row[0] for row in refused) == sorted(bad)
    for row in refused:
        number = int(row[0])
        assert json.loads(row[-1]) == expected[number]["errors"]
        # A line with too few values gets empty cells for the columns it lacks.
        assert [cell for cell in row[:-1] if cell] == [c for c in records[number] if c]


def check_service_file(service, scored):
    """The service's answer to the whole file: the same rows refused with the same
    messages (keyed "line N: field", the header being line 1); to the good rows alone:
    the same predictions, and probabilities to the 6 decimals it writes."""
    expected = service["expected"]
    from_file = {}
    for key, message in service["file_errors"].items():
        line, _, field = key.partition(": ")
        number = int(line.removeprefix("line ")) - 2
        from_file.setdefault(number, {})[field or "line"] = message
    bad = {n: answer["errors"] for n, answer in enumerate(expected) if "errors" in answer}
    assert from_file == bad
    file_header, *file_rows = service["file_scored"]
    by_number = {row[0]: row for row in scored}
    assert len(file_rows) == len(scored)
    width = file_header.index("prediction")
    for file_row in file_rows:
        row = by_number[file_row[0]]
        assert row[width] == file_row[width]
        assert [float(p) for p in row[width + 1 : -1]] == pytest.approx(
            [float(p) for p in file_row[width + 1 : -1]], abs=5e-7
        )


BIRDS = {"dataset": "csv", "data_path": str(DATA / "birds.csv"), "target_column": "species"}


@pytest.mark.parametrize(
    ("answers", "rows"), [({}, iris_rows), (BIRDS, birds_rows)], ids=["iris", "birds"]
)
def test_spark_scores_a_csv_as_the_service_does(render, tmp_path, answers, rows):
    project = render(answers)
    source = tmp_path / "input.csv"
    header, good, bad = rows()
    write_input(source, header, good, bad)
    with source.open(encoding="utf-8", newline="") as file:
        records = list(csv.reader(file))[1:]
    out, bad_out = tmp_path / "scored", tmp_path / "scored_bad"
    job = score_with_spark(project, source, out)
    service = service_answers(project, source)
    expected = service["expected"]
    assert sum("errors" in answer for answer in expected) == len(bad)  # the test's own rows

    scored_header, scored = read_folder(out)
    check_scored(expected, header, records, scored_header, scored)
    refused_header, refused = read_folder(bad_out)
    check_refused(expected, header, records, refused_header, refused)
    check_service_file(service, scored)
    # Counted as the rows were scored: a second scoring would show in these numbers.
    summary = f"{len(scored)} rows scored into {out}, {len(refused)} refused into {bad_out}"
    assert job.stdout.strip().splitlines()[-1] == summary


def test_spark_scores_parquet_with_its_numbers_read_as_text(render, tmp_path):
    """Parquet in, Parquet out: float columns reach the checks as the text pyarrow
    writes for them (shortest round trip), a null as an empty cell."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    project = render({})
    numbers = {
        "sepal_length_cm": [5.1, 6.7, None, 5.9, 10.25, float("nan"), 6.3],
        "sepal_width_cm": [3.5, 3.0, 3.0, 3.0, 3.0, 3.0, 2.5],
        "petal_length_cm": [1.4, 5.2, 5.2, 4.2, 5.0, 5.2, 4.9],
        "petal_width_cm": [0.2, 2.3, 2.3, 1.5, 1.8, 2.3, float("inf")],
    }
    table = pa.table(
        {
            "row": [str(n) for n in range(7)],
            **{k: pa.array(v, pa.float64()) for k, v in numbers.items()},
        }
    )
    source = tmp_path / "input.parquet"
    pq.write_table(table, source)
    as_text = tmp_path / "input.csv"  # the same cells as text, for the service
    records = as_text_rows(table)
    with as_text.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([table.column_names, *records])

    out = tmp_path / "scored.parquet"
    score_with_spark(project, source, out)
    service = service_answers(project, as_text)
    expected = service["expected"]
    assert [("errors" in answer) for answer in expected] == [0, 0, 1, 0, 0, 1, 1]

    scored = pq.read_table(out)
    assert scored.schema.field("sepal_length_cm").type == pa.float64(), "input types kept"
    assert scored.schema.field("prediction").type == pa.string()
    header = table.column_names
    check_scored(expected, header, records, scored.column_names, as_text_rows(scored))
    refused = pq.read_table(tmp_path / "scored.parquet_bad")
    check_refused(expected, header, records, refused.column_names, as_text_rows(refused))


def as_text_rows(table):
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = [pc.cast(column, pa.string()).fill_null("").to_pylist() for column in table.columns]
    return [list(row) for row in zip(*cells, strict=True)]
