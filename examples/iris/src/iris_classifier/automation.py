"""Degrees of automation: who decides each answer, the model or a person (AUTOMATION).

full     the model decides every answer (answers look as they always did)
partial  the model decides when its confidence, its highest class probability, is at least
         REVIEW_THRESHOLD; a less confident answer is referred to a person
assist   a person decides every answer, shown the model's likeliest classes
shadow   a person decides every answer; the model's answer is recorded, never shown in the form

Under any degree but full, each JSON answer has "decision": "model", "refer", "assist" or
"shadow". Only a "model" answer has "prediction". The others have "suggestion" instead (the
model's answer, which is not a decision: a client that only knows "prediction" fails rather
than act on it) and "review_id", the item of the review queue (review.py) that waits for a
person's answer. A scored CSV file gets a decision column instead, after the prediction
column; its rows do not go to the review queue (the file goes back to the person who sent it).
"""

from . import tracking
from .review import ReviewQueue
from .settings import SettingsError

DECIDED_BY_MODEL = "model"
# The model's likeliest classes the form shows to choose from, under assist.
TOP_CLASSES = 3


class Automation:
    def __init__(self, degree, threshold, queue, model):
        """queue: a ReviewQueue, or None under full."""
        if degree == "partial" and not model.has_probabilities:
            raise SettingsError(
                "AUTOMATION=partial needs the model's class probabilities, and this model "
                "has none: use full, assist or shadow"
            )
        self.degree, self.threshold, self.queue, self.model = degree, threshold, queue, model
        # batch.score_csv's decisions: no decision column under full
        self.csv_decisions = None if self.full else self.decisions_of_rows

    @property
    def full(self):
        return self.degree == "full"

    def decision(self, confidence):
        """What decides a row with this confidence (None: no probabilities)."""
        if self.degree != "partial":
            return self.degree if self.degree != "full" else DECIDED_BY_MODEL
        return DECIDED_BY_MODEL if confidence >= self.threshold else "refer"

    def decide(self, clean_rows, results):
        """predict_clean's answers -> the answers to send, with their decisions.

        The rows a person decides go to the review queue, all in one write.
        """
        if self.full:
            return results
        request_id = tracking.request_id()
        answers, waiting = [], []
        for row, (values, result) in enumerate(zip(clean_rows, results, strict=True)):
            confidence = highest(result)
            decision = self.decision(confidence)
            if decision == DECIDED_BY_MODEL:
                answers.append({"decision": decision, **result})
                continue
            answer = {"decision": decision, "review_id": "", "suggestion": result["prediction"]}
            answer.update((k, v) for k, v in result.items() if k != "prediction")
            answers.append(answer)
            item = {
                "request_id": request_id,
                "row": row,
                "model": self.model.version,
                "decision": decision,
                "suggestion": result["prediction"],
                "confidence": confidence,
                "probabilities": result.get("probabilities"),
                "inputs": values,
            }
            waiting.append((answer, item))
        if waiting:
            ids = self.queue.add([item for _, item in waiting])
            for (answer, _), review_id in zip(waiting, ids, strict=True):
                answer["review_id"] = review_id
        return answers

    def example(self, answer):
        """An answer for the docs, decided as a request would be, but not queued."""
        if self.full:
            return answer
        decision = self.decision(highest(answer))
        if decision == DECIDED_BY_MODEL:
            return {"decision": decision, **answer}
        rest = {k: v for k, v in answer.items() if k != "prediction"}
        example = {"decision": decision, "review_id": "0123456789abcdef"}
        return {**example, "suggestion": answer["prediction"], **rest}

    def decisions_of_rows(self, probabilities, rows):
        """The decision column of a scored CSV chunk (probabilities: an array, or None)."""
        if self.degree != "partial":
            return [self.decision(None)] * rows
        confident = probabilities.max(axis=1) >= self.threshold
        return [DECIDED_BY_MODEL if sure else "refer" for sure in confident.tolist()]

    def form_view(self, answer):
        """What the form's result panel needs beyond forms.result_view: who decides, and
        for a person, the classes to choose from (likeliest first under assist)."""
        decision = answer.get("decision", DECIDED_BY_MODEL)
        view = {
            "decision": decision,
            "review_id": answer.get("review_id", ""),
            "confidence": percent(highest(answer)),
            "threshold": percent(self.threshold),
            "choices": [],
        }
        classes = self.model.classes
        if decision == "assist" and classes is not None:
            probabilities = answer.get("probabilities") or {}
            likeliest = sorted(classes, key=lambda name: -probabilities.get(name, 0))
            view["choices"] = [
                {
                    "value": str(name),
                    "text": percent(probabilities.get(name)),
                    "width": f"{100 * probabilities.get(name, 0):.1f}",
                }
                for name in likeliest[:TOP_CLASSES]
            ]
            view["others"] = [str(name) for name in likeliest[TOP_CLASSES:]]
        elif decision == "shadow" and classes is not None:
            view["choices"] = [{"value": str(name), "text": ""} for name in classes]
            view["others"] = []
        return view

    def document(self, openapi):
        """Adapt the OpenAPI document (openapi.document's dict) to this degree."""
        if self.full:
            return openapi
        schemas = openapi["components"]["schemas"]
        schemas["Prediction"] = answer_schema(schemas["Prediction"], self.degree)
        openapi["paths"].update(review_paths())
        return openapi


