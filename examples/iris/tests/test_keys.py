"""Optional API keys (api_keys.py): off by default; with API_KEYS or API_KEYS_FILE set, the
API needs a key, sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`."""

import base64
import copy
import re
import time

import pytest

from iris_classifier import tracking
from iris_classifier.app import create_app
from iris_classifier.config import PROJECT_NAME
from iris_classifier.forms import default_texts
from iris_classifier.settings import SettingsError, from_env

KEY = "first-key-0123456789abcdef"
OTHER_KEY = "second_key~ABCDEFGHIJ+/="
WRONG_KEY = "wrong-key-0123456789abcdef"
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
MISSING = "this needs an API key: send it as Authorization: Bearer <key> or as X-API-Key: <key>"
API = [
    ("POST", "/predict"),
    ("POST", "/invocations"),
    ("POST", "/feedback"),
    ("GET", "/openapi.json"),
    ("GET", "/monitor.json"),
    ("GET", "/model"),
    ("GET", "/review.json"),
    ("POST", "/review/0123abcd"),  # a JSON answer to the review queue
]
OPEN = ["/health", "/ready", "/ping", "/metrics"]


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def basic(key, user="anyone"):
    """What a browser sends once its user has typed a user name and the key as password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def client_with(model, monkeypatch, **environment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return create_app(copy.copy(model)).test_client()


@pytest.fixture
def keyed(model, monkeypatch):
    """An app with two keys; the pages open (API_KEYS_PAGES unset)."""
    return client_with(model, monkeypatch, API_KEYS=f"{KEY}, {OTHER_KEY}")


@pytest.fixture
def closed(model, monkeypatch):
    """An app whose pages need the key too."""
    return client_with(model, monkeypatch, API_KEYS=KEY, API_KEYS_PAGES="1")


def test_without_keys_nothing_asks_for_one(client, row):
    assert client.post("/predict", json=row).status_code == 200
    document = client.get("/openapi.json").get_json()
    assert "securitySchemes" not in document["components"] and "security" not in document


@pytest.mark.parametrize(("method", "path"), API)
def test_every_api_route_needs_a_key(keyed, row, method, path):
    missing = keyed.open(path, method=method, json=row)
    assert missing.status_code == 401
    assert missing.get_json() == {"error": MISSING}
    assert missing.headers["WWW-Authenticate"] == f'Bearer realm="{PROJECT_NAME}"'
    wrong = keyed.open(path, method=method, json=row, headers=bearer(WRONG_KEY))
    assert wrong.status_code == 401
    assert wrong.get_json() == {"error": "the API key is not valid"}
    assert wrong.headers["WWW-Authenticate"].endswith('error="invalid_token"')
    # With the key the request gets through to the route (feedback: no prediction log, 404).
    assert keyed.open(path, method=method, json=row, headers=bearer(KEY)).status_code != 401


@pytest.mark.parametrize(
    "headers",
    [bearer(KEY), bearer(OTHER_KEY), {"X-API-Key": KEY}, {"authorization": f"bearer  {KEY} "}],
    ids=["bearer", "second key", "x-api-key", "any case and spaces"],
)
def test_either_header_with_either_key_predicts_as_without_keys(keyed, client, row, headers):
    reply = keyed.post("/predict", json=[row, row], headers=headers)
    assert reply.status_code == 200
    assert reply.get_json() == client.post("/predict", json=[row, row]).get_json()


def test_a_csv_needs_the_key_too(keyed, client):
    example = client.get("/batch/example.csv").get_data()
    refused = keyed.post("/predict", data=example, content_type="text/csv")
    assert (refused.status_code, refused.get_json()) == (401, {"error": MISSING})
    scored = keyed.post("/predict", data=example, content_type="text/csv", headers=bearer(KEY))
    assert scored.status_code == 200 and scored.mimetype == "text/csv"
    assert scored.get_data() == client.post("/predict", data=example, content_type="text/csv").data


def test_a_key_almost_right_is_refused(keyed, row):
    for almost in (KEY[:-1], KEY + "0", KEY.upper(), f"{KEY},{OTHER_KEY}", ""):
        reply = keyed.post("/predict", json=row, headers={"X-API-Key": almost})
        assert reply.status_code == 401, almost


@pytest.mark.parametrize("path", OPEN)
def test_health_checks_and_metrics_need_no_key(closed, path):
    assert closed.get(path).status_code == 200


def test_the_pages_stay_open_unless_asked(keyed, model):
    assert keyed.get("/", headers=BROWSER).status_code == 200
    assert keyed.get("/model", headers=BROWSER).status_code == 200  # the card as a page
    texts = default_texts(model.schema)
    form = keyed.post("/", data={k: v for k, v in texts.items() if v != "false"})
    assert form.status_code == 200 and 'id="prediction"' in form.get_data(as_text=True)
    api_page = keyed.get("/api").get_data(as_text=True)
    assert '-H "Authorization: Bearer $API_KEY"' in api_page  # in the curl examples


def test_with_api_keys_pages_a_browser_signs_in_with_the_key_as_password(closed, model):
    page = closed.get("/", headers=BROWSER)
    assert page.status_code == 401
    assert page.headers["WWW-Authenticate"] == f'Basic realm="{PROJECT_NAME}", charset="UTF-8"'
    assert "sign in with any user name and the key as the password" in page.get_data(as_text=True)
    assert closed.get("/", headers={**BROWSER, **basic(WRONG_KEY)}).status_code == 401
    assert closed.get("/", headers={**BROWSER, **basic(KEY)}).status_code == 200
    assert closed.get("/static/style.css").status_code == 401
    assert closed.get("/static/style.css", headers=basic(KEY, user="")).status_code == 200
    texts = default_texts(model.schema)
    data = {k: v for k, v in texts.items() if v != "false"}
    assert closed.post("/", data=data).status_code == 401
    form = closed.post("/", data=data, headers=basic(KEY))
    assert form.status_code == 200 and 'id="prediction"' in form.get_data(as_text=True)
    for path in ("/batch", "/api", "/monitor"):
        assert closed.get(path, headers=BROWSER).status_code == 401, path
        assert closed.get(path, headers={**BROWSER, **bearer(KEY)}).status_code == 200, path


def test_keys_from_a_file_one_a_line_with_comments(model, monkeypatch, row, tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# partners\n{KEY}\n\n  {OTHER_KEY}  # the shop\n# {WRONG_KEY}\n")
    keyed = client_with(model, monkeypatch, API_KEYS_FILE=str(path))
    for key, status in ((KEY, 200), (OTHER_KEY, 200), (WRONG_KEY, 401)):
        assert keyed.post("/predict", json=row, headers=bearer(key)).status_code == status


def test_the_openapi_document_says_how_to_send_a_key(keyed):
    document = keyed.get("/openapi.json", headers=bearer(KEY)).get_json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert document["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "401" in document["paths"]["/predict"]["post"]["responses"]
    assert document["paths"]["/health"]["get"]["security"] == []


def test_keys_are_never_logged(model, monkeypatch, row, tmp_path, capfd, caplog):
    log = tmp_path / "predictions.jsonl"
    keyed = client_with(model, monkeypatch, API_KEYS=KEY, ACCESS_LOG="1", PREDICTION_LOG=str(log))
    capfd.readouterr()
    caplog.set_level("INFO")
    sent = [bearer(KEY), {"X-API-Key": KEY}, basic(KEY), bearer(WRONG_KEY), basic(WRONG_KEY)]
    for number, headers in enumerate(sent):
        keyed.post("/predict", json=row, headers={**headers, "X-Request-ID": f"keys-{number}"})
    time.sleep(3 * tracking.FLUSH_SECONDS)  # written by the access log's own thread
    output = capfd.readouterr()
    access = [line for line in output.out.splitlines() if '"keys-' in line]
    assert ['"status": 200' in line for line in access] == [True] * 3 + [False] * 2
    assert "the API key is not valid" in caplog.text  # the refusals are logged, the keys not
    everything = output.out + output.err + caplog.text + log.read_text()
    for secret in (KEY, WRONG_KEY, basic(KEY)["Authorization"], basic(WRONG_KEY)["Authorization"]):
        assert secret.split()[-1] not in everything


def test_bad_key_settings_stop_start_up_with_a_message_that_hides_the_key(tmp_path):
    missing = tmp_path / "none"
    cases = {
        "short": ({"API_KEYS": f"{KEY},secret12"}, "API_KEYS item 2 is too short (8 characters"),
        "spaces": ({"API_KEYS": "a key with spaces in it"}, "API_KEYS item 1 is not a key"),
        "no key": ({"API_KEYS": " , "}, "API_KEYS holds no key"),
        "no file": ({"API_KEYS_FILE": str(missing)}, f"API_KEYS_FILE {missing} cannot be read"),
        "pages alone": ({"API_KEYS_PAGES": "1"}, "API_KEYS_PAGES=1 needs keys"),
    }
    for name, (environment, message) in cases.items():
        with pytest.raises(SettingsError, match="^" + re.escape(message)) as raised:
            from_env(environment)
        assert KEY not in str(raised.value) and "secret12" not in str(raised.value), name
    comments_only = tmp_path / "keys"
    comments_only.write_text(f"# {KEY}\n")
    with pytest.raises(SettingsError, match="holds no key"):
        from_env({"API_KEYS_FILE": str(comments_only)})
    settings = from_env({"API_KEYS": KEY})
    assert settings.api_key_digests and KEY not in repr(settings)
