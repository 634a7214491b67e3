"""API keys on the real servers: waitress and gunicorn started as a user does, keys in a file.

The rules themselves (which routes, which headers, the pages) are the rendered project's
tests (template/tests/test_keys.py.jinja); this checks what only a real server shows: the
keys reach every worker, the logs it writes hold no key, and a bad key stops it in one line.
"""

import json
import subprocess
import time

import pytest
from _service_helpers import running, serve_command
from conftest import project_env
from openapi_spec_validator import validate as validate_openapi

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("servers")]

SERVERS = {"waitress": {}, "gunicorn": {"server": "gunicorn"}}
KEY = "server-key-0123456789abcdef"
WRONG_KEY = "server-key-0123456789abcdeX"
ROW = {"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}


@pytest.mark.parametrize("kind", list(SERVERS))
def test_a_server_with_keys_refuses_callers_without_one_and_never_logs_them(render, tmp_path, kind):
    project = render(SERVERS[kind])
    keys = tmp_path / "api-keys"
    keys.write_text(f"# from the secret store\n{KEY}\n")
    body = json.dumps(ROW)
    json_type = {"Content-Type": "application/json"}
    with running(project, tmp_path / "server.log", API_KEYS_FILE=str(keys)) as server:
        assert server.get("/health").status == 200
        expected = {}  # request id -> status; gunicorn's workers write their logs in any order
        for round_ in range(4):  # gunicorn: more requests than workers, so each worker answers
            ids = [f"keys-{round_}-{caller}" for caller in ("none", "wrong", "right")]
            refused = server.request(
                "POST", "/predict", body, {**json_type, "X-Request-ID": ids[0]}
            )
            assert refused.status == 401
            assert refused.headers["www-authenticate"].startswith("Bearer realm=")
            assert refused.json()["error"].startswith("this needs an API key")
            wrong = server.request(
                "POST",
                "/predict",
                body,
                {**json_type, "X-API-Key": WRONG_KEY, "X-Request-ID": ids[1]},
            )
            assert wrong.json() == {"error": "the API key is not valid"}
            answer = server.request(
                "POST",
                "/predict",
                body,
                {**json_type, "Authorization": f"Bearer {KEY}", "X-Request-ID": ids[2]},
            )
            assert answer.status == 200 and answer.json()["prediction"] == "setosa"
            expected.update(zip(ids, [401, 401, 200], strict=True))
        document = server.request("GET", "/openapi.json", headers={"X-API-Key": KEY}).json()
        validate_openapi(document)  # with its security schemes
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        time.sleep(0.5)  # the access log is written every 0.2 s
        log = server.log()
    records = [json.loads(line) for line in log.splitlines() if '"/predict"' in line]
    assert {record["request_id"]: record["status"] for record in records} == expected
    assert len(records) == len(expected)
    assert KEY not in log and WRONG_KEY not in log
    assert "API_KEYS_PAGES=1 closes them too" in log  # says the pages are open


@pytest.mark.parametrize("kind", list(SERVERS))
def test_a_bad_key_stops_the_server_with_one_line_that_hides_it(render, tmp_path, kind):
    project = render(SERVERS[kind])
    keys = tmp_path / "api-keys"
    keys.write_text(f"{KEY}\nhunter2\n")
    env = {**project_env(project), "API_KEYS_FILE": str(keys), "PORT": "1"}
    result = subprocess.run(
        serve_command(project), cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (
        1,
        "error: API_KEYS_FILE line 2 is too short (7 characters, 16 at least): make keys with "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'\n",
    )
