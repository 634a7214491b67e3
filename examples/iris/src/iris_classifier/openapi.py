"""The OpenAPI 3.1 document of the JSON API, generated from the schema at start-up."""

from . import config
from .api import MAX_JSON_ROWS


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema, description, example=None):
    content = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"description": description, "content": {"application/json": content}}


def prediction_schema(model):
    """One prediction: the shape of each answer of POST /predict."""
    if model.task == "regression":
        prediction = {
            "type": "number",
            "title": model.metadata["target"]["label"],
            "description": "Always a finite number: a row the model answers with NaN gets 422.",
        }
    else:
        prediction = {"enum": list(model.classes), "title": model.metadata["target"]["label"]}
    properties = {"prediction": prediction}
    if model.has_probabilities:
        names = [str(c) for c in model.classes]
        probability = {"type": "number", "minimum": 0, "maximum": 1}
        properties["probabilities"] = {
            "type": "object",
            "description": (
                "The probability of each class; they add up to 1. Never NaN: a row the "
                "model answers with NaN gets 422."
            ),
            "properties": {name: probability for name in names},
            "required": names,
            "additionalProperties": False,
        }
    properties["warnings"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "Inputs outside the range seen in training, for example.",
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# What each kind of value looks like in a CSV the service scores (see csv_body below).
CSV_VALUES = {
    "number": r"-?[0-9]{1,15}(\.[0-9]{1,15})?",
    "integer": r"-?[0-9]{1,15}",
    "boolean": "(true|false)",
    "text": r'[^\s,"]([^\r\n,"]*[^\s,"])?',  # no comma or quote, no space at either end
}


def csv_cell(text):
    """A value as a CSV cell, quoted if it has to be; then escaped for a regular expression."""
    if any(character in text for character in ',"\r\n'):
        text = '"' + text.replace('"', '""') + '"'
    return "".join("\\" + c if c in "\\^$.|?*+()[]{}/" else c for c in text)


def csv_body(schema):
    """The JSON Schema of a CSV request body: a string, with a pattern.

    The pattern is narrower than what the service reads (it also takes the columns in any
    order, or named by their labels, other columns, quoted values, numbers like 1e3), but
    a CSV that matches it is always scored. A tool that writes requests from this document
    (schemathesis, for one) then only sends CSVs that are meant to work.
    """
    values = []
    for field in schema.fields:
        if field.kind == "category":
            value = "(" + "|".join(csv_cell(category) for category in field.categories) + ")"
        else:
            value = CSV_VALUES[field.kind]
        values.append(value if field.required else f"({value})?")
    header = ",".join(csv_cell(field.name) for field in schema.fields)
    row = ",".join(values)
    return {
        "type": "string",
        "description": (
            "A header line naming the fields, then one line of values per row. Columns may "
            "come in any order and be named by field name or label; other columns are "
            "passed through to the answer."
        ),
        "pattern": f"^{header}\\r?\\n{row}(\\r?\\n{row})*(\\r?\\n)?$",
    }


ERROR_SCHEMA = {
    "type": "object",
    "description": 'Either {"errors": {field: message}} or {"error": message}.',
    "properties": {
        "error": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "minProperties": 1,
    "additionalProperties": False,
}


def document(model, example_row, example_answer, example_csv):
    """-> the OpenAPI document as a dict (app.py serves it as /openapi.json)."""
    metadata = model.metadata
    target = metadata["target"]["label"]
    error = json_body(ref("Error"), "The request cannot be used; the message says why.")
    predict = {
        "operationId": "predict",
        "summary": "Predict one row, a list of rows, or every line of a CSV file",
        "description": (
            "Send one JSON object for one prediction, a JSON list of objects for several, "
            "or a CSV file (Content-Type: text/csv) with a header line naming the fields; "
            "the CSV comes back with prediction columns appended."
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            ref("Row"),
                            {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_JSON_ROWS,
                                "items": ref("Row"),
                            },
                        ]
                    },
                    "examples": {
                        "one": {"summary": "One row", "value": example_row},
                        "several": {"summary": "A list of rows", "value": [example_row] * 2},
                    },
                },
                "text/csv": {"schema": csv_body(model.schema), "example": example_csv},
            },
        },
        "responses": {
            "200": {
                "description": f"The predicted {target}",
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [ref("Prediction"), ref("Predictions")]},
                        "example": example_answer,
                    },
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "400": error,
            "413": error,
            "415": error,
            "422": json_body(
                ref("Error"),
                "The rows fit the schema but the model cannot score them (it computed NaN "
                "or infinity, for example); the message names the rows.",
            ),
        },
    }
    status = {
        "type": "object",
        "properties": {"status": {"type": "string"}, "error": {"type": "string"}},
        "required": ["status"],
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": config.PROJECT_NAME,
            "version": metadata.get("created_at", "1"),
            "description": (
                f"Predicts {target} from {len(model.schema.fields)} inputs "
                f"with {metadata.get('estimator', 'a scikit-learn model')}."
            ),
        },
        "paths": {
            "/predict": {"post": predict},
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "The process is alive",
                    "responses": {"200": json_body(status, "Alive", {"status": "ok"})},
                }
            },
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "The model is loaded and the service can predict",
                    "responses": {
                        "200": json_body(status, "Ready", {"status": "ready"}),
                        "503": json_body(status, "Not ready; error says why"),
                    },
                }
            },
            "/model": {
                "get": {
                    "operationId": "model",
                    "summary": "The model card: metadata, metrics and input schema",
                    "responses": {
                        "200": {
                            "description": "The model card (HTML when the client asks for it)",
                            "content": {
                                "application/json": {"schema": {"type": "object"}},
                                "text/html": {"schema": {"type": "string"}},
                            },
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": json_body({"type": "object"}, "OpenAPI 3.1")},
                }
            },
        },
        "components": {
            "schemas": {
                "Row": model.schema.json_schema(),
                "Prediction": prediction_schema(model),
                "Predictions": {
                    "type": "object",
                    "properties": {"predictions": {"type": "array", "items": ref("Prediction")}},
                    "required": ["predictions"],
                    "additionalProperties": False,
                },
                "Error": ERROR_SCHEMA,
            }
        },
    }
