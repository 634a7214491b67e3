"""The JSON API: read a request body, check every row against the schema, predict.

Errors are exceptions that app.py turns into responses: BadRequest and friends from
werkzeug for a body that cannot be used at all ({"error": message}), ValidationError
for rows that do not fit the schema ({"errors": {field: message}}).
"""

import json
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import BadRequest

from .model import Model, Prediction
from .schema import Row, shown

# One JSON request scores at most this many rows. Each row becomes several Python objects,
# so a 5 MiB list of 55,000 rows took about 95 MB to answer; a CSV body of any length up to
# MAX_CONTENT_LENGTH is scored in chunks, in a few MB.
MAX_JSON_ROWS = 10_000


def read_json(body: bytes) -> Any:
    """Request body (bytes) -> the parsed JSON value."""
    if not body.strip():
        raise BadRequest("empty body: send a JSON object of field: value pairs")
    try:
        return json.loads(body, object_pairs_hook=unique_keys)
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply") from None
    except ValueError as error:  # also covers bytes that are not UTF-8
        raise BadRequest(f"invalid JSON: {error}") from None


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object_pairs_hook: a key given twice is refused, never silently replaced."""
    row = dict(pairs)
    if len(row) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise BadRequest(f"invalid JSON: the key {shown(key)} is given twice in one object")
            seen.add(key)
    return row


def predict_json(
    model: Model,
    payload: Any,
    on_scored: Callable[[list[Row], list[Prediction]], None] | None = None,
    decide: Callable[[list[Row], list[Prediction]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """A parsed JSON body -> the response body: one prediction, or {"predictions": [...]}.

    on_scored(clean rows, results), if given, is called after the rows are scored;
    decide(clean rows, results) -> the answers, if given, says who decides (automation.py).
    """
    if isinstance(payload, dict):
        clean, warnings = model.validate([payload], numbered=False)
        results = model.predict_clean(clean)
        if on_scored:
            on_scored(clean, results)
        if decide:
            results = decide(clean, results)
        return {**results[0], "warnings": warnings[0]}
    if isinstance(payload, list):
        if not payload:
            raise BadRequest("empty list: send at least one object of field: value pairs")
        if len(payload) > MAX_JSON_ROWS:
            raise BadRequest(
                f"{len(payload):,} rows: one JSON request takes at most {MAX_JSON_ROWS:,}; "
                "send more as CSV (Content-Type: text/csv), or in several requests"
            )
        clean, warnings = model.validate(payload, numbered=True)
        results = model.predict_clean(clean)
        if on_scored:
            on_scored(clean, results)
        if decide:
            results = decide(clean, results)
        return {
            "predictions": [
                {**result, "warnings": row_warnings}
                for result, row_warnings in zip(results, warnings, strict=True)
            ]
        }
    raise BadRequest("expected a JSON object of field: value pairs, or a list of such objects")
