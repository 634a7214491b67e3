"""POST /feedback: the true outcome of a prediction, sent later, for the live accuracy.

    {"request_id": "<the X-Request-ID of the prediction>", "row": 0, "actual": "setosa"}

"row" (from 0) names a row of a list or CSV request; leave it out for a single row. The
outcome is written to the prediction log (predictions_log.py), which must be on: the log
is where the prediction is found again, whichever worker made it.
"""

import math

from flask import request
from werkzeug.exceptions import BadRequest, NotFound

from . import api

MAX_ROW = 10**9


def add_feedback_route(app, model, prediction_log, outcome_listeners):
    """outcome_listeners: called with (prediction, actual) for each outcome recorded."""

    @app.post("/feedback")
    def feedback():
        if prediction_log is None:
            raise NotFound("feedback needs the prediction log: set PREDICTION_LOG (see Monitoring)")
        request_id, row, actual = read_feedback(api.read_json(request.get_data()), model)
        entry = prediction_log.find_prediction(request_id, row)
        if entry is None:
            raise NotFound(
                f"no prediction with request_id {request_id!r} and row {row} in the prediction log"
            )
        prediction_log.record_outcome(request_id, row, actual)
        for listener in outcome_listeners:
            listener(entry["prediction"], actual)
        answer = {"request_id": request_id, "row": row, "prediction": entry["prediction"]}
        return {**answer, "actual": actual, "status": "recorded"}, 201


def read_feedback(body, model):
    """-> (request_id, row, actual), checked; raises BadRequest saying what is wrong."""
    if not isinstance(body, dict):
        raise BadRequest('expected {"request_id": "...", "row": 0, "actual": ...}')
    unknown = set(body) - {"request_id", "row", "actual"}
    if unknown:
        raise BadRequest(f"unknown keys: {', '.join(sorted(map(str, unknown)))[:200]}")
    request_id, row = body.get("request_id"), body.get("row", 0)
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
        raise BadRequest("request_id must be the text of the X-Request-ID header (64 at most)")
    if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < MAX_ROW:
        raise BadRequest("row must be a whole number from 0 (the first row of the request)")
    if "actual" not in body:
        raise BadRequest("actual is missing: the true outcome")
    return request_id, row, check_actual(body["actual"], model)


def check_actual(actual, model):
    if model.task == "regression":
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            raise BadRequest("actual must be a number")
        if not math.isfinite(actual):
            raise BadRequest("actual must be a finite number")
        return actual
    for label in model.classes:
        if actual == label or (isinstance(actual, str) and actual == str(label)):
            return label
    classes = ", ".join(map(repr, model.classes[:12]))
    raise BadRequest(f"actual must be one of the classes: {classes}")
