"""The documentation site builds cleanly and documents every question and every answer.

Question names and answer values are a public interface: a question added to copier.yml,
or a new choice, must show up in docs/questions/*.md, or these tests fail.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
QUESTION_PAGES = sorted((ROOT / "docs" / "questions").glob("*.md"))


def load_copier_yml(path=ROOT / "copier.yml"):
    """copier.yml as Copier reads it: every YAML document merged, `!include` resolved."""

    class Loader(yaml.SafeLoader):
        pass

    def include(loader, node):
        documents = []
        for included in sorted(path.parent.glob(loader.construct_scalar(node))):
            documents.extend(yaml.load_all(included.read_text(encoding="utf-8"), Loader))
        return [document for document in documents if document]

    Loader.add_constructor("!include", include)
    merged = {}
    for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader):
        for part in document if isinstance(document, list) else [document]:
            merged.update(part or {})
    return merged


def questions():
    """Question name -> its settings, without the hidden computed values (`when: false`)."""
    found = {}
    for name, spec in load_copier_yml().items():
        if name.startswith("_"):
            continue
        if isinstance(spec, dict) and spec.get("when") is False:
            continue
        found[name] = spec if isinstance(spec, dict) else {"default": spec}
    return found


def choice_values(spec):
    choices = spec.get("choices") or []
    values = choices.values() if isinstance(choices, dict) else choices
    return [str(value) for value in values]


def names_on(page):
    """The identifiers a page names: code spans, and the words of its headings.

    Fenced code blocks are left out: a name only counts where the prose shows it.
    """
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    spans = set(re.findall(r"`([^`\n]+)`", text))
    headings = re.findall(r"^#{1,6} +(.+)$", text, flags=re.M)
    words = {word for heading in headings for word in re.findall(r"[\w.-]+", heading)}
    return spans | words


def heading_names(page):
    """The code spans in a page's headings: `## \\`task\\``."""
    headings = re.findall(r"^#{1,6} +(.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {name for heading in headings for name in re.findall(r"`([^`\n]+)`", heading)}


QUESTIONS = questions()


def test_copier_yml_loads_with_its_include():
    assert "project_name" in QUESTIONS and "model_type" in QUESTIONS
    assert "reserved_package_names" not in QUESTIONS  # included, hidden: when false
    assert "project_slug" not in QUESTIONS  # computed, hidden: when false
    assert "json" in load_copier_yml()["reserved_package_names"]["default"]


def test_mkdocs_build_is_strict_clean(tmp_path):
    """Broken links or anchors, and pages missing from the nav, are errors (mkdocs.yml)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "questions" / "data" / "index.html").is_file()


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_every_question_is_documented(name):
    pages = [page.name for page in QUESTION_PAGES if name in names_on(page)]
    assert pages, f"question {name!r} is not named in docs/questions/*.md"


@pytest.mark.parametrize(
    "name", sorted(name for name, spec in QUESTIONS.items() if choice_values(spec))
)
def test_every_answer_of_a_choice_is_documented(name):
    """Each choice value is named on a page that documents its question."""
    pages = [page for page in QUESTION_PAGES if name in names_on(page)]
    named = set().union(*(names_on(page) for page in pages))
    missing = [value for value in choice_values(QUESTIONS[name]) if value not in named]
    assert not missing, f"answers of {name!r} missing from {[p.name for p in pages]}: {missing}"


def test_question_headings_name_real_questions():
    """A renamed or removed question must not linger in the docs under its old name."""
    for page in QUESTION_PAGES:
        unknown = heading_names(page) - QUESTIONS.keys()
        assert not unknown, f"{page.name} has headings for unknown questions: {unknown}"


# ---- the pages about the generated project name real targets, routes and settings ----

DOCS = ROOT / "docs"
PACKAGE_SOURCE = ROOT / "template" / "src" / "{{package_name}}"


def code_on(page):
    """The code a page shows: fenced blocks and code spans."""
    text = page.read_text(encoding="utf-8")
    return re.findall(r"^```.*?^```", text, flags=re.M | re.S) + re.findall(r"`([^`\n]+)`", text)


def make_targets_named(page):
    """`make setup train`, `make eb-init EB_PLATFORM=...` -> {"setup", "train", "eb-init"}."""
    targets = set()
    for chunk in code_on(page):
        pattern = r"(?:^|[\s`(])make((?: +[a-z][a-z0-9-]*(?![\w=/.-]))+)"
        for match in re.finditer(pattern, chunk, flags=re.M):
            targets |= set(match.group(1).split())
    return targets


def makefile_targets(path):
    return set(re.findall(r"^([a-z][a-z0-9-]*):", path.read_text(encoding="utf-8"), flags=re.M))


def test_make_targets_named_in_the_docs_exist(render):
    """Every `make X` in the docs is a target of a rendered Makefile (docker-eb or
    eb-python, which have every deploy target), or, on the home page, of this repo's."""
    rendered = set()
    for deploy in ("docker-eb", "eb-python"):
        rendered |= makefile_targets(render({"deploy": deploy}, train_model=False) / "Makefile")
    assert {"docker-build", "eb-create", "eb-terminate"} <= rendered
    assert "docker-build" in make_targets_named(DOCS / "deployment.md")
    ours = makefile_targets(ROOT / "Makefile")  # `make demo` on the home page
    for page in sorted(DOCS.rglob("*.md")):
        known = rendered | (ours if page.name == "index.md" else set())
        unknown = make_targets_named(page) - known
        assert not unknown, f"{page.relative_to(ROOT)} names make targets that are not: {unknown}"


def app_routes():
    """{(METHOD, path)} from the decorators of the rendered app's create_app(), of the
    pages it adds from other modules, and its add_url_rule calls (GET)."""
    routes = set()
    adders = (
        ("app.py", "add_routes"),
        ("app.py", "create_app"),
        ("monitor_pages.py", "add_monitor_routes"),
        ("feedback.py", "add_feedback_route"),
        ("review.py", "add_review_routes"),
    )
    for module, function in adders:
        text = (PACKAGE_SOURCE / module).read_text(encoding="utf-8")
        body = text.split(f"def {function}", 1)[1].split("\ndef ", 1)[0]
        routes |= {
            (method.upper(), re.sub(r"<\w+>", "", path))  # /review/<review_id>: /review/
            for method, path in re.findall(r'@app\.(get|post)\("([^"]+)"\)', body)
        }
        routes |= {("GET", path) for path in re.findall(r'add_url_rule\("([^"]+)"', body)}
    return routes


def test_service_page_lists_every_route_and_no_other():
    routes = app_routes()
    assert ("POST", "/predict") in routes and ("GET", "/ready") in routes
    page = (DOCS / "service.md").read_text(encoding="utf-8")
    section = page.split("\n## Routes\n", 1)[1].split("\n## ", 1)[0]
    named = set()
    for span in re.findall(r"`([^`\n]+)`", section):
        for method, path in re.findall(r"\b(GET|POST) (/[\w./-]*)", span):
            named.add((method, path))
    assert named - routes == set(), f"service.md names routes the app lacks: {named - routes}"
    assert routes - named == set(), f"routes missing from service.md: {routes - named}"


def test_service_page_lists_every_setting():
    settings = (PACKAGE_SOURCE / "settings.py").read_text(encoding="utf-8")
    variables = set(
        re.findall(r'(?:env_int|env_flag|env_share|environ\.get)\("([A-Z_]+)"', settings)
    )
    assert {"HOST", "PORT", "MAX_CONTENT_LENGTH"} <= variables
    page = (DOCS / "service.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", page, flags=re.M))
    assert table == variables, f"service.md: {sorted(table)}, settings.py: {sorted(variables)}"


def test_updating_page_shows_the_conflict_markers_the_update_test_checks():
    update_test = (ROOT / "tests" / "test_update.py").read_text(encoding="utf-8")
    markers = re.findall(r'"((?:<<<<<<<|>>>>>>>) [a-z ]+)"', update_test)
    assert len(markers) == 2, markers
    page = (DOCS / "updating.md").read_text(encoding="utf-8")
    for marker in markers:
        assert f"\n{marker}\n" in page, f"updating.md does not show the marker {marker!r}"
