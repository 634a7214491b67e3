"""The monitoring pages, and what the predict routes call to record their traffic.

GET /monitor         recent traffic against the training profile: charts, PSI, lights
GET /monitor.json    the same report as JSON
Both also show the figures of each model version (serving.py): live, shadow, canary.

watch(app, model) sets it all up and returns the Recorder the routes call.
"""

import csv
import io
import itertools
import time

from flask import g, render_template

from . import batch, serving, settings
from .model import ModelError, PredictionError, ValidationError, model_dir
from .monitoring import RecentTraffic
from .profile import load_profile

# A CSV file adds its first rows to the recent traffic, this many at most (and at most the
# window): reading and scoring them again costs about 3 ms.
CSV_SAMPLE_ROWS = 200


class Recorder:
    """What the predict routes call after a successful prediction: cheap, never fails."""

    def __init__(self, model, traffic, on=True):
        self.model, self.traffic, self.on = model, traffic, on  # off: MONITORING=0

    def results(self, clean_rows, results):
        """Rows scored one by one or as JSON: the clean rows and predict_clean's answers."""
        if self.on:
            self.traffic.record_results(clean_rows, results, request_seconds())

    def csv(self, body):
        """A scored CSV file: its first CSV_SAMPLE_ROWS rows, scored again here (a bounded
        cost, whatever the file's length)."""
        if not self.on:
            return
        try:
            limit = min(CSV_SAMPLE_ROWS, self.traffic.window)
            clean = csv_sample(self.model.schema, body, limit)
            if clean:
                inputs = self.model.inputs(clean)  # scored again: not a prediction to count
                predictions, probabilities = self.model.predict_matrix(inputs, observed=False)
                self.traffic.record(clean, predictions, probabilities, request_seconds())
        except (ValueError, csv.Error, ValidationError, PredictionError):
            pass  # the file was scored already: monitoring never turns it into an error


def watch(app, model):
    """Keep the recent traffic, load the training profile, add /monitor: -> the Recorder."""
    options = settings.from_env()
    traffic = RecentTraffic(model.metadata, options.monitor_window)
    try:
        profile, problem = load_profile(model_dir(), model.metadata)
    except ModelError as error:
        profile, problem = None, str(error)
    if problem:
        app.logger.warning("monitoring without a training profile: %s", problem)
    add_monitor_routes(app, model, traffic, profile, problem)
    app.extensions["recent_traffic"] = traffic  # for /metrics, tests, and a look from a shell
    app.extensions["training_profile"] = profile
    return Recorder(model, traffic, on=options.monitoring)


def add_monitor_routes(app, model, traffic, profile, problem=None):
    """GET /monitor and GET /monitor.json; problem: why there is no profile, if there is none."""

    @app.get("/monitor")
    def monitor_page():
        report = traffic.report(profile)
        versions = serving.report()
        return render_template("monitor.html", report=report, problem=problem, versions=versions)

    @app.get("/monitor.json")
    def monitor_json():
        return {**traffic.report(profile), "problem": problem, "versions": serving.report()}


def request_seconds():
    started = g.get("started")  # tracking.py's clock
    return None if started is None else time.perf_counter() - started


def csv_sample(schema, body, limit):
    """The clean values of the first `limit` rows of a CSV body (as check_lines reads them)."""
    lines = csv.reader(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline=""))
    header = next(lines, None)
    positions, errors = batch.column_positions(schema, header or [])
    if errors:
        return []
    records = list(itertools.islice((r for r in lines if any(v.strip() for v in r)), limit))
    numbers = list(range(2, len(records) + 2))  # only for messages, which are not shown
    clean, _ = batch.check_lines(schema, header, records, numbers, positions, errors)
    return [] if errors else clean
