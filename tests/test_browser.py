"""The form in a real browser: headless Chromium (Debian's) driven by Playwright.

Screenshots of the form, a result, an error, the batch page and the monitor page, at
desktop and phone width, are saved in test-output/screenshots/ (CI keeps them).
"""

import random
from pathlib import Path

import pytest
from _service_helpers import running
from conftest import DATA, OUTPUT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("servers")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = OUTPUT / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
BIRDS = {
    "dataset": "csv",
    "data_path": str(DATA / "birds.csv"),
    "target_column": "species",
    "model_type": "random_forest",
}
VIRGINICA = {
    "sepal length (cm)": "6.7",
    "sepal width (cm)": "3.0",
    "petal length (cm)": "5.2",
    "petal width (cm)": "2.3",
}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def iris(render, tmp_path_factory):
    with running(render({}), tmp_path_factory.mktemp("iris") / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def birds(render, tmp_path_factory):
    with running(render(BIRDS), tmp_path_factory.mktemp("birds") / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def languages(render, tmp_path_factory):
    project = render({"dataset": "languages", "project_name": "Which language"})
    with running(project, tmp_path_factory.mktemp("languages") / "server.log") as server:
        yield server


@pytest.fixture
def open_page(browser):
    """open_page(server, viewport) -> a page on the form; fails on any request elsewhere."""
    pages, requested = [], []

    def _open(server, viewport=DESKTOP):
        page = browser.new_page(viewport=viewport)
        page.on("request", lambda request: requested.append(request.url))
        page.goto(server.url + "/")
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()
    elsewhere = [url for url in requested if not url.startswith("http://127.0.0.1:")]
    assert elsewhere == [], "the pages load everything from the service itself (no CDN)"


def shoot(page, name):
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0


@pytest.mark.parametrize(("viewport", "suffix"), [(DESKTOP, ""), (PHONE, "-phone")])
def test_fill_the_form_and_read_the_prediction(open_page, iris, viewport, suffix):
    page = open_page(iris, viewport)
    assert page.title() == "Iris classifier"
    shoot(page, f"form{suffix}")
    for label, value in VIRGINICA.items():
        page.get_by_label(label).fill(value)  # found through its <label>: labels are bound
    page.get_by_role("button", name="Predict").click()
    assert page.locator("#prediction").inner_text() == "virginica"
    bars = page.locator("#probabilities li")
    assert bars.count() == 3
    assert bars.first.locator(".bar-label").inner_text() == "virginica"
    assert page.get_by_label("petal width (cm)").input_value() == "2.3", "values are kept"
    shoot(page, f"result{suffix}")


def test_a_bad_value_shows_its_message_at_the_field(open_page, iris):
    page = open_page(iris)
    field = page.get_by_label("petal width (cm)")
    field.fill("")
    page.get_by_role("button", name="Predict").click()
    assert page.locator("#e-petal_width_cm").inner_text() == "required"
    field = page.get_by_label("petal width (cm)")
    assert field.get_attribute("aria-invalid") == "true"
    assert "e-petal_width_cm" in field.get_attribute("aria-describedby")
    assert page.locator("#prediction").count() == 0
    shoot(page, "error")
    page.get_by_role("link", name="petal width (cm): required").click()
    assert page.url.endswith("#f-petal_width_cm"), "the summary links to the field"


def test_an_out_of_range_value_predicts_with_a_warning(open_page, iris):
    page = open_page(iris)
    page.get_by_label("petal width (cm)").fill("30")
    page.get_by_role("button", name="Predict").click()
    assert page.locator("#prediction").inner_text() in ("setosa", "versicolor", "virginica")
    assert "outside the range seen in training" in page.locator("#warnings").inner_text()


def test_selects_and_checkboxes_of_a_csv_model(open_page, birds):
    page = open_page(birds, PHONE)
    island = page.get_by_label("Island")
    assert island.locator("option").all_inner_texts() == ["Biscoe", "Dream", "Torgersen"]
    island.select_option("Dream")
    page.get_by_label("Ringed?").check()
    page.get_by_role("button", name="Predict").click()
    assert page.locator("#prediction").inner_text() in ("Adelie", "Chinstrap", "Gentoo")
    assert page.get_by_label("Island").input_value() == "Dream"
    assert page.get_by_label("Ringed?").is_checked()
    shoot(page, "birds-result-phone")


def test_the_batch_page_uploads_a_csv_and_downloads_it_scored(open_page, iris, tmp_path):
    page = open_page(iris)
    page.get_by_role("link", name="Batch", exact=True).click()
    rows = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
    rows += "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[{"name": "flowers.csv", "mimeType": "text/csv", "buffer": rows.encode()}]
    )
    shoot(page, "batch")
    with page.expect_download() as download:
        page.get_by_role("button", name="Score and download").click()
    assert download.value.suggested_filename == "flowers-scored.csv"
    saved = tmp_path / "scored.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].split(",")[4] == "prediction"
    assert [line.split(",")[4] for line in lines[1:]] == ["setosa", "virginica"]


def test_the_model_and_api_pages(open_page, iris):
    page = open_page(iris)
    page.get_by_role("link", name="Model", exact=True).click()
    assert page.get_by_role("heading", name="Model card").is_visible()
    page.get_by_role("link", name="API", exact=True).click()
    assert f"curl {iris.url}/predict" in page.locator("pre").first.inner_text()
    shoot(page, "api")


def test_type_a_new_sentence_and_read_its_language(open_page, languages):
    page = open_page(languages)
    text = page.get_by_label("text")
    assert text.evaluate("element => element.tagName") == "TEXTAREA"
    text.fill("Wo ist bitte der Bahnhof? Ich habe meinen Zug verpasst.")
    page.get_by_role("button", name="Predict").click()
    assert page.locator("#prediction").inner_text() == "german"
    assert "Zug verpasst" in page.get_by_label("text").input_value(), "the text is kept"
    shoot(page, "languages-result")


IRIS_FIELDS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


@pytest.mark.parametrize(("viewport", "suffix"), [(DESKTOP, ""), (PHONE, "-phone")])
def test_the_monitor_page_after_shifted_traffic(open_page, iris, viewport, suffix):
    # Traffic like training (the 150 iris flowers, drawn at random), then one input shifted:
    # only that input's card turns red.
    from sklearn.datasets import load_iris

    flowers = [dict(zip(IRIS_FIELDS, map(float, x), strict=True)) for x in load_iris().data]
    randomly = random.Random(13)
    rows = [dict(randomly.choice(flowers)) for _ in range(1000)]
    for row in rows[500:]:
        row["petal_width_cm"] = round(row["petal_width_cm"] * 1.8 + 0.4, 1)
    assert iris.post_json(rows).status == 200
    page = open_page(iris, viewport)
    page.get_by_role("link", name="Monitor", exact=True).click()
    assert page.get_by_role("heading", name="Monitor", exact=True).is_visible()
    for label in ("petal width (cm)", "sepal length (cm)"):
        card = page.locator("article", has=page.get_by_role("heading", name=label))
        expected = "red" if label.startswith("petal width") else "green"
        assert expected in card.locator(".light").first.inner_text(), label
    assert page.locator("svg.chart").count() >= 5  # 4 inputs, the predictions, the confidence
    shoot(page, f"monitor{suffix}")


# A flower between versicolor and virginica: the model gives each about half.
BORDERLINE = {
    "sepal length (cm)": "6.0",
    "sepal width (cm)": "2.7",
    "petal length (cm)": "5.0",
    "petal width (cm)": "1.6",
}


@pytest.mark.parametrize("degree", ["full", "partial", "assist", "shadow"])
def test_each_degree_of_automation_in_the_form_and_the_api(open_page, render, tmp_path, degree):
    settings = {
        "AUTOMATION": degree,
        "REVIEW_THRESHOLD": "0.9",
        "REVIEW_QUEUE": str(tmp_path / "queue.jsonl"),
    }
    with running(render({}), tmp_path / "server.log", **settings) as server:
        rows = [
            {IRIS_FIELDS[i]: float(v) for i, v in enumerate(f.values())}
            for f in (VIRGINICA, BORDERLINE)
        ]
        answers = server.post_json(rows).json()["predictions"]
        decisions = [answer.get("decision") for answer in answers]
        expected = {
            "full": [None, None],
            "partial": ["model", "refer"],
            "assist": ["assist", "assist"],
            "shadow": ["shadow", "shadow"],
        }[degree]
        assert decisions == expected
        page = open_page(server)
        for label, value in BORDERLINE.items():
            page.get_by_label(label).fill(value)
        page.get_by_role("button", name="Predict").click()
        result = page.locator("section.result")
        shown = result.inner_text()
        nav = page.get_by_role("navigation", name="Pages")
        assert (nav.get_by_role("link", name="Review").count() == 1) == (degree != "full")
        if degree == "full":
            assert page.locator("#prediction").inner_text() == "versicolor"
        elif degree == "partial":
            assert "Referred to a person" in shown and "below 90.0%" in shown
            assert page.locator("#prediction").count() == 0
            assert page.locator("#probabilities").count() == 0
            review_id = page.locator("#review-id").inner_text()
        elif degree == "assist":
            assert "Your decision" in shown and page.locator("#prediction").count() == 0
            buttons = page.locator("#choices button").all_inner_texts()
            assert buttons == ["versicolor", "virginica", "setosa"], "likeliest first"
            assert "50.2%" in shown or "49.5%" in shown
        else:
            assert "Recorded" in shown and "versicolor" not in shown.split("Record the")[0]
            assert page.locator("#prediction").count() == 0
            assert page.locator("#probabilities").count() == 0
            assert "%" not in shown, "no probability either"
        shoot(page, f"automation-{degree}")
        page.set_viewport_size(PHONE)
        shoot(page, f"automation-{degree}-phone")
        page.set_viewport_size(DESKTOP)
        if degree == "full":
            return
        if degree == "partial":
            page.get_by_role("link", name="Review", exact=True).click()
            item = page.locator(f"#item-{review_id}")
            assert "The model suggests versicolor" in item.inner_text()
            assert page.locator("#held-out").count() == 1
            shoot(page, "automation-review")
            item.get_by_label("species").select_option("virginica")
            item.get_by_role("button", name="Record answer").click()
        else:
            review_id = page.locator("form[action^='/review/']").first.get_attribute("action")
            review_id = review_id.rsplit("/", 1)[1]
            page.locator("#choices").get_by_role("button", name="virginica").click()
        assert "Your answer virginica is recorded" in page.locator("#recorded").inner_text()
        shoot(page, f"automation-{degree}-answered")
        page.get_by_role("link", name="The review queue").click()
        assert page.get_by_role("heading", name="Review", exact=True).is_visible()
        assert page.locator(f"#item-{review_id}").count() == 0, "answered: off the list"
        monitor = server.get("/monitor.json").json()
        assert monitor["outcomes"]["count"] == 1, "the person's answer is feedback"
