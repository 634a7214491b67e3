"""Drift: compare recent traffic with the training profile (profile.py).

RecentTraffic keeps the last MONITOR_WINDOW rows the service scored: per input a bounded
deque of clean values (a text as its length only), the predictions, the confidences, the
request times and the outcomes sent back as feedback. Recording only appends to deques;
report() does the counting, when /monitor is asked for.

PSI, the Population Stability Index, says how far the recent shares of rows in the
profile's bins are from the training shares:

    PSI = sum over bins of (recent - training) * ln(recent / training)

A share below EPSILON counts as EPSILON, so that an empty bin does not divide by zero.
The usual rule of thumb reads it as: below 0.1 little change (green), 0.1 to 0.25 some
change to look at (amber), 0.25 or more a large change (red). With few rows the shares
are noisy, so there is no light below MIN_ROWS rows.
"""

import math
import threading
from collections import deque

import numpy as np

from .profile import key, number_shares, text_length, value_shares

EPSILON = 0.001  # one row in a window of 1000
GREEN_BELOW = 0.1
AMBER_BELOW = 0.25
MIN_ROWS = 100  # fewer recent rows than this: shares too noisy for a light


def psi(training, recent, epsilon=EPSILON):
    """The PSI between two lists of shares over the same bins."""
    total = 0.0
    for expected, actual in zip(training, recent, strict=True):
        expected, actual = max(expected, epsilon), max(actual, epsilon)
        total += (actual - expected) * math.log(actual / expected)
    return total


def light(value, rows):
    """The traffic light for a PSI computed from `rows` recent rows."""
    if value is None or rows < MIN_ROWS:
        return "none"
    if value < GREEN_BELOW:
        return "green"
    return "amber" if value < AMBER_BELOW else "red"


class RecentTraffic:
    """The last `window` rows scored (thread-safe; memory bounded by the window)."""

    def __init__(self, metadata, window=1000):
        """metadata: the model's (model.json): its schema, task and training metrics."""
        self.metadata = metadata
        self.window = window
        self._lock = threading.Lock()
        fields = metadata["schema"]
        self._texts = {field["name"] for field in fields if field["kind"] == "text"}
        self._inputs = {field["name"]: deque(maxlen=window) for field in fields}
        self._predictions = deque(maxlen=window)
        self._confidences = deque(maxlen=window)
        self._seconds = deque(maxlen=window)  # one for each request
        self._outcomes = deque(maxlen=window)  # (prediction, actual) from feedback
        self.rows_seen = 0  # since start, all of them

    def record(self, clean_rows, predictions, probabilities=None, seconds=None, confidences=None):
        """clean_rows: the validated rows (dicts), or None when the inputs are not known;
        predictions: one for each row; probabilities: an array (rows x classes) or None;
        seconds: how long the request took, or None; confidences: each row's highest
        probability, when the caller has them in place of probabilities."""
        if confidences is None and probabilities is not None:
            confidences = probabilities.max(axis=1).tolist()
        with self._lock:
            if clean_rows is not None:
                for name, column in self._inputs.items():
                    if name in self._texts:
                        column.extend([text_length(row.get(name)) for row in clean_rows])
                    else:
                        column.extend([row.get(name) for row in clean_rows])
            self._predictions.extend(predictions)
            if confidences is not None:
                self._confidences.extend(confidences)
            if seconds is not None:
                self._seconds.append(seconds)
            self.rows_seen += len(predictions)

    def record_results(self, clean_rows, results, seconds=None):
        """record() for model.predict_clean's answers ({"prediction", "probabilities"})."""
        predictions = [result["prediction"] for result in results]
        # In Python: a numpy array costs more than the rest of a one-row request's record.
        confidences = [max(r["probabilities"].values()) for r in results if "probabilities" in r]
        self.record(clean_rows, predictions, seconds=seconds, confidences=confidences or None)

    def record_outcome(self, prediction, actual):
        """The true answer for a prediction, sent back later (feedback)."""
        with self._lock:
            self._outcomes.append((prediction, actual))

    def sizes(self):
        """How many items each deque holds now (for tests of the memory bound)."""
        with self._lock:
            columns = [*self._inputs.values(), self._predictions, self._confidences]
            return max(len(column) for column in [*columns, self._seconds, self._outcomes])

    def snapshot(self):
        """A copy of everything kept, taken under the lock, to count from outside it."""
        with self._lock:
            return {
                "inputs": {name: list(column) for name, column in self._inputs.items()},
                "predictions": list(self._predictions),
                "confidences": list(self._confidences),
                "seconds": list(self._seconds),
                "outcomes": list(self._outcomes),
            }

    def report(self, profile):
        """The drift report: a plain dict (JSON-ready), for /monitor and /monitor.json.

        profile: the training profile (profile.load_profile), or None: no comparison then.
        """
        snapshot = self.snapshot()
        return make_report(snapshot, profile, self.metadata, self.window, self.rows_seen)


