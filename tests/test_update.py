"""copier update keeps users' work: hermetic template versions in a temporary git repo.

The fixtures copy this template into a new git repository and commit (and tag) versions
there, so the tests depend neither on the network nor on this repository's own tags.
"""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import TEMPLATE, live_dir, package_of, run, train
from copier import run_copy, run_update

pytestmark = pytest.mark.slow

USER_README_LINE = "Our team's notes: ask Ada before retraining."
ROUTE = """    @app.get("/hello")
    def hello():
        return {"hello": "from the user"}

"""


def git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def tracked_files(root):
    listing = git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return [name for name in listing.split("\0") if name and (root / name).is_file()]


@pytest.fixture
def untagged_repo(tmp_path):
    """A copy of this template as its own git repository: one commit, no tag."""
    repo = tmp_path / "template"
    for name in tracked_files(TEMPLATE):
        if name.startswith(("examples/", "docs/", "bench/")):
            continue
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "template 0.1.0")
    return repo


@pytest.fixture
def template_repo(untagged_repo):
    """The copy of this template, tagged v0.1.0."""
    git(untagged_repo, "tag", "v0.1.0")
    return untagged_repo


def release(repo, tag, change):
    change(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "--allow-empty", "-qm", f"template {tag}")
    git(repo, "tag", tag)


def as_trained_by_0_1(project):
    """models/ as 0.1.x wrote it: one model at the top, no versions, and model.json in
    layout 1, to exercise the 0.2.0 migration."""
    models = project / "models"
    live = live_dir(project)
    if live != models:
        for file in live.iterdir():
            file.replace(models / file.name)
        shutil.rmtree(models / "versions")
        (models / "LIVE").unlink()
        (models / "HISTORY").unlink(missing_ok=True)
    path = models / "model.json"
    metadata = json.loads(path.read_text())
    del metadata["metadata_version"], metadata["sha256"]
    metadata["target"] = {"name": "target", "classes": metadata["target"]["classes"]}
    path.write_text(json.dumps(metadata, indent=2))


def new_project(template_repo, tmp_path, answers=None, ref="v0.1.0"):
    project = tmp_path / "project"
    run_copy(
        str(template_repo),
        str(project),
        data={"bootstrap": False, **(answers or {})},
        defaults=True,
        unsafe=True,
        vcs_ref=ref,
        quiet=True,
    )
    train(project)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "rendered")
    return project


def update(project, ref, capfd, **data):
    run_update(
        str(project),
        data=data,
        defaults=True,
        overwrite=True,
        unsafe=True,
        vcs_ref=ref,
        quiet=False,
        conflict="inline",
        skip_answered=True,
    )
    output = capfd.readouterr()
    return output.out + output.err


def commit_all(project, message):
    git(project, "add", "-A")
    git(project, "commit", "-qm", message)


def user_edits(project):
    package = package_of(project)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + f"\n{USER_README_LINE}\n")
    app = project / "src" / package / "app.py"
    text = app.read_text()
    app.write_text(text.replace('    @app.get("/")\n', ROUTE + '    @app.get("/")\n', 1))
    config = project / "src" / package / "config.py"
    text = config.read_text()
    edits = {
        "FEATURES: list[str] = []": 'FEATURES = ["petal length (cm)", "petal width (cm)"]',
        "RANDOM_STATE = 42": "RANDOM_STATE = 7",
    }
    for old, new in edits.items():
        assert old in text, f"config.py has no {old!r} to edit"
        text = text.replace(old, new)
    config.write_text(text)
    train(project)  # the retrained model: two inputs
    as_trained_by_0_1(project)
    commit_all(project, "user edits and a retrained model")


def template_changes(repo):
    readme = repo / "template" / "README.md.jinja"
    text = readme.read_text()
    readme.write_text(text.replace("## Quick start", "## Quick start (updated)", 1))
    (repo / "template" / "CONTRIBUTING.md").write_text("Open an issue first.\n")
    (repo / "template" / ".gitignore").unlink()
    with open(repo / "copier.yml", "a") as file:
        file.write("\nteam_name:\n  type: str\n  help: Your team\n  default: Blue team\n")
    (repo / "template" / "TEAM.md.jinja").write_text("Maintained by {{ team_name }}.\n")


def test_update_keeps_user_work_and_brings_template_changes(template_repo, tmp_path, capfd):
    project = new_project(template_repo, tmp_path)
    user_edits(project)
    model_before = (project / "models" / "model.pkl").read_bytes()
    release(template_repo, "v0.2.0", template_changes)

    output = update(project, "v0.2.0", capfd)

    package = package_of(project)
    readme = (project / "README.md").read_text()
    assert USER_README_LINE in readme and "## Quick start (updated)" in readme
    assert "<<<<<<<" not in readme
    assert '@app.get("/hello")' in (project / "src" / package / "app.py").read_text()
    config = (project / "src" / package / "config.py").read_text()
    assert "RANDOM_STATE = 7" in config and '"petal width (cm)"]' in config
    assert (project / "models" / "model.pkl").read_bytes() == model_before
    assert (project / "CONTRIBUTING.md").exists()
    assert not (project / ".gitignore").exists()
    assert (project / "TEAM.md").read_text() == "Maintained by Blue team.\n"
    assert "team_name: Blue team" in (project / ".copier-answers.yml").read_text()
    # The 0.2.0 migration upgraded the user's model card in place.
    assert output.count("migrated models/model.json to layout 2") == 1, output
    metadata = json.loads((project / "models" / "model.json").read_text())
    assert metadata["metadata_version"] == 2
    assert metadata["target"]["label"] == "species"
    assert len(metadata["schema"]) == 2  # still the user's retrained model
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    hello = run(
        [
            sys.executable,
            "-c",
            f"from {package}.app import create_app; "
            "print(create_app().test_client().get('/hello').get_json())",
        ],
        project,
    )
    assert "from the user" in hello.stdout

    # The next release runs the migration again, which finds nothing left to change.
    commit_all(project, "updated to 0.2.0")
    card = (project / "models" / "model.json").read_bytes()
    release(template_repo, "v0.3.0", lambda repo: (repo / "template" / "NEWS.md").write_text("3\n"))
    output = update(project, "v0.3.0", capfd)
    assert "migrated" not in output
    assert (project / "models" / "model.json").read_bytes() == card
    assert (project / "NEWS.md").exists()