def highest(result):
    """The confidence of an answer: its highest class probability (None without them)."""
    probabilities = result.get("probabilities")
    return max(probabilities.values()) if probabilities else None


def percent(share):
    if share is None:
        return ""
    return "<0.1%" if 0 < share < 0.001 else f"{100 * share:.1f}%"


def answer_schema(prediction, degree):
    """The Prediction schema of the OpenAPI document, with the decision fields."""
    properties = dict(prediction["properties"])
    decisions = ["model", "refer"] if degree == "partial" else [degree]
    decided = {
        "decision": {
            "enum": decisions,
            "description": (
                'Who decides: "model" (then "prediction" is the answer), or a person: '
                '"refer" (the model is not confident enough), "assist" (a person chooses, '
                'shown the likeliest classes) or "shadow" (a person decides; the model\'s '
                "answer is only recorded). A person's answer goes to POST /review/{id}."
            ),
        },
        "review_id": {
            "type": "string",
            "pattern": "^[0-9a-f]{16}$",
            "description": "The review queue's item for this row (not when decision is model).",
        },
        "suggestion": {
            **properties["prediction"],
            "description": "The model's answer when a person decides: not a decision.",
        },
    }
    required = ["decision", *(name for name in prediction["required"] if name != "prediction")]
    return {
        **prediction,
        "properties": {**decided, **properties},
        "required": required,
    }


def review_paths():
    """POST /review/{id} in the OpenAPI document."""
    answer = {
        "type": "object",
        "properties": {"answer": {"description": "The person's answer: a class or a number"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    recorded = {"type": "object", "properties": {"status": {"const": "recorded"}}}
    error = {"$ref": "#/components/schemas/Error"}
    return {
        "/review/{id}": {
            "post": {
                "operationId": "review",
                "summary": "Record a person's answer for a row the model did not decide",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": answer}},
                },
                "responses": {
                    "201": {
                        "description": "Recorded (and counted as feedback for /monitor)",
                        "content": {"application/json": {"schema": recorded}},
                    },
                    **{
                        str(status): {
                            "description": description,
                            "content": {"application/json": {"schema": error}},
                        }
                        for status, description in [
                            (400, "The answer is not one the model could give"),
                            (404, "No such item in the review queue"),
                            (409, "The item was answered already"),
                        ]
                    },
                },
            }
        }
    }


def from_settings(options, model):
    """The Automation the settings ask for; the review queue is made when it is needed."""
    queue = None
    if options.automation != "full":
        try:
            queue = ReviewQueue(options.review_queue, options.review_queue_mb)
        except OSError as error:
            raise SettingsError(
                f"the review queue {options.review_queue} cannot be written ({error.strerror}): "
                "set REVIEW_QUEUE to a file in a folder the service can write"
            ) from None
    return Automation(options.automation, options.review_threshold, queue, model)
