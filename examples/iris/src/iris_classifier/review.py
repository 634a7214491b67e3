"""The review queue: the rows the model does not decide (automation.py), until a person does.

GET  /review         the open items, newest first, each with a form for the person's answer
GET  /review.json    the same as JSON
POST /review/<id>    a person's answer: a form field "answer", or JSON {"answer": ...};
                     404 for an unknown id, 409 for an item answered already

A person's answer is also feedback: /monitor counts it against the model's suggestion (the
live accuracy; under partial, of the less confident rows only), and with PREDICTION_LOG on
it is written there as the outcome of the prediction, as POST /feedback does.

The queue is a file of JSON lines (REVIEW_QUEUE), appended to. An item:
    {"id": "<16 hex digits>", "time": ..., "request_id": ..., "row": 0, "model": ...,
     "decision": "refer", "suggestion": ..., "confidence": 0.61, "probabilities": {...},
     "inputs": {...}}
and, once a person answers it, a line {"id": ..., "time": ..., "answer": ...}.
Privacy: an item keeps the values sent, since a person needs them to decide.

Size: past REVIEW_QUEUE_MB the file is written again with only its open items, the newest
first, up to half that size; older open items are dropped (the log says how many).

Several gunicorn workers share the file: every write holds a lock (a .lock file beside it),
so that an item answered by two people at once is recorded once, and the other gets 409.
An answer is forced to disk before it is acknowledged.
"""

import json
import logging
import os
import re
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path

from flask import render_template, request
from werkzeug.exceptions import BadRequest, Conflict, NotFound

from . import api
from .feedback import check_actual
from .predictions_log import append_bytes, timestamp, workers_lock

REVIEW_ID = re.compile(r"[0-9a-f]{16}")
PAGE_SIZE = 20  # items on one page of /review
MAX_PAGES = 1000

log = logging.getLogger(__name__)


class ReviewQueue:
    def __init__(self, path, max_mb):
        self.path = Path(path)
        self.max_bytes = max_mb * 1024 * 1024
        self.thread_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # a folder or permission problem shows at start, not at a request

    @contextmanager
    def locked(self):
        """Held by one thread of one worker at a time."""
        with self.thread_lock, workers_lock(self.path):
            yield

    def add(self, items):
        """Append the items (dicts) in one write -> their new ids."""
        ids = [secrets.token_hex(8) for _ in items]
        stamp = timestamp()
        lines = [
            json.dumps({"id": review_id, "time": stamp, **item}, default=str)
            for review_id, item in zip(ids, items, strict=True)
        ]
        encoded = [(line + "\n").encode() for line in lines]
        first, size = 0, sum(map(len, encoded))
        while size > self.max_bytes // 2:  # one request alone over the bound: its newest kept
            size -= len(encoded[first])
            first += 1
        if first:
            log.warning("review queue: %d items of one request over REVIEW_QUEUE_MB dropped", first)
        data = b"".join(encoded[first:])
        with self.locked():
            if self.size() + len(data) > self.max_bytes:
                self.compact(len(data))
            self.append(data)
        return ids

    def answer(self, review_id, answer):
        """Record a person's answer -> the item. Raises NotFound or Conflict."""
        with self.locked():
            items, answers = self.read()
            if review_id not in items:
                raise NotFound(f"no item {review_id} in the review queue")
            if review_id in answers:
                given = answers[review_id]["answer"]
                raise Conflict(f"item {review_id} was answered already ({given!r})")
            entry = {"id": review_id, "time": timestamp(), "answer": answer}
            self.append((json.dumps(entry, default=str) + "\n").encode(), durable=True)
        return items[review_id]

    def open_items(self):
        """The items no one has answered yet, newest first."""
        items, answers = self.read()
        return [item for key, item in reversed(items.items()) if key not in answers]

    def read(self):
        """-> ({id: item}, {id: answer line}) in the order written."""
        items, answers = {}, {}
        try:
            with open(self.path, "rb") as file:
                for line in file:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line cut short when the machine stopped
                    if "answer" in entry:
                        answers[entry["id"]] = entry
                    else:
                        items[entry["id"]] = entry
        except FileNotFoundError:
            pass
        return items, answers

    def size(self):
        return self.path.stat().st_size if self.path.exists() else 0

    def append(self, data, durable=False):
        append_bytes(self.path, data, durable)

    def compact(self, adding):
        """Write the file again with the newest open items only (under the lock)."""
        kept, room = [], self.max_bytes // 2 - adding
        items = self.open_items()
        for item in items:
            line = (json.dumps(item, default=str) + "\n").encode()
            if len(line) > room:
                break
            kept.append(line)
            room -= len(line)
        new = self.path.with_name(self.path.name + ".new")
        with open(new, "wb") as file:
            file.writelines(reversed(kept))  # oldest first again, as appended
            file.flush()
            os.fsync(file.fileno())
        new.replace(self.path)
        if len(kept) < len(items):
            log.warning(
                "review queue over REVIEW_QUEUE_MB: %d oldest open items dropped",
                len(items) - len(kept),
            )


