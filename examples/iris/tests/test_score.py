"""The score command (python -m <package>.score): files of any size, scored as the CSV
endpoint scores them."""

import csv
import io
import os
import random
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from iris_classifier import batch, score
from iris_classifier.schema import TEXT_MAX_LENGTH

TEXTS = ("Fine.", 'Great, "really" great', "First line\nsecond line", "none")


def valid_texts(model, rng):
    """One valid row as CSV cells, some numbers outside the training range (a warning)."""
    texts = {}
    for field in model.schema.fields:
        if field.kind == "category":
            texts[field.name] = str(rng.choice(field.categories))
        elif field.kind == "boolean":
            texts[field.name] = rng.choice(["yes", "no"])
        elif field.kind == "text":
            texts[field.name] = rng.choice(TEXTS)
        else:
            low, high = field.minimum, field.maximum
            margin = 0.1 * (high - low) + (1 if field.kind == "integer" else 0)
            value = rng.uniform(low - margin, high + margin)
            texts[field.name] = str(round(value)) if field.kind == "integer" else f"{value:.3f}"
    return texts


def make_rows(model, rows=200, seed=0):
    """A header (the fields, then a note column the model does not use) and valid rows."""
    rng = random.Random(seed)
    header = [*model.schema.names, "note"]
    records = [[*valid_texts(model, rng).values(), f"row {n}"] for n in range(rows)]
    return header, records


def csv_bytes(records):
    output = io.StringIO()
    csv.writer(output).writerows(records)
    return output.getvalue().encode()


def bad_texts(model):
    """A row the schema refuses (its first field is wrong), and the message expected."""
    texts = valid_texts(model, random.Random(1))
    field = model.schema.fields[0]
    texts[field.name] = {
        "number": "abc",
        "integer": "1.5x",
        "boolean": "maybe",
        "category": "no such category",
        "text": "x" * (TEXT_MAX_LENGTH + 1),
    }[field.kind]
    _, errors, _ = model.schema.validate_text(dict(texts))
    message = "; ".join(f"{name}: {text}" for name, text in errors.items())
    return list(texts.values()), message


def run(*arguments):
    return score.main([str(argument) for argument in arguments])


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture
def small_blocks(monkeypatch):
    """Many blocks and pieces in a small file: every cut and every fallback is exercised."""
    monkeypatch.setattr(score, "BLOCK_BYTES", 97)
    monkeypatch.setattr(score, "SCORE_ROWS", 7)
    monkeypatch.setattr(score, "SLOW_ROWS", 5)
    monkeypatch.setattr(score, "PARQUET_ROWS", 11)


@pytest.fixture
def exact_model(model, monkeypatch):
    """The scikit-learn pipeline itself predicts, in float64: the same answers in any batch.

    An ONNX twin computes in float32, whose last digits depend on how rows are batched.
    """
    monkeypatch.setattr(model, "predictor", model.estimator)
    monkeypatch.setattr(score, "load_model", lambda: model)
    return model


def test_a_file_is_scored_as_the_csv_endpoint_scores_it(model, client, tmp_path):
    header, records = make_rows(model)
    body = csv_bytes([header, *records])
    (tmp_path / "in.csv").write_bytes(body)
    assert run(tmp_path / "in.csv", tmp_path / "out.csv") == 0
    response = client.post("/predict", data=body, content_type="text/csv")
    assert response.status_code == 200
    assert (tmp_path / "out.csv").read_bytes() == response.data
    assert not (tmp_path / "out.bad.csv").exists()


