"""Which version answers a request, and the figures of each version.

attach_candidate(app, model) reads models/CANDIDATE (candidate.py) when the app is made, and loads
the candidate version it names:

- shadow: the live version answers every request; each batch it scores is handed to
  shadow.py, which scores it with the candidate too, off the response path.
- canary: the candidate answers a share of the scoring requests (the form, /predict,
  /invocations, /batch). A caller that sends a key (X-Caller-Key, or its API key) gets
  the same version every time: the key and the candidate's id, hashed, give a number from
  0 to 1, and below the share means the candidate. Without a key each request is drawn.

The answer's X-Model-Version header (and the access log) names the version that answered.
For each version this process counts scoring requests, rows and latency: /metrics
(version_requests_total, version_rows_total, version_request_duration_seconds) and the
"Versions" part of /monitor and /monitor.json.
"""

import hashlib
import random
import threading
import time
from collections import deque

import numpy as np
from flask import current_app, g, request
from prometheus_client import Counter, Histogram

from . import metrics, shadow
from .candidate import input_difference, read_plan
from .model import ModelError, load_model
from .predictions_log import PredictionLog
from .tracking import request_id
from .versions import version_folder

CALLER_HEADER = "X-Caller-Key"
KEPT_TIMES = 1000  # each version's last request times, for /monitor's p50 and p95

REQUESTS = Counter(
    "version_requests", "Scoring requests answered, by version and role", ["version", "role"]
)
ROWS = Counter("version_rows", "Rows predicted, by version", ["version"])
LATENCY = Histogram(
    "version_request_duration_seconds",
    "Time to answer a scoring request, by version",
    ["version"],
    buckets=metrics.LATENCY_BUCKETS,
)


def caller_key(headers):
    """The caller's key: X-Caller-Key, else the API key (Authorization: Bearer, X-API-Key)."""
    key = headers.get(CALLER_HEADER) or headers.get("X-API-Key")
    if not key:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
    return key[:200] or None


def draw(key, version):
    """A number from 0 to 1: the same for the same key and version, random without a key."""
    if key is None:
        return random.random()
    digest = hashlib.sha256((version + "\n" + key).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Serving:
    """The live version, the candidate if one runs, and the figures of each."""

    def __init__(self, live, candidate=None, plan=None):
        self.live, self.candidate, self.plan = live, candidate, plan
        self.canary = candidate is not None and plan.mode == "canary"
        self.lock = threading.Lock()
        self.figures = {}  # version -> {"role", "requests", "rows", "seconds"}
        self.series = {}  # (metric, labels) -> the labelled series, looked up once each

    def choose(self):
        """The model that answers this request."""
        if self.canary and draw(caller_key(request.headers), self.candidate.version) < (
            self.plan.share
        ):
            return self.candidate
        return self.live

    def role(self, version):
        return "live" if version == self.live.version else self.plan.mode

    def labelled(self, metric, *labels):
        key = (metric, labels)
        if key not in self.series:
            self.series[key] = metric.labels(*labels)
        return self.series[key]

    def figures_of(self, version):
        if version not in self.figures:
            self.figures[version] = {
                "role": self.role(version),
                "requests": 0,
                "rows": 0,
                "seconds": deque(maxlen=KEPT_TIMES),
            }
        return self.figures[version]

    def count_rows(self, model):
        """-> an observer for a model (Model.observers): counts the rows it predicts."""
        version = model.version

        def observe(inputs, predictions, probabilities, first_row):
            self.labelled(ROWS, version).inc(len(predictions))
            with self.lock:
                self.figures_of(version)["rows"] += len(predictions)

        return observe

    def count_request(self, response):
        """after_request: a scoring request's version, role and time."""
        model = g.get("answered_by")
        started = g.get("started")  # tracking.py's clock
        if model is None or started is None:
            return response
        seconds = time.perf_counter() - started
        version = model.version
        self.labelled(REQUESTS, version, self.role(version)).inc()
        self.labelled(LATENCY, version).observe(seconds)
        with self.lock:
            figures = self.figures_of(version)
            figures["requests"] += 1
            figures["seconds"].append(seconds)
        return response

    def report(self):
        """For /monitor: the candidate's plan, and each version's figures in this process."""
        with self.lock:
            copies = {v: {**f, "seconds": list(f["seconds"])} for v, f in self.figures.items()}
        versions = []
        for version, figures in copies.items():
            seconds = figures.pop("seconds")
            figures["p50_ms"] = figures["p95_ms"] = None
            if seconds:
                p50, p95 = np.percentile(seconds, [50, 95]).tolist()
                figures.update(p50_ms=round(p50 * 1000, 2), p95_ms=round(p95 * 1000, 2))
            versions.append({"version": version, **figures})
        report = {"live": self.live.version, "candidate": None, "versions": versions}
        if self.candidate is not None:
            plan = self.plan
            report["candidate"] = {"version": plan.version, "mode": plan.mode}
            if plan.mode == "canary":
                report["candidate"]["share"] = plan.share
            else:
                report["shadow"] = shadow.scorer().report(plan.version)
        return report


def load_candidate(plan, live):
    """The candidate version's Model; ModelError when it cannot run beside the live one."""
    candidate = load_model(version_folder(plan.version))
    difference = input_difference(live.metadata, candidate.metadata)
    if difference:
        raise ModelError(f"{plan.version} does not take the live version's inputs: {difference}")
    return candidate


def attach_candidate(app, model, options):
    """Set up the candidate named by models/CANDIDATE, if any, and the per-version figures.

    Called by create_app once the live model's observers are in place. A candidate that
    cannot be used is logged and left out: the live version goes on answering alone.
    """
    plan, candidate = None, None
    try:
        plan = read_plan()
        if plan is not None and plan.version != model.version:
            candidate = load_candidate(plan, model)
    except ModelError as error:
        app.logger.error("no shadow or canary: %s", error)
        plan, candidate = None, None
    serving = Serving(model, candidate, plan if candidate else None)
    app.extensions["serving"] = serving
    if candidate is not None and plan.mode == "shadow":
        model.observers.append(shadow.scorer().observer(candidate, model.task))
    if candidate is not None and plan.mode == "canary":
        candidate.observers = canary_observers(candidate, options)
    if options.monitoring:
        model.observers.append(serving.count_rows(model))
        if serving.canary:
            candidate.observers.append(serving.count_rows(candidate))
        app.after_request(serving.count_request)
    if candidate is not None:
        app.logger.info("%s runs as a %s beside %s", plan.version, plan.mode, model.version)
    return serving


def canary_observers(candidate, options):
    """What the canary's answers are told to, as the live version's are (app.py): the
    predictions by class in /metrics and the prediction log."""
    observers = []
    if options.monitoring:
        observers.append(metrics.published(candidate, 0.0, live=False))
    if options.prediction_log:
        log = PredictionLog(
            options.prediction_log,
            options.prediction_log_mb,
            options.prediction_log_inputs,
            candidate,
        )

        def log_predictions(inputs, predictions, probabilities, first_row):
            log.record(request_id(), first_row, inputs, predictions, probabilities)

        observers.append(log_predictions)
    return observers


def answering(model):
    """The model that answers this scoring request: the live one or the canary; the
    answer's X-Model-Version names it (tracking.py)."""
    serving = current_app.extensions.get("serving")
    chosen = serving.choose() if serving is not None else model
    g.answered_by = chosen
    g.model_version = chosen.version
    return chosen


def report():
    """The versions part of /monitor, or None for an app without it (no model)."""
    serving = current_app.extensions.get("serving")
    return serving.report() if serving is not None else None
