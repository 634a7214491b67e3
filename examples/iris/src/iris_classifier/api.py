"""The JSON API: read a request body, check every row against the schema, predict.

Errors are exceptions that app.py turns into responses: BadRequest and friends from
werkzeug for a body that cannot be used at all ({"error": message}), ValidationError
for rows that do not fit the schema ({"errors": {field: message}}).
"""

import json

from werkzeug.exceptions import BadRequest

from .model import ValidationError

MAX_ERRORS = 20  # enough to fix a batch; a million-row mistake should not echo back


def read_json(body):
    """Request body (bytes) -> the parsed JSON value."""
    if not body.strip():
        raise BadRequest("empty body: send a JSON object of field: value pairs")
    try:
        return json.loads(body)
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply") from None
    except ValueError as error:  # also covers bytes that are not UTF-8
        raise BadRequest(f"invalid JSON: {error}") from None


def check_rows(schema, rows, numbered):
    """-> (clean rows, warnings for each row); raises ValidationError.

    With numbered=True (a list was sent) every error key starts with "row N: ".
    """
    clean, warnings, errors = [], [], {}
    for number, row in enumerate(rows, start=1):
        values, row_errors, row_warnings = schema.validate(row)
        if row_errors:
            prefix = f"row {number}: " if numbered else ""
            errors.update({prefix + key: message for key, message in row_errors.items()})
            if len(errors) >= MAX_ERRORS:
                break
        clean.append(values)
        warnings.append(row_warnings)
    if errors:
        raise ValidationError(errors)
    return clean, warnings


def predict_json(model, payload):
    """A parsed JSON body -> the response body: one prediction, or {"predictions": [...]}."""
    if isinstance(payload, dict):
        clean, warnings = check_rows(model.schema, [payload], numbered=False)
        return {**model.predict_clean(clean)[0], "warnings": warnings[0]}
    if isinstance(payload, list):
        if not payload:
            raise BadRequest("empty list: send at least one object of field: value pairs")
        clean, warnings = check_rows(model.schema, payload, numbered=True)
        results = model.predict_clean(clean)
        return {
            "predictions": [
                {**result, "warnings": row_warnings}
                for result, row_warnings in zip(results, warnings, strict=True)
            ]
        }
    raise BadRequest("expected a JSON object of field: value pairs, or a list of such objects")