@pytest.mark.parametrize("name", ["in.csv", "in.csv.gz"])
def test_scores_do_not_depend_on_how_the_file_is_cut(
    exact_model, client, tmp_path, small_blocks, name
):
    model = exact_model
    header, records = make_rows(model, rows=120)
    body = csv_bytes([header, *records])
    path = tmp_path / name
    if name.endswith(".gz"):
        import gzip

        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)
    out = tmp_path / name.replace("in", "out")
    assert run(path, out) == 0
    if name.endswith(".gz"):
        import gzip

        scored_text = gzip.decompress(out.read_bytes()).decode()
    else:
        scored_text = out.read_text(encoding="utf-8")
    scored = list(csv.DictReader(io.StringIO(scored_text, newline="")))
    expected = list(
        csv.DictReader(
            io.StringIO(
                client.post("/predict", data=body, content_type="text/csv").get_data(as_text=True),
                newline="",
            )
        )
    )
    assert len(scored) == len(expected) == len(records)
    for mine, service in zip(scored, expected, strict=True):
        assert same_scores(mine, service)


def same_scores(mine, service):
    """Equal rows: the same cells, the same scores (to the last digit written). A cell of a
    CSV file may have a ' in front (a spreadsheet formula, guarded): it is compared without it."""
    for name, value in service.items():
        value, own = batch.restore(value), batch.restore(mine[name])
        if name == "prediction" or name.startswith("probability_"):
            # Probabilities are written with 6 decimals: the last may differ by one where a
            # model computes in 32 bits (ONNX) and its last digits depend on the batch.
            close = {"abs": 1.5e-6} if name != "prediction" else {"rel": 1e-6, "abs": 1e-9}
            try:
                if float(own) != pytest.approx(float(value), **close):
                    return False
                continue
            except ValueError:
                pass  # a class label
        if own != value:
            return False
    return True


def test_refused_rows_go_to_the_side_file_with_their_line(model, tmp_path, small_blocks):
    header, records = make_rows(model, rows=3)
    bad, message = bad_texts(model)
    width = len(header)
    text, starts = "", {}
    for name, line in [
        ("header", csv_line(header)),
        ("first", csv_line(records[0])),
        ("spans lines", csv_line([*records[1][:-1], "two\nlines"])),
        ("blank", ""),
        ("bad", csv_line([*bad, "bad"])),
        ("ragged", csv_line([*records[2], "one too many"])),
        ("spaces only", " , "),
        ("last", csv_line(records[2])),
    ]:
        starts[name] = text.count("\n") + 1  # as a spreadsheet counts: the header is line 1
        text += line + "\n"
    (tmp_path / "in.csv").write_text(text, encoding="utf-8")
    assert run(tmp_path / "in.csv", tmp_path / "out.csv") == 1
    scored = read_csv(tmp_path / "out.csv")
    assert [row["note"] for row in scored] == ["row 0", "two\nlines", "row 2"]
    refused = read_csv(tmp_path / "out.bad.csv")
    assert list(refused[0])[:2] == ["line", "errors"]
    assert [(row["line"], row["errors"]) for row in refused] == [
        (str(starts["bad"]), message),
        (str(starts["ragged"]), f"{width + 1} values, but the header has {width} columns"),
    ]
    assert refused[1]["note"] == "row 2"


def csv_line(record):
    return csv_bytes([record]).decode().removesuffix("\r\n")


def test_allow_bad_rows_exits_0_and_bad_rows_path_is_used(model, tmp_path):
    header, records = make_rows(model, rows=5)
    bad, _ = bad_texts(model)
    (tmp_path / "in.csv").write_bytes(csv_bytes([header, *records, [*bad, "bad"]]))
    side = tmp_path / "refused.csv"
    code = run(tmp_path / "in.csv", tmp_path / "out.csv", "--bad-rows", side, "--allow-bad-rows")
    assert code == 0
    assert len(read_csv(tmp_path / "out.csv")) == 5
    bad_line = csv_bytes([header, *records]).count(b"\n") + 1  # a text may span lines
    assert [row["line"] for row in read_csv(side)] == [str(bad_line)]


