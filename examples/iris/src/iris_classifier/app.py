"""The web service: create_app() prepares everything once; the routes stay thin.

GET  /                  the form; POST / predicts from it
POST /predict           JSON (one object or a list) or CSV in, predictions out
GET  /batch             upload a CSV file, download it scored
GET  /model             the model card: JSON, or HTML for a browser
GET  /api               the API for people; GET /openapi.json for programs
GET  /monitor           recent traffic against the training data (drift); /monitor.json
GET  /health, /ready    the process is alive; the model is loaded
GET  /ping, POST /invocations   /ready and /predict under the names Amazon SageMaker uses
GET  /metrics           figures for Prometheus (metrics.py)
POST /feedback          the true outcome of a prediction, for the prediction log (feedback.py)
GET /review             rows left to a person (AUTOMATION not full): the review queue (review.py)

With API_KEYS set, the API needs a key and the pages may too (api_keys.py).
"""

import io
import json
import re
import shlex
import time

from flask import Flask, Response, current_app, render_template, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)
from werkzeug.utils import secure_filename
from werkzeug.wsgi import get_content_length, wrap_file

from . import (
    api,
    automation,
    batch,
    config,
    forms,
    metrics,
    monitor_pages,
    openapi,
    review,
    settings,
    tracking,
)
from .api_keys import describe_keys_in_openapi, require_keys
from .feedback import add_feedback_route
from .model import Model, ModelError, PredictionError, ValidationError, load_model
from .predictions_log import PredictionLog
from .schema import TRUE_WORDS
from .serving import answering, attach_candidate

API_PATHS = {
    "/predict",
    "/invocations",
    "/health",
    "/ready",
    "/ping",
    "/openapi.json",
    "/metrics",
    "/feedback",
}
HTML_HEADERS = {
    # No script anywhere; inline styles only for the widths of the probability bars.
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
}
# CR, LF and the other control characters (and Unicode's line separators): logged escaped.
UNSAFE_IN_LOGS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class StrictJSONProvider(DefaultJSONProvider):
    """JSON answers never hold NaN or Infinity: they are not JSON, and clients choke on them.

    The model refuses such answers first (model.refuse_non_finite); this is the last guard.
    """

    def dumps(self, obj, **kwargs):
        return super().dumps(obj, allow_nan=False, **kwargs)


def create_app(model: Model | None = None) -> Flask:
    """The Flask app; loads models/ unless a model is given (tests pass their own)."""
    app = Flask(__name__)
    options = settings.from_env()
    app.config["MAX_CONTENT_LENGTH"] = options.max_content_length
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
    app.json = StrictJSONProvider(app)
    app.json.sort_keys = False  # keep fields and classes in the model's order
    if escape_control_characters not in app.logger.filters:
        app.logger.addFilter(escape_control_characters)
    app.jinja_env.globals["project_name"] = config.PROJECT_NAME
    tracking.install(app, options)  # first: it times and names every request, refused ones too
    require_keys(app, options)  # if API_KEYS is set; before a body is read
    app.before_request(check_body_size)
    app.after_request(add_safety_headers)
    add_error_handlers(app)
    app.add_url_rule("/metrics", "metrics", metrics_page)
    started = time.perf_counter()
    if model is None:
        try:
            model = load_model()
        except ModelError as error:
            app.logger.error("the model is not loaded: %s", error)
            add_not_ready_routes(app, f"the model is not loaded: {error}")
            return app
    app.config["MODEL_VERSION"] = model.version
    app.config["FIELD_NAMES"] = frozenset(model.schema.names)
    automate = automation.from_settings(options, model)  # who decides: the model, a person
    model.observers = []  # this app's (tests make several apps for one model)
    add_routes(app, model, automate)  # before the observers: its worked example is not a request
    if options.monitoring:
        model.observers.append(metrics.published(model, time.perf_counter() - started))
    prediction_log = None
    if options.prediction_log:
        prediction_log = PredictionLog(
            options.prediction_log, options.prediction_log_mb, options.prediction_log_inputs, model
        )

        def log_predictions(inputs, predictions, probabilities, first_row):
            request_id = tracking.request_id()
            prediction_log.record(request_id, first_row, inputs, predictions, probabilities)

        model.observers.append(log_predictions)
    attach_candidate(app, model, options)  # a candidate in shadow or as a canary (candidate.py)
    traffic = app.extensions["recent_traffic"]  # the drift monitor shows live accuracy too
    add_feedback_route(app, model, prediction_log, outcome_listeners=[traffic.record_outcome])
    if automate.queue is not None:
        profile = app.extensions["training_profile"]
        listeners = [traffic.record_outcome]
        review.add_review_routes(app, model, automate, prediction_log, listeners, profile)
    return app


