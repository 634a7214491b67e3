"""The differential check: a newly trained version against the live one, before promotion.

Both score the same rows: the new version's held-out rows and the live version's reference
rows (the ones its tests check). Written into the new version's model.json as
"differential", printed by `make train` and shown on the model card page:

- agreement: the share of rows on which they predict the same class (for a regression,
  numbers within AGREEMENT_SPREAD of the target's standard deviation of each other);
- the metrics of both on the held-out rows, and the change of the main one;
- the rows whose prediction changed (at most MAX_CHANGED of them);
- milliseconds per row, one row at a time as the service predicts, and the training time.

versions.decide() then applies the promotion rule (config.PROMOTION_TOLERANCE and
config.SLOWDOWN_TOLERANCE).
"""

import statistics
import time

import numpy as np
from sklearn import metrics

AGREEMENT_SPREAD = 0.05
MAX_CHANGED = 10
TIMED_ROWS = 50  # rows predicted one by one, by each version, ROUNDS times
ROUNDS = 3
TEXT_SHOWN = 80  # characters of a text input shown in the list of changed rows


def score(task, y_true, y_pred):
    if task == "classification":
        return {
            "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
            "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro")),
        }
    return {
        "r2": float(metrics.r2_score(y_true, y_pred)),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "rmse": float(metrics.root_mean_squared_error(y_true, y_pred)),
    }


def compare(new, live, holdout_rows, holdout_target, reference_rows=()):
    """new, live: Model objects. -> the differential, a dict ready for JSON."""
    rows = list(holdout_rows) + list(reference_rows)
    both = [row for row in rows if scorable(new, row) and scorable(live, row)]
    new_predictions = predictions(new, both)
    live_predictions = predictions(live, both)
    same = agreeing(new.task, new_predictions, live_predictions, holdout_target)
    changed = [
        {"row": shown(row), "live": old, "new": now}
        for row, old, now, agree in zip(both, live_predictions, new_predictions, same, strict=True)
        if not agree
    ]
    result = {
        "live_version": live.version,
        "rows": len(both),
        "rows_left_out": len(rows) - len(both),  # inputs one of the two versions does not have
        "agreement": float(np.mean(same)) if both else None,
        "changed_count": len(changed),
        "changed": changed[:MAX_CHANGED],
    }
    result.update(metric_change(new, live, holdout_rows, holdout_target))
    new_ms, live_ms = milliseconds_per_row(new, live, both[:TIMED_ROWS])
    result["ms_per_row"] = {"new": new_ms, "live": live_ms}
    result["slowdown"] = new_ms / live_ms if new_ms and live_ms else None
    result["training_seconds"] = {
        "new": new.metadata.get("training_seconds"),
        "live": live.metadata.get("training_seconds"),
    }
    return result


def scorable(model, row):
    """Does the row pass this model's input checks (the inputs may differ between versions)?"""
    _, errors, _ = model.schema.validate(row)
    return not errors


def predictions(model, rows):
    if not rows:
        return []
    clean, _ = model.validate(rows, numbered=True)
    found, _ = model.predict_matrix(model.inputs(clean), observed=False)
    return found


def agreeing(task, first, second, target):
    """-> one True/False a row: do the two predictions agree?"""
    if task == "classification":
        return [a == b for a, b in zip(first, second, strict=True)]
    spread = float(np.std(target)) if target is not None and len(target) else 0.0
    allowed = AGREEMENT_SPREAD * spread
    return [abs(a - b) <= allowed for a, b in zip(first, second, strict=True)]


def metric_change(new, live, rows, target):
    """Both versions' metrics on the held-out rows; the main metric and its change."""
    main = {"classification": "accuracy", "regression": "r2"}[new.task]
    result = {"metric": main, "new": None, "live": None, "change": None, "metrics": None}
    if target is None or not rows:
        return result
    pairs = [(row, truth) for row, truth in zip(rows, target, strict=True) if scorable(live, row)]
    if len(pairs) < len(rows):
        # Rows the live version cannot read: compare with the metric it was saved with.
        recorded = live.metadata.get("metrics", {}).get("holdout", {})
        new_scores = score(new.task, list(target), predictions(new, list(rows)))
        result["metrics"] = {"new": new_scores, "live": recorded, "same_rows": False}
    else:
        kept = [row for row, _ in pairs]
        truth = [value for _, value in pairs]
        result["metrics"] = {
            "new": score(new.task, truth, predictions(new, kept)),
            "live": score(new.task, truth, predictions(live, kept)),
            "same_rows": True,
        }
    result["new"] = result["metrics"]["new"].get(main)
    result["live"] = result["metrics"]["live"].get(main)
    if result["new"] is not None and result["live"] is not None:
        result["change"] = result["new"] - result["live"]
    return result


def milliseconds_per_row(new, live, rows):
    """Median time to predict one row, in ms, for each version: the two take turns, and
    each row counts its fastest of ROUNDS tries (the others were slowed by something else)."""
    if not rows:
        return None, None
    inputs = {}
    for model in (new, live):
        clean, _ = model.validate(rows, numbered=True)
        inputs[id(model)] = [model.inputs([row]) for row in clean]
    best = {id(new): [float("inf")] * len(rows), id(live): [float("inf")] * len(rows)}
    for _ in range(ROUNDS):
        for position in range(len(rows)):
            for model in (new, live):
                started = time.perf_counter()
                model.predict_matrix(inputs[id(model)][position], observed=False)
                seconds = time.perf_counter() - started
                times = best[id(model)]
                times[position] = min(times[position], seconds)
    return (
        statistics.median(best[id(new)]) * 1000,
        statistics.median(best[id(live)]) * 1000,
    )


def shown(row):
    """A row for the list of changed rows: long texts cut short."""
    return {
        name: value[:TEXT_SHOWN] if isinstance(value, str) else value for name, value in row.items()
    }