def test_parquet_in_parquet_out_with_the_columns_typed(exact_model, tmp_path, small_blocks):
    model = exact_model
    header, records = make_rows(model, rows=40)
    bad, message = bad_texts(model)
    records[17] = [*bad, "bad"]
    columns = {name: [record[i] for record in records] for i, name in enumerate(header)}
    table = pa.table({name: pa.array(cells, pa.string()) for name, cells in columns.items()})
    table = table.append_column("id", pa.array(range(40), pa.int64()))
    pq.write_table(table, tmp_path / "in.parquet")
    (tmp_path / "in.csv").write_bytes(
        csv_bytes([[*header, "id"], *[[*record, str(n)] for n, record in enumerate(records)]])
    )
    assert run(tmp_path / "in.parquet", tmp_path / "out.parquet") == 1
    refused = read_csv(tmp_path / "out.bad.csv")
    assert [(row["row"], row["errors"]) for row in refused] == [("18", message)]
    assert run(tmp_path / "in.csv", tmp_path / "out.csv") == 1
    scored = pq.read_table(tmp_path / "out.parquet")
    assert scored.schema.field("id").type == pa.int64()
    assert scored.column_names == [*header, "id", *score.output_names(model)]
    assert scored.column("id").to_pylist() == [n for n in range(40) if n != 17]
    from_csv = read_csv(tmp_path / "out.csv")
    for row, expected in zip(scored.to_pylist(), from_csv, strict=True):
        as_csv = {
            name: f"{value:.6f}" if name.startswith("probability_") else str(value)
            for name, value in row.items()
        }
        assert same_scores(as_csv, {name: expected[name] for name in score.output_names(model)})


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["missing.csv", "out.csv"], "missing.csv: no such file"),
        (["wrong.csv", "out.csv"], "the header does not fit the model"),
        (["empty.csv", "out.csv"], "empty CSV"),
        (["latin1.csv", "out.csv"], "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_scored_exits_2_with_one_line(
    model, tmp_path, capsys, arguments, expected
):
    header, records = make_rows(model, rows=2)
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "latin1.csv").write_bytes(csv_bytes([header, *records]) + b"caf\xe9\n")
    assert run(*(tmp_path / name for name in arguments)) == 2
    error = capsys.readouterr().err
    assert expected in error and error.count("\n") == 1, error
    assert not (tmp_path / "out.csv").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "empty.csv",
        "latin1.csv",
        "wrong.csv",
    ]


@pytest.mark.parametrize("arguments", [["in.txt", "out.csv"], ["in.csv", "out.parquet"], []])
def test_a_usage_error_exits_2(tmp_path, arguments):
    with pytest.raises(SystemExit) as stopped:
        run(*(tmp_path / name for name in arguments))
    assert stopped.value.code == 2


def test_a_run_that_fails_half_way_leaves_no_output(model, tmp_path, small_blocks, monkeypatch):
    header, records = make_rows(model, rows=60)
    bad, _ = bad_texts(model)
    records[1] = [*bad, "bad"]  # so that a side file is being written too
    (tmp_path / "in.csv").write_bytes(csv_bytes([header, *records]))
    calls = []
    original = score.score_columns

    def fails_late(*arguments, **options):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as Ctrl-C, or SIGTERM, does
        return original(*arguments, **options)

    monkeypatch.setattr(score, "score_columns", fails_late)
    assert run(tmp_path / "in.csv", tmp_path / "out.csv") == 130
    assert len(calls) == 5
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


# Scores slowly (a pause before each piece) so that the test can stop it half way.
SLOW_RUN = """
import sys, time
from iris_classifier import score
original = score.score_columns
def slowly(*arguments, **options):
    print("scoring", flush=True)
    time.sleep(0.2)
    return original(*arguments, **options)
score.score_columns, score.SCORE_ROWS = slowly, 5
sys.exit(score.main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_stopped_run_leaves_no_output(model, tmp_path, stop):
    header, records = make_rows(model, rows=100)
    (tmp_path / "in.csv").write_bytes(csv_bytes([header, *records]))
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, str(tmp_path / "in.csv"), str(tmp_path / "out.csv")],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "scoring\n"
    time.sleep(0.3)
    process.send_signal(getattr(signal, stop))
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130, error
    assert "interrupted" in error and "Traceback" not in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]