def metrics_page():
    traffic = current_app.extensions.get("recent_traffic")
    report = traffic.report(current_app.extensions["training_profile"]) if traffic else None
    body, content_type = metrics.page(report)
    return Response(body, content_type=content_type)


def add_routes(app: Flask, model: Model, automate: automation.Automation) -> None:
    schema = model.schema
    target = model.metadata["target"]["label"]  # what the model predicts, in words
    controls = forms.make_controls(schema)
    blank_form = forms.default_texts(schema)
    # Worked examples for the docs, made once; predicting one also warms the model up.
    example_row = schema.defaults()
    example_answer = automate.example(api.predict_json(model, example_row))
    example_csv = batch.example_csv(schema, blank_form)
    document = automate.document(openapi.document(model, example_row, example_answer, example_csv))
    describe_keys_in_openapi(document, app)
    openapi_json = json.dumps(document, allow_nan=False)
    card = {**model.metadata, "version": model.version}  # a model from before versions too
    card_json = json.dumps(card, allow_nan=False)
    api_examples = {
        "body": shlex.quote(json.dumps(example_row, allow_nan=False)),  # quoted for a shell
        "answer": json.dumps(example_answer, indent=2, allow_nan=False),
    }
    recorder = monitor_pages.watch(app, model)  # /monitor, and what the routes record
    labels = {field.name: field.label for field in schema.fields}
    page = {"controls": controls, "labels": labels}
    app.jinja_env.globals.update(
        schema=schema,
        classes=model.classes,
        target=target,
        describe_field=forms.describe_field,
        true_words=TRUE_WORDS,
        automation=automate.degree,
    )

    @app.get("/")
    def form():
        return render_template("form.html", **page, values=blank_form, errors={}, result=None)

    @app.post("/")
    def form_predict():
        texts = forms.read_form(schema, request.form)
        values, errors, warnings = schema.validate_text(texts)
        if errors:
            metrics.count_refused(errors, app.config["FIELD_NAMES"])
            log_client_error(app, 400, "; ".join(f"{k}: {v}" for k, v in errors.items()))
            return render_template(
                "form.html", **page, values=texts, errors=errors, result=None
            ), 400
        results = answering(model).predict_clean([values])
        recorder.results([values], results)
        answer = automate.decide([values], results)[0]
        result = {**forms.result_view(results[0], warnings), **automate.form_view(answer)}
        return render_template("form.html", **page, values=texts, errors={}, result=result)

    @app.post("/predict")
    @app.post("/invocations")  # SageMaker's name for it: the same request, the same answer
    def predict():
        scorer = answering(model)  # the live version, or the canary
        if request.mimetype == "application/json":
            payload = api.read_json(request.get_data())
            return api.predict_json(
                scorer, payload, on_scored=recorder.results, decide=automate.decide
            )
        if request.mimetype == "text/csv":
            scored = batch.score_csv(scorer, request.get_data(), automate.csv_decisions)
            recorder.csv(request.get_data())
            return csv_download(scored)
        raise UnsupportedMediaType(
            f"Content-Type {request.mimetype or '(none)'} is not supported: "
            "send application/json or text/csv"
        )

    @app.get("/batch")
    def batch_page():
        return render_template("batch.html", errors={})

    @app.post("/batch")
    def batch_score():
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise BadRequest("choose a CSV file first")
            body = upload.read()
            scored = batch.score_csv(answering(model), body, automate.csv_decisions)
        except ValidationError as error:
            metrics.count_refused(error.errors, app.config["FIELD_NAMES"])
            log_client_error(app, 400, str(error))
            return render_template("batch.html", errors=error.errors), 400
        except BadRequest as error:
            log_client_error(app, 400, error.description)
            return render_template("batch.html", errors={"file": error.description}), 400
        recorder.csv(body)
        stem = secure_filename(upload.filename).rsplit(".", 1)[0] or "data"
        return csv_download(scored, f"{stem}-scored.csv")

    @app.get("/batch/example.csv")
    def batch_example():
        return csv_download(io.BytesIO(example_csv.encode()), "example.csv")

    @app.get("/model")
    def model_card():
        if wants_html():
            response = Response(render_template("model.html", card=card))
        else:
            response = Response(card_json, mimetype="application/json")
        response.vary.add("Accept")
        return response

    @app.get("/api")
    def api_page():
        return render_template("api.html", url=request.host_url + "predict", **api_examples)

    @app.get("/openapi.json")
    def openapi_document():
        return Response(openapi_json, mimetype="application/json")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/ready")
    @app.get("/ping")  # SageMaker's health check
    def ready():
        return {"status": "ready"}


