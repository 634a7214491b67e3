"""Prometheus figures at GET /metrics: requests, latency, predictions, refused and unusual
values, and the model served.

Labels only take values from a short, known list (routes, status codes, field names,
classes), so the number of series stays small whatever clients send.

With gunicorn, each worker process counts for itself and writes its figures to files in
PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py makes a fresh folder at each start); /metrics,
in whichever worker answers, adds them up.
"""

import collections
import os

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from .batch import NUMBER_KINDS

disable_created_metrics()  # no *_created series: they double the page and say little

# Seconds: a single row takes about a millisecond; a 5 MiB CSV about a second.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter("http_requests", "Requests answered, by route and status", ["route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer, by route", ["route"], buckets=LATENCY_BUCKETS
)
PREDICTIONS = Counter("predictions", "Rows predicted, by predicted class", ["prediction"])
REFUSED = Counter("refused_values", "Values refused by the input checks, by field", ["field"])
OUT_OF_RANGE = Counter(
    "out_of_range_values", "Values outside the training range, by field", ["field"]
)
MODEL = Gauge(
    "model_info",
    "The model served (1), its version as labels",
    ["version", "created_at"],
    multiprocess_mode="livemax",
)
MODEL_LOAD_SECONDS = Gauge(
    "model_load_seconds", "Seconds the process took to load the model", multiprocess_mode="livemax"
)


_shown: set[tuple[str, str]] = set()  # the model_info labels this process has published


def published(model, load_seconds, live=True):
    """Say which model is served; -> observe(inputs, predictions, probabilities, first_row),
    which Model.predict_matrix calls for every batch of rows it predicts.

    live=False, for a canary (serving.py): its answers are counted, model_info is unchanged.
    """
    if live:
        labels = (model.version, model.metadata.get("created_at", "unknown"))
        for old in _shown - {labels}:  # the version served before a switch (live_reload.py)
            MODEL.labels(*old).set(0)
        _shown.add(labels)
        MODEL.labels(*labels).set(1)
        MODEL_LOAD_SECONDS.set(load_seconds)
    schema = model.schema
    ranged = [
        (position, field)
        for position, field in enumerate(schema.fields)
        if field.kind in NUMBER_KINDS and field.minimum is not None and field.maximum is not None
    ]
    regression = model.task == "regression"
    values = predicted_values(model.metadata) if regression else None
    by_class = {}

    def observe(inputs, predictions, probabilities, first_row):
        if regression:
            for value in predictions:
                values.observe(value)
        elif len(predictions) == 1:
            label = predictions[0]
            if label not in by_class:
                by_class[label] = PREDICTIONS.labels(str(label))
            by_class[label].inc()
        elif probabilities is not None:  # count by the class's position
            positions = model.class_positions(predictions, probabilities)
            counts = np.bincount(positions, minlength=len(model.classes))
            for label, count in zip(model.classes, counts.tolist(), strict=True):
                if count:
                    PREDICTIONS.labels(str(label)).inc(count)
        else:
            # Counted by hashing (a C loop): np.unique would sort 100k Python strings.
            for label, count in collections.Counter(predictions).items():
                PREDICTIONS.labels(str(label)).inc(count)
        if len(predictions) == 1 and isinstance(inputs, np.ndarray):  # one row: no arrays
            row = inputs[0]
            for position, field in ranged:
                value = row[position]  # None or NaN where missing: neither is counted
                if (
                    value is not None
                    and value == value
                    and not field.minimum <= value <= field.maximum
                ):
                    OUT_OF_RANGE.labels(field.name).inc()
            return
        for position, field in ranged:
            column = input_column(inputs, position)
            with np.errstate(invalid="ignore"):
                outside = int(np.count_nonzero((column < field.minimum) | (column > field.maximum)))
            if outside:
                OUT_OF_RANGE.labels(field.name).inc(outside)

    return observe


def input_column(inputs, position):
    """One input of every row, as floats (NaN where missing): a matrix or a DataFrame."""
    column = inputs.iloc[:, position] if hasattr(inputs, "iloc") else inputs[:, position]
    try:
        return np.asarray(column, dtype=float)
    except (TypeError, ValueError):  # None in an object column
        return np.array([np.nan if value is None else float(value) for value in column])


_histograms: list[Histogram] = []


def predicted_values(metadata):
    """The histogram of predicted values: ten buckets over the training target's range.

    One per process (a metric name is registered once); a second model in the same
    process (only tests do that) shares the first one's buckets.
    """
    if not _histograms:
        low, high = metadata.get("target", {}).get("range") or (None, None)
        buckets = Histogram.DEFAULT_BUCKETS
        if low is not None and high is not None and high > low:
            buckets = tuple(float(edge) for edge in np.linspace(low, high, 11))
        _histograms.append(Histogram("predicted_value", "Predicted values", buckets=buckets))
    return _histograms[0]


# The labelled series, looked up once each.
_requests: dict[tuple[str, int], Counter] = {}
_latencies: dict[str, Histogram] = {}


def count_request(route, status, seconds):
    key = (route, status)
    if key not in _requests:
        _requests[key] = REQUESTS.labels(route, str(status))
    if route not in _latencies:
        _latencies[route] = LATENCY.labels(route)
    _requests[key].inc()
    _latencies[route].observe(seconds)


def count_refused(errors, names):
    """Error keys are "field", "row 2: field" or "line 3: field"; a field the schema does
    not have (a client's typo) counts as "(other)", so clients cannot add series."""
    for key in errors:
        field = key.rsplit(": ", 1)[-1]
        REFUSED.labels(field if field in names else "(other)").inc()


def page(report=None):
    """-> (body, content type) of /metrics; report: the drift report (monitoring.py) of
    this process's recent traffic, shown as gauges (with gunicorn, the answering worker's)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    body = generate_latest(registry)
    from .shadow import AgreementFigures  # shadow.py imports this module

    agreement = CollectorRegistry()
    agreement.register(AgreementFigures(registry))
    body += generate_latest(agreement)
    if report is not None:
        drift = CollectorRegistry()
        drift.register(DriftFigures(report))
        body += generate_latest(drift)
    return body, CONTENT_TYPE_LATEST


class DriftFigures:
    """The /monitor figures as gauges, made from the report when /metrics is read."""

    def __init__(self, report):
        self.report = report

    def collect(self):
        report = self.report
        rows = GaugeMetricFamily("monitor_window_rows", "Recent rows the drift figures use")
        rows.add_metric([], report["rows"])
        yield rows
        psi = GaugeMetricFamily(
            "drift_psi", "PSI of recent inputs against training, by field", labels=["field"]
        )
        for field in report["fields"]:
            psi.add_metric([field["name"]], field["psi"])
        yield psi
        if report.get("output"):
            output = GaugeMetricFamily("drift_output_psi", "PSI of recent outputs against training")
            output.add_metric([], report["output"]["psi"])
            yield output
        confidence = report.get("confidence") or {}
        if confidence.get("recent_low") is not None:
            low = GaugeMetricFamily(
                "low_confidence_share", "Share of recent predictions below the threshold"
            )
            low.add_metric([], confidence["recent_low"])
            yield low
