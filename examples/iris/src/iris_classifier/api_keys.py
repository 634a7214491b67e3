"""Optional API keys: with API_KEYS or API_KEYS_FILE set (settings.py), callers need a key.

A program sends it as `Authorization: Bearer <key>` or as `X-API-Key: <key>`; never in the
URL, which proxies and browsers keep in their logs. What needs a key:

- the API: every POST that scores or records (/predict, /invocations, /feedback, a JSON
  answer to POST /review/<id>) and what programs read (/openapi.json, /monitor.json,
  /review.json, /model asked for as JSON);
- the pages (/, /batch, /api, /monitor, /review, /model in a browser, /static) only with
  API_KEYS_PAGES=1, since a key on the pages keeps out the people the form is for. A browser
  cannot add a header by itself, so it is asked for a user name and a password (HTTP Basic):
  any user name, the key as the password; it sends them again until it is closed. Without
  API_KEYS_PAGES the form and the batch page still score for anyone who can reach them;
- never: /health, /ready and /ping, which load balancers and SageMaker call without a key,
  and /metrics, which Prometheus reads (counts and timings, never a value sent; MONITORING=0
  empties it, or keep it from the internet at your proxy).

A key is compared by its SHA-256 digest with hmac.compare_digest, against every key each
time: how long the check takes says nothing about how close a guess was or which key it
matched. Keys are never logged: the access log and the prediction log hold no header, and
a refusal is logged with its reason only.
"""

import base64
import binascii
import hashlib
import hmac

from flask import current_app, render_template, request

from . import config

# Open whatever the settings: health checks and Prometheus come without a key.
OPEN_PATHS = {"/health", "/ready", "/ping", "/metrics"}
API_PATHS = {
    "/predict",
    "/invocations",
    "/feedback",
    "/openapi.json",
    "/monitor.json",
    "/review.json",
}
HOW_TO_SEND = "send it as Authorization: Bearer <key> or as X-API-Key: <key>"
IN_A_BROWSER = "in a browser, sign in with any user name and the key as the password"


def require_keys(app, settings):
    """Check keys before every request, if there are keys; before the body is read."""
    digests = settings.api_key_digests
    app.jinja_env.globals["api_keys_on"] = bool(digests)  # the /api page shows the header
    if not digests:
        return
    app.extensions["api_keys"] = digests
    if not settings.api_keys_pages:
        app.logger.warning(
            "API keys: the API needs one; the pages (the form, /batch, /monitor, /review) are "
            "open to anyone who can reach them: API_KEYS_PAGES=1 closes them too"
        )
    realm = config.PROJECT_NAME  # what a browser shows when it asks for the key

    def check_key():
        if request.path in OPEN_PATHS:
            return None
        page = is_page()
        if page and not settings.api_keys_pages:
            return None
        given = keys_given()
        if any_matches(given, digests):
            return None
        return refusal(page, given, realm)

    app.before_request(check_key)


def is_page():
    """A page for people, not the API (the model card is both: HTML is the page)."""
    if request.path in API_PATHS:
        return False
    if request.path.startswith("/review/"):  # an answer: the review page's form, or JSON
        return request.mimetype != "application/json"
    if request.path == "/model":
        best = request.accept_mimetypes.best_match(["application/json", "text/html"])
        return best == "text/html"
    return True


def keys_given():
    """The keys the request holds: from Authorization (Bearer or Basic) and X-API-Key."""
    given = []
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        given.append(credentials.strip())
    elif scheme.lower() == "basic":
        given.append(basic_password(credentials.strip()))
    if request.headers.get("X-API-Key", "").strip():
        given.append(request.headers["X-API-Key"].strip())
    return [key for key in given if key]


def basic_password(credentials):
    try:
        pair = base64.b64decode(credentials, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""
    return pair.partition(":")[2]


def any_matches(given, digests):
    """True if a key given is one of the keys; compares with every key, whatever matches."""
    matched = False
    for key in given:
        digest = hashlib.sha256(key.encode("utf-8", "replace")).digest()
        for known in digests:
            matched |= hmac.compare_digest(digest, known)
    return matched


def refusal(page, given, realm):
    """401: what is missing or wrong, and how to send a key (never the key sent)."""
    if given:
        message = "the API key is not valid"
    else:
        message = f"this needs an API key: {IN_A_BROWSER if page else HOW_TO_SEND}"
    current_app.logger.info("%s %s -> 401 %s", request.method, request.path[:200], message)
    if page:
        challenge = f'Basic realm="{realm}", charset="UTF-8"'
    else:
        challenge = f'Bearer realm="{realm}"' + (', error="invalid_token"' if given else "")
    browser = request.accept_mimetypes.best_match(["application/json", "text/html"])
    if page and browser == "text/html":
        body = render_template("error.html", status=401, message=message)
    else:
        body = {"error": message}
    return body, 401, {"WWW-Authenticate": challenge}


def describe_keys_in_openapi(document, app):
    """With keys on, the OpenAPI document says how to send one and which paths need it."""
    if "api_keys" not in app.extensions:
        return document
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    document["security"] = [{"bearer": []}, {"apiKey": []}]  # either header
    unauthorized = {
        "description": "No API key, or not a valid one: the message says which",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path in OPEN_PATHS:
                operation["security"] = []
            else:
                operation["responses"]["401"] = unauthorized
    return document