def add_review_routes(app, model, automation, prediction_log, outcome_listeners, profile):
    """GET /review, GET /review.json, POST /review/<id> (automation.py makes the queue).

    outcome_listeners: called with (suggestion, answer) for each answer; profile: the
    training profile, to say how many held-out rows the threshold would refer.
    """
    queue = automation.queue
    held_out = referred_share(profile, automation.threshold)

    @app.get("/review")
    def review_page():
        items = queue.open_items()
        pages = max(1, -(-len(items) // PAGE_SIZE))
        page = min(read_page(), pages)
        shown = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return render_template(
            "review.html",
            items=shown,
            count=len(items),
            page=page,
            pages=pages,
            degree=automation.degree,
            threshold=automation.threshold,
            held_out=held_out,
        )

    @app.get("/review.json")
    def review_json():
        items = queue.open_items()
        return {"open": len(items), "items": items[:PAGE_SIZE], "threshold": automation.threshold}

    @app.post("/review/<review_id>")
    def review_answer(review_id):
        if not REVIEW_ID.fullmatch(review_id):
            raise NotFound(f"no item {review_id[:40]} in the review queue")
        as_json = request.mimetype == "application/json"
        answer = read_answer(model, as_json)
        item = queue.answer(review_id, answer)
        for listener in outcome_listeners:
            listener(item["suggestion"], answer)
        if prediction_log is not None and item.get("request_id"):
            prediction_log.record_outcome(item["request_id"], item["row"], answer)
        recorded = {"id": review_id, "answer": answer, "status": "recorded"}
        if as_json:
            return recorded, 201
        shown = {**recorded, "suggestion": item["suggestion"], "decision": item["decision"]}
        return render_template("review_done.html", recorded=shown)


def referred_share(profile, threshold):
    """(at least, at most) the share of held-out rows partial would refer at this threshold,
    from the training profile's confidence bins (0.1 wide), or None without a profile."""
    confidence = (profile or {}).get("confidence")
    if not confidence:
        return None
    edges, shares = confidence["edges"], confidence["shares"]
    if confidence.get("threshold") == threshold:  # the profile counted this one exactly
        return confidence["low"], confidence["low"]
    lows = [0.0, *edges]
    highs = [*edges, 1.0]
    surely = sum(s for s, high in zip(shares, highs, strict=True) if high < threshold)
    maybe = sum(s for s, low in zip(shares, lows, strict=True) if low < threshold)
    return round(surely, 4), round(maybe, 4)


def read_page():
    text = request.args.get("page", "1")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGES:
        raise BadRequest(f"page must be a whole number from 1 to {MAX_PAGES}")
    return int(text)


def read_answer(model, as_json):
    """The person's answer from the form or the JSON body, checked like feedback's actual."""
    if as_json:
        body = api.read_json(request.get_data())
        if not isinstance(body, dict) or set(body) != {"answer"}:
            raise BadRequest('expected {"answer": ...}')
        answer = body["answer"]
    else:
        answer = request.form.get("answer", "")  # as the page wrote it: a class may have spaces
        if not answer.strip():
            raise BadRequest("choose an answer first")
        if model.task == "regression":
            try:
                answer = float(answer)
            except ValueError:
                raise BadRequest("the answer must be a number") from None
    return check_actual(answer, model)
