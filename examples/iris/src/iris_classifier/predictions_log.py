"""The prediction log (off unless PREDICTION_LOG names a file), and the outcomes sent to
POST /feedback later, in the same file.

One JSON line per scored row:
    {"time": ..., "request_id": "...", "row": 0, "model": "<version>",
     "prediction": ..., "probabilities": {...}, "inputs": {...}}
"probabilities" for a classifier that has them; "inputs" only with PREDICTION_LOG_INPUTS=1.
"row" counts the rows of one request from 0. An outcome:
    {"time": ..., "request_id": "...", "row": 0, "actual": ...}

Privacy: the values people send are only kept with PREDICTION_LOG_INPUTS=1; say so to
them before turning it on. The ids, times and answers are kept either way.

Size: at PREDICTION_LOG_MB the file is renamed path.1 (path.1 to path.2, and so on) and
a new one begun; KEPT_FILES old files are kept, the oldest is deleted.

Several gunicorn workers append to the same file: each write is one system call on a file
opened for appending, which the system keeps whole. A worker that finds the file too big
renames it under a lock (a .lock file beside it). On Windows, where waitress runs one
process and gunicorn does not run, the threads' own lock is enough.

Durability: a prediction line is written at once but not forced to disk: a crash of the
machine (not of the service) can lose the last few. An outcome is forced to disk (fsync)
before POST /feedback answers: an acknowledged outcome is never lost.
"""

import json
import math
import mmap
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

if sys.platform == "win32":
    fcntl = None  # Windows has no fcntl, and one process (waitress's threads) writes
else:
    import fcntl

KEPT_FILES = 3


class PredictionLog:
    def __init__(self, path, max_mb, with_inputs, model):
        self.path = Path(path)
        self.max_bytes = max_mb * 1024 * 1024
        self.with_inputs = with_inputs
        self.model = model
        self.lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # a folder or permission problem shows at start, not at a request

    def record(self, request_id, first_row, inputs, predictions, probabilities):
        """Append one line for each row of a batch the model predicted."""
        stamp = timestamp()
        schema = self.model.schema
        classes = self.model.classes
        rows = input_rows(inputs, schema.names) if self.with_inputs else None
        lines = []
        for index, prediction in enumerate(predictions):
            entry = {
                "time": stamp,
                "request_id": request_id,
                "row": first_row - 1 + index,
                "model": self.model.version,
                "prediction": prediction,
            }
            if probabilities is not None:
                entry["probabilities"] = dict(
                    zip(classes, probabilities[index].tolist(), strict=True)
                )
            if rows is not None:
                entry["inputs"] = rows[index]
            lines.append(json.dumps(entry, default=str))
        self.append(("\n".join(lines) + "\n").encode())

    def record_outcome(self, request_id, row, actual):
        """Append an outcome and force it to disk."""
        entry = {"time": timestamp(), "request_id": request_id, "row": row, "actual": actual}
        self.append((json.dumps(entry) + "\n").encode(), durable=True)

    def append(self, data, durable=False):
        with self.lock:
            if self.too_full(len(data)):
                self.rotate(len(data))
            # Opened for each write (a few microseconds): after another worker rotated the
            # file, this one writes to the new file at once.
            append_bytes(self.path, data, durable)

    def too_full(self, adding):
        size = self.path.stat().st_size if self.path.exists() else 0
        return size > 0 and size + adding > self.max_bytes

    def rotate(self, adding):
        """Rename the full file to .1 (and .1 to .2 ...) under a lock all workers share."""
        with workers_lock(self.path):
            if not self.too_full(adding):
                return  # another worker rotated it meanwhile
            for number in range(KEPT_FILES - 1, 0, -1):
                older = Path(f"{self.path}.{number}")
                if older.exists():
                    older.replace(f"{self.path}.{number + 1}")
            self.path.replace(f"{self.path}.1")

    def find_prediction(self, request_id, row):
        """-> the logged line of that prediction (a dict), or None; newest file first."""
        needle = f'"request_id": {json.dumps(request_id)}, "row": {row}, '.encode()
        for path in [self.path, *(Path(f"{self.path}.{n}") for n in range(1, KEPT_FILES + 1))]:
            line = find_line(path, needle)
            if line is not None:
                entry = json.loads(line)
                if "prediction" in entry:
                    return entry
        return None


def find_line(path, needle):
    """The last line of the file that holds needle, or None."""
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                return None
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                at = data.rfind(needle)
                if at < 0:
                    return None
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at)
                return data[start : end if end >= 0 else len(data)]
    except FileNotFoundError:
        return None


def input_rows(inputs, names):
    """The model's inputs (a matrix, or a DataFrame) as {field: value} for each row."""
    matrix = inputs.to_numpy() if hasattr(inputs, "to_numpy") else inputs
    return [
        {name: plain(value) for name, value in zip(names, row, strict=True)}
        for row in matrix.tolist()
    ]


def plain(value):
    """NaN (a gap) is null in JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


@contextmanager
def workers_lock(path):
    """A lock all worker processes share: flock on a .lock file beside path. Windows has no
    flock, and there one process (waitress's threads) writes: its own thread locks suffice."""
    with open(f"{path}.lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def append_bytes(path, data, durable=False):
    """Append data to the file; durable: on disk (fsync) before this returns."""
    with open(path, "ab") as file:
        file.write(data)
        file.flush()
        if durable:
            os.fsync(file.fileno())


def timestamp():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