def make_report(recent, profile, metadata, window, rows_seen):
    schema = {field["name"]: field for field in metadata["schema"]}
    report = {
        "window": window,
        "rows": len(recent["predictions"]),
        "rows_seen": rows_seen,
        "min_rows": MIN_ROWS,
        "thresholds": {"green_below": GREEN_BELOW, "amber_below": AMBER_BELOW},
        "epsilon": EPSILON,
        "profile": None,
        "fields": [],
        "output": None,
        "confidence": None,
        "latency": latency(recent["seconds"]),
        "outcomes": outcomes(recent["outcomes"], metadata),
    }
    if profile is None:
        return report
    report["profile"] = {
        "model": profile["model_sha256"][:12],
        "created_at": profile.get("created_at"),
        "rows": profile.get("rows"),
    }
    for name, trained in profile["fields"].items():
        values = recent["inputs"].get(name, [])
        if not values:
            continue  # the inputs were not logged
        label = schema.get(name, {}).get("label", name)
        report["fields"].append({"name": name, "label": label, **compare(trained, values)})
    if recent["predictions"]:
        report["output"] = compare(profile["output"], recent["predictions"])
    if profile.get("confidence"):
        report["confidence"] = confidence(profile["confidence"], recent["confidences"])
    return report


def compare(trained, values):
    """One input (or the output): its bins, training and recent shares, PSI and light."""
    if "edges" in trained:
        edges = trained["edges"]
        recent, missing = number_shares(edges, values)
        labels = edge_labels(edges)
        other = 0.0
    else:
        recent, missing, other = value_shares(trained["bins"], values)
        labels = [key(value) for value in trained["bins"]]
    training = list(trained["shares"])
    if trained.get("missing") or missing:  # a bin for missing values, when there are any
        labels.append("(missing)")
        training.append(trained["missing"])
        recent.append(missing)
    if other:  # values training never saw (possible in a log, not from the service)
        labels.append("(other)")
        training.append(0.0)
        recent.append(other)
    value = psi(training, recent)
    bins = [
        {"label": label, "training": round(t, 4), "recent": round(r, 4)}
        for label, t, r in zip(labels, training, recent, strict=True)
    ]
    return {
        "kind": trained.get("kind"),
        "measure": trained.get("measure"),
        "rows": len(values),
        "psi": round(value, 4),
        "light": light(value, len(values)),
        "bins": bins,
    }


def edge_labels(edges):
    if not edges:
        return ["all"]
    shown = [f"{edge:.4g}" for edge in edges]
    middle = [f"{low} to {high}" for low, high in zip(shown, shown[1:], strict=False)]
    return [f"{shown[0]} or less", *middle, f"over {shown[-1]}"]


def confidence(trained, confidences):
    threshold = trained["threshold"]
    result = {"threshold": threshold, "training_low": round(trained["low"], 4), "recent_low": None}
    if confidences:
        low = sum(1 for value in confidences if value < threshold) / len(confidences)
        result["recent_low"] = round(low, 4)
        result.update(
            compare({"edges": trained["edges"], "shares": trained["shares"]}, confidences)
        )
    return result


def latency(seconds):
    if not seconds:
        return None
    p50, p95 = np.percentile(seconds, [50, 95]).tolist()
    return {
        "requests": len(seconds),
        "p50_ms": round(p50 * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
    }


def outcomes(pairs, metadata):
    """Live accuracy (classification) or mean absolute error (regression) from feedback."""
    if not pairs:
        return None
    task = metadata["task"]
    if task == "classification":
        name = "accuracy"
        live = sum(1 for p, a in pairs if key(p) == key(a)) / len(pairs)
    else:
        name = "mae"
        errors = [abs(float(p) - float(a)) for p, a in pairs if is_number(p) and is_number(a)]
        live = sum(errors) / len(errors) if errors else None
    return {
        "count": len(pairs),
        "metric": name,
        "live": None if live is None else round(live, 4),
        "training": training_metric(metadata, name),
    }


def training_metric(metadata, name):
    """The metric measured at training: on held-out rows, else the notebook's sample."""
    found = metadata.get("metrics", {})
    for kind in ("holdout", "sample"):
        value = found.get(kind, {}).get(name)
        if isinstance(value, int | float):
            return round(value, 4)
    value = found.get("cross_validation", {}).get(name, {})
    return round(value["mean"], 4) if isinstance(value, dict) and "mean" in value else None


def is_number(value):
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
