"""Model versions: every `make train` adds one; one of them is live (the one served).

    models/
      LIVE                the live version's id, one line (replaced whole, never edited)
      HISTORY             one line per switch: "<time> promote|rollback <id>", appended
      versions/<id>/      model file, model.json, profile.json, model.onnx, reference.json

An id is the training time and the start of the model file's SHA-256, so that ids sort by
age and say which file they are: 20261207-134501-1a2b3c4d.

    make versions                          list them: id, created, metric, live
    make promote VERSION=<id> [FORCE=1]    make a version live
    make rollback                          make the version live before this one live again

Promoting or rolling back ends a shadow or canary (candidate.py).

(or `python -m <package>.versions list|promote <id> [--force]|rollback`). A running
service follows models/LIVE within a second (live_reload.py); no restart is needed.
"""

import argparse
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from . import config
from .model import (
    LIVE_FILE,
    VERSION_ID,
    VERSIONS_FOLDER,
    ModelError,
    live_version,
    models_root,
    read_metadata,
)

HISTORY_FILE = "HISTORY"
CANDIDATE_FILE = "CANDIDATE"  # a version in shadow or as a canary (candidate.py)
REFERENCE = "reference.json"  # the rows and predictions of the differential test
TESTS_REFERENCE = config.PROJECT_ROOT / "tests" / "data" / "reference.json"
# The metric the promotion rule compares (higher is better), by task.
MAIN_METRIC = {"classification": "accuracy", "regression": "r2"}


class VersionError(Exception):
    """A version command cannot be done; str(error) is one line that says why."""


def version_id(created_at, model_digest):
    """'2026-12-07T13:45:01+00:00' and a SHA-256 -> '20261207-134501-1a2b3c4d'."""
    moment = datetime.fromisoformat(created_at).astimezone(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{model_digest[:8]}"


def version_folder(version, root=None):
    return Path(root or models_root()) / VERSIONS_FOLDER / version


def all_versions(root=None):
    """The ids of the versions in models/versions/, oldest first."""
    folder = Path(root or models_root()) / VERSIONS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir() if VERSION_ID.fullmatch(path.name))


def write_live(version, root=None):
    """Point models/LIVE at a version: a new file, then renamed over the old one, so that
    a reader (the running service) sees the old id or the new one, never half a file."""
    root = Path(root or models_root())
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".LIVE-")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(version + "\n")
    os.chmod(temporary, 0o644)  # mkstemp makes it private; the server may run as another user
    os.replace(temporary, root / LIVE_FILE)