def predict(project):
    """POST the first reference row to the project's own app: -> (status, JSON answer)."""
    row = json.loads((project / "tests" / "data" / "reference.json").read_text())["rows"][0]
    package = package_of(project)
    script = (
        f"import json, sys; from {package}.app import create_app; "
        "reply = create_app().test_client().post('/predict', json=json.loads(sys.argv[1])); "
        "print(json.dumps([reply.status_code, reply.get_json()]))"
    )
    result = run([sys.executable, "-c", script, json.dumps(row)], project)
    status, answer = json.loads(result.stdout)
    return status, answer


def test_an_update_between_untagged_commits_migrates_once(untagged_repo, tmp_path, capfd):
    """The template has no release tags: a project copied from one commit and updated to a
    later one still gets the migrations, and another update changes nothing."""
    old = git(untagged_repo, "rev-parse", "HEAD").strip()
    project = new_project(untagged_repo, tmp_path, ref=old)
    as_trained_by_0_1(project)  # model.json of layout 1, at the top of models/
    commit_all(project, "a model trained with 0.1.x")
    (untagged_repo / "template" / "NEWS.md").write_text("A newer commit.\n")
    git(untagged_repo, "add", "-A")
    git(untagged_repo, "commit", "-qm", "template: a newer commit")
    new = git(untagged_repo, "rev-parse", "HEAD").strip()

    output = update(project, new, capfd)

    assert output.count("migrated models/model.json to layout 2") == 1, output
    assert (project / "NEWS.md").read_text() == "A newer commit.\n"
    metadata = json.loads((project / "models" / "model.json").read_text())
    assert metadata["metadata_version"] == 2 and metadata["target"]["label"] == "species"
    status, answer = predict(project)  # the old model loads and predicts, not retrained
    assert status == 200, answer
    assert answer["prediction"] in metadata["target"]["classes"]
    assert not (project / "models" / "LIVE").exists()  # the model stays where 0.1.x put it

    commit_all(project, "updated")
    output = update(project, new, capfd)
    assert "migrated" not in output, output
    assert git(project, "status", "--porcelain") == "", "a second update changes nothing"
    assert predict(project)[1]["prediction"] == answer["prediction"]


def test_a_same_line_edit_conflicts_visibly_and_loses_nothing(template_repo, tmp_path, capfd):
    project = new_project(template_repo, tmp_path)
    readme = project / "README.md"
    lines = readme.read_text().splitlines()
    lines[0] = lines[0] + " (our fork)"
    readme.write_text("\n".join(lines) + f"\n{USER_README_LINE}\n")
    commit_all(project, "user renames the title")

    def retitle(repo):
        path = repo / "template" / "README.md.jinja"
        text = path.read_text()
        path.write_text(text.replace("# {{ project_name }}\n", "# {{ project_name }} service\n", 1))

    release(template_repo, "v0.2.0", retitle)
    update(project, "v0.2.0", capfd)
    text = readme.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "Iris classifier (our fork)" in text and "Iris classifier service" in text
    assert USER_README_LINE in text
    # Copier leaves the file unmerged in git, so `git status` and `git diff` point at it.
    assert "UU README.md" in git(project, "status", "--porcelain")
    assert (live_dir(project) / "model.pkl").exists()


@pytest.mark.parametrize(
    ("answer", "value", "retrain"),
    [("server", "gunicorn", False), ("model_type", "random_forest", True)],
)
def test_changing_an_answer_rerenders_what_depends_on_it(
    template_repo, tmp_path, capfd, answer, value, retrain
):
    project = new_project(template_repo, tmp_path, ref="v0.1.0")
    release(template_repo, "v0.1.1", lambda repo: None)
    update(project, "v0.1.1", capfd, **{answer: value})
    answers = (project / ".copier-answers.yml").read_text()
    assert f"{answer}: {value}" in answers
    package = package_of(project)
    if answer == "server":
        assert "gunicorn" in (project / "requirements.txt").read_text()
        assert "gunicorn" in (project / "src" / package / "serve.py").read_text()
    else:
        assert (
            'MODEL_TYPE = "random_forest"' in (project / "src" / package / "config.py").read_text()
        )
    if retrain:
        train(project)
        # The newest version; it goes live unless the promotion rule keeps the old one.
        newest = sorted((project / "models" / "versions").iterdir())[-1]
        assert "RandomForest" in json.loads((newest / "model.json").read_text())["estimator"]
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)


def previous_release():
    tags = git(TEMPLATE, "tag", "--list", "v*", "--sort=-v:refname", "--no-contains", "HEAD")
    return tags.split()[0] if tags.split() else None


@pytest.mark.skipif(previous_release() is None, reason="this clone has no earlier release tag")
def test_update_from_the_previous_release_of_this_repository(tmp_path, capfd):
    tag = previous_release()
    project = new_project(TEMPLATE, tmp_path, ref=tag)
    update(project, "HEAD", capfd)
    assert not list(project.rglob("*.rej"))
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
