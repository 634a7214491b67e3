"""The training profile: what the inputs and outputs looked like when the model was made.

`make train` saves it as models/profile.json, beside model.json; monitoring.py compares
recent traffic with it. It holds shares of rows in bins, never a row itself:

- a number or integer input: 10 bins cut at the training deciles (fewer when deciles are
  equal), the share of training rows in each, and the share missing;
- a category or yes/no input: the share of each value, and the share missing;
- a text input: the same bins as a number, over the length of the texts in characters
  (the words themselves are not kept);
- the output: the share of each class predicted, or 10 bins of the predicted numbers;
- the confidence (a classifier's highest probability) on the held-out rows, in 10 bins of
  0.1, and the share below config.LOW_CONFIDENCE.

The profile names the model it was made with (the model file's sha256): the service uses
it only with that model.
"""

import json
from bisect import bisect_left
from datetime import UTC, datetime

import numpy as np

PROFILE_VERSION = 1
PROFILE_FILE = "profile.json"
BINS = 10
CONFIDENCE_EDGES = [round(0.1 * step, 1) for step in range(1, 10)]  # 0.1, 0.2, ... 0.9


def model_digest(metadata):
    """The sha256 of the model file, as training wrote it in model.json ("" if unknown)."""
    return (metadata.get("sha256") or {}).get(metadata.get("model_file"), "")


def decile_edges(values, bins=BINS):
    """Where to cut values into `bins` bins of about equal numbers of rows: the inner
    quantiles, each an observed value, without repeats (a value shared by many rows
    makes fewer, larger bins)."""
    if not len(values):
        return []
    quantiles = np.quantile(values, np.arange(1, bins) / bins, method="inverted_cdf")
    return sorted({float(edge) for edge in quantiles})


def bin_of(edges, value):
    """The bin of a number: 0 up to the first edge (included), i above edges[i - 1] and up
    to edges[i], the last one above the last edge."""
    return bisect_left(edges, value)


def number_shares(edges, values):
    """-> (share of all rows in each bin, share missing); values holds None where missing."""
    counts = [0] * (len(edges) + 1)
    missing = 0
    for value in values:
        if value is None or value != value:  # None, or NaN
            missing += 1
        else:
            counts[bin_of(edges, value)] += 1
    total = max(len(values), 1)
    return [count / total for count in counts], missing / total


def value_shares(bins, values):
    """-> (share of all rows for each value in bins, share missing, share of other values)."""
    position = {key(value): index for index, value in enumerate(bins)}
    counts = [0] * len(bins)
    missing = other = 0
    for value in values:
        if value is None:
            missing += 1
        elif key(value) in position:
            counts[position[key(value)]] += 1
        else:
            other += 1
    total = max(len(values), 1)
    return [count / total for count in counts], missing / total, other / total


def key(value):
    """Values compared as text, so that the class 1 read back from JSON as "1" still matches."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def text_length(text):
    return None if text is None else len(text)


def numbers_profile(values):
    present = [value for value in values if value is not None and value == value]
    edges = decile_edges(present)
    shares, missing = number_shares(edges, values)
    return {"edges": edges, "shares": rounded(shares), "missing": round(missing, 6)}


def field_profile(field, values):
    """The profile of one input from its clean values (None where missing)."""
    if field.kind in ("number", "integer"):
        return {"kind": field.kind, **numbers_profile(values)}
    if field.kind == "text":
        lengths = [text_length(value) for value in values]
        return {"kind": "text", "measure": "characters", **numbers_profile(lengths)}
    bins = [False, True] if field.kind == "boolean" else list(field.categories)
    shares, missing, _ = value_shares(bins, values)
    return {
        "kind": field.kind,
        "bins": bins,
        "shares": rounded(shares),
        "missing": round(missing, 6),
    }


def output_profile(task, classes, predictions):
    if task == "classification":
        classes = classes or sorted(set(predictions), key=str)
        shares, _, _ = value_shares(classes, predictions)
        return {"kind": "classes", "bins": list(classes), "shares": rounded(shares)}
    return {"kind": "numbers", **numbers_profile([float(p) for p in predictions])}


def confidence_profile(confidences, threshold):
    """Max probabilities -> their bins and the share below the threshold."""
    shares, _ = number_shares(CONFIDENCE_EDGES, confidences)
    low = sum(1 for value in confidences if value < threshold) / max(len(confidences), 1)
    return {
        "edges": CONFIDENCE_EDGES,
        "shares": rounded(shares),
        "threshold": threshold,
        "low": round(low, 6),
    }


def rounded(shares):
    return [round(share, 6) for share in shares]


def make_profile(schema, task, classes, rows, predictions, confidences, threshold):
    """rows: the clean training rows; predictions: the model's outputs (on the training and
    held-out rows); confidences: the highest probability for each held-out row, or None."""
    return {
        "profile_version": PROFILE_VERSION,
        "model_sha256": "",  # filled in by save_profile, once the model file is written
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(rows),
        "fields": {
            field.name: field_profile(field, [row.get(field.name) for row in rows])
            for field in schema.fields
        },
        "output": output_profile(task, classes, predictions),
        "confidence": None if confidences is None else confidence_profile(confidences, threshold),
    }


def max_probabilities(probabilities):
    """The highest class probability of each row (a 2-D array), or None."""
    if probabilities is None:
        return None
    return np.asarray(probabilities).max(axis=1).tolist()


def save_profile(profile, directory, metadata):
    profile["model_sha256"] = model_digest(metadata)
    path = directory / PROFILE_FILE
    path.write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")
    return path


def load_profile(directory, metadata):
    """-> (the profile, None), or (None, why there is none: one line that says what to do)."""
    path = directory / PROFILE_FILE
    if not path.exists():
        return None, f"{path} not found: make one with `make train`"
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return None, f"{path} cannot be read ({error}): make a new one with `make train`"
    if not isinstance(profile, dict) or profile.get("profile_version") != PROFILE_VERSION:
        return None, f"{path} has another layout: make a new one with `make train`"
    made_for, serving = profile.get("model_sha256") or "", model_digest(metadata)
    if not serving or made_for != serving:
        return None, (
            f"{path} belongs to another model ({made_for[:12] or 'unknown'}, this one is "
            f"{serving[:12] or 'unknown'}): make a new one with `make train`"
        )
    return profile, None
