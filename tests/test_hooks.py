"""The copy-time hook and the migrations, as plain functions."""

import hashlib
import importlib.util
import json
import sys
from pathlib import Path, PurePosixPath

import pytest
from conftest import DATA, TEMPLATE


def load(relative):
    path = TEMPLATE / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


post_copy = load("hooks/post_copy.py")
migration = load("hooks/migrations/model_metadata_v2.py")


def test_relative_paths_are_taken_from_where_copier_ran(tmp_path):
    assert post_copy.resolve("data/x.csv", start=tmp_path) == tmp_path / "data" / "x.csv"
    assert post_copy.resolve("/abs/x.csv", start=tmp_path) == Path("/abs/x.csv")
    assert post_copy.resolve("~/x.csv").parent == Path.home()


def test_read_header_strips_names_and_refuses_non_csv(tmp_path):
    assert post_copy.read_header(DATA / "birds.csv")[:2] == ["Island", "Bill length (mm)"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(post_copy.AnswerError, match="no header row"):
        post_copy.read_header(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(post_copy.AnswerError, match="not a UTF-8 text CSV"):
        post_copy.read_header(binary)
    with pytest.raises(post_copy.AnswerError, match="does not exist"):
        post_copy.read_header(tmp_path / "missing.csv")


def test_read_header_reads_semicolons_and_tabs_but_a_comma_header_first(tmp_path):
    cases = {
        "\ufeffisland;bill length;species\r\nDream;39,1;Adelie\r\n": 3,
        "island\tbill length\tspecies\n": 3,
        'name,"a;b;c"\n': 2,  # a comma file whose second name holds semicolons
    }
    for text, width in cases.items():
        path = tmp_path / "sample.csv"
        path.write_text(text, encoding="utf-8", newline="")
        header = post_copy.read_header(path)
        assert len(header) == width, header
        assert header[0] in ("island", "name")


BIRDS = {"data_path": "birds.csv", "target_column": "species", "feature_selection": "none"}


def test_csv_answers_are_checked_against_the_header():
    columns = post_copy.read_header(DATA / "birds.csv")
    post_copy.check_training_csv(BIRDS, columns)
    safe_and_original = {**BIRDS, "features": ["island", "Bill length (mm)", "f_2nd_grosse"]}
    post_copy.check_training_csv(safe_and_original, columns)
    with pytest.raises(post_copy.AnswerError, match="features not in the CSV: wings"):
        post_copy.check_training_csv({**BIRDS, "features": ["wings"]}, columns)
    with pytest.raises(post_copy.AnswerError, match="'Species' is not a column"):
        post_copy.check_training_csv({**BIRDS, "target_column": "Species"}, columns)
    many = {
        **BIRDS,
        "feature_selection": "sequential",
        "n_features": 3,
        "features": ["sex", "island"],
    }
    with pytest.raises(post_copy.AnswerError, match="n_features is 3 but only 2 inputs"):
        post_copy.check_training_csv(many, columns)


def test_bundled_dataset_features_are_checked(tmp_path):
    answers = {"dataset": "iris", "features": ["petal width (cm)", "petal_length_cm"]}
    assert post_copy.copy_inputs(answers, tmp_path) == []
    with pytest.raises(post_copy.AnswerError, match="features not in iris: petal colour"):
        post_copy.copy_inputs({"dataset": "iris", "features": ["petal colour"]}, tmp_path)


def test_bundled_column_names_match_scikit_learn():
    from sklearn import datasets

    for name, columns in post_copy.BUNDLED_COLUMNS.items():
        if name == "languages":  # shipped in template/data, not by scikit-learn
            shipped = TEMPLATE / "template" / "data"
            with open(next(shipped.glob("*languages.csv*")), encoding="utf-8") as file:
                header = file.readline().strip().split(",")
            assert columns == [column for column in header if column != "language"]
            continue
        assert columns == list(getattr(datasets, f"load_{name}")(as_frame=True).data.columns)


def test_notebook_files_are_copied_with_their_names_into_data_notebook(tmp_path):
    import pickle

    (tmp_path / "data").mkdir()
    (tmp_path / "requirements.txt").write_text("scikit-learn==1.9.1\n")
    model = tmp_path / "My Model.SAV"
    model.write_bytes(pickle.dumps({"C": 1.0}))
    answers = {
        "model_source": "existing",
        "model_path": str(model),
        "sample_data_path": str(DATA / "birds.csv"),
        "target_column": "species",
    }
    copied = post_copy.copy_inputs(answers, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in copied] == [
        "data/notebook/My Model.SAV",
        "data/sample.csv",
    ]


def test_a_file_that_is_not_a_model_is_refused_at_copy_time(tmp_path):
    (tmp_path / "data").mkdir()
    answers = {
        "model_source": "existing",
        "model_path": str(DATA / "birds.csv"),
        "sample_data_path": str(DATA / "birds.csv"),
        "target_column": "species",
    }
    with pytest.raises(post_copy.AnswerError, match="looks like a CSV file"):
        post_copy.copy_inputs(answers, tmp_path)


def test_the_bootstrap_uses_the_asked_python_when_installed():
    assert post_copy.find_python("3.11") in (
        post_copy.shutil.which("python3.11"),
        sys.executable,
    )


def answers_file(project, **answers):
    (project / ".copier-answers.yml").write_text(
        "".join(f"{key}: {value}\n" for key, value in answers.items())
    )


def old_model_card(folder):
    """A model.json of layout 1 (0.1.x) and the model file beside it."""
    folder.mkdir(parents=True)
    old = {
        "project": "x",
        "target": {"name": "target", "classes": ["a", "b"]},
        "schema": [],
        "model_file": "model.pkl",
    }
    (folder / "model.json").write_text(json.dumps(old))
    (folder / "model.pkl").write_bytes(b"the user's model")


@pytest.mark.parametrize(
    ("answers", "label", "name"),
    [
        ({"dataset": "iris"}, "species", "species"),
        (
            {"dataset": "diabetes"},
            "disease progression after one year",
            "disease_progression_after_one_year",
        ),
        ({"dataset": "csv", "target_column": "Price (€)"}, "Price (€)", "price"),
        ({"model_source": "existing", "target_column": ""}, "prediction", "prediction"),
    ],
)
def test_the_0_2_0_migration_upgrades_model_json_in_place(tmp_path, answers, label, name):
    old_model_card(tmp_path / "models")
    answers_file(tmp_path, **answers)
    assert migration.migrate(tmp_path) == ["models/model.json"]
    new = json.loads((tmp_path / "models" / "model.json").read_text())
    assert new["metadata_version"] == 2
    assert new["target"] == {"name": name, "classes": ["a", "b"], "label": label}
    assert new["sha256"] == {"model.pkl": hashlib.sha256(b"the user's model").hexdigest()}
    assert migration.migrate(tmp_path) == [], "running it again changes nothing"


def test_the_migration_finds_old_model_cards_in_version_folders_too(tmp_path):
    version = "models/versions/20260101-120000-0123abcd"
    old_model_card(tmp_path / version)
    answers_file(tmp_path, dataset="wine")
    assert migration.migrate(tmp_path) == [f"{version}/model.json"]
    new = json.loads((tmp_path / version / "model.json").read_text())
    assert new["metadata_version"] == 2 and new["target"]["label"] == "cultivar"
    before = (tmp_path / version / "model.json").read_bytes()
    assert migration.migrate(tmp_path) == []
    assert (tmp_path / version / "model.json").read_bytes() == before


def test_the_migration_leaves_a_project_without_a_model_alone(tmp_path):
    assert migration.migrate(tmp_path) == []


def test_a_step_streams_its_output_and_fails_with_its_own_error_line(tmp_path, capfd):
    script = (
        "import sys; print('training...'); "
        "print('error: the target has one row per class', file=sys.stderr); sys.exit(1)"
    )
    with pytest.raises(post_copy.StepFailed) as failed:
        post_copy.run("train", [sys.executable, "-c", script], tmp_path)
    assert (failed.value.step, failed.value.cause) == ("train", "the target has one row per class")
    assert "training...\nerror: the target has one row per class\n" in capfd.readouterr().out


def test_a_step_that_cannot_start_says_which_program(tmp_path):
    with pytest.raises(post_copy.StepFailed, match="create .venv: cannot run /no/such/python"):
        post_copy.run("create .venv", ["/no/such/python", "-m", "venv", ".venv"], tmp_path)


def test_the_cause_is_the_last_error_line_else_the_last_line():
    lines = ["error: first", "", "ERROR: No matching distribution found for x==9", "done"]
    assert post_copy.failure_cause(lines, 1) == "No matching distribution found for x==9"
    pytest_tail = ["FAILED tests/test_app.py::test_form", "==== 1 failed, 20 passed in 2.1s ===="]
    assert post_copy.failure_cause(pytest_tail, 1) == "1 failed, 20 passed in 2.1s"
    assert post_copy.failure_cause([], 3) == "it stopped with exit status 3"


def test_the_failure_report_names_the_step_and_what_happens_to_the_project(tmp_path):
    failure = post_copy.StepFailed("train", "data/x.csv is not a readable CSV file")
    removed = post_copy.failure_report(failure, tmp_path, cleanup=True, package="shop")
    assert removed.startswith("FAILED: train: data/x.csv is not a readable CSV file\n")
    assert f"Copier now removes the unfinished project {tmp_path}" in removed
    assert "run copier copy again with -C (--no-cleanup)" in removed
    retry = "make train test (or: .venv/bin/python -m shop train test)"
    assert removed.endswith(f"fix the cause and run: {retry}")
    kept = post_copy.failure_report(failure, tmp_path, cleanup=False, package="shop")
    assert kept.endswith(f"fix the cause, then run: cd {tmp_path} && {retry}")
    for step in ("create .venv", "install", "train", "test"):
        assert step in post_copy.RETRY_TASKS


def test_the_retry_needs_no_make_and_uses_the_venv_python_of_the_os(monkeypatch):
    assert post_copy.retry_commands("install", "shop") == [
        "make setup train test",
        "python3 src/shop setup train test",  # .venv may be broken: any Python runs setup
    ]
    assert post_copy.retry_commands("test", "shop")[1] == ".venv/bin/python -m shop test"
    monkeypatch.setattr(post_copy.os, "name", "nt")
    assert post_copy.retry_commands("train", "shop") == [r".venv\Scripts\python -m shop train test"]
    assert post_copy.retry_commands("create .venv", "shop") == ["python src/shop setup train test"]
    assert post_copy.retry_commands("git", "shop")[0].startswith("git init -b main && ")


def test_on_windows_the_venv_python_of_the_asked_version_comes_from_the_py_launcher(
    monkeypatch, tmp_path
):
    """Windows has no python3.12 command; `py -3.12` finds that version when installed."""
    launcher = tmp_path / "py"
    launcher.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "if sys.argv[1] != '-3.12':\n"
        "    sys.exit(1)\n"
        "print('C:/Python312/python.exe')\n"
    )
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(post_copy.os, "name", "nt")
    assert post_copy.find_python("3.12") == "C:/Python312/python.exe"
    assert post_copy.find_python("3.13") == sys.executable  # not installed: copier's Python


def test_a_failed_bootstrap_makes_the_hook_fail(tmp_path, monkeypatch, capsys):
    answers_file(tmp_path, dataset="iris", bootstrap="true", package_name="shop")

    def failing_bootstrap(answers, project):
        raise post_copy.StepFailed("test", "1 failed, 20 passed in 2.1s")

    monkeypatch.setattr(post_copy, "bootstrap", failing_bootstrap)
    assert post_copy.main(tmp_path, cleanup=True) == 1
    assert "FAILED: test: 1 failed, 20 passed" in capsys.readouterr().err
    monkeypatch.setattr(post_copy, "bootstrap", lambda answers, project: None)
    assert post_copy.main(tmp_path) == 0


def test_the_venv_python_is_where_venv_puts_it(monkeypatch):
    project = PurePosixPath("/p")
    assert post_copy.venv_interpreter(project) == project / ".venv" / "bin" / "python"
    monkeypatch.setattr(post_copy.os, "name", "nt")
    assert post_copy.venv_interpreter(project) == project / ".venv" / "Scripts" / "python.exe"


def test_without_bootstrap_the_copy_says_what_each_column_becomes(tmp_path, capsys):
    """Training is not run at copy time then; the column report still is shown."""
    import yaml

    answers = {
        "model_source": "train",
        "dataset": "csv",
        "data_path": str(DATA / "customers.csv"),
        "target_column": "churned",
        "column_kinds": {"Plan": "text"},
        "bootstrap": False,
    }
    (tmp_path / "data").mkdir()
    (tmp_path / ".copier-answers.yml").write_text(yaml.safe_dump(answers), encoding="utf-8")
    assert post_copy.main(tmp_path) == 0
    out = capsys.readouterr().out
    assert "E-mail         left out: looks like e-mail addresses" in out
    assert "Signup date    date -> Signup date (year)" in out
    assert "Plan           text: set in COLUMN_KINDS" in out
    assert "churned" not in out  # the target is not an input
