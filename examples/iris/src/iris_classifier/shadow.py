"""Shadow scoring: a candidate version scores every request too, off the response path.

The request's thread only puts what the live version scored (its inputs and its answers)
on a bounded queue, without waiting: when the queue is full the batch is dropped and
counted. One thread per process takes the batches off, scores them with the candidate and
compares, and after a slow batch rests as long as it took (REST). The live answer was made
before and is sent as it is: a candidate that fails or is slow never fails or slows it
(tests/test_candidate.py checks both).

Agreement: for a classification, the same class; for a regression, a candidate prediction
within TOLERANCE (5%) of the live one, relative to it: |candidate - live| <= 0.05 x |live|
(so near a live prediction of 0 only equal numbers agree).
"""

import functools
import logging
import queue
import threading
import time
from collections import deque

import numpy as np
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from .metrics import LATENCY_BUCKETS

QUEUE_BATCHES = 100  # batches waiting at most; any more are dropped
MAX_ROWS = 1000  # rows of one batch compared at most: a long list or CSV chunk, its first ones
TOLERANCE = 0.05
KEPT_TIMES = 1000  # the candidate's last times per batch, for /monitor's p50 and p95
# After a batch that took t seconds (over REST_AFTER) the thread rests REST x t: it works
# at most half the time. Its work is Python too, and Python runs one thread at a time: a slow
# candidate would otherwise take that time from the answers. Resting, it drops more batches
# (counted). A quick batch needs no rest: waking up again costs more than it took.
REST = 1.0
REST_AFTER = 0.001
log = logging.getLogger(__name__)

ROWS = Counter("shadow_rows", "Rows scored in shadow by the candidate, by version", ["version"])
AGREEING = Counter(
    "shadow_agreeing_rows", "Rows on which the candidate agreed with the live version", ["version"]
)
SECONDS = Histogram(
    "shadow_duration_seconds",
    "Time the candidate took to score a batch in shadow, by version",
    ["version"],
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter("shadow_errors", "Batches the candidate could not score, by version", ["version"])
DROPPED = Counter("shadow_dropped_batches", "Batches not scored in shadow: the queue was full")


def agreeing(task, live, candidate, tolerance=TOLERANCE):
    """-> for each row, True when the candidate's prediction agrees with the live one."""
    if task == "classification":
        return [a == b for a, b in zip(live, candidate, strict=True)]
    live, candidate = np.asarray(live, dtype=float), np.asarray(candidate, dtype=float)
    return (np.abs(candidate - live) <= tolerance * np.abs(live)).tolist()


def first_rows(inputs, count):
    """The first `count` rows of the model's inputs (a matrix, or a notebook's DataFrame)."""
    return inputs.iloc[:count] if hasattr(inputs, "iloc") else inputs[:count]


class ShadowScorer:
    """The queue and the one thread that scores in shadow (one of each per process)."""

    def __init__(self, capacity=QUEUE_BATCHES):
        self.queue = queue.Queue(maxsize=capacity)
        self.capacity = capacity
        self.lock = threading.Lock()
        self.figures = {}  # version -> counts since start, for /monitor
        self.dropped = 0
        threading.Thread(target=self.work, name="shadow", daemon=True).start()

    def observer(self, candidate, task):
        """-> an observer for the live model (Model.observers): it hands each batch over."""
        version = candidate.version

        def observe(inputs, predictions, probabilities, first_row):
            count = min(len(predictions), MAX_ROWS)
            batch = (candidate, version, task, first_rows(inputs, count), predictions[:count])
            try:
                self.queue.put_nowait(batch)
            except queue.Full:
                with self.lock:
                    self.dropped += 1
                DROPPED.inc()

        return observe

    def work(self):
        while True:
            candidate, version, task, inputs, live = self.queue.get()
            started = time.perf_counter()
            try:
                self.score(candidate, version, task, inputs, live)
            except Exception:  # a candidate's failure is counted, and never reaches a client
                log.exception("the shadow candidate %s could not score a batch", version)
                ERRORS.labels(version).inc()
                with self.lock:
                    self.figures_of(version)["errors"] += 1
            finally:
                self.queue.task_done()
            took = time.perf_counter() - started
            if took > REST_AFTER:
                time.sleep(REST * took)

    def score(self, candidate, version, task, inputs, live):
        started = time.perf_counter()
        predictions, _ = candidate.predict_matrix(inputs, observed=False)
        seconds = time.perf_counter() - started
        agree = sum(agreeing(task, live, predictions))
        ROWS.labels(version).inc(len(live))
        AGREEING.labels(version).inc(agree)
        SECONDS.labels(version).observe(seconds)
        with self.lock:
            figures = self.figures_of(version)
            figures["rows"] += len(live)
            figures["agreeing"] += agree
            figures["seconds"].append(seconds)

    def figures_of(self, version):
        if version not in self.figures:
            self.figures[version] = {
                "rows": 0,
                "agreeing": 0,
                "errors": 0,
                "seconds": deque(maxlen=KEPT_TIMES),
            }
        return self.figures[version]

    def wait(self, timeout=10):
        """Wait until every batch queued so far is scored (for tests); -> True if it was."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.queue.unfinished_tasks

    def report(self, version):
        """This process's shadow figures for a candidate version, for /monitor."""
        with self.lock:
            figures = self.figures_of(version)
            rows, agree, errors = figures["rows"], figures["agreeing"], figures["errors"]
            seconds, dropped = list(figures["seconds"]), self.dropped
        report = {
            "version": version,
            "rows": rows,
            "agreeing": agree,
            "agreement": round(agree / rows, 4) if rows else None,
            "errors": errors,
            "dropped_batches": dropped,
            "waiting": self.queue.qsize(),
            "capacity": self.capacity,
            "tolerance": TOLERANCE,
            "p50_ms": None,
            "p95_ms": None,
        }
        if seconds:
            p50, p95 = np.percentile(seconds, [50, 95]).tolist()
            report.update(p50_ms=round(p50 * 1000, 2), p95_ms=round(p95 * 1000, 2))
        return report


@functools.cache
def scorer():
    """The process's ShadowScorer (a new app at each model switch keeps the same one)."""
    return ShadowScorer()


class AgreementFigures:
    """shadow_agreement{version} for /metrics: agreeing rows over rows, from the counters
    as collected (with gunicorn, every worker's added up)."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        totals = {"shadow_rows_total": {}, "shadow_agreeing_rows_total": {}}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name in totals:
                    totals[sample.name][sample.labels["version"]] = sample.value
        agreement = GaugeMetricFamily(
            "shadow_agreement",
            "Share of the rows scored in shadow on which the candidate agreed, by version",
            labels=["version"],
        )
        for version, rows in totals["shadow_rows_total"].items():
            if rows:
                agreeing_rows = totals["shadow_agreeing_rows_total"].get(version, 0.0)
                agreement.add_metric([version], agreeing_rows / rows)
        yield agreement
