"""Write the /monitor report from a prediction log, as one HTML file to open later.

    python -m <package>.monitor_report LOG OUT [--rotated] [--rows N]
    make monitor-report LOG=predictions.log OUT=report.html

The log has one JSON object a line: a prediction ({"request_id", "row", "model",
"prediction", and "inputs" and "probabilities" when they were logged) or feedback
({"request_id", "row", "actual"}). Lines of another model than the one in models/ are
left out; without "inputs" the report compares outputs, confidence and feedback only.
The last --rows predictions are compared (the window); memory stays bounded by it.
"""

import argparse
import json
import sys
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import config
from .model import ModelError, model_dir, read_metadata
from .monitoring import RecentTraffic
from .profile import load_profile, model_digest

PACKAGE_DIR = Path(__file__).parent
DEFAULT_ROWS = 100_000


def log_files(path, rotated=False):
    """The log, after its rotated files (log.3, log.2, log.1: oldest first) if asked."""
    older = []
    if rotated:
        number = 1
        while Path(f"{path}.{number}").exists():
            older.insert(0, Path(f"{path}.{number}"))
            number += 1
    return [*older, Path(path)]


def read_log(paths, metadata, rows):
    """-> (RecentTraffic of the last `rows` predictions of this model, counts of lines)."""
    traffic = RecentTraffic(metadata, rows)
    prefix = model_digest(metadata)[:12]
    classes = metadata["target"].get("classes")
    waiting = OrderedDict()  # (request id, row) -> prediction, for the feedback to come
    read = {"predictions": 0, "feedback": 0, "other_model": 0, "unreadable": 0}
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    kind = add_entry(traffic, entry, prefix, classes, waiting)
                except (ValueError, TypeError, KeyError, AttributeError):
                    kind = "unreadable"
                read[kind] += 1
                if len(waiting) > rows:
                    waiting.popitem(last=False)
    return traffic, read


def add_entry(traffic, entry, prefix, classes, waiting):
    """One log line into the traffic -> what kind of line it was."""
    if "actual" in entry:
        prediction = waiting.pop((entry["request_id"], entry.get("row", 0)), None)
        if prediction is not None:
            traffic.record_outcome(prediction, entry["actual"])
        return "feedback"
    if "prediction" not in entry:
        return "unreadable"
    if prefix and entry.get("model") and not prefix.startswith(entry["model"]):
        return "other_model"
    probabilities = None
    if entry.get("probabilities") and classes:
        given = entry["probabilities"]
        probabilities = np.array([[given.get(str(c), 0.0) for c in classes]])
    inputs = entry.get("inputs")
    traffic.record(
        [inputs] if isinstance(inputs, dict) else None, [entry["prediction"]], probabilities
    )
    waiting[(entry.get("request_id"), entry.get("row", 0))] = entry["prediction"]
    return "predictions"


def render(report, problem, metadata, sources, read):
    environment = Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"), autoescape=select_autoescape()
    )
    return environment.get_template("monitor_report.html").render(
        report=report,
        problem=problem,
        project_name=config.PROJECT_NAME,
        target=metadata["target"]["label"],
        css=(PACKAGE_DIR / "static" / "style.css").read_text(encoding="utf-8"),
        written=datetime.now(UTC).isoformat(timespec="seconds"),
        sources=[str(path) for path in sources],
        read=read,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="the prediction log (JSON lines)")
    parser.add_argument("out", help="the HTML file to write")
    parser.add_argument("--rotated", action="store_true", help="read log.1, log.2... too")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="the last N predictions")
    arguments = parser.parse_args(argv)
    try:
        directory = model_dir()
        metadata = read_metadata(directory)
        profile, problem = load_profile(directory, metadata)
        paths = log_files(arguments.log, arguments.rotated)
        traffic, read = read_log(paths, metadata, max(arguments.rows, 1))
    except (ModelError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = traffic.report(profile)
    page = render(report, problem, metadata, paths, read)
    Path(arguments.out).write_text(page, encoding="utf-8")
    print(
        f"{arguments.out}: {report['rows']:,} predictions compared, "
        f"{read['feedback']:,} feedback lines" + (f"; {problem}" if problem else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