def record(action, version, root=None):
    """Append one line to models/HISTORY."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with open(Path(root or models_root()) / HISTORY_FILE, "a", encoding="utf-8") as file:
        file.write(f"{now} {action} {version}\n")


def live_stack(root=None):
    """The versions made live one after the other, the live one last: promotions push,
    rollbacks pop (read back from models/HISTORY)."""
    path = Path(root or models_root()) / HISTORY_FILE
    stack = []
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        _, action, version = parts
        if action not in ("promote", "rollback"):
            continue  # shadow, canary, stop: the live version did not change
        if action == "rollback" and stack:
            stack.pop()
        if not stack or stack[-1] != version:
            stack.append(version)
    return stack


def switch(version, action, root=None):
    """Make a version live: models/LIVE, a line in models/HISTORY, and its reference
    predictions copied to tests/data/reference.json (the tests check the live model).
    A shadow or canary (models/CANDIDATE) ends: it was compared with the old live version."""
    reference = version_folder(version, root) / REFERENCE
    if reference.exists():
        TESTS_REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reference, TESTS_REFERENCE)
    (Path(root or models_root()) / CANDIDATE_FILE).unlink(missing_ok=True)
    write_live(version, root)
    record(action, version, root)


def metadata_of(version, root=None):
    """model.json of a version, or VersionError if there is no such usable version."""
    if not VERSION_ID.fullmatch(version or ""):
        raise VersionError(f"{version!r} is not a version id; `make versions` lists them")
    folder = version_folder(version, root)
    if not folder.is_dir():
        raise VersionError(f"no version {version} in {folder.parent}; `make versions` lists them")
    try:
        return read_metadata(folder)
    except ModelError as error:
        raise VersionError(str(error)) from None


def promote(version, force=False, root=None):
    """Make a version live; one refused at training needs force=True."""
    metadata = metadata_of(version, root)
    if version == live_version(root):
        raise VersionError(f"{version} is live already")
    decision = metadata.get("differential") or {}
    if decision.get("promoted") is False and not force:
        raise VersionError(
            f"{version} was kept as a candidate ({decision.get('reason')}); to make it "
            f"live anyway: make promote VERSION={version} FORCE=1"
        )
    switch(version, "promote", root)


def rollback(root=None):
    """Make the version that was live before the live one live again; -> its id."""
    live = live_version(root)
    stack = live_stack(root)
    if stack and stack[-1] == live:
        stack.pop()
    if not stack:
        raise VersionError("no version was live before this one: nothing to roll back to")
    previous = stack[-1]
    metadata_of(previous, root)  # still there and usable
    switch(previous, "rollback", root)
    return previous


# A difference in milliseconds per row below this is the timer's noise, not a slowdown.
NOISE_MS = 0.5


def decide(differential):
    """The promotion rule: -> (promote?, the reason in a few words).

    A new version is refused when its main metric (accuracy, or R² for a regression) is
    below the live one's by more than config.PROMOTION_TOLERANCE. A version that takes more
    than config.SLOWDOWN_TOLERANCE times as long to predict a row is promoted, and flagged:
    a slower model may be the price of a better one, and the person retraining decides.
    """
    if differential is None:
        return True, "no version was live"
    metric, new, live = differential["metric"], differential["new"], differential["live"]
    if new is not None and live is not None and live - new > config.PROMOTION_TOLERANCE:
        return False, (
            f"{metric} {new:.3f} is below the live version's {live:.3f} by more than "
            f"PROMOTION_TOLERANCE ({config.PROMOTION_TOLERANCE})"
        )
    if new is None or live is None:
        reason = "no metric to compare"
    else:
        reason = f"{metric} {new:.3f} against the live version's {live:.3f}"
    new_ms, live_ms = differential["ms_per_row"]["new"], differential["ms_per_row"]["live"]
    slowdown = differential.get("slowdown")
    if slowdown and slowdown > config.SLOWDOWN_TOLERANCE and new_ms - live_ms > NOISE_MS:
        return True, (
            f"{reason}; FLAGGED: {new_ms:.2f} ms per row, {slowdown:.1f} times the live "
            f"version's {live_ms:.2f} ms (over SLOWDOWN_TOLERANCE, {config.SLOWDOWN_TOLERANCE}x)"
        )
    return True, f"{reason}, not slower"


def main_metric(metadata):
    """(name, held-out value or None) of the metric the promotion rule compares."""
    name = MAIN_METRIC[metadata["task"]]
    metrics = metadata.get("metrics", {})
    value = metrics.get("holdout", {}).get(name)
    if value is None:
        value = metrics.get("sample", {}).get(name)  # a notebook model's sample
    return name, value


def listing(root=None):
    """The lines `make versions` prints: id, created, metric, live marker (newest first)."""
    live = live_version(root)
    lines = [f"{'':2}{'version':<25} {'created':<25} {'metric':<16} state"]
    for version in reversed(all_versions(root)):
        try:
            metadata = read_metadata(version_folder(version, root))
        except ModelError:
            lines.append(f"  {version:<25} {'?':<25} {'?':<16} unreadable")
            continue
        name, value = main_metric(metadata)
        shown = f"{name} {value:.3f}" if isinstance(value, int | float) else "-"
        decision = metadata.get("differential") or {}
        state = "live" if version == live else "candidate"
        if version != live and decision.get("promoted") is False:
            state = "refused: " + decision.get("reason", "")
        marker = "* " if version == live else "  "
        created = metadata.get("created_at", "?")
        lines.append(f"{marker}{version:<25} {created:<25} {shown:<16} {state}")
    if len(lines) == 1:
        lines.append("  (none yet: `make train` makes the first one)")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="versions", description="List and switch model versions.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the versions, newest first; * marks the live one")
    promoting = commands.add_parser("promote", help="make a version live")
    promoting.add_argument("version")
    promoting.add_argument("--force", action="store_true", help="even one refused at training")
    commands.add_parser("rollback", help="make the version live before this one live again")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "list":
            print("\n".join(listing()))
        elif arguments.command == "promote":
            promote(arguments.version, arguments.force)
            print(f"{arguments.version} is live; a running service switches within a second")
        else:
            print(f"{rollback()} is live again; a running service switches within a second")
    except (VersionError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # models/ cannot be written, for one
        print(f"error: {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