def add_not_ready_routes(app, message):
    """Without a model the process stays up and says it is not ready, and why."""

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/ready")
    @app.get("/ping")
    def ready():
        return {"status": "not ready", "error": message}, 503

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def unavailable(path):
        return error_response(503, message)


def check_body_size():
    """Refuse (413) a body over MAX_CONTENT_LENGTH however it is sent, before a route reads it.

    A Content-Length gives the size at once. A chunked body has none, and gunicorn passes it
    on as it arrives: it is read here, at most the limit plus one byte, so that a body one
    byte too long is refused rather than cut short. The routes then read it as usual.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    environ = request.environ
    length = get_content_length(environ)  # None for a chunked body
    if length is None and environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read(limit + 1)
        length = len(body)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(length)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
    if length is not None and length > limit:
        raise RequestEntityTooLarge()


def add_safety_headers(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.update(HTML_HEADERS)
    return response


def csv_download(scored, filename=None):
    """A CSV file (from batch.score_csv) as the answer: sent as it is read, then closed."""
    size = scored.seek(0, io.SEEK_END)
    scored.seek(0)
    # The server's own file wrapper when it has one: waitress then sends from the file
    # itself, instead of copying the answer into its buffers (a temporary file past 1 MB).
    body = wrap_file(request.environ, scored, 64 * 1024)
    response = Response(body, mimetype="text/csv", direct_passthrough=True)
    response.content_length = size
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def wants_html():
    """A browser asking for a page gets HTML; API paths and programs get JSON."""
    if request.path in API_PATHS:
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def error_response(status, message):
    if wants_html():
        return render_template("error.html", status=status, message=message), status
    return {"error": message}, status


def log_client_error(app, status, message):
    path = request.path[:200]
    app.logger.info("%s %s -> %d %s", request.method, path, status, message[:300])


def escape_control_characters(record):
    """Logging filter: a client's CR/LF (in a path, a field name, a value) is logged as \\r\\n.

    Without it a request could write a line into the log that looks like the server's own.
    A traceback keeps its lines: it is added after this, from record.exc_info.
    """
    message = record.getMessage()
    record.msg = UNSAFE_IN_LOGS.sub(lambda found: ascii(found.group())[1:-1], message)
    record.args = ()
    return True


def add_error_handlers(app):
    @app.errorhandler(ValidationError)
    def invalid_rows(error):
        metrics.count_refused(error.errors, app.config.get("FIELD_NAMES", ()))
        log_client_error(app, 400, str(error))
        return {"errors": error.errors}, 400

    @app.errorhandler(PredictionError)
    def unscorable_rows(error):
        log_client_error(app, 422, str(error))
        return error_response(422, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error):
        # Flask has already logged the traceback of a 500; nothing from it reaches the client.
        message = describe(error, app.config["MAX_CONTENT_LENGTH"])
        if error.code < 500:
            log_client_error(app, error.code, message)
        response = app.make_response(error_response(error.code, message))
        if getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


def describe(error, limit):
    """A short message for an HTTP error, in place of werkzeug's long default text."""
    if error.code == 404 and request.url_rule is None:
        return f"nothing at {request.path}; the pages are /, /batch, /model, /api and /monitor"
    if error.code == 405:
        allowed = [m for m in error.valid_methods or () if m not in ("HEAD", "OPTIONS")]
        return f"{request.method} is not allowed on {request.path}; use {' or '.join(allowed)}"
    if error.code == 413:
        return f"the request body is over the limit of {limit} bytes (MAX_CONTENT_LENGTH)"
    if error.code >= 500:
        return "internal error: the server log has the details"
    return error.description
